"""The API's Prometheus metrics: requests by route template, and gauges read at scrape time."""

import threading
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy.orm import Session

from models.experiments import experiment_counts
from models.queue import broker_queue_length
from models.settings import Settings
from models.workers import WorkerInfo, worker_summary

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "lrlab_http_requests_total",
    "HTTP requests by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "lrlab_http_request_duration_seconds",
    "HTTP request latency by method and route template.",
    ["method", "route"],
    registry=REGISTRY,
)
EXPERIMENTS = Gauge(
    "lrlab_experiments", "Experiments by status and queue.", ["status", "queue"], registry=REGISTRY
)
QUEUE_DEPTH = Gauge(
    "lrlab_queue_depth", "Messages waiting on the broker, by queue.", ["queue"], registry=REGISTRY
)
WORKERS = Gauge(
    "lrlab_workers",
    "Live workers (fresh heartbeat) by queue they consume.",
    ["queue"],
    registry=REGISTRY,
)
WORKERS_TOTAL = Gauge("lrlab_workers_total", "Live workers.", registry=REGISTRY)

# Scrapes from several Prometheus replicas within this window share one database read.
SCRAPE_CACHE_SECONDS = 5.0
_refresh_lock = threading.Lock()
_refreshed_at = -1e9


def install_request_metrics(app: FastAPI) -> None:
    """Count and time every request by its route template (`/experiments/{experiment_id}`)."""

    @app.middleware("http")
    async def _observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        LATENCY.labels(request.method, template).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, template, str(response.status_code)).inc()
        return response


def render_metrics(
    session: Session, *, settings: Settings, workers: list[WorkerInfo] | None
) -> bytes:
    """The Prometheus text exposition, refreshing the scrape-time gauges at most every 5 s."""
    global _refreshed_at
    with _refresh_lock:
        if time.monotonic() - _refreshed_at >= SCRAPE_CACHE_SECONDS:
            counts = experiment_counts(session)
            EXPERIMENTS.clear()
            for status, queue, count in counts:
                EXPERIMENTS.labels(status, queue).set(count)
            QUEUE_DEPTH.clear()
            for queue in sorted({q for _, q, _ in counts} | {settings.queue}):
                depth = broker_queue_length(queue)
                if depth is not None:
                    QUEUE_DEPTH.labels(queue).set(depth)
            WORKERS.clear()
            if workers is not None:
                WORKERS_TOTAL.set(len(workers))
                for queue, count in worker_summary(workers).items():
                    WORKERS.labels(queue).set(count)
            _refreshed_at = time.monotonic()
    return generate_latest(REGISTRY)


def reset_scrape_cache() -> None:
    """Make the next scrape read fresh values (tests)."""
    global _refreshed_at
    _refreshed_at = -1e9
