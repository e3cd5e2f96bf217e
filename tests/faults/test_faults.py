"""Crash safety with real processes and real kills: every accepted experiment finishes once."""

import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from models.experiments import RUN_EXPERIMENT_TASK
from tests.conftest import wait_for
from tests.faults.conftest import (
    Stack,
    assert_ledger_invariants,
    experiment_spec,
    wait_status,
)
from tests.holds import epoch_held

pytestmark = pytest.mark.faults
TERMINAL = {"succeeded", "failed", "cancelled"}


def _rows(stack: Stack, experiment_id: str) -> list[tuple[int, int]]:
    with Session(stack.engine) as session:
        return [
            (r.epoch, r.attempt)
            for r in session.execute(
                text("SELECT epoch, attempt FROM metric WHERE experiment_id = :i ORDER BY epoch"),
                {"i": uuid.UUID(experiment_id)},
            )
        ]


def _running_claims(stack: Stack, ids: list[str]) -> set[tuple[str, int]]:
    with Session(stack.engine) as session:
        return {
            (str(r.id), r.attempt)
            for r in session.execute(
                text(
                    "SELECT id, attempt FROM experiment WHERE id = ANY(:ids) AND status = 'running'"
                ),
                {"ids": [uuid.UUID(i) for i in ids]},
            )
        }


def _epochs_done(api_client, experiment_id: str) -> int:  # type: ignore[no-untyped-def]
    return int(api_client.get(f"/experiments/{experiment_id}").json()["progress"]["epochs_done"])


def _running_attempt(api_client, experiment_id: str) -> int | None:  # type: ignore[no-untyped-def]
    body = api_client.get(f"/experiments/{experiment_id}").json()
    return int(body["attempt"]) if body["status"] == "running" else None


def test_sigkill_mid_epoch_resumes_from_the_last_checkpoint(stack: Stack) -> None:
    api = stack.api()
    # A checkpoint after every epoch: only the epoch in flight is lost.
    experiment_id = stack.submit(api, **experiment_spec(6, train_samples=8000))
    with epoch_held(stack.engine, 3, ids=[experiment_id]) as waiting:
        worker = stack.worker(LRLAB_CHECKPOINT_EVERY_SECONDS="0")
        wait_for(waiting, timeout=180)
        worker.stop(signal.SIGKILL)  # the whole process group, before epoch 3 commits
    killed_at = time.monotonic()
    done_at_kill = _epochs_done(api.client, experiment_id)
    assert done_at_kill == 2
    stack.worker(LRLAB_CHECKPOINT_EVERY_SECONDS="0")
    wait_for(lambda: len(_rows(stack, experiment_id)) > done_at_kill, timeout=120)
    resumed_after = time.monotonic() - killed_at
    body = wait_status(api, [experiment_id], statuses=TERMINAL, timeout=180)[experiment_id]
    assert body["status"] == "succeeded", body["error"]
    rows = _rows(stack, experiment_id)
    assert [epoch for epoch, _ in rows] == [1, 2, 3, 4, 5, 6]
    # Only the epoch in flight at the kill was trained again: the rest came from the checkpoint.
    second = [epoch for epoch, attempt in rows if attempt == body["attempt"]]
    assert second == list(range(done_at_kill + 1, 7))
    assert body["attempt"] == 2
    print(f"\nrecovery: kill -> first resumed epoch committed in {resumed_after:.1f}s")
    assert_ledger_invariants(stack)


def test_a_kill_that_lost_several_epochs_recomputes_them_equal_to_the_record(
    stack: Stack,
) -> None:
    api = stack.api()
    # No checkpoint within the hour: the kill loses every epoch trained so far.
    experiment_id = stack.submit(api, **experiment_spec(40, train_samples=1000))
    with epoch_held(stack.engine, 4, ids=[experiment_id]) as waiting:
        worker = stack.worker(LRLAB_CHECKPOINT_EVERY_SECONDS="3600")
        wait_for(waiting, timeout=180)
        worker.stop(signal.SIGKILL)
    recorded = _rows(stack, experiment_id)
    assert [epoch for epoch, _ in recorded] == [1, 2, 3]
    stack.worker(LRLAB_CHECKPOINT_EVERY_SECONDS="3600")
    body = wait_status(api, [experiment_id], statuses=TERMINAL, timeout=240)[experiment_id]
    assert body["status"] == "succeeded", body["error"]
    assert body["attempt"] == 2
    # Every epoch recorded before the kill was trained again and reproduced its row exactly;
    # the rows were kept, not rewritten.
    assert body["reproducibility"] == {"recomputed_epochs": len(recorded), "mismatches": []}
    assert _rows(stack, experiment_id)[: len(recorded)] == recorded
    assert [epoch for epoch, _ in _rows(stack, experiment_id)] == list(range(1, 41))
    assert_ledger_invariants(stack)


def test_sigterm_checkpoints_and_hands_back_without_recomputation(stack: Stack) -> None:
    api = stack.api()
    epochs = 40
    experiment_id = stack.submit(api, **experiment_spec(epochs, train_samples=1000))
    # The SIGTERM arrives while epoch 2 waits at its commit, however fast this machine trains.
    with epoch_held(stack.engine, 2, ids=[experiment_id]) as waiting:
        worker = stack.worker(LRLAB_CHECKPOINT_EVERY_SECONDS="3600")
        wait_for(waiting, timeout=180)
        os.killpg(worker.process.pid, signal.SIGTERM)
    worker.stop(signal.SIGTERM, timeout=120)  # warm shutdown: checkpoint at the epoch end
    handed_back_after = _epochs_done(api.client, experiment_id)
    assert 1 <= handed_back_after < epochs
    # Released in Postgres and published again on the broker, before any other worker runs.
    released = api.client.get(f"/experiments/{experiment_id}").json()
    assert (released["status"], released["attempt"]) == ("queued", 1)
    assert stack.redis.command("LLEN", stack.queue).strip() == b":1"
    assert "handed back after a checkpoint" in stack.workers[0].log_path.read_text()
    stack.worker(LRLAB_CHECKPOINT_EVERY_SECONDS="3600")
    body = wait_status(api, [experiment_id], statuses=TERMINAL, timeout=240)[experiment_id]
    assert body["status"] == "succeeded", body["error"]
    assert body["attempt"] == 2
    assert body["reproducibility"] is None  # resumed exactly where it stopped
    rows = _rows(stack, experiment_id)
    assert [epoch for epoch, _ in rows] == list(range(1, epochs + 1))
    assert [a for e, a in rows if e > handed_back_after] == [2] * (epochs - handed_back_after)
    assert_ledger_invariants(stack)


def test_repeated_kills_during_a_sweep(stack: Stack) -> None:
    api = stack.api()
    response = api.client.post(
        "/sweeps",
        json={
            "base": {
                "training": {"epochs": 4, "batch_size": 32},
                "dataset": {"name": "mnist", "train_samples": 2000},
            },
            "schedulers": [
                {"type": "constant"},
                {"type": "step", "step_size": 1, "gamma": 0.5},
                {"type": "cosine", "t_max": 4},
            ],
            "seeds": [0, 1],
        },
    )
    assert response.status_code == 202, response.text
    ids = [str(i) for i in response.json()["experiments"]]
    stack.experiment_ids.extend(ids)
    # Every kill costs each member of the running group an attempt; allow enough of them.
    patient = {"LRLAB_MAX_ATTEMPTS": "10"}
    killed_claims: set[tuple[str, int]] = set()
    for epoch in (2, 3, 4):
        # Each kill lands while the worker waits to commit that epoch of some member: its
        # claims cannot change meanwhile, however fast the machine trains.
        with epoch_held(stack.engine, epoch, ids=ids) as waiting:
            worker = stack.worker(**patient)
            wait_for(waiting, timeout=180)
            killed_claims |= _running_claims(stack, ids)
            worker.stop(signal.SIGKILL)
    stack.worker(**patient)
    bodies = wait_status(api, ids, statuses=TERMINAL, timeout=300)
    assert {b["status"] for b in bodies.values()} == {"succeeded"}
    for experiment_id in ids:
        assert [epoch for epoch, _ in _rows(stack, experiment_id)] == [1, 2, 3, 4]
    # Every claim a kill cut short cost exactly one attempt; the last claim succeeded.
    assert killed_claims
    for experiment_id, body in bodies.items():
        cut = sum(1 for i, _ in killed_claims if i == experiment_id)
        assert body["attempt"] == cut + 1, (experiment_id, sorted(killed_claims))
    assert_ledger_invariants(stack)


def test_broker_wipe_while_queued_is_recovered(stack: Stack) -> None:
    api = stack.api()
    ids = [stack.submit(api, **experiment_spec(1, train_samples=500, seed=s)) for s in range(3)]
    assert stack.redis.command("LLEN", stack.queue).strip() == b":3"
    assert stack.redis.command("FLUSHALL").startswith(b"+OK")
    wiped_at = time.monotonic()
    stack.worker()
    wait_for(
        lambda: (
            int(stack.redis.command("LLEN", stack.queue).strip()[1:] or 0) > 0
            or any(_rows(stack, i) for i in ids)
        ),
        timeout=60,
    )
    print(
        f"\nrecovery: broker wipe -> re-enqueued in {time.monotonic() - wiped_at:.1f}s "
        "(includes the worker's start)"
    )
    bodies = wait_status(api, ids, statuses=TERMINAL, timeout=180)
    assert {b["status"] for b in bodies.values()} == {"succeeded"}
    assert_ledger_invariants(stack)


def test_submissions_while_redis_is_down_all_run_once_it_returns(stack: Stack) -> None:
    api = stack.api()
    stack.worker()
    stack.redis.stop()
    ids = [stack.submit(api, **experiment_spec(1, train_samples=500, seed=s)) for s in range(3)]
    # The reasons are for the operator only.
    operator = {"Authorization": f"Bearer {os.environ['LRLAB_ADMIN_TOKEN']}"}
    ready = api.client.get("/readyz", headers=operator)
    assert ready.status_code == 503 and "broker" in ready.text
    for experiment_id in ids:
        assert api.client.get(f"/experiments/{experiment_id}").json()["status"] == "queued"
    stack.redis.start()
    bodies = wait_status(api, ids, statuses=TERMINAL, timeout=180)
    assert {b["status"] for b in bodies.values()} == {"succeeded"}
    assert_ledger_invariants(stack)


def test_duplicate_delivery_trains_once(stack: Stack) -> None:
    api = stack.api()
    stack.worker()
    stack.worker()
    experiment_id = stack.submit(api, **experiment_spec(2, train_samples=1000))
    # A second message for the same experiment, as a redelivery would produce.
    from celery import Celery

    producer = Celery(broker=stack.redis.url)
    producer.send_task(RUN_EXPERIMENT_TASK, args=[experiment_id], queue=stack.queue)
    body = wait_status(api, [experiment_id], statuses=TERMINAL, timeout=180)[experiment_id]
    assert body["status"] == "succeeded"
    assert body["attempt"] == 1
    assert _rows(stack, experiment_id) == [(1, 1), (2, 1)]
    logs = "".join(w.log_path.read_text() for w in stack.workers)
    assert "is not waiting for a worker; nothing to do" in logs
    assert_ledger_invariants(stack)


def test_a_diverging_experiment_fails_alone_and_others_succeed(stack: Stack) -> None:
    api = stack.api()
    stack.worker()
    # An lr of 1e20 overflows float32 weights on the first step: the loss becomes NaN every time.
    bad = stack.submit(
        api,
        **{
            **experiment_spec(2, train_samples=1000),
            "scheduler": {"type": "cyclic", "base_lr": 1e20, "max_lr": 1e30, "interval": "epoch"},
        },
    )
    good = [stack.submit(api, **experiment_spec(2, train_samples=1000, seed=s)) for s in (1, 2)]
    bodies = wait_status(api, [bad, *good], statuses=TERMINAL, timeout=180)
    assert bodies[bad]["status"] == "failed"
    assert "nan" in bodies[bad]["error"].lower() or "inf" in bodies[bad]["error"].lower()
    assert bodies[bad]["attempt"] == 1  # a run that raises fails without a retry
    assert all(bodies[g]["status"] == "succeeded" for g in good)
    assert_ledger_invariants(stack)


def test_a_run_that_kills_its_worker_every_time_fails_after_max_attempts(stack: Stack) -> None:
    api = stack.api()
    doomed = stack.submit(api, **experiment_spec(50, train_samples=2000))
    for attempt in (1, 2, 3):
        worker = stack.worker()
        wait_for(
            lambda a=attempt: _running_attempt(api.client, doomed) == a,
            timeout=120,
        )
        worker.stop(signal.SIGKILL)
    stack.worker()
    body = wait_status(api, [doomed], statuses=TERMINAL, timeout=120)[doomed]
    assert body["status"] == "failed"
    assert body["attempt"] == 3
    assert "gave up after 3 attempt(s)" in body["error"]
    other = stack.submit(api, **experiment_spec(1, train_samples=500))
    assert wait_status(api, [other], statuses=TERMINAL, timeout=120)[other]["status"] == "succeeded"
    assert_ledger_invariants(stack)


def test_database_outage_gives_503_then_recovers_without_losing_rows(stack: Stack) -> None:
    with stack.database_proxy() as (proxy, via_proxy):
        api = stack.api(LRLAB_DATABASE_URL=via_proxy)
        stack.worker(LRLAB_DATABASE_URL=via_proxy)
        experiment_id = stack.submit(api, **experiment_spec(6, train_samples=4000))
        wait_for(lambda: _epochs_done(api.client, experiment_id) >= 1, timeout=180)
        proxy.cut()
        time.sleep(0.5)
        during = api.client.get(f"/experiments/{experiment_id}")
        assert during.status_code == 503
        assert during.headers["content-type"].startswith("application/json")
        assert "database" in during.json()["detail"]
        assert api.client.get("/readyz").status_code == 503
        time.sleep(4)
        proxy.restore()
        assert wait_for(
            lambda: api.client.get(f"/experiments/{experiment_id}").status_code == 200,
            timeout=30,
        )
        body = wait_status(api, [experiment_id], statuses=TERMINAL, timeout=240)[experiment_id]
        assert body["status"] == "succeeded", body["error"]
        assert [epoch for epoch, _ in _rows(stack, experiment_id)] == [1, 2, 3, 4, 5, 6]
        assert_ledger_invariants(stack)


def _cut_open_transactions(stack: Stack) -> None:
    """End every backend of the fault database inside a statement or a transaction.

    A SIGSTOPped worker holds its connections open: its transactions would hold the run's
    row forever, as they would for a worker paused on a real machine until a TCP timeout.
    """
    with stack.engine.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND state <> 'idle'"
            )
        )


def test_a_stale_attempt_leaves_the_live_attempts_checkpoint_files(
    stack: Stack, tmp_path: Path
) -> None:
    api = stack.api()
    shared = {
        "LRLAB_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),  # one volume for both workers
        "LRLAB_CHECKPOINT_EVERY_SECONDS": "0",
        "LRLAB_MAX_ATTEMPTS": "5",
    }
    experiment_id = stack.submit(api, **experiment_spec(10, train_samples=1000))
    # The first worker reconciles rarely: only the second one gives its run to a new attempt.
    with epoch_held(stack.engine, 3, ids=[experiment_id]) as waiting:
        first = stack.worker(LRLAB_RECONCILE_INTERVAL_SECONDS="3600", **shared)
        wait_for(waiting, timeout=180)
        os.killpg(first.process.pid, signal.SIGSTOP)  # paused past its lease, mid-commit
        _cut_open_transactions(stack)
    _cut_open_transactions(stack)
    assert _rows(stack, experiment_id) == [(1, 1), (2, 1)]

    # A second worker takes the run over (attempt 2) and commits checkpoints up to epoch 5.
    with epoch_held(stack.engine, 6, ids=[experiment_id]) as waiting:
        second = stack.worker(**shared)
        wait_for(waiting, timeout=180)
        second.stop(signal.SIGKILL)
    assert [a for _, a in _rows(stack, experiment_id)] == [1, 1, 2, 2, 2]

    # The first attempt wakes, finds the run is no longer its own and stops.
    os.killpg(first.process.pid, signal.SIGCONT)
    wait_for(lambda: "attempt 1 stops" in first.log_path.read_text(), timeout=120)
    wait_for(lambda: "succeeded in" in first.log_path.read_text(), timeout=60)
    files = sorted(p.name for p in (tmp_path / "checkpoints").glob("*.ckpt"))
    assert f"{experiment_id}-epoch5.ckpt" in files, files

    # So a third attempt resumes from attempt 2's checkpoint, recomputing nothing.
    stack.worker(**shared)
    body = wait_status(api, [experiment_id], statuses=TERMINAL, timeout=240)[experiment_id]
    assert body["status"] == "succeeded", body["error"]
    assert body["attempt"] == 3
    assert body["reproducibility"] is None
    assert [a for _, a in _rows(stack, experiment_id)] == [1, 1, 2, 2, 2] + [3] * 5
    assert list((tmp_path / "checkpoints").glob("*.ckpt")) == []
    assert_ledger_invariants(stack)
