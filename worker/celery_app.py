"""The Celery application of the worker; configured lazily from `Settings`."""

import logging
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from models.settings import Settings, get_settings

log = logging.getLogger("lrlab.worker")

app = Celery("lrlab", include=["worker.tasks"])


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery settings that matter; the README explains each."""
    return {
        "broker_url": settings.broker_url,
        "task_default_queue": settings.queue,
        # Ack only after the task returns, so a killed worker's message is redelivered.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One message at a time: a training run occupies the whole worker.
        "worker_prefetch_multiplier": 1,
        "task_ignore_result": True,
        "task_time_limit": settings.experiment_time_limit_seconds,
        # Redis redelivers unacked messages after this; longer than a lease so a live run's
        # message is not handed out twice while its lease is being renewed.
        "broker_transport_options": {"visibility_timeout": settings.lease_seconds * 2},
        "broker_connection_retry_on_startup": True,
        # TensorFlow's import in a fresh child takes seconds; don't let Celery kill it.
        "worker_proc_alive_timeout": 120,
        "worker_hijack_root_logger": False,
    }


@app.on_configure.connect
def _configure(sender: Celery, **_: Any) -> None:
    sender.conf.update(celery_config(get_settings()))


@worker_process_init.connect
def _warm_up(**_: Any) -> None:
    # Import TensorFlow in the pool process (never in the parent) before the first task arrives.
    from worker.engine import describe_device

    log.info("worker process ready, training on %s", describe_device())
