"""Closed-form schedules: each matches its torch counterpart, edge cases included."""

import math
from typing import Any

import numpy as np
import pytest

from models.schedules import (
    CosineSchedule,
    CosineWarmRestartsSchedule,
    CyclicSchedule,
    LinearSchedule,
    MultiStepSchedule,
    OneCycleSchedule,
    StepSchedule,
)
from tests.models.schedules.examples import EXAMPLES, SPEC, lrs, run_lrs


def test_constant_default_is_flat_baseline() -> None:
    assert run_lrs({"type": "constant"}, epochs=10) == [0.1] * 10


def test_constant_factor_until_total_iters() -> None:
    got = run_lrs({"type": "constant", "factor": 0.25, "total_iters": 2}, epochs=4, base=0.2)
    assert got == pytest.approx([0.05, 0.05, 0.2, 0.2], rel=1e-15)


def test_step_decays_first_at_step_size() -> None:
    got = lrs(StepSchedule(step_size=3, gamma=0.5), 7, base=1.0)
    assert got == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]


def test_multistep_repeated_milestone_applies_gamma_squared() -> None:
    got = lrs(MultiStepSchedule(milestones=(2, 2, 4), gamma=0.1), 6, base=1.0)
    assert got == pytest.approx([1.0, 1.0, 0.01, 0.01, 0.001, 0.001], rel=1e-12)


def test_multistep_decreasing_milestones_are_rejected() -> None:
    with pytest.raises(ValueError, match="`milestones` must be increasing, got \\[4, 2\\]"):
        MultiStepSchedule(milestones=(4, 2), gamma=0.1)


def test_multistep_milestone_zero_applies_at_construction() -> None:
    assert lrs(MultiStepSchedule(milestones=(0,), gamma=0.5), 2, base=1.0) == [0.5, 0.5]


def test_exponential_is_gamma_to_the_t_for_long_runs() -> None:
    got = run_lrs({"type": "exponential", "gamma": 0.999, "interval": "step"}, epochs=10, spe=1000)
    expected = [0.1 * 0.999**t for t in range(10_000)]
    np.testing.assert_allclose(got, expected, rtol=1e-13)


def test_cosine_is_not_clamped_past_t_max() -> None:
    got = lrs(CosineSchedule(t_max=10, eta_min=0.01), 21)
    assert got[0] == pytest.approx(0.1)
    assert got[5] == pytest.approx(0.01 + 0.09 / 2)
    assert got[10] == pytest.approx(0.01)
    assert got[15] == pytest.approx(got[5])
    assert got[20] == pytest.approx(0.1)


def test_cosine_t_max_one_alternates() -> None:
    assert lrs(CosineSchedule(t_max=1), 4) == pytest.approx([0.1, 0.0, 0.1, 0.0], abs=1e-17)


def test_warm_restarts_restart_at_10_30_70() -> None:
    got = np.array(lrs(CosineWarmRestartsSchedule(t_0=10, t_mult=2), 80))
    restarts = [t for t in range(1, 80) if got[t] > got[t - 1]]
    assert restarts == [10, 30, 70]
    assert np.all(got[[0, 10, 30, 70]] == 0.1)
    assert got.min() > 0.0  # eta_min is never reached at integer t
    # Within the second cycle (length 20), T_cur = t - 10.
    assert got[20] == pytest.approx(0.1 * (1 + math.cos(math.pi * 10 / 20)) / 2)


def test_warm_restarts_exact_restart_with_t_mult_3() -> None:
    # Cycle starts 0, 10, 40, 130, 400, 1210: torch's log lookup gets 1210 wrong, we must not.
    schedule = CosineWarmRestartsSchedule(t_0=10, t_mult=3, eta_min=0.001)
    got = lrs(schedule, 1211)
    assert got[1210] == 0.1
    assert got[1209] == pytest.approx(0.001 + 0.099 * (1 + math.cos(math.pi * 809 / 810)) / 2)


def test_linear_reaches_end_at_total_iters() -> None:
    got = lrs(LinearSchedule(start_factor=0.1, end_factor=1.0, total_iters=10), 12, base=1.0)
    assert got[0] == pytest.approx(0.1)
    assert got[9] == pytest.approx(0.1 + 0.9 * 9 / 10)
    assert got[10:] == pytest.approx([1.0, 1.0])


def test_polynomial_hits_zero_at_total_iters_and_stays() -> None:
    got = run_lrs({"type": "polynomial", "total_iters": 4, "power": 2.0}, epochs=6, base=1.0)
    assert got == pytest.approx([1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0])


def test_one_cycle_peak_at_pct_times_total_minus_one() -> None:
    got = np.array(lrs(OneCycleSchedule(max_lr=0.1, total_steps=300), 300))
    assert int(got.argmax()) == 89
    assert got[89] == 0.1
    assert got[0] == pytest.approx(0.1 / 25)
    assert got[299] == pytest.approx(0.1 / 25 / 1e4)  # 4e-7: relative to the initial lr


def test_one_cycle_extrapolates_at_t_equal_total() -> None:
    t = np.array([300], dtype=np.int64)
    cos = OneCycleSchedule(max_lr=0.1, total_steps=300).lrs(t, 0.1)[0]
    linear = OneCycleSchedule(max_lr=0.1, total_steps=300, anneal_strategy="linear").lrs(t, 0.1)[0]
    low = 4e-7
    assert cos == pytest.approx(low + (0.1 - low) / 2 * (1 + math.cos(math.pi * 211 / 210)))
    assert cos == pytest.approx(6.0e-6, rel=0.02)
    assert linear == pytest.approx(low - (0.1 - low) / 210)
    assert linear < 0


def test_one_cycle_three_phase_returns_to_initial() -> None:
    schedule = OneCycleSchedule(max_lr=1.0, total_steps=100, three_phase=True, div_factor=10)
    got = lrs(schedule, 100)
    assert got[29] == 1.0
    assert got[58] == pytest.approx(0.1)
    assert got[99] == pytest.approx(0.1 / 1e4)


def test_one_cycle_pct_start_zero_starts_annealed() -> None:
    got = lrs(OneCycleSchedule(max_lr=1.0, total_steps=10, pct_start=0.0), 1)
    low = 1 / 25 / 1e4
    assert got[0] == pytest.approx(low + (1 - low) / 2 * (1 + math.cos(math.pi / 10)))


def test_one_cycle_total_steps_defaults_to_run_length_in_steps() -> None:
    got = run_lrs({"type": "one_cycle", "max_lr": 0.1}, epochs=10, spe=30)
    assert got == pytest.approx(lrs(OneCycleSchedule(max_lr=0.1, total_steps=300), 300))


def test_cyclic_triangle_and_triangular2_halving() -> None:
    tri = lrs(CyclicSchedule(base_lr=0.0, max_lr=1.0, step_size_up=2, step_size_down=4), 12)
    assert tri == pytest.approx([0, 0.5, 1, 0.75, 0.5, 0.25, 0, 0.5, 1, 0.75, 0.5, 0.25])
    half = CyclicSchedule(base_lr=0.0, max_lr=1.0, step_size_up=2, mode="triangular2")
    assert lrs(half, 11)[2::4] == pytest.approx([1.0, 0.5, 0.25])


def test_cyclic_exp_range_scales_by_global_t() -> None:
    schedule = CyclicSchedule(base_lr=0.1, max_lr=0.2, step_size_up=5, mode="exp_range", gamma=0.9)
    got = lrs(schedule, 16)
    assert got[5] == pytest.approx(0.1 + 0.1 * 0.9**5)
    assert got[15] == pytest.approx(0.1 + 0.1 * 0.9**15)
    assert got[10] == pytest.approx(0.1)


def test_cyclic_step_interval_counts_steps_and_ignores_run_lr() -> None:
    spec = {"type": "cyclic", "base_lr": 0.01, "max_lr": 0.05, "step_size_up": 4}
    got = run_lrs(spec, epochs=2, spe=8, base=3.0)
    assert got[0] == 0.01
    assert got[4] == pytest.approx(0.05)
    assert got[8] == pytest.approx(0.01)


def test_sequential_children_run_on_their_own_clock_from_base() -> None:
    spec = {
        "type": "sequential",
        "schedulers": [
            {"type": "linear", "start_factor": 0.5, "total_iters": 4},
            {"type": "multistep", "milestones": [30, 60]},
        ],
        "milestones": [10],
    }
    got = run_lrs(spec, epochs=80, base=1.0)
    assert got[0] == 0.5
    assert got[9] == 1.0  # warmup ended at 4, base held until the milestone
    assert got[10] == 1.0
    assert got[39] == 1.0 and got[40] == pytest.approx(0.1)
    assert got[69] == pytest.approx(0.1) and got[70] == pytest.approx(0.01)


def test_sequential_cut_off_warmup_jumps_to_next_child() -> None:
    spec = {
        "type": "sequential",
        "schedulers": [
            {"type": "linear", "start_factor": 0.1, "total_iters": 10},
            {"type": "constant"},
        ],
        "milestones": [2],
    }
    assert run_lrs(spec, epochs=3, base=1.0) == pytest.approx([0.1, 0.19, 1.0])


@pytest.mark.parametrize("gamma", [0.1, 0.5, 0.9999, 1.0001, 1.7, 1e-5])
def test_power_has_the_same_bits_for_few_and_many_exponents(gamma: float) -> None:
    """A bound or one epoch asks for few k, a preview for many: the lr of a step is one value."""
    from models.schedules.closed_form import _power

    many = np.concatenate([np.arange(0, 20_000), np.arange(10_000_000 - 5_000, 10_000_000)])
    table = _power(gamma, many)
    assert many.size > 2048  # the table path
    rng = np.random.default_rng(0)
    for _ in range(20):
        picked = np.sort(rng.choice(many.size, size=int(rng.integers(1, 2048)), replace=False))
        few = _power(gamma, many[picked])
        assert np.array_equal(few, table[picked], equal_nan=True)
    # Within 2 ulp of pow where pow is finite and normal.
    exact = np.array(
        [math.pow(gamma, int(k)) if _finite_pow(gamma, int(k)) else 0.0 for k in many[:20_000]]
    )
    normal = (exact > np.finfo(np.float64).tiny) & np.isfinite(exact)
    ulps = np.abs(table[:20_000][normal] - exact[normal]) / np.spacing(exact[normal])
    assert ulps.max() <= 2


def _finite_pow(gamma: float, k: int) -> bool:
    try:
        return math.isfinite(math.pow(gamma, k))
    except OverflowError:
        return False


BOUNDED = [spec for name, spec in EXAMPLES.items() if name != "plateau"] + [
    {"type": "step", "step_size": 2, "gamma": 1.5},
    {"type": "exponential", "gamma": 0.5},
    {"type": "cosine", "t_max": 4, "eta_min": 0.5},
    {"type": "cosine_warm_restarts", "t_0": 3, "eta_min": 0.001},
    {"type": "cyclic", "base_lr": 0.0, "max_lr": 0.1, "step_size_up": 2, "mode": "triangular2"},
    {"type": "cyclic", "base_lr": 1e-3, "max_lr": 0.1, "mode": "exp_range", "gamma": 0.9},
    {"type": "one_cycle", "max_lr": 0.1, "three_phase": True, "anneal_strategy": "linear"},
    {"type": "one_cycle", "max_lr": 0.1, "final_div_factor": 0.5},
    {"type": "linear", "start_factor": 1.0, "end_factor": 0.0, "total_iters": 6},
    {"type": "polynomial", "total_iters": 100, "power": 0.5},
    {"type": "keras.exponential_decay", "decay_steps": 3, "decay_rate": 1.3},
    {"type": "keras.polynomial_decay", "decay_steps": 5, "end_learning_rate": 0.5, "power": 0.5},
    {"type": "keras.cosine_decay", "decay_steps": 5, "warmup_target": 1e-4, "warmup_steps": 4},
    {"type": "keras.cosine_decay", "decay_steps": 30, "alpha": 0.5},
    {"type": "keras.cosine_decay_restarts", "first_decay_steps": 2, "m_mul": 1.5, "alpha": 0.2},
    {"type": "keras.cosine_decay_restarts", "first_decay_steps": 4, "t_mul": 1.0, "m_mul": 0.5},
    {"type": "transformers.linear", "num_training_steps": 3},
    {"type": "transformers.cosine", "num_cycles": 1.5, "num_training_steps": 40},
    {"type": "transformers.polynomial", "num_warmup_steps": 3, "num_training_steps": 20},
    {"type": "transformers.inverse_sqrt", "timescale": 7},
    {"type": "transformers.inverse_sqrt", "num_warmup_steps": 2, "timescale": 1},
    {"type": "transformers.cosine_with_min_lr", "min_lr_rate": 1.5, "num_warmup_steps": 1},
    {"type": "transformers.cosine_warmup_with_min_lr", "min_lr": 1e-4, "warmup_lr_rate": 0.5},
    {
        "type": "transformers.warmup_stable_decay",
        "num_stable_steps": 3,
        "num_decay_steps": 10,
        "warmup_type": "cosine",
        "min_lr_ratio": 0.3,
    },
    {
        "type": "sequential",
        "schedulers": [
            {"type": "exponential", "gamma": 0.5},
            {"type": "cyclic", "base_lr": 1e-4, "max_lr": 0.1, "step_size_up": 3},
        ],
        "milestones": [20],
    },
]


@pytest.mark.parametrize("spec", BOUNDED, ids=lambda spec: str(spec["type"]))
@pytest.mark.parametrize("length", [1, 2, 7, 50, 333])
@pytest.mark.parametrize("base_lr", [1e-3, 0.1, 2.0])
def test_lr_bounds_enclose_the_curve(spec: dict[str, Any], length: int, base_lr: float) -> None:
    """The warnings skip the low-lr scan on min_lr_bound, and training checks max_lr_bound."""
    schedule = SPEC.validate_python(spec).schedule().for_length(length)  # type: ignore[union-attr]
    curve = schedule.lrs(np.arange(length, dtype=np.int64), base_lr)
    assert schedule.min_lr_bound(base_lr, length) <= curve.min() * (1 + 1e-12)
    assert curve.max() <= schedule.max_lr_bound(base_lr, length) * (1 + 1e-12)
