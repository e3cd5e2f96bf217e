"""Celery tasks: thin adapters that take ids and call the runner."""

import uuid

from models.queue import RUN_EXPERIMENT_TASK, RUN_RANGE_TEST_TASK
from worker.celery_app import app


@app.task(name=RUN_EXPERIMENT_TASK)
def run_experiment(experiment_id: str) -> None:
    """Train one experiment, if it is still waiting for a worker."""
    # Imported here so that TensorFlow loads only inside the worker process.
    from worker.runner import claim_and_train

    claim_and_train(uuid.UUID(experiment_id))


@app.task(name=RUN_RANGE_TEST_TASK)
def run_range_test(range_test_id: str) -> None:
    """Run one learning-rate range test, if it is still waiting for a worker."""
    from worker.range_runner import claim_and_run_range_test

    claim_and_run_range_test(uuid.UUID(range_test_id))
