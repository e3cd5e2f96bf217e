"""The lifecycle every kind of job shares, and what surrounds it.

- `kinds`: `JobKind`, the written contract between the lifecycle and one kind of job (its
  table, its task, and its hooks at close, requeue and give-up).
- `lifecycle`: claim (with a claim token), leases, fencing, release, requeue, give up, and the
  reconciler's queries, for any `JobKind`.
- `publishing`: ringing the broker's doorbell by task name after a commit.
- `idempotency`: a retried POST gets the original resource.
- `live`: the change signal of running jobs and the replay behind the event streams.
- `presence`, `datasets`: the workers that are alive, and the datasets they have loaded.

The kinds themselves live with their concepts: `models.experiments.EXPERIMENT_JOBS`,
`models.range_tests.RANGE_TEST_JOBS`."""

from models.jobs.datasets import (
    DatasetRead,
    dataset_sizes,
)
from models.jobs.idempotency import (
    purge_expired_keys,
    request_hash,
    reserve_key,
)
from models.jobs.kinds import (
    JobKind,
    end_job,
)
from models.jobs.lifecycle import (
    close_owned,
    expire_leases,
    lock_queued,
    mark_enqueued,
    owned_job,
    queued_count,
    reclaimed,
    release_job,
    renew_leases,
    requeue_job,
    start_attempt,
    unsignalled_queued,
)
from models.jobs.live import (
    CHANNEL,
    MAX_CURSOR_CHARS,
    Event,
    Position,
    end_event,
    events_since,
    finished,
    format_cursor,
    parse_cursor,
    signal,
    watched_experiments,
)
from models.jobs.presence import (
    HEARTBEAT_SECONDS,
    DatasetSize,
    WorkerInfo,
    find_workers,
    live_workers,
    publish_heartbeat,
    queue_warning,
    recent_listing,
    recent_workers,
    redis_client,
    served_queues,
    withdraw,
    worker_summary,
)
from models.jobs.publishing import (
    broker_queue_length,
    broker_reachable,
    enqueue_jobs,
    get_producer,
    publish,
    publish_marked,
)

__all__ = [
    "CHANNEL",
    "HEARTBEAT_SECONDS",
    "MAX_CURSOR_CHARS",
    "DatasetRead",
    "DatasetSize",
    "Event",
    "JobKind",
    "Position",
    "WorkerInfo",
    "broker_queue_length",
    "broker_reachable",
    "close_owned",
    "dataset_sizes",
    "end_event",
    "end_job",
    "enqueue_jobs",
    "events_since",
    "expire_leases",
    "find_workers",
    "finished",
    "format_cursor",
    "get_producer",
    "live_workers",
    "lock_queued",
    "mark_enqueued",
    "owned_job",
    "parse_cursor",
    "publish",
    "publish_heartbeat",
    "publish_marked",
    "purge_expired_keys",
    "queue_warning",
    "queued_count",
    "recent_listing",
    "recent_workers",
    "reclaimed",
    "redis_client",
    "release_job",
    "renew_leases",
    "request_hash",
    "requeue_job",
    "reserve_key",
    "served_queues",
    "signal",
    "start_attempt",
    "unsignalled_queued",
    "watched_experiments",
    "withdraw",
    "worker_summary",
]
