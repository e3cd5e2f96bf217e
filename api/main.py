"""The FastAPI application: routers and error mapping, nothing else."""

import contextlib
import gc
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.docs import install_offline_docs
from api.errors import install_error_handlers
from api.live import live_events
from api.openapi import LinkedFastAPI
from api.prometheus import install_request_metrics
from api.routes import (
    admin,
    catalog,
    datasets,
    events,
    experiments,
    health,
    keys,
    monitoring,
    range_tests,
    schedulers,
    sweeps,
)
from api.routes.ui import install_ui
from api.routing import BodyLimit
from models.storage import get_settings


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the live listener; freeze the startup heap out of the garbage collector."""
    async with live_events(app):
        # The app's ~150k startup objects live as long as the process. Unfrozen, every full
        # collection walks them: 40-60 ms stalls, the p99 of short reads (bench/LEDGER_PLANS.md).
        gc.freeze()
        yield


def create_app() -> FastAPI:
    """Build the application."""
    app = LinkedFastAPI(
        title="lrlab",
        version="0.1.0",
        description="Learning-rate scheduler experiments as jobs.",
        lifespan=_lifespan,
        # Served from local files by install_offline_docs: the CDN pages are blank offline.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    install_request_metrics(app)
    install_offline_docs(app)
    for module in (
        health,
        experiments,
        sweeps,
        schedulers,
        datasets,
        catalog,
        range_tests,
        events,
        keys,
        admin,
        monitoring,
    ):
        app.include_router(module.router)
    install_ui(app)
    # A JSON 413 on Content-Length, or as a chunked body streams past the limit.
    app.add_middleware(BodyLimit, max_bytes=get_settings().max_body_bytes)
    origins = [o.strip() for o in get_settings().cors_origins.split(",") if o.strip()]
    if origins:
        # Only listed origins; credentials travel in the Authorization header, never cookies.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
    return app


app = create_app()
