"""The API's Prometheus metrics: requests by route template, and gauges read at scrape time."""

import threading
import time

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.experiments import experiment_counts
from models.jobs import WorkerInfo, broker_queue_length, worker_summary
from models.storage import Settings

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
RATE_LIMIT_STORE_ERRORS = Counter(
    "lrlab_rate_limit_store_errors_total",
    "Requests let through uncounted because the rate limiter's store (Redis) failed.",
    registry=REGISTRY,
)

# Scrapes from several Prometheus replicas within this window share one database read.
SCRAPE_CACHE_SECONDS = 5.0
_refresh_lock = threading.Lock()
_refreshed_at = -1e9


def install_request_metrics(app: FastAPI) -> None:
    """Count and time every request by its route template (`/experiments/{experiment_id}`)."""
    app.add_middleware(_RequestMetrics)


class _RequestMetrics:
    """Plain ASGI rather than `@app.middleware`: event streams pass through unbuffered.

    Latency is the time to the response's start (headers), so an open stream is not counted
    as one slow request; the router has set `scope["route"]` by then.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                method = scope["method"]
                LATENCY.labels(method, template).observe(time.perf_counter() - started)
                REQUESTS.labels(method, template, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, observed)


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
