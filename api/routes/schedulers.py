"""HTTP adapters for the scheduler catalog and the no-training preview."""

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Response

from models.plots import render_lr_curve
from models.schedules import PreviewRequest, PreviewResult, catalog, preview

router = APIRouter(prefix="/schedulers", tags=["schedulers"])


@router.get("")
def list_schedulers() -> list[dict[str, Any]]:
    """Every scheduler type with its description, parameter schema and default interval."""
    return catalog()


@router.post("/preview", response_model=PreviewResult)
def preview_schedule(
    request: PreviewRequest,
    format: Annotated[str | None, Query(pattern="^(json|png)$")] = None,
    log_scale: bool = False,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """The lr of every epoch and step, computed by the code the worker runs."""
    result = preview(request)
    if format == "png" or (format is None and accept == "image/png"):
        png = render_lr_curve(
            result.epochs,
            result.steps if request.steps_per_epoch > 1 else None,
            log_scale=log_scale,
            title=request.scheduler.type,
        )
        return Response(content=png, media_type="image/png")
    # orjson: a million floats encode in milliseconds instead of a quarter second.
    body = {"epochs": result.epochs, "steps": result.steps, "warnings": result.warnings}
    return Response(content=orjson.dumps(body), media_type="application/json")
