"""ASHA pruning end to end: real workers prune a 16 × 2 × 27 sweep, and a kill changes nothing."""

import re
import signal
import uuid
from collections import defaultdict
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from devtools.processes import WorkerProcess
from models.sweeps import AshaRule, Bracket
from tests.conftest import wait_for
from tests.faults.conftest import Stack
from tests.holds import epoch_held

pytestmark = pytest.mark.faults

EPOCHS = 27
# 16 configurations × 2 seeds; a small sample keeps an epoch short on a CPU.
# A fixed shuffle of the learning rates: in grid (arrival) order, ascending rates would each
# beat every earlier arrival and never be pruned, descending ones would all be pruned at once.
_RATES = np.geomspace(0.0005, 0.2, 16)
_ORDER = (7, 0, 12, 3, 15, 9, 1, 5, 13, 10, 2, 8, 14, 4, 11, 6)
LEARNING_RATES = [round(float(_RATES[i]), 6) for i in _ORDER]
SWEEP: dict[str, Any] = {
    "name": "asha e2e",
    "base": {
        "training": {"epochs": EPOCHS, "batch_size": 64, "optimizer": "sgd"},
        "dataset": {"name": "mnist", "train_samples": 256},
    },
    "schedulers": [{"type": "constant"}],
    "grid": {"training.learning_rate": LEARNING_RATES},
    "seeds": [0, 1],
    "pruning": {"type": "asha", "metric": "val_accuracy", "mode": "max", "reduction_factor": 3},
}
RULE = AshaRule(grace_period=1, reduction_factor=3, max_t=EPOCHS)


def _log(stack: Stack, sweep_id: str) -> list[tuple[Any, ...]]:
    with Session(stack.engine) as session:
        return [
            tuple(row)
            for row in session.execute(
                text(
                    "SELECT id, experiment_id, rung, epoch, value, cutoff, compared, decision "
                    "FROM pruning_decision WHERE sweep_id = :s ORDER BY id"
                ),
                {"s": uuid.UUID(sweep_id)},
            )
        ]


def test_a_pruned_sweep_shrinks_its_stacks_and_a_killed_worker_changes_no_decision(
    stack: Stack,
) -> None:
    api = stack.api()
    env = {"LRLAB_GROUP_SIZE": "32", "LRLAB_MAX_STACK": "8", "LRLAB_CHECKPOINT_EVERY_SECONDS": "0"}
    worker = stack.worker(**env)
    # Held at the commit of epoch 3, the second rung: every member's rung-1 decision is in.
    with epoch_held(stack.engine, 3, names=[SWEEP["name"]]) as waiting:
        response = api.client.post("/sweeps", json=SWEEP)
        assert response.status_code == 202, response.text
        sweep = response.json()
        stack.experiment_ids += sweep["experiments"]
        wait_for(waiting, timeout=600)
        before = _log(stack, sweep["id"])
        worker.stop(signal.SIGKILL)
    assert len(before) == 32 and {row[2] for row in before} == {1}
    # One claim's members reaching a rung in the same epoch are judged in grid order.
    assert [str(row[1]) for row in before] == sweep["experiments"]
    survivor = stack.worker(**env)
    wait_for(
        lambda: api.client.get(f"/sweeps/{sweep['id']}").json()["status"] == "completed",
        timeout=900,
    )
    after = _log(stack, sweep["id"])
    # The kill changed no decision: the ones made before it stand, none was made twice.
    assert after[: len(before)] == before
    assert len({(row[1], row[2]) for row in after}) == len(after)

    # Every decision is Ray's rule applied to the values before it, in decision order.
    bracket = Bracket(RULE)
    for _, member, rung, epoch, value, cutoff, compared, decision in after:
        replayed = bracket.on_result(str(member), epoch, value)
        assert replayed is not None and replayed.rung == rung
        assert (replayed.compared, replayed.prune) == (compared, decision == "prune")
        assert replayed.cutoff == pytest.approx(cutoff)

    members = api.client.get(f"/sweeps/{sweep['id']}").json()
    assert members["counts"]["pruned"] > 0
    assert members["counts"]["pruned"] + members["counts"]["succeeded"] == 32
    decisions = defaultdict(list)
    for _, member, rung, epoch, _, _, _, decision in after:
        decisions[str(member)].append((rung, epoch, decision))
    with Session(stack.engine) as session:
        rows = session.execute(
            text(
                "SELECT e.id, e.status, e.pruned_at_epoch, max(m.epoch) FROM experiment e "
                "JOIN metric m ON m.experiment_id = e.id WHERE e.sweep_id = :s "
                "GROUP BY e.id, e.status, e.pruned_at_epoch"
            ),
            {"s": uuid.UUID(sweep["id"])},
        ).all()
    trained = 0
    for member, status, pruned_at, last in rows:
        trained += last
        judged = decisions[str(member)]
        if status == "pruned":
            # A pruned member stays pruned, with nothing recorded after its rung.
            assert judged[-1] == (pruned_at, pruned_at, "prune") and last == pruned_at
        else:
            assert status == "succeeded" and last == EPOCHS
            assert judged == [(m, m, "continue") for m in RULE.milestones]
    assert trained < 32 * EPOCHS
    log = api.client.get(f"/sweeps/{sweep['id']}/pruning").json()
    assert [d["decision"] for d in log] == [row[7] for row in after]

    # The stacks shrank as members were pruned: the engine logs the size of every stack it
    # computes, each epoch; a worker's stacks at epoch e are summed (cohorts run one by one).
    def computed(process: WorkerProcess) -> dict[int, int]:
        sizes: dict[int, int] = defaultdict(int)
        found = re.findall(r"epoch (\d+) computes a stack of (\d+) member", process.log_tail(10**7))
        for epoch, n in found:
            sizes[int(epoch)] += int(n)
        return sizes

    first, second = computed(worker), computed(survivor)
    assert first[1] == 32
    assert second[EPOCHS] <= second[min(second)] < 32
    # After the epochs the kill cut short, every epoch computes exactly the members that
    # trained it: a pruned member's slot is gone from the next epoch on.
    lasts = [last for _, _, _, last in rows]
    for epoch in range(4, EPOCHS + 1):
        assert second[epoch] == sum(last >= epoch for last in lasts), epoch
    assert second[EPOCHS] == members["counts"]["succeeded"]
