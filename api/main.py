"""The FastAPI application: routers and error mapping, nothing else."""

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.live import live_events
from api.routes import events, experiments, health, schedulers, sweeps
from api.routes.ui import install_ui


def create_app() -> FastAPI:
    """Build the application."""
    app = FastAPI(
        title="lrlab",
        version="0.1.0",
        description="Learning-rate scheduler experiments as jobs.",
        lifespan=live_events,
    )
    install_error_handlers(app)
    for module in (health, experiments, sweeps, schedulers, events):
        app.include_router(module.router)
    install_ui(app)
    return app


app = create_app()
