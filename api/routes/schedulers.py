"""HTTP adapters for the scheduler catalog and the no-training preview."""

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Response

from api.auth import READ
from api.openapi import BINARY, BODY, CALLER, responses
from api.responses import preferred_media
from api.routing import JsonBodyRoute
from models.plots import render_lr_curve
from models.schedules import PreviewRequest, PreviewResult, catalog, preview_arrays

router = APIRouter(
    prefix="/schedulers",
    tags=["schedulers"],
    route_class=JsonBodyRoute,
    responses=responses(*CALLER),
)


@router.get("", summary="List scheduler types", dependencies=[Depends(READ)])
def list_schedulers() -> list[dict[str, Any]]:
    """Every scheduler type with its description, parameter schema and default interval."""
    return catalog()


# A read key may preview: the POST carries a request body but changes nothing.
@router.post(
    "/preview",
    response_model=PreviewResult,
    summary="Preview a schedule",
    dependencies=[Depends(READ)],
    responses=responses(*BODY, media={"image/png": BINARY}),
)
def preview_schedule(
    request: PreviewRequest,
    format: Annotated[str | None, Query(pattern="^(json|png)$")] = None,
    log_scale: bool = False,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """The lr of every epoch and step, computed by the code the worker runs."""
    epochs, steps, warnings = preview_arrays(request)
    wanted = format or preferred_media(accept, ("application/json", "image/png"))
    if wanted in ("png", "image/png"):
        png = render_lr_curve(
            epochs.tolist(),
            steps.tolist() if request.steps_per_epoch > 1 else None,
            log_scale=log_scale,
            title=request.scheduler.type,
        )
        return Response(content=png, media_type="image/png")
    # orjson writes the float64 arrays directly (shortest round-trip repr, as for Python
    # floats): a million values encode in milliseconds, with no million-item list in between.
    body = {"epochs": epochs, "steps": steps, "warnings": warnings}
    return Response(
        content=orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
        media_type="application/json",
    )
