"""The checkpoint policy: at most every N seconds of training, on a stop request, never last."""

from typing import Any

import pytest

from tests.worker.fused import EPOCHS, config, train
from worker.datasets import Dataset
from worker.engine import CheckpointPolicy
from worker.members import EpochReport

pytestmark = pytest.mark.usefixtures("one_stack")
NAMES = ["plateau", "cyclic", "step-sgd"]


def _checkpointed(reports: dict[str, list[EpochReport]]) -> dict[str, list[int]]:
    return {k: [r.metrics.epoch for r in rs if r.checkpoint] for k, rs in reports.items()}


def _curve(reports: list[EpochReport]) -> list[dict[str, Any]]:
    return [r.metrics.model_dump(exclude={"seconds"}) for r in reports]


@pytest.mark.parametrize(
    ("every", "since_last", "epoch", "stop", "due"),
    [
        (60.0, 59.9, 1, False, False),
        (60.0, 60.0, 1, False, True),
        (60.0, 0.0, 3, True, True),
        (0.0, 0.0, 4, True, False),  # never after the last epoch, not even on a stop
        (60.0, 600.0, 4, False, False),
    ],
)
def test_due_after_the_interval_or_on_stop_but_never_after_the_last_epoch(
    every: float, since_last: float, epoch: int, stop: bool, due: bool
) -> None:
    policy = CheckpointPolicy(every_seconds=every, stop=lambda: stop)
    assert policy.due(since_last=since_last, epoch=epoch, epochs=4) is due


def test_a_long_interval_checkpoints_nothing_and_zero_every_epoch_but_the_last(
    synthetic: Dataset,
) -> None:
    rare = train([config(n) for n in NAMES], synthetic, policy=CheckpointPolicy(3600.0))
    often = train([config(n) for n in NAMES], synthetic, policy=CheckpointPolicy(0.0))
    assert _checkpointed(rare) == {n: [] for n in NAMES}
    assert _checkpointed(often) == {n: list(range(1, EPOCHS)) for n in NAMES}
    # The policy changes what is saved, never what is trained.
    assert all(_curve(rare[n]) == _curve(often[n]) for n in NAMES)


def test_a_stop_request_checkpoints_the_stack_at_the_next_epoch_end(synthetic: Dataset) -> None:
    stopping = False
    seen: dict[str, list[EpochReport]] = {n: [] for n in NAMES}

    def on_epoch(report: EpochReport) -> bool:
        nonlocal stopping
        seen[report.key].append(report)
        stopping = stopping or report.metrics.epoch == 2  # SIGTERM arrives during epoch 2
        return not report.checkpoint  # hand back once checkpointed, as the runner does

    policy = CheckpointPolicy(every_seconds=3600.0, stop=lambda: stopping)
    train([config(n) for n in NAMES], synthetic, on_epoch=on_epoch, policy=policy)
    # Decided once per stack epoch: the request seen while reporting epoch 2 applies to epoch 3.
    assert _checkpointed(seen) == {n: [3] for n in NAMES}
    assert all(len(seen[n]) == 3 for n in NAMES)


def test_epochs_recomputed_from_an_older_checkpoint_equal_the_first_run(
    synthetic: Dataset,
) -> None:
    straight = train([config(n) for n in NAMES], synthetic, policy=CheckpointPolicy(0.0))
    # A kill after epoch 4's record with the newest checkpoint after epoch 1: 2, 3, 4 are lost.
    resumed = train([config(n, resume=straight[n][0].checkpoint) for n in NAMES], synthetic)
    for name in NAMES:
        assert [r.metrics.epoch for r in resumed[name]] == [2, 3, 4]
        assert _curve(resumed[name]) == _curve(straight[name][1:])
