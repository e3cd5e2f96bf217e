"""The FastAPI application: routers and error mapping, nothing else."""

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.routes import experiments, health, range_tests, schedulers, sweeps
from api.routes.ui import install_ui
from models.settings import get_settings


def create_app() -> FastAPI:
    """Build the application."""
    app = FastAPI(
        title="lrlab",
        version="0.1.0",
        description="Learning-rate scheduler experiments as jobs.",
        # Starlette's limit: 413 on Content-Length or as a chunked body streams past it.
        max_body_size=get_settings().max_body_bytes,
    )
    install_error_handlers(app)
    for module in (health, experiments, sweeps, schedulers, range_tests):
        app.include_router(module.router)
    install_ui(app)
    return app


app = create_app()
