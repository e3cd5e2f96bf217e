"""A wide sweep shared by two real workers: claims of LRLAB_GROUP_SIZE, nothing trained twice."""

import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.faults.conftest import Stack, assert_ledger_invariants

pytestmark = pytest.mark.e2e


def _ledger(stack: Stack, ids: list[str]) -> tuple[int, int]:
    """Metric rows and epochs_done summed over the sweep's members, read in one snapshot."""
    with Session(stack.engine) as session:
        rows, done = session.execute(
            text(
                "SELECT (SELECT count(*) FROM metric WHERE experiment_id = ANY(:ids)), "
                "(SELECT sum(epochs_done) FROM experiment WHERE id = ANY(:ids))"
            ),
            {"ids": [uuid.UUID(i) for i in ids]},
        ).one()
    return int(rows), int(done)


def test_two_workers_share_a_sweep_without_training_anything_twice(stack: Stack) -> None:
    api = stack.api()
    shared = {"LRLAB_GROUP_SIZE": "3", "LRLAB_WARM_UP": "false"}
    workers = [stack.worker(**shared), stack.worker(**shared)]
    response = api.client.post(
        "/sweeps",
        json={
            "base": {
                "training": {"epochs": 3, "batch_size": 64},
                "dataset": {"name": "mnist", "train_samples": 600},
            },
            "schedulers": [{"type": "constant"}, {"type": "cosine", "t_max": 3}],
            "seeds": [0, 1, 2, 3, 4, 5],
        },
    )
    assert response.status_code == 202, response.text
    sweep_id, ids = response.json()["id"], [str(i) for i in response.json()["experiments"]]
    stack.experiment_ids.extend(ids)
    seen_running = False
    while True:
        # Progress while it runs: never ahead of the committed rows, never past the totals.
        before, _ = _ledger(stack, ids)
        read: dict[str, Any] = api.client.get(f"/sweeps/{sweep_id}").json()
        after, _ = _ledger(stack, ids)
        assert before <= read["progress"]["epochs_done"] <= after
        assert read["progress"]["epochs"] == 12 * 3
        comparison = api.client.get(f"/sweeps/{sweep_id}/comparison")
        assert comparison.status_code == 200
        counted = sum(r["runs"] + r["pending"] + r["failed"] for r in comparison.json()["rows"])
        assert counted == 12
        if read["status"] != "running" and read["status"] != "queued":
            break
        seen_running = seen_running or read["status"] == "running"
    assert read["status"] == "completed" and read["counts"]["succeeded"] == 12
    assert seen_running
    with Session(stack.engine) as session:
        attempts = session.execute(
            text(
                "SELECT e.attempt, count(m.epoch), min(m.attempt), max(m.attempt) "
                "FROM experiment e JOIN metric m ON m.experiment_id = e.id "
                "WHERE e.id = ANY(:ids) GROUP BY e.id"
            ),
            {"ids": [uuid.UUID(i) for i in ids]},
        ).all()
    # One claim each, three rows each, all written by that claim: no member trained twice.
    assert sorted(attempts) == [(1, 3, 1, 1)] * 12
    # Both workers trained claims of at most 3 members.
    claimed = [w.log_path.read_text(errors="replace").count("claimed ") for w in workers]
    assert all(n >= 1 for n in claimed), claimed
    assert_ledger_invariants(stack)
