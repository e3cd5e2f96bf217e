"""HTTP adapter for the model catalog: families, optimizers and datasets a spec may choose."""

from typing import Any

from fastapi import APIRouter, Depends

from api.auth import READ
from api.openapi import CALLER, responses
from api.routing import JsonBodyRoute
from models.training import catalog

router = APIRouter(
    prefix="/models",
    tags=["models"],
    route_class=JsonBodyRoute,
    responses=responses(*CALLER),
)


@router.get(
    "", summary="List model families, optimizers and datasets", dependencies=[Depends(READ)]
)
def list_models() -> dict[str, Any]:
    """Families (parameters as JSON Schema, defaults, parameter count), optimizers, datasets."""
    return catalog()
