"""The worker's run: per-epoch lrs, plateau's metric feed, resumable state, fitting the run."""

import json
from typing import Any

import numpy as np
import pytest

from models.schedules import (
    CosineSchedule,
    build_run,
)
from tests.models.schedules.examples import EXAMPLES, SPEC, lrs


def test_epoch_interval_is_constant_within_an_epoch() -> None:
    run = build_run(
        SPEC.validate_python(EXAMPLES["cosine"]), base_lr=0.1, epochs=5, steps_per_epoch=4
    )
    assert run.interval == "epoch"
    assert run.monitor is None
    lrs2 = run.epoch_lrs(2)
    assert lrs2.dtype == np.float64 and lrs2.shape == (4,)
    assert np.all(lrs2 == lrs(CosineSchedule(t_max=8), 3)[2])


def test_plateau_run_reads_monitor_and_applies_to_next_epoch() -> None:
    spec = SPEC.validate_python(
        {"type": "plateau", "monitor": "val_accuracy", "mode": "max", "patience": 0}
    )
    run = build_run(spec, base_lr=0.1, epochs=3, steps_per_epoch=2)
    assert run.monitor == "val_accuracy"
    assert list(run.epoch_lrs(0)) == [0.1, 0.1]
    run.end_epoch(0, {"val_accuracy": 0.9, "val_loss": 5.0})
    run.end_epoch(1, {"val_accuracy": 0.8})
    assert run.epoch_lrs(2) == pytest.approx([0.01, 0.01])
    with pytest.raises(ValueError, match="plateau monitors `val_accuracy`"):
        run.end_epoch(2, {"val_loss": 1.0})


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_state_dict_round_trip_continues_identically(kind: str) -> None:
    spec = SPEC.validate_python(EXAMPLES[kind])
    metrics = [1.0, 0.9, 0.95, 0.97, 0.99, 0.8, 1.1, 1.2, 1.3, 1.4]

    def fresh() -> Any:
        return build_run(spec, base_lr=0.1, epochs=10, steps_per_epoch=3)

    straight, resumed_from = fresh(), fresh()
    full = []
    for epoch in range(10):
        full.append(straight.epoch_lrs(epoch).copy())
        straight.end_epoch(epoch, {"val_loss": metrics[epoch]})
        if epoch < 4:
            resumed_from.epoch_lrs(epoch)
            resumed_from.end_epoch(epoch, {"val_loss": metrics[epoch]})
    state = json.loads(json.dumps(resumed_from.state_dict(), allow_nan=False))
    resumed = fresh()
    resumed.load_state_dict(state)
    for epoch in range(4, 10):
        assert np.array_equal(resumed.epoch_lrs(epoch), full[epoch])
        resumed.end_epoch(epoch, {"val_loss": metrics[epoch]})
    assert resumed.state_dict() == straight.state_dict()


def test_plateau_initial_state_with_infinite_best_is_json_safe() -> None:
    run = build_run(
        SPEC.validate_python({"type": "plateau"}), base_lr=0.1, epochs=2, steps_per_epoch=1
    )
    state = run.state_dict()
    text = json.dumps(state, allow_nan=False)
    other = build_run(
        SPEC.validate_python({"type": "plateau"}), base_lr=0.1, epochs=2, steps_per_epoch=1
    )
    other.load_state_dict(json.loads(text))
    other.end_epoch(0, {"val_loss": 1e300})
    assert other.state_dict()["plateau"]["best"] == 1e300


def test_load_state_dict_rejects_another_run_geometry() -> None:
    spec = SPEC.validate_python(EXAMPLES["step"])
    state = build_run(spec, base_lr=0.1, epochs=10, steps_per_epoch=3).state_dict()
    other = build_run(spec, base_lr=0.1, epochs=10, steps_per_epoch=4)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        other.load_state_dict(state)


def test_end_epoch_must_follow_epoch_order() -> None:
    run = build_run(
        SPEC.validate_python(EXAMPLES["step"]), base_lr=0.1, epochs=3, steps_per_epoch=1
    )
    with pytest.raises(ValueError, match="expected end of epoch 0, got epoch 1"):
        run.end_epoch(1, {})


def test_one_cycle_total_steps_none_checks_the_bound_run() -> None:
    spec = SPEC.validate_python({"type": "one_cycle", "max_lr": 0.1, "pct_start": 0.1})
    with pytest.raises(ValueError, match="must not be exactly 1"):
        build_run(spec, base_lr=0.1, epochs=10, steps_per_epoch=1)
