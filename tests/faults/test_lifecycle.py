"""Run lifecycle with real processes: resume equality, time limit, queues, redelivery."""

import signal
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from models.experiments import RUN_EXPERIMENT_TASK
from tests.conftest import wait_for
from tests.faults.conftest import Stack, assert_ledger_invariants, experiment_spec, wait_status
from tests.holds import epoch_held

pytestmark = pytest.mark.faults
TERMINAL = {"succeeded", "failed", "cancelled"}


def _metrics(stack: Stack, experiment_id: str) -> list[dict[str, Any]]:
    """Every recorded value of every epoch, except the wall-clock seconds."""
    with Session(stack.engine) as session:
        rows = session.execute(
            text("SELECT * FROM metric WHERE experiment_id = :i ORDER BY epoch"),
            {"i": uuid.UUID(experiment_id)},
        ).mappings()
        skip = {"id", "experiment_id", "seconds", "attempt", "created_at", "recorded_at"}
        return [{k: v for k, v in row.items() if k not in skip} for row in rows]


def _epochs_done(stack: Stack, api: Any, experiment_id: str) -> int:
    return int(api.client.get(f"/experiments/{experiment_id}").json()["progress"]["epochs_done"])


def test_killed_and_resumed_equals_an_uninterrupted_twin(stack: Stack) -> None:
    api = stack.api()
    spec = experiment_spec(5, train_samples=3000, seed=11)
    killed = stack.submit(api, **spec)
    # Epochs 1-2 commit, epoch 3 waits at its commit: the kill lands mid-run on any machine.
    with epoch_held(stack.engine, 3, ids=[killed]) as waiting:
        worker = stack.worker(LRLAB_CHECKPOINT_EVERY_SECONDS="0")
        wait_for(waiting, timeout=180)
        worker.stop(signal.SIGKILL)
    killed_body = api.client.get(f"/experiments/{killed}").json()
    assert (killed_body["status"], killed_body["progress"]["epochs_done"]) == ("running", 2)
    stack.worker(LRLAB_CHECKPOINT_EVERY_SECONDS="0")
    body = wait_status(api, [killed], statuses=TERMINAL, timeout=240)[killed]
    assert body["status"] == "succeeded", body["error"]
    assert body["attempt"] == 2
    # The twin is submitted after, so it trains alone and is never interrupted.
    twin = stack.submit(api, **spec)
    twin_body = wait_status(api, [twin], statuses=TERMINAL, timeout=240)[twin]
    assert twin_body["status"] == "succeeded" and twin_body["attempt"] == 1
    resumed, straight = _metrics(stack, killed), _metrics(stack, twin)
    assert [m["epoch"] for m in resumed] == [1, 2, 3, 4, 5]
    assert resumed == straight
    assert_ledger_invariants(stack)


def test_the_time_limit_counts_training_and_fails_the_run_with_its_message(
    stack: Stack,
) -> None:
    api = stack.api()
    stack.worker(LRLAB_EXPERIMENT_TIME_LIMIT_SECONDS="10")
    experiment_id = stack.submit(api, **experiment_spec(1000, train_samples=8000))
    body = wait_status(api, [experiment_id], statuses=TERMINAL, timeout=240)[experiment_id]
    assert body["status"] == "failed"
    assert body["error"] == "exceeded the time limit of 10s (over all attempts)"
    assert body["attempt"] == 1
    assert 1 <= body["progress"]["epochs_done"] < 1000
    assert_ledger_invariants(stack)


def test_the_time_limit_counts_only_the_members_own_training(stack: Stack) -> None:
    api = stack.api()
    # Two short runs claimed together (one group): each trains for a few seconds at most.
    ids = [stack.submit(api, **experiment_spec(3, train_samples=500, seed=s)) for s in (1, 2)]
    with epoch_held(stack.engine, 1, ids=ids[:1]) as waiting:
        # A lease that outlasts the hold: the held commit blocks the claim's heartbeat.
        stack.worker(LRLAB_EXPERIMENT_TIME_LIMIT_SECONDS="10", LRLAB_LEASE_SECONDS="60")
        wait_for(waiting, timeout=180)
        # A commit that waits past the limit is not training, for this run or its companion.
        time.sleep(11)
    bodies = wait_status(api, ids, statuses=TERMINAL, timeout=180)
    assert {i: b["status"] for i, b in bodies.items()} == dict.fromkeys(ids, "succeeded"), [
        b["error"] for b in bodies.values()
    ]
    assert all(b["attempt"] == 1 for b in bodies.values())
    assert_ledger_invariants(stack)


def test_an_experiment_on_another_queue_is_trained_only_by_that_queues_worker(
    stack: Stack,
) -> None:
    gpu = f"{stack.queue}-gpu"
    allowed = {"LRLAB_QUEUES": f"{stack.queue},{gpu}"}
    api = stack.api(**allowed)
    default_worker = stack.worker(**allowed)
    refused = api.client.post("/experiments", json={**experiment_spec(1), "queue": "elsewhere"})
    assert refused.status_code == 422 and gpu in refused.text
    routed = stack.submit(api, **experiment_spec(1, train_samples=500), queue=gpu)
    # Nobody consumes the gpu queue yet: the run waits there, untouched by the other worker.
    assert int(stack.redis.command("LLEN", gpu).strip()[1:]) == 1
    plain = stack.submit(api, **experiment_spec(1, train_samples=500, seed=3))
    assert wait_status(api, [plain], statuses=TERMINAL, timeout=180)[plain]["status"] == (
        "succeeded"
    )
    assert api.client.get(f"/experiments/{routed}").json()["status"] == "queued"
    gpu_worker = stack.worker(LRLAB_QUEUE=gpu, **allowed)
    body = wait_status(api, [routed], statuses=TERMINAL, timeout=180)[routed]
    assert body["status"] == "succeeded" and body["attempt"] == 1
    assert routed in gpu_worker.log_path.read_text()
    assert routed not in default_worker.log_path.read_text()
    assert_ledger_invariants(stack)


def test_a_second_delivery_while_the_first_attempt_runs_does_nothing(stack: Stack) -> None:
    api = stack.api()
    first = stack.worker()
    stack.worker()
    # Long enough that the redelivery lands while the run trains, however fast the machine.
    experiment_id = stack.submit(api, **experiment_spec(30, train_samples=2000))
    wait_for(lambda: _epochs_done(stack, api, experiment_id) >= 1, timeout=180)
    from celery import Celery

    producer = Celery(broker=stack.redis.url)
    producer.send_task(RUN_EXPERIMENT_TASK, args=[experiment_id], queue=stack.queue)
    body = wait_status(api, [experiment_id], statuses=TERMINAL, timeout=240)[experiment_id]
    assert body["status"] == "succeeded"
    assert body["attempt"] == 1
    with Session(stack.engine) as session:
        rows = session.execute(
            text("SELECT epoch, attempt FROM metric WHERE experiment_id = :i ORDER BY epoch"),
            {"i": uuid.UUID(experiment_id)},
        ).all()
    assert [tuple(r) for r in rows] == [(epoch, 1) for epoch in range(1, 31)]

    def answered() -> int:
        logs = [w.log_path.read_text() for w in stack.workers]
        return sum("is not waiting for a worker; nothing to do" in log for log in logs)

    # The redelivery was answered with nothing to do, exactly once.
    wait_for(answered, timeout=30)
    assert answered() == 1
    assert first.process.poll() is None
    assert_ledger_invariants(stack)
