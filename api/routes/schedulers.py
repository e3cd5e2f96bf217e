"""HTTP adapters for the scheduler catalog and the no-training preview."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response

from api.auth import READ
from api.openapi import BINARY, BODY, CALLER, responses
from api.responses import preferred_media
from api.routing import JsonBodyRoute
from models.plots import in_renderer
from models.schedules import (
    MAX_PREVIEW_VALUES,
    PREVIEW_MAX_POINTS,
    PreviewAnswer,
    PreviewRequest,
    catalog,
    preview_body,
)

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
    response_model=PreviewAnswer,
    summary="Preview a schedule",
    dependencies=[Depends(READ)],
    responses=responses(*BODY, 503, media={"image/png": BINARY}),
)
def preview_schedule(
    request: PreviewRequest,
    format: Annotated[str | None, Query(pattern="^(json|png)$")] = None,
    log_scale: bool = False,
    step_offset: Annotated[
        int | None,
        Query(ge=0, le=MAX_PREVIEW_VALUES, description="First step of an exact page of steps."),
    ] = None,
    step_limit: Annotated[
        int, Query(ge=1, le=PREVIEW_MAX_POINTS, description="Steps in that page.")
    ] = PREVIEW_MAX_POINTS,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """The lr of every epoch and step, computed by the code the worker runs.

        Past 10,000 steps the JSON `steps` are each bucket's min and max (`step_index` names
        their steps) and the PNG draws the same envelope; `step_offset`/`step_limit` page
        through the exact values. A PNG, or a preview of more than 10,000 steps, takes a place in
    the renderer's queue: 503 with Retry-After while it is full.
    """
    wanted = format or preferred_media(accept, ("application/json", "image/png"))
    png = wanted in ("png", "image/png")
    # A drawing, or many steps to compute, runs in the renderer's process, after taking a place
    # in its queue (503 when full): computed here it would take the interpreter from the loop.
    heavy = png or request.epochs * request.steps_per_epoch > PREVIEW_MAX_POINTS
    args = (request, png, log_scale, step_offset, step_limit)
    body = in_renderer(preview_body, *args) if heavy else preview_body(*args)
    return Response(content=body, media_type="image/png" if png else "application/json")
