"""Fused training: members stacked into one model behave as if each trained alone."""

import logging
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from prometheus_client import REGISTRY

from tests.worker.fused import MEMBERS, config, schedule, train
from worker.datasets import Dataset
from worker.members import EpochReport, MemberState
from worker.stack import Stack, dataset_tensors

pytestmark = pytest.mark.usefixtures("one_stack")


def _curve(reports: list[EpochReport]) -> list[dict[str, Any]]:
    return [r.metrics.model_dump(exclude={"seconds"}) for r in reports]


def test_fused_matches_solo(synthetic: Dataset) -> None:
    names = list(MEMBERS)
    fused = train([config(n) for n in names], synthetic)
    for name in names:
        solo = train([config(name)], synthetic)[name]
        got = fused[name]
        assert [r.metrics.epoch for r in got] == [r.metrics.epoch for r in solo] == [1, 2, 3, 4]
        for f, s in ((a.metrics, b.metrics) for a, b in zip(got, solo, strict=True)):
            # The same float32 lrs reach the update, step by step.
            assert f.step_lrs == s.step_lrs and f.lr == s.lr == f.step_lrs[0]
            assert abs(f.val_accuracy - s.val_accuracy) <= 0.005
            assert f.loss == pytest.approx(s.loss, rel=1e-3)
            assert f.val_loss == pytest.approx(s.val_loss, rel=1e-3)
        # Every member learns, whatever its optimizer.
        assert got[-1].metrics.loss < got[0].metrics.loss
    # Per-step cyclic lrs rise within an epoch; plateau halved after a non-improving epoch.
    cyclic = fused["cyclic"][0].metrics.step_lrs
    assert cyclic[0] == pytest.approx(1e-4) and cyclic[10] == pytest.approx(3e-3, rel=1e-6)
    replay = schedule("plateau")
    for r in fused["plateau"]:
        # The lr each epoch ran at is what plateau decided from the metrics reported before it.
        assert r.metrics.lr == np.float32(replay.epoch_lrs(r.metrics.epoch - 1)[0])
        replay.end_epoch(r.metrics.epoch - 1, {"val_loss": r.metrics.val_loss})
    assert [r.metrics.lr for r in fused["exp-sgd"]] == pytest.approx(
        [0.1 * 0.8**e for e in range(4)]
    )


def test_splitting_into_stacks_changes_nothing_but_the_arithmetic(
    synthetic: Dataset, stack_width: Callable[[int], None]
) -> None:
    names = ["plateau", "cyclic", "step-sgd"]
    one = train([config(n) for n in names], synthetic)
    stack_width(2)
    split = train([config(n) for n in names], synthetic)
    for name in names:
        for a, b in zip(one[name], split[name], strict=True):
            assert a.metrics.step_lrs == b.metrics.step_lrs
            assert abs(a.metrics.val_accuracy - b.metrics.val_accuracy) <= 0.005


def test_members_that_stop_leave_the_stack_and_the_survivors_train_on_bit_for_bit(
    synthetic: Dataset, caplog: pytest.LogCaptureFixture
) -> None:
    names = list(MEMBERS)
    survivors = ["cyclic", "exp-sgd"]
    everyone = train([config(n) for n in names], synthetic)

    def stop_after_epoch_1(report: EpochReport) -> bool:
        shrunk[report.key].append(report)
        return report.key in survivors or report.metrics.epoch < 1

    shrunk: dict[str, list[EpochReport]] = {n: [] for n in names}
    before = REGISTRY.get_sample_value("lrlab_computed_member_epochs_total") or 0.0
    with caplog.at_level(logging.INFO, logger="lrlab.worker"):
        train([config(n) for n in names], synthetic, on_epoch=stop_after_epoch_1)
    computed = REGISTRY.get_sample_value("lrlab_computed_member_epochs_total")
    assert computed == before + 4 + 3 * 2
    # The compiled epoch computes 4 members once, then only the 2 still training.
    sizes = re.findall(r"epoch (\d+) computes a stack of (\d+) member", caplog.text)
    assert [(int(e), int(m)) for e, m in sizes] == [(1, 4), (2, 2), (3, 2), (4, 2)]
    for name in names:
        assert len(shrunk[name]) == (4 if name in survivors else 1)
    for name in survivors:
        for a, b in zip(everyone[name], shrunk[name], strict=True):
            # Every metric and every checkpoint byte as in the stack nobody left.
            assert a.metrics.model_dump(exclude={"seconds"}) == b.metrics.model_dump(
                exclude={"seconds"}
            )
            assert a.checkpoint == b.checkpoint
        # The default policy checkpoints every epoch but the last.
        assert everyone[name][0].checkpoint


def test_only_stacks_of_one_shape_but_for_m_merge(synthetic: Dataset) -> None:
    tensors = dataset_tensors(synthetic)

    def stack(*names: str) -> Stack:
        members = [
            MemberState(config=config(n), rng=np.random.default_rng(0), epochs_done=0)
            for n in names
        ]
        return Stack(members, [None] * len(names), tensors, 32)

    adam, mixed = stack("plateau", "cyclic"), stack("plateau", "step-sgd")
    merged = Stack.merge([(mixed, [1]), (stack("cyclic", "exp-sgd"), [0, 1])])
    assert [m.config.key for m in merged.members] == ["step-sgd", "cyclic", "exp-sgd"]
    assert merged.size == 3 and merged.kinds == mixed.kinds and merged.shape == mixed.shape
    with pytest.raises(ValueError, match="one shape"):
        Stack.merge([(adam, [0]), (mixed, [1])])
