"""The FastAPI application: routers and error mapping, nothing else."""

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.openapi import LinkedFastAPI
from api.routes import experiments, health, schedulers, sweeps


def create_app() -> FastAPI:
    """Build the application."""
    app = LinkedFastAPI(
        title="lrlab",
        version="0.1.0",
        description="Learning-rate scheduler experiments as jobs.",
    )
    install_error_handlers(app)
    for module in (health, experiments, sweeps, schedulers):
        app.include_router(module.router)
    return app


app = create_app()
