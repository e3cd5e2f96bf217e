"""Celery tasks: thin adapters that take ids and call the runner."""

import logging
import uuid

from models.queue import RUN_EXPERIMENT_TASK
from worker.celery_app import app

log = logging.getLogger("lrlab.worker")


# `typing=False`: a message with other arguments is logged and acked here, never fatal.
@app.task(name=RUN_EXPERIMENT_TASK, typing=False)
def run_experiment(*args: object, **kwargs: object) -> None:
    """Train one experiment, if it is still waiting for a worker."""
    try:
        if kwargs or len(args) != 1 or not isinstance(args[0], str):
            raise ValueError("expected one experiment id")
        experiment_id = uuid.UUID(args[0])
    except ValueError:
        log.warning("ignoring a malformed run message: args=%.100r kwargs=%.100r", args, kwargs)
        return
    # Imported here so that TensorFlow loads only inside the worker process.
    from worker.runner import claim_and_train

    claim_and_train(experiment_id)
