"""Fused training: members stacked into one model behave as if each trained alone."""

import io
import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from models.schedules import ScheduleRun, build_run
from models.specs import ExperimentCreate
from worker.datasets import Dataset, DatasetInfo
from worker.engine import EpochReport, MemberConfig, TrainingError, train_group

N_TRAIN, N_VAL, BATCH, EPOCHS = 800, 200, 32, 4
STEPS = math.ceil(N_TRAIN / BATCH)  # 25


def _synthetic() -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.random((N_TRAIN + N_VAL, 784), dtype=np.float32)
    # Labels from a fixed noisy linear map: learnable, but not to 100%, so curves can differ.
    logits = (x - 0.5) @ rng.normal(size=(784, 10)) + rng.normal(scale=1.0, size=(len(x), 10))
    y = np.argmax(logits, axis=1).astype(np.int64)
    info = DatasetInfo("synthetic", "npz", None, N_TRAIN, N_TRAIN, N_VAL, "1" * 64)
    return Dataset(x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:], info)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return _synthetic()


@pytest.fixture(autouse=True)
def one_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The CPU default splits groups above 4 members; the tests choose their stacks explicitly.
    monkeypatch.setenv("LRLAB_MAX_STACK", "8")
    yield


# name → (scheduler spec, optimizer, momentum, learning rate, seed)
MEMBERS: dict[str, tuple[dict[str, Any], str, float, float, int]] = {
    "plateau": ({"type": "plateau", "patience": 0, "factor": 0.5}, "adam", 0.0, 1e-3, 0),
    "cyclic": (
        {"type": "cyclic", "base_lr": 1e-4, "max_lr": 3e-3, "step_size_up": 10, "interval": "step"},
        "adam",
        0.0,
        1e-3,
        1,
    ),
    "step-sgd": ({"type": "step", "step_size": 2, "gamma": 0.5}, "sgd", 0.9, 0.05, 2),
    "exp-sgd": ({"type": "exponential", "gamma": 0.8}, "sgd", 0.0, 0.1, 3),
}


def _schedule(name: str) -> ScheduleRun:
    spec, _, _, lr, _ = MEMBERS[name]
    scheduler = ExperimentCreate.model_validate({"scheduler": spec}).scheduler
    return build_run(scheduler, base_lr=lr, epochs=EPOCHS, steps_per_epoch=STEPS)


def _config(name: str, **over: Any) -> MemberConfig:
    _, optimizer, momentum, lr, seed = MEMBERS[name]
    fields: dict[str, Any] = {
        "key": name,
        "epochs": EPOCHS,
        "batch_size": BATCH,
        "learning_rate": lr,
        "optimizer": optimizer,
        "momentum": momentum,
        "seed": seed,
        "schedule": _schedule(name),
    }
    fields.update(over)
    return MemberConfig(**fields)


def _train(
    members: list[MemberConfig], data: Dataset, **kwargs: Any
) -> dict[str, list[EpochReport]]:
    reports: dict[str, list[EpochReport]] = {m.key: [] for m in members}

    def on_epoch(report: EpochReport) -> bool:
        reports[report.key].append(report)
        return True

    kwargs.setdefault("on_epoch", on_epoch)
    train_group(members, data, **kwargs)
    return reports


def _curve(reports: list[EpochReport]) -> list[tuple[Any, ...]]:
    return [(r.epoch, r.step_lrs, r.loss, r.accuracy, r.val_loss, r.val_accuracy) for r in reports]


def test_fused_matches_solo(data: Dataset) -> None:
    names = list(MEMBERS)
    fused = _train([_config(n) for n in names], data)
    for name in names:
        solo = _train([_config(name)], data)[name]
        got = fused[name]
        assert [r.epoch for r in got] == [r.epoch for r in solo] == [1, 2, 3, 4]
        for f, s in zip(got, solo, strict=True):
            # The same float32 lrs reach the update, step by step.
            assert f.step_lrs == s.step_lrs and f.lr == s.lr == f.step_lrs[0]
            assert abs(f.val_accuracy - s.val_accuracy) <= 0.005
            assert f.loss == pytest.approx(s.loss, rel=1e-3)
            assert f.val_loss == pytest.approx(s.val_loss, rel=1e-3)
        # Every member learns, whatever its optimizer.
        assert got[-1].loss < got[0].loss
    # Per-step cyclic lrs rise within an epoch; plateau halved after a non-improving epoch.
    cyclic = fused["cyclic"][0].step_lrs
    assert cyclic[0] == pytest.approx(1e-4) and cyclic[10] == pytest.approx(3e-3, rel=1e-6)
    replay = _schedule("plateau")
    for r in fused["plateau"]:
        # The lr each epoch ran at is what plateau decided from the metrics reported before it.
        assert r.lr == np.float32(replay.epoch_lrs(r.epoch - 1)[0])
        replay.end_epoch(r.epoch - 1, {"val_loss": r.val_loss})
    assert [r.lr for r in fused["exp-sgd"]] == pytest.approx([0.1 * 0.8**e for e in range(4)])


def test_splitting_into_stacks_changes_nothing_but_the_arithmetic(
    data: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["plateau", "cyclic", "step-sgd"]
    one = _train([_config(n) for n in names], data)
    monkeypatch.setenv("LRLAB_MAX_STACK", "2")
    split = _train([_config(n) for n in names], data)
    for name in names:
        for a, b in zip(one[name], split[name], strict=True):
            assert a.step_lrs == b.step_lrs
            assert abs(a.val_accuracy - b.val_accuracy) <= 0.005


def test_cancelled_member_drops_out_while_the_others_go_on(data: Dataset) -> None:
    seen: list[tuple[str, int]] = []

    def on_epoch(report: EpochReport) -> bool:
        seen.append((report.key, report.epoch))
        return not (report.key == "cyclic" and report.epoch == 1)

    train_group([_config(n) for n in MEMBERS], data, on_epoch=on_epoch)
    assert [e for k, e in seen if k == "cyclic"] == [1]
    for name in ("plateau", "step-sgd", "exp-sgd"):
        assert [e for k, e in seen if k == name] == [1, 2, 3, 4]


def test_diverging_member_fails_alone(data: Dataset) -> None:
    failures: list[tuple[str, TrainingError]] = []
    members = [
        _config("plateau"),
        _config("exp-sgd", key="boom", learning_rate=1e10, schedule=_diverging()),
        _config("cyclic"),
    ]
    reports = _train(members, data, on_failure=lambda k, e: failures.append((k, e)))
    assert [(k, e.epoch) for k, e in failures] == [("boom", 1)]
    assert "nan" in str(failures[0][1]) or "inf" in str(failures[0][1])
    assert reports["boom"] == []
    solo = _train([_config("plateau"), _config("cyclic")], data)
    for name in ("plateau", "cyclic"):
        assert [r.epoch for r in reports[name]] == [1, 2, 3, 4]
        for a, b in zip(reports[name], solo[name], strict=True):
            assert abs(a.val_accuracy - b.val_accuracy) <= 0.005


def _diverging() -> ScheduleRun:
    scheduler = ExperimentCreate.model_validate({"scheduler": {"type": "constant"}}).scheduler
    return build_run(scheduler, base_lr=1e10, epochs=EPOCHS, steps_per_epoch=STEPS)


def test_without_on_failure_the_error_is_raised(data: Dataset) -> None:
    member = _config("exp-sgd", learning_rate=1e10, schedule=_diverging())
    with pytest.raises(TrainingError, match="at epoch 1") as info:
        _train([member], data)
    assert info.value.key == "exp-sgd"


def test_resume_from_a_checkpoint_continues_bit_for_bit(data: Dataset) -> None:
    names = ["plateau", "cyclic", "step-sgd"]
    straight = _train([_config(n) for n in names], data)
    checkpoints: dict[str, bytes] = {}

    def stop_after_two(report: EpochReport) -> bool:
        checkpoints[report.key] = report.checkpoint
        return report.epoch < 2

    train_group([_config(n) for n in names], data, on_epoch=stop_after_two)
    # Fresh schedule objects, as a new process would build them; all state comes from the blob.
    resumed = _train([_config(n, resume=checkpoints[n]) for n in names], data)
    for name in names:
        assert [r.epoch for r in resumed[name]] == [3, 4]
        assert _curve(resumed[name]) == _curve(straight[name][2:])
        assert resumed[name][-1].checkpoint == straight[name][-1].checkpoint


def test_checkpoint_is_self_contained_and_compact(data: Dataset) -> None:
    reports = _train([_config("plateau"), _config("step-sgd")], data)
    blob = reports["plateau"][1].checkpoint
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        meta = json.loads(npz["meta"].tobytes().decode())
        assert npz["kernel1"].dtype == np.float32 and npz["kernel1"].shape == (784, 128)
        assert {"m_kernel1", "v_kernel1"} <= set(npz.files)
    assert meta["epoch"] == 2 and meta["optimizer"] == "adam"
    assert meta["iterations"] == 2 * STEPS
    assert meta["schedule"]["epochs_completed"] == 2
    assert meta["rng"]["bit_generator"] == "PCG64"
    # Weights + Adam's two slots in float32, ~1.2 MB; SGD stores one slot.
    assert len(blob) < 1.3e6
    assert len(reports["step-sgd"][1].checkpoint) < 0.85e6


def test_members_resumed_at_different_epochs_train_in_sub_groups(data: Dataset) -> None:
    first = _train([_config("plateau"), _config("cyclic")], data)
    resumed = _train(
        [
            _config("plateau", resume=first["plateau"][0].checkpoint),
            _config("cyclic", resume=first["cyclic"][2].checkpoint),
            _config("exp-sgd", resume=first["cyclic"][3].checkpoint, optimizer="adam"),
        ],
        data,
    )
    assert [r.epoch for r in resumed["plateau"]] == [2, 3, 4]
    assert [r.epoch for r in resumed["cyclic"]] == [4]
    # A checkpoint after the last epoch leaves nothing to train.
    assert resumed["exp-sgd"] == []


def test_checkpoint_of_another_optimizer_is_refused(data: Dataset) -> None:
    blob = _train([_config("plateau")], data)["plateau"][0].checkpoint
    with pytest.raises(TrainingError, match="optimizer"):
        _train([_config("step-sgd", resume=blob)], data)
