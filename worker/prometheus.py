"""The worker's Prometheus metrics, served on `LRLAB_WORKER_METRICS_PORT` when it is set.

Each worker process (solo pool: one process per worker) serves its own registry over
prometheus_client's `start_http_server`; no pushgateway and no multiprocess directory needed.
"""

from prometheus_client import Counter, Histogram, start_http_server

EPOCH_SECONDS = Histogram(
    "lrlab_epoch_duration_seconds",
    "Wall time of one training epoch (training and validation) of one experiment.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
RECONCILER_ACTIONS = Counter(
    "lrlab_reconciler_actions_total",
    "Experiments the reconciler acted on, by action (requeued after a lapsed lease, "
    "re-published after a lost or missing message).",
    ["action"],
)

MEMBER_EPOCHS = Counter(
    "lrlab_member_epochs_total",
    "Epochs trained by experiments (one per member per epoch; pruning lowers the rate).",
)
COMPUTED_MEMBER_EPOCHS = Counter(
    "lrlab_computed_member_epochs_total",
    "Member epochs the compiled stacked epochs computed (a stack's size, each epoch): equal to "
    "lrlab_member_epochs_total since stopped members leave their stack.",
)
PRUNED = Counter(
    "lrlab_pruned_total", "Experiments a sweep's pruning rule stopped (status `pruned`)."
)


def serve(port: int | None) -> None:
    """Serve this process's metrics on `port` (nothing when unset)."""
    if port is not None:
        start_http_server(port)
