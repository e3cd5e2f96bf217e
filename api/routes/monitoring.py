"""Operators' view: the live workers and the Prometheus metrics."""

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import SessionDep, SettingsDep
from api.metrics import render_metrics
from api.operator import MetricsReader
from models.errors import UnavailableError
from models.workers import WorkerInfo, find_workers

router = APIRouter(tags=["operations"])


@router.get("/workers", summary="List live workers")
def list_workers(settings: SettingsDep) -> list[WorkerInfo]:
    """Workers with a fresh heartbeat: host, queues, device, versions, current experiments."""
    workers = find_workers(settings.broker_url, timeout=settings.broker_timeout_seconds)
    if workers is None:
        raise UnavailableError("cannot list workers: the broker (Redis) is unreachable")
    return workers


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    dependencies=[MetricsReader],
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(session: SessionDep, settings: SettingsDep) -> Response:
    """Prometheus text format; needs `Bearer <LRLAB_ADMIN_TOKEN>` unless LRLAB_METRICS_PUBLIC."""
    workers = find_workers(settings.broker_url, timeout=settings.broker_timeout_seconds)
    body = render_metrics(session, settings=settings, workers=workers)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
