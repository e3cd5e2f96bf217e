"""Operators' view: the live workers and the Prometheus metrics."""

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.auth import METRICS, OPERATOR
from api.deps import SessionDep, SettingsDep
from api.openapi import CALLER, DATABASE, responses
from api.prometheus import render_metrics
from models.errors import UnavailableError
from models.jobs import WorkerInfo, find_workers

router = APIRouter(tags=["operations"], responses=responses(*CALLER))


# The operator's: workers serve every project, and list the experiments of all of them.
@router.get(
    "/workers",
    summary="List live workers",
    dependencies=[Depends(OPERATOR)],
    responses=responses(*DATABASE),
)
def list_workers(settings: SettingsDep) -> list[WorkerInfo]:
    """Workers with a fresh heartbeat: host, queues, device, versions, current experiments."""
    workers = find_workers(settings.broker_url, timeout=settings.broker_timeout_seconds)
    if workers is None:
        raise UnavailableError("cannot list workers: the broker (Redis) is unreachable")
    return workers


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    dependencies=[Depends(METRICS)],
    response_class=Response,
    responses={
        **responses(*DATABASE),
        200: {"description": "Prometheus text format.", "content": {CONTENT_TYPE_LATEST: {}}},
    },
)
def metrics(session: SessionDep, settings: SettingsDep) -> Response:
    """Prometheus text format; the operator token unless `LRLAB_METRICS_PUBLIC=true`."""
    workers = find_workers(settings.broker_url, timeout=settings.broker_timeout_seconds)
    body = render_metrics(session, settings=settings, workers=workers)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
