"""The FastAPI application: routers and error mapping, nothing else."""

from fastapi import FastAPI

from api.docs import install_offline_docs
from api.errors import install_error_handlers
from api.metrics import install_request_metrics
from api.routes import experiments, health, monitoring, schedulers, sweeps


def create_app() -> FastAPI:
    """Build the application."""
    app = FastAPI(
        title="lrlab",
        version="0.1.0",
        description="Learning-rate scheduler experiments as jobs.",
        # Served from local files by install_offline_docs: the CDN pages are blank offline.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    install_request_metrics(app)
    install_offline_docs(app)
    for module in (health, experiments, sweeps, schedulers, monitoring):
        app.include_router(module.router)
    return app


app = create_app()
