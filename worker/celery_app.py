"""The Celery application of the worker; configured lazily from `Settings`."""

import gc
import logging
import os
import sys
import threading
from typing import Any

import celery.apps.worker as celery_worker
from celery import Celery
from celery.signals import worker_ready, worker_shutting_down

from models.jobs import DatasetSize
from models.storage import Settings, get_settings, kombu_url
from worker import prometheus, reconciler
from worker.presence import Presence
from worker.shutdown import request_stop

log = logging.getLogger("lrlab.worker")

app = Celery("lrlab", include=["worker.tasks"])


def _hang_up_stops(worker: Any, sig: str = "SIGHUP") -> None:
    # Celery re-execs itself on SIGHUP when detached from a terminal: a closing terminal then
    # leaves an orphan consuming the queue. A hang-up is a warm shutdown, like SIGTERM.
    celery_worker.install_worker_term_handler(worker, sig=sig)


celery_worker.install_worker_restart_handler = _hang_up_stops
_reconciler_stop = threading.Event()
_presence: list[Presence] = []


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery settings that matter; docs/operating.md explains each."""
    return {
        "broker_url": kombu_url(settings.broker_url),
        "task_default_queue": settings.queue,
        # The task runs in the worker's own process: SIGTERM's warm shutdown reaches the
        # training loop, which checkpoints at the epoch boundary and hands its work back.
        "worker_pool": "solo",
        "worker_concurrency": 1,
        # Ack only after the task returns, so a killed worker's message is delivered again.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One message at a time: a training run occupies the whole worker.
        "worker_prefetch_multiplier": 1,
        "task_ignore_result": True,
        # Redis hands an unacked message out again after this, even while its run is alive: a
        # run longer than this is delivered twice. The second delivery finds the experiment
        # no longer queued and does nothing.
        "broker_transport_options": {"visibility_timeout": max(3 * settings.lease_seconds, 300)},
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "worker_hijack_root_logger": False,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
    }


@app.on_configure.connect
def _configure(sender: Celery, **_: Any) -> None:
    sender.conf.update(celery_config(get_settings()))


@worker_ready.connect
def _ready(sender: Any = None, **_: Any) -> None:
    # TensorFlow loads here, in the worker process, never at import of this module.
    from worker.backend import describe_device

    # On a terminal Celery leaves SIGHUP at its default (an abrupt exit): stop warmly instead.
    _hang_up_stops(sender)
    settings = get_settings()
    device = describe_device()
    log.info("worker ready, training on %s", device)
    prometheus.serve(settings.worker_metrics_port)
    presence = Presence(name=_node_name(sender), queues=_queues(sender, settings), device=device)
    _presence.append(presence)
    # Readiness: a worker that cannot load its data says so in its heartbeat (and /readyz).
    presence.dataset_error = _check_dataset(settings)
    if presence.dataset_error is None:
        presence.datasets = _dataset_sizes(settings)
    presence.start()
    if settings.warm_up and presence.dataset_error is None:
        _warm_up(settings)
    # TensorFlow's and the warm-up's objects live as long as the process: frozen, a full
    # collection skips them instead of stalling the reconciler's pass (bench/LEDGER_PLANS.md).
    gc.freeze()
    reconciler.start(_reconciler_stop)
    log.info("worker process ready")


@worker_shutting_down.connect
def _shutting_down(**_: Any) -> None:
    request_stop()
    _reconciler_stop.set()
    for presence in _presence:
        presence.stop()


def _node_name(sender: Any) -> str:
    hostname = getattr(sender, "hostname", None)
    return str(hostname) if hostname else f"lrlab@{os.getpid()}"


def _queues(sender: Any, settings: Settings) -> list[str]:
    try:
        return sorted(sender.app.amqp.queues.consume_from)
    except AttributeError:
        return [settings.queue]


def _check_dataset(settings: Settings) -> str | None:
    """Load the default dataset once (downloading it where it is unset and reachable)."""
    from models.experiments import DatasetSpec
    from worker.datasets import DatasetError, load_dataset

    try:
        data = load_dataset(
            "mnist", train_samples=DatasetSpec().train_samples, mnist_path=settings.mnist_path
        )
    except DatasetError as exc:
        log.error("the worker cannot load its dataset: %s", exc)
        return f"DatasetError: {exc}"
    info = data.info
    log.info(
        "dataset %s loaded from %s: %d training and %d validation samples",
        info.name,
        info.path or info.source,
        info.train_samples,
        info.val_samples,
    )
    return None


def _dataset_sizes(settings: Settings) -> dict[str, DatasetSize]:
    """What the data holds, for clients that size a run (steps per epoch) before submitting."""
    from worker.datasets import load_dataset

    # Any request above the size is capped to it: ask for more than any data holds.
    info = load_dataset("mnist", train_samples=sys.maxsize, mnist_path=settings.mnist_path).info
    return {"mnist": DatasetSize(train_samples=info.train_samples, val_samples=info.val_samples)}


def _warm_up(settings: Settings) -> None:
    """Compile for the default spec on the configured data, so a first epoch comes fast."""
    from models.experiments import DatasetSpec, TrainingSpec
    from worker.datasets import load_dataset
    from worker.engine import warm_up

    data = load_dataset(
        "mnist", train_samples=DatasetSpec().train_samples, mnist_path=settings.mnist_path
    )
    warm_up(
        batch_size=TrainingSpec().batch_size,
        n_train=data.info.train_samples,
        n_val=data.info.val_samples,
        claim_size=settings.group_size,
    )
