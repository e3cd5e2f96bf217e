"""The training engine on a tiny learnable dataset: reports, callbacks, failures and cohorts."""

import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import keras
import numpy as np
import numpy.typing as npt
import pytest
from prometheus_client import REGISTRY

from models.experiments import ExperimentCreate
from models.schedules import ScheduleRun, build_run
from tests.worker import fused
from worker.datasets import Dataset, DatasetInfo
from worker.engine import _repack, train_members
from worker.members import (
    METRIC_NAMES,
    EpochReport,
    MemberConfig,
    MemberState,
    Schedule,
    TrainingError,
)
from worker.network import build_model
from worker.stack import Stack, dataset_tensors

N_TRAIN, N_VAL, BATCH = 200, 56, 32
STEPS = math.ceil(N_TRAIN / BATCH)  # 7, the last batch partial (8 rows)


def _tiny_dataset(seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.random((N_TRAIN + N_VAL, 784), dtype=np.float32)
    # Labels from a fixed linear map: learnable, so accuracy rises within a few epochs.
    y = np.argmax((x - 0.5) @ rng.normal(size=(784, 10)), axis=1).astype(np.int64)
    info = DatasetInfo("tiny", "npz", None, N_TRAIN, N_TRAIN, N_VAL, "0" * 64)
    return Dataset(x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:], info)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return _tiny_dataset()


def _run(
    scheduler: dict[str, Any], base_lr: float, *, steps: int = STEPS, epochs: int = 3
) -> ScheduleRun:
    spec = ExperimentCreate.model_validate({"scheduler": scheduler}).scheduler
    return build_run(spec, base_lr=base_lr, epochs=epochs, steps_per_epoch=steps)


def _halving(base_lr: float, *, steps: int = STEPS, epochs: int = 3) -> ScheduleRun:
    return _run({"type": "step", "step_size": 1, "gamma": 0.5}, base_lr, steps=steps, epochs=epochs)


def _cosine_steps(base_lr: float) -> ScheduleRun:
    """Per-step cosine decay over the whole run (3 epochs)."""
    return _run({"type": "cosine", "t_max": 3 * STEPS, "interval": "step"}, base_lr)


@dataclass
class HalveEveryEpoch:
    """Plateau-like: the next epoch's lr depends on what end_epoch was told; records it."""

    lr: float
    interval: Literal["epoch", "step"] = "epoch"
    monitor: str | None = "val_loss"
    seen: list[dict[str, float]] = field(default_factory=list)

    def epoch_lrs(self, epoch: int) -> npt.NDArray[np.float64]:
        return np.full(STEPS, self.lr)

    def end_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        self.seen.append(dict(metrics))
        if metrics["val_loss"] > 0:
            self.lr /= 2

    def state_dict(self) -> dict[str, Any]:
        return {"lr": self.lr}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.lr = state["lr"]


def _member(schedule: Schedule, **over: object) -> MemberConfig:
    fields: dict[str, object] = {
        "key": "m",
        "epochs": 3,
        "batch_size": BATCH,
        "learning_rate": 1e-2,
        "optimizer": "adam",
        "momentum": 0.0,
        "seed": 7,
        "schedule": schedule,
    }
    fields.update(over)
    return MemberConfig(**fields)  # type: ignore[arg-type]


def _train(members: list[MemberConfig], data: Dataset, stop_after: int = 0) -> list[EpochReport]:
    reports: list[EpochReport] = []

    def on_epoch(report: EpochReport) -> bool:
        reports.append(report)
        return not (stop_after and report.epoch >= stop_after)

    train_members(members, data, on_epoch=on_epoch)
    return reports


def test_reports_every_epoch_with_the_lrs_actually_used(data: Dataset) -> None:
    reports = [r.metrics for r in _train([_member(_cosine_steps(1e-2))], data)]
    assert [r.epoch for r in reports] == [1, 2, 3]
    replay = _cosine_steps(1e-2)
    for r in reports:
        expected = replay.epoch_lrs(r.epoch - 1)
        assert len(r.step_lrs) == STEPS
        np.testing.assert_allclose(r.step_lrs, expected, rtol=1e-6)
        assert r.lr == r.step_lrs[0]
        # Per-step schedule: the lr changes within the epoch.
        assert len(set(r.step_lrs)) == STEPS
        assert r.seconds > 0
        for v in (r.loss, r.accuracy, r.val_loss, r.val_accuracy):
            assert math.isfinite(v)
        assert 0 <= r.accuracy <= 1 and 0 <= r.val_accuracy <= 1
    assert reports[-1].loss < reports[0].loss


def test_schedule_sees_metrics_after_every_epoch(data: Dataset) -> None:
    schedule = HalveEveryEpoch(lr=1e-2)
    reports = [r.metrics for r in _train([_member(schedule)], data)]
    assert [r.lr for r in reports] == pytest.approx([1e-2, 5e-3, 2.5e-3], rel=1e-6)
    assert len(schedule.seen) == 3
    for seen, r in zip(schedule.seen, reports, strict=True):
        assert seen == {
            "loss": r.loss,
            "accuracy": r.accuracy,
            "val_loss": r.val_loss,
            "val_accuracy": r.val_accuracy,
        }
        assert set(seen) == set(METRIC_NAMES)


def test_callback_returning_false_stops_only_that_member(data: Dataset) -> None:
    reports: list[EpochReport] = []

    def on_epoch(report: EpochReport) -> bool:
        reports.append(report)
        return not (report.key == "a" and report.metrics.epoch == 2)

    members = [
        _member(_halving(1e-2, epochs=4), key="a", epochs=4),
        _member(_halving(1e-2, epochs=4), key="b", epochs=4),
    ]
    train_members(members, data, on_epoch=on_epoch)
    # Fused: both train side by side; a's reports end with the epoch its callback refused.
    assert [(r.key, r.metrics.epoch) for r in reports] == [
        ("a", 1),
        ("b", 1),
        ("a", 2),
        ("b", 2),
    ] + [("b", e) for e in (3, 4)]


def _metrics(reports: list[EpochReport]) -> list[dict[str, object]]:
    return [{"key": r.key, **r.metrics.model_dump(exclude={"seconds"})} for r in reports]


def test_same_seed_same_metrics(data: Dataset) -> None:
    first = _train([_member(_cosine_steps(1e-2))], data)
    second = _train([_member(_cosine_steps(1e-2))], data)
    assert _metrics(first) == _metrics(second)
    other = _train([_member(_cosine_steps(1e-2), seed=8)], data)
    assert _metrics(other) != _metrics(first)


def test_sgd_with_momentum_trains(data: Dataset) -> None:
    member = _member(_halving(0.1), optimizer="sgd", momentum=0.9)
    reports = _train([member], data)
    assert reports[-1].metrics.loss < reports[0].metrics.loss


def test_diverging_loss_raises_training_error(data: Dataset) -> None:
    member = _member(_halving(1e10), optimizer="sgd", learning_rate=1e10, epochs=2)
    with pytest.raises(TrainingError, match="nan at epoch 1") as info:
        _train([member], data)
    assert info.value.key == "m" and info.value.epoch == 1


def test_schedule_of_the_wrong_length_is_an_error(data: Dataset) -> None:
    with pytest.raises(TrainingError, match="expected 7"):
        # A run built for 6 steps per epoch, trained on data that makes 7.
        _train([_member(_halving(1e-2, steps=6))], data)


def test_non_finite_lr_from_the_schedule_is_an_error(data: Dataset) -> None:
    with pytest.raises(TrainingError, match="non-finite"):
        _train([_member(HalveEveryEpoch(lr=math.inf))], data)


def test_matches_model_fit_on_the_same_batches(data: Dataset) -> None:
    """Same weights, same batch order: the engine reproduces model.fit's numbers."""
    seed, epochs = 3, 2
    reports = [r.metrics for r in _train([_member(_halving(1e-2), seed=seed)], data)[:epochs]]

    # The engine draws each epoch's order from default_rng(seed); fit gets the same batches.
    rng = np.random.default_rng(seed)
    model = build_model(seed=seed)
    optimizer = keras.optimizers.Adam(learning_rate=1e-2)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    for epoch, report in enumerate(reports):
        optimizer.learning_rate = 1e-2 / 2**epoch
        order = rng.permutation(N_TRAIN)
        hist = model.fit(
            data.x_train[order],
            data.y_train[order],
            batch_size=BATCH,
            epochs=1,
            shuffle=False,
            verbose=0,
            validation_data=(data.x_val, data.y_val),
        ).history
        assert report.loss == pytest.approx(hist["loss"][0], rel=1e-4)
        assert report.accuracy == pytest.approx(hist["accuracy"][0], abs=1e-6)
        assert report.val_loss == pytest.approx(hist["val_loss"][0], rel=1e-4)
        assert report.val_accuracy == pytest.approx(hist["val_accuracy"][0], abs=1e-6)


def test_cancelled_member_drops_out_while_the_others_go_on(
    synthetic: Dataset, one_stack: None
) -> None:
    seen: list[tuple[str, int]] = []

    def on_epoch(report: EpochReport) -> bool:
        seen.append((report.key, report.metrics.epoch))
        return not (report.key == "cyclic" and report.metrics.epoch == 1)

    train_members([fused.config(n) for n in fused.MEMBERS], synthetic, on_epoch=on_epoch)
    assert [e for k, e in seen if k == "cyclic"] == [1]
    for name in ("plateau", "step-sgd", "exp-sgd"):
        assert [e for k, e in seen if k == name] == [1, 2, 3, 4]


def test_diverging_member_fails_alone(synthetic: Dataset, one_stack: None) -> None:
    failures: list[tuple[str, TrainingError]] = []
    members = [
        fused.config("plateau"),
        fused.config("exp-sgd", key="boom", learning_rate=1e10, schedule=fused.diverging()),
        fused.config("cyclic"),
    ]
    reports = fused.train(members, synthetic, on_failure=lambda k, e: failures.append((k, e)))
    assert [(k, e.epoch) for k, e in failures] == [("boom", 1)]
    assert "nan" in str(failures[0][1]) or "inf" in str(failures[0][1])
    assert reports["boom"] == []
    solo = fused.train([fused.config("plateau"), fused.config("cyclic")], synthetic)
    for name in ("plateau", "cyclic"):
        assert [r.metrics.epoch for r in reports[name]] == [1, 2, 3, 4]
        for a, b in zip(reports[name], solo[name], strict=True):
            assert abs(a.metrics.val_accuracy - b.metrics.val_accuracy) <= 0.005


def test_without_on_failure_the_error_is_raised(synthetic: Dataset, one_stack: None) -> None:
    member = fused.config("exp-sgd", learning_rate=1e10, schedule=fused.diverging())
    with pytest.raises(TrainingError, match="at epoch 1") as info:
        fused.train([member], synthetic)
    assert info.value.key == "exp-sgd"


def test_members_resumed_at_different_epochs_train_in_cohorts(
    synthetic: Dataset, one_stack: None
) -> None:
    first = fused.train([fused.config("plateau"), fused.config("cyclic")], synthetic)
    resumed = fused.train(
        [
            fused.config("plateau", resume=first["plateau"][0].checkpoint),
            fused.config("cyclic", resume=first["cyclic"][2].checkpoint),
        ],
        synthetic,
    )
    assert [r.metrics.epoch for r in resumed["plateau"]] == [2, 3, 4]
    assert [r.metrics.epoch for r in resumed["cyclic"]] == [4]


def _stacked_run(
    members: list[MemberConfig],
    data: Dataset,
    stop: Callable[[EpochReport], bool],
    caplog: pytest.LogCaptureFixture,
) -> tuple[dict[str, list[EpochReport]], list[tuple[int, int]], float, list[str]]:
    """Train; reports by key, (epoch, M) per compiled call, members computed, arrival order."""
    arrivals: list[str] = []
    reports: dict[str, list[EpochReport]] = {m.key: [] for m in members}

    def on_epoch(report: EpochReport) -> bool:
        arrivals.append(report.key)
        reports[report.key].append(report)
        return not stop(report)

    before = REGISTRY.get_sample_value("lrlab_computed_member_epochs_total") or 0.0
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="lrlab.worker"):
        train_members(members, data, on_epoch=on_epoch)
    computed = (REGISTRY.get_sample_value("lrlab_computed_member_epochs_total") or 0.0) - before
    sizes = re.findall(r"epoch (\d+) computes a stack of (\d+) member", caplog.text)
    return reports, [(int(e), int(m)) for e, m in sizes], computed, arrivals


def _copies(names: list[str], copies: int) -> list[MemberConfig]:
    """`copies` rounds of the named fused members, each round with its own keys and seeds."""
    return [
        fused.config(n, key=f"{n}-{r}", seed=10 * r + k)
        for r in range(copies)
        for k, n in enumerate(names)
    ]


def _assert_bit_for_bit(
    survivors: list[str], got: dict[str, list[EpochReport]], alone: dict[str, list[EpochReport]]
) -> None:
    for key in survivors:
        assert [r.metrics.epoch for r in got[key]] == [1, 2, 3, 4]
        for a, b in zip(got[key], alone[key], strict=True):
            assert a.metrics.model_dump(exclude={"seconds"}) == b.metrics.model_dump(
                exclude={"seconds"}
            )
            assert a.checkpoint == b.checkpoint


def test_survivors_of_two_stacks_are_repacked_into_one_and_train_on_bit_for_bit(
    synthetic: Dataset, stack_width: Callable[[int], None], caplog: pytest.LogCaptureFixture
) -> None:
    stack_width(4)
    # Two stacks of [adam, adam, sgd, sgd]; one adam and one sgd member of each stop.
    members = _copies(list(fused.MEMBERS), 2)
    survivors = ["cyclic-0", "exp-sgd-0", "cyclic-1", "exp-sgd-1"]
    everyone, _, _, _ = _stacked_run(members, synthetic, lambda r: False, caplog)
    members = _copies(list(fused.MEMBERS), 2)
    got, sizes, computed, arrivals = _stacked_run(
        members, synthetic, lambda r: r.key not in survivors, caplog
    )
    assert sizes == [(1, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert computed == 8 + 3 * 4
    # Reports arrive in the members' order, as before the repacking.
    assert arrivals[8:12] == survivors
    _assert_bit_for_bit(survivors, got, everyone)


def test_repacking_splits_stacks_to_fill_near_equal_ones_in_member_order(
    synthetic: Dataset, stack_width: Callable[[int], None], caplog: pytest.LogCaptureFixture
) -> None:
    stack_width(4)
    members = _copies(list(fused.MEMBERS), 3)
    keys = [m.key for m in members]
    # Stacks of 4, 4, 4; 2, 4 and 2 go on: 8 members, in 2 stacks of 4 straddling the middle one.
    stopped = {keys[0], keys[1], keys[10], keys[11]}
    everyone, _, _, _ = _stacked_run(members, synthetic, lambda r: False, caplog)
    members = _copies(list(fused.MEMBERS), 3)
    got, sizes, _, arrivals = _stacked_run(members, synthetic, lambda r: r.key in stopped, caplog)
    assert sizes[:3] == [(1, 4)] * 3 and sizes[3:] == [(e, 4) for e in (2, 3, 4) for _ in "ab"]
    survivors = [k for k in keys if k not in stopped]
    assert arrivals[12:20] == survivors
    _assert_bit_for_bit(survivors, got, everyone)


def test_stacks_of_other_optimizer_kinds_are_not_merged(
    synthetic: Dataset, stack_width: Callable[[int], None], caplog: pytest.LogCaptureFixture
) -> None:
    stack_width(2)
    # [adam, adam] and [sgd, sgd]: merged, each would compute the other's arithmetic too.
    members = [fused.config(n) for n in fused.MEMBERS]
    _, sizes, _, _ = _stacked_run(
        members, synthetic, lambda r: r.key in {"cyclic", "exp-sgd"}, caplog
    )
    assert sizes == [(1, 2), (1, 2)] + [(e, 1) for e in (2, 3, 4) for _ in "ab"]


def test_a_repacked_stack_keeps_the_oldest_checkpoint_clock_of_its_sources(
    data: Dataset, stack_width: Callable[[int], None]
) -> None:
    stack_width(4)
    tensors = dataset_tensors(data)
    members = [
        MemberState(
            config=_member(_halving(1e-2), key=str(i), seed=i),
            rng=np.random.default_rng(i),
            epochs_done=1,
        )
        for i in range(12)
    ]
    stacks = [Stack(members[k : k + 4], [None] * 4, tensors, BATCH) for k in (0, 4, 8)]
    unchanged = _repack(stacks, [10.0, 30.0, 20.0])
    assert unchanged == (stacks, [10.0, 30.0, 20.0])
    for i in (0, 1, 6, 7, 8, 9):
        members[i].active = False
    packed, clocks = _repack(stacks, [10.0, 30.0, 20.0])
    assert [[m.config.key for m in s.members] for s in packed] == [
        ["2", "3", "4"],
        ["5", "10", "11"],
    ]
    assert clocks == [10.0, 20.0]
    for i in (2, 3, 4, 5, 10):
        members[i].active = False
    # One member left: its stack stays as it is (it shrinks before its epoch), the others go.
    assert _repack(packed, clocks) == ([packed[1]], [20.0])
