"""Live workers: each publishes a heartbeat as a Redis key with a TTL; a key that lapses is gone.

Redis (the broker) rather than Postgres: presence is ephemeral, must vanish on its own when a
worker dies, and needs no migration. The worker writes, the API reads; neither imports the other.
"""

import logging
import threading
import time
from datetime import datetime
from functools import lru_cache
from typing import Any

import redis
from pydantic import BaseModel, Field

from models.storage import redis_py_url

log = logging.getLogger("lrlab.workers")

KEY_PREFIX = "lrlab:worker:"
# Names by last beat: a listing reads this index, never a scan of the broker's keyspace.
INDEX_KEY = "lrlab:workers"
# A worker beats every HEARTBEAT_SECONDS; its key lives for three beats.
HEARTBEAT_SECONDS = 10.0
HEARTBEAT_TTL_SECONDS = 30
# Bounds what one listing reads, whatever is in Redis.
MAX_WORKERS = 1000
# A submission's "no live worker" warning may read a listing this old: a listing per request
# cost a fifth of a submission's CPU, and workers come and go on a scale of seconds.
RECENT_SECONDS = 1.0


class DatasetSize(BaseModel):
    """How many samples a worker's copy of a dataset holds."""

    train_samples: int = Field(description="Training samples (a larger `train_samples` is capped).")
    val_samples: int = Field(description="Validation samples (the test split).")


class WorkerInfo(BaseModel):
    """One live worker as its last heartbeat described it."""

    name: str = Field(description="Celery node name, unique per worker process.")
    host: str
    pid: int
    queues: list[str]
    device: str | None = Field(description="What it trains on, e.g. `CPU` or `GPU:0 (…)`.")
    versions: dict[str, str] = Field(description="Python and library versions.")
    current_experiments: list[str]
    dataset_error: str | None = Field(
        default=None, description="Why the worker cannot load its dataset (readiness check)."
    )
    datasets: dict[str, DatasetSize] = Field(
        default_factory=dict, description="The size of each dataset it loaded, by name."
    )
    started_at: datetime
    last_heartbeat: datetime


def redis_client(url: str, *, timeout: float) -> redis.Redis:
    """A Redis client for the broker URL that fails fast."""
    return redis.Redis.from_url(
        redis_py_url(url), socket_timeout=timeout, socket_connect_timeout=timeout
    )


def publish_heartbeat(client: redis.Redis, info: WorkerInfo) -> None:
    """Write (or refresh) this worker's presence key and its place in the index."""
    pipe = client.pipeline()
    pipe.set(KEY_PREFIX + info.name, info.model_dump_json(), ex=HEARTBEAT_TTL_SECONDS)
    pipe.zadd(INDEX_KEY, {info.name: time.time()})
    pipe.execute()


def withdraw(client: redis.Redis, name: str) -> None:
    """Remove this worker's presence key at a clean shutdown."""
    pipe = client.pipeline()
    pipe.delete(KEY_PREFIX + name)
    pipe.zrem(INDEX_KEY, name)
    pipe.execute()


def live_workers(client: redis.Redis) -> list[WorkerInfo]:
    """Every worker whose heartbeat has not lapsed, by name."""
    # Names whose key has lapsed leave the index here; the key's TTL stays the truth.
    client.zremrangebyscore(INDEX_KEY, "-inf", time.time() - HEARTBEAT_TTL_SECONDS)
    names = client.zrange(INDEX_KEY, 0, MAX_WORKERS - 1)
    keys = [KEY_PREFIX + (n.decode() if isinstance(n, bytes) else str(n)) for n in names]
    workers = []
    for raw in client.mget(keys) if keys else []:
        if raw is None:  # lapsed between the scan and the read
            continue
        try:
            workers.append(WorkerInfo.model_validate_json(raw))
        except ValueError as exc:
            log.warning("ignoring an unreadable worker heartbeat: %s", exc)
    return sorted(workers, key=lambda w: w.name)


@lru_cache(maxsize=8)
def _pooled_client(url: str, timeout: float) -> redis.Redis:
    # One client, and so one connection pool, per URL and process: a connection per call
    # cost more than the listing itself (redis-py resets the pool in a forked child).
    return redis_client(url, timeout=timeout)


def find_workers(broker_url: str, *, timeout: float) -> list[WorkerInfo] | None:
    """The live workers, or None when Redis cannot be asked (so nothing can be said)."""
    try:
        return live_workers(_pooled_client(broker_url, timeout))
    except redis.RedisError as exc:
        log.warning("cannot list workers: %s", exc)
        return None


_recent: dict[str, tuple[float, list[WorkerInfo] | None]] = {}
_recent_lock = threading.Lock()


def recent_listing(broker_url: str) -> tuple[list[WorkerInfo] | None] | None:
    """This process's listing (in a 1-tuple) if it is under RECENT_SECONDS old; no I/O."""
    cached = _recent.get(broker_url)
    if cached is not None and time.monotonic() - cached[0] < RECENT_SECONDS:
        return (cached[1],)
    return None


def recent_workers(broker_url: str, *, timeout: float) -> list[WorkerInfo] | None:
    """`find_workers`, reusing this process's listing if it is under RECENT_SECONDS old."""
    recent = recent_listing(broker_url)
    if recent is not None:
        return recent[0]
    cached = _recent.get(broker_url)
    # One thread lists while the others keep the previous listing (or wait for the first).
    if not _recent_lock.acquire(blocking=cached is None):
        return cached[1] if cached is not None else None
    try:
        workers = find_workers(broker_url, timeout=timeout)
        _recent[broker_url] = (time.monotonic(), workers)
        return workers
    finally:
        _recent_lock.release()


def served_queues(workers: list[WorkerInfo]) -> set[str]:
    """The queues at least one live worker consumes."""
    return {queue for w in workers for queue in w.queues}


def queue_warning(workers: list[WorkerInfo] | None, queue: str) -> list[str]:
    """The warning for work sent to a queue no live worker consumes (none if unknown)."""
    if workers is None or queue in served_queues(workers):
        return []
    return [
        f"No live worker consumes queue `{queue}`: the work waits until one starts "
        f"(`GET /workers` lists them)."
    ]


def worker_summary(workers: list[WorkerInfo]) -> dict[str, Any]:
    """Workers per queue, for readiness and metrics."""
    per_queue: dict[str, int] = {}
    for w in workers:
        for queue in w.queues:
            per_queue[queue] = per_queue.get(queue, 0) + 1
    return per_queue
