"""ReduceLROnPlateau: cuts, cooldown, clamps and thresholds, one metric at a time."""

import math

import pytest

from models.schedules import (
    PlateauSchedule,
)


def plateau_lrs(schedule: PlateauSchedule, metrics: list[float], base: float = 1.0) -> list[float]:
    state = schedule.initial_state(base)
    out = [state.lr]
    for metric in metrics:
        state = schedule.step(state, metric)
        out.append(state.lr)
    return out


def test_plateau_patience_zero_cuts_on_first_bad_epoch_and_first_metric_improves() -> None:
    got = plateau_lrs(PlateauSchedule(patience=0, factor=0.5), [10.0, 10.0, 9.0, 9.0])
    assert got == [1.0, 1.0, 0.5, 0.5, 0.25]  # an equal value is not an improvement


def test_plateau_repeats_every_patience_plus_one_plus_cooldown() -> None:
    got = plateau_lrs(PlateauSchedule(patience=1, cooldown=2, factor=0.5), [1.0] * 12)
    cuts = [k for k in range(1, len(got)) if got[k] < got[k - 1]]
    assert cuts == [3, 7, 11]  # first after patience+1 bad epochs, then every 1+1+2


def test_plateau_min_lr_clamps_and_eps_blocks() -> None:
    clamped = plateau_lrs(PlateauSchedule(patience=0, factor=0.5, min_lr=0.3), [1.0, 1.0, 1.0, 1.0])
    assert clamped == [1.0, 1.0, 0.5, 0.3, 0.3]
    blocked = plateau_lrs(PlateauSchedule(patience=0, factor=0.5, eps=0.3), [1.0, 1.0, 1.0, 1.0])
    assert blocked == [1.0, 1.0, 0.5, 0.5, 0.5]  # 0.5 - 0.25 <= eps


def test_plateau_nan_is_bad_and_max_abs_mode() -> None:
    assert plateau_lrs(PlateauSchedule(patience=0, factor=0.5), [1.0, math.nan]) == [1.0, 1.0, 0.5]
    schedule = PlateauSchedule(mode="max", threshold_mode="abs", threshold=0.1, patience=0)
    assert plateau_lrs(schedule, [0.5, 0.55, 0.7]) == pytest.approx([1.0, 1.0, 0.1, 0.1])


def test_plateau_rel_threshold_with_negative_metric_counts_as_improvement() -> None:
    schedule = PlateauSchedule(patience=0, threshold=0.01)
    assert plateau_lrs(schedule, [-1.0, -0.995]) == [1.0, 1.0, 1.0]
