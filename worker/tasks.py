"""Celery tasks: thin adapters that take ids and call the runner."""

import logging
import uuid

from models.experiments import RUN_EXPERIMENT_TASK
from models.range_tests import RUN_RANGE_TEST_TASK
from worker.celery_app import app

log = logging.getLogger("lrlab.worker")


# `typing=False`: a message with other arguments is logged and acked here, never fatal.
@app.task(name=RUN_EXPERIMENT_TASK, typing=False)
def run_experiment(*args: object, **kwargs: object) -> None:
    """Train one experiment, if it is still waiting for a worker."""
    experiment_id = _one_id(args, kwargs)
    if experiment_id is None:
        return
    # Imported here so that TensorFlow loads only inside the worker process.
    from worker.runner import claim_and_train

    claim_and_train(experiment_id)


@app.task(name=RUN_RANGE_TEST_TASK, typing=False)
def run_range_test(*args: object, **kwargs: object) -> None:
    """Run one learning-rate range test, if it is still waiting for a worker."""
    range_test_id = _one_id(args, kwargs)
    if range_test_id is None:
        return
    from worker.range_runner import claim_and_run_range_test

    claim_and_run_range_test(range_test_id)


def _one_id(args: tuple[object, ...], kwargs: dict[str, object]) -> uuid.UUID | None:
    """The single id a run message carries, or None (logged) for anything else."""
    try:
        if kwargs or len(args) != 1 or not isinstance(args[0], str):
            raise ValueError("expected one id")
        return uuid.UUID(args[0])
    except ValueError:
        log.warning("ignoring a malformed run message: args=%.100r kwargs=%.100r", args, kwargs)
        return None
