"""Schedule math, validation, the worker's run object and the preview."""

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from models.schedules import (
    SCHEDULER_TYPES,
    CosineSchedule,
    CosineWarmRestartsSchedule,
    CyclicSchedule,
    LinearSchedule,
    MultiStepSchedule,
    OneCycleSchedule,
    PlateauSchedule,
    PreviewRequest,
    SchedulerSpec,
    StepSchedule,
    build_run,
    catalog,
    default_interval,
    preview,
)

CONFORMANCE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "schedulers.json"
)
SPEC = TypeAdapter(SchedulerSpec)

# One valid spec per type, used where any schedule will do.
EXAMPLES: dict[str, dict[str, Any]] = {
    "constant": {"type": "constant", "factor": 0.5, "total_iters": 3},
    "step": {"type": "step", "step_size": 3, "gamma": 0.5},
    "multistep": {"type": "multistep", "milestones": [2, 5]},
    "exponential": {"type": "exponential", "gamma": 0.9},
    "cosine": {"type": "cosine", "t_max": 8},
    "cosine_warm_restarts": {"type": "cosine_warm_restarts", "t_0": 2, "t_mult": 2},
    "plateau": {"type": "plateau", "patience": 1, "factor": 0.5},
    "cyclic": {"type": "cyclic", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3},
    "one_cycle": {"type": "one_cycle", "max_lr": 0.1},
    "linear": {"type": "linear", "start_factor": 0.25, "total_iters": 4},
    "polynomial": {"type": "polynomial", "total_iters": 6, "power": 2.0},
    "sequential": {
        "type": "sequential",
        "schedulers": [{"type": "linear", "total_iters": 3}, {"type": "cosine", "t_max": 5}],
        "milestones": [3],
    },
}


def lrs(schedule: Any, n: int, base: float = 0.1) -> list[float]:
    return [float(v) for v in schedule.lrs(np.arange(n, dtype=np.int64), base)]


def run_lrs(spec: dict[str, Any], *, epochs: int, spe: int = 1, base: float = 0.1) -> list[float]:
    request = PreviewRequest(
        scheduler=SPEC.validate_python(spec), learning_rate=base, epochs=epochs, steps_per_epoch=spe
    )
    return preview(request).steps


# ---------------------------------------------------------------------------- conformance


def _cases() -> list[Any]:
    if not CONFORMANCE.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{CONFORMANCE} is missing"))]
    cases = json.loads(CONFORMANCE.read_text())["cases"]
    return [pytest.param(case, id=case["id"]) for case in cases]


@pytest.mark.parametrize("case", _cases())
def test_conformance_case_matches_pytorch(case: dict[str, Any]) -> None:
    result = preview(PreviewRequest.model_validate(case["request"]))
    assert case["expect"], "a case must expect something"
    for key, expected in case["expect"].items():
        got = getattr(result, key)
        assert len(got) == len(expected)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------- closed forms


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


def test_epoch_interval_is_constant_within_an_epoch() -> None:
    run = build_run(
        SPEC.validate_python(EXAMPLES["cosine"]), base_lr=0.1, epochs=5, steps_per_epoch=4
    )
    assert run.interval == "epoch"
    assert run.monitor is None
    lrs2 = run.epoch_lrs(2)
    assert lrs2.dtype == np.float64 and lrs2.shape == (4,)
    assert np.all(lrs2 == lrs(CosineSchedule(t_max=8), 3)[2])


# ---------------------------------------------------------------------------- plateau


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


# ---------------------------------------------------------------------------- run state


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


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        ({"type": "step", "step_size": 0}, "greater than or equal to 1"),
        (
            {"type": "cyclic", "base_lr": 0.1, "max_lr": 0.01},
            "`max_lr` must be > `base_lr`, got max_lr=0.01, base_lr=0.1",
        ),
        ({"type": "constant", "factor": 0.0}, "greater than 0"),
        (
            {"type": "one_cycle", "max_lr": 0.1, "pct_start": 1.0},
            "`pct_start` must be < 1 unless `three_phase`",
        ),
        (
            {"type": "one_cycle", "max_lr": 0.1, "total_steps": 10, "pct_start": 0.1},
            "must not be exactly 1",
        ),
        (
            {"type": "one_cycle", "max_lr": 0.1, "cycle_momentum": True},
            "Extra inputs are not permitted",
        ),
        ({"type": "plateau", "factor": 1.0}, "less than 1"),
        ({"type": "plateau", "interval": "step"}, "Extra inputs are not permitted"),
        ({"type": "multistep", "milestones": []}, "at least 1 item"),
        (
            {
                "type": "sequential",
                "schedulers": [{"type": "constant"}, {"type": "constant"}],
                "milestones": [],
            },
            "`milestones` must have exactly len(schedulers) - 1 = 1 values, got 0",
        ),
        (
            {"type": "sequential", "schedulers": [{"type": "constant"}] * 3, "milestones": [5, 5]},
            "`milestones` must be strictly increasing, got [5, 5]",
        ),
        (
            {"type": "sequential", "schedulers": [{"type": "plateau"}], "milestones": []},
            "does not match any of the expected tags",
        ),
        (
            {
                "type": "sequential",
                "interval": "step",
                "schedulers": [{"type": "cosine", "t_max": 3, "interval": "epoch"}],
                "milestones": [],
            },
            "`schedulers[0].interval` must be omitted or equal the sequential interval `step`, "
            "got `epoch`",
        ),
        ({"type": "cosine", "t_max": 10, "eta_min": math.inf}, "finite number"),
    ],
)
def test_spec_validation_messages(scheduler: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as error:
        PreviewRequest.model_validate({"scheduler": scheduler, "learning_rate": 0.1, "epochs": 20})
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: StepSchedule(step_size=0), "`step_size` must be >= 1, got 0"),
        (lambda: CosineWarmRestartsSchedule(t_0=5, t_mult=0), "`t_mult` must be >= 1, got 0"),
        (
            lambda: CyclicSchedule(base_lr=0.1, max_lr=0.01),
            "`max_lr` must be > `base_lr`, got max_lr=0.01, base_lr=0.1",
        ),
        (lambda: LinearSchedule(total_iters=0), "`total_iters` must be >= 1, got 0"),
        (lambda: LinearSchedule(start_factor=0.0), "`start_factor` must be > 0.0, got 0.0"),
        (
            lambda: OneCycleSchedule(max_lr=1.0, pct_start=1.5),
            "`pct_start` must be <= 1.0, got 1.5",
        ),
        (lambda: PlateauSchedule(factor=1.0), "`factor` must be < 1, got 1.0"),
        (lambda: MultiStepSchedule(milestones=(-1,)), "`milestones` must be >= 0, got -1"),
    ],
)
def test_math_objects_validate_at_construction(build: Any, message: str) -> None:
    with pytest.raises(ValueError) as error:
        build()
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"epochs": 2000, "steps_per_epoch": 1000},
            "`epochs` × `steps_per_epoch` must be <= 1000000, got 2000 × 1000",
        ),
        (
            {"scheduler": {"type": "plateau"}, "epochs": 5, "metrics": [1.0]},
            "`metrics` must have at least 4 values for `plateau`, got 1",
        ),
        (
            {"scheduler": {"type": "plateau"}, "epochs": 3, "metrics": [1.0, math.nan]},
            "finite number",
        ),
        (
            {
                "scheduler": {"type": "one_cycle", "max_lr": 0.1, "total_steps": 10},
                "epochs": 3,
                "steps_per_epoch": 5,
            },
            "`total_steps` (10) is shorter than the run (15",
        ),
        ({"scheduler": {"type": "exponential", "gamma": 2.0}, "epochs": 1000}, "float32 range"),
        ({"learning_rate": 0.0}, "greater than 0"),
    ],
)
def test_preview_request_validation_messages(body: dict[str, Any], message: str) -> None:
    full = {"scheduler": {"type": "constant"}, "learning_rate": 0.1, "epochs": 10, **body}
    with pytest.raises(ValidationError) as error:
        PreviewRequest.model_validate(full)
    assert message in str(error.value)


def test_one_cycle_total_steps_none_checks_the_bound_run() -> None:
    spec = SPEC.validate_python({"type": "one_cycle", "max_lr": 0.1, "pct_start": 0.1})
    with pytest.raises(ValueError, match="must not be exactly 1"):
        build_run(spec, base_lr=0.1, epochs=10, steps_per_epoch=1)


# ---------------------------------------------------------------------------- warnings


def warnings_for(scheduler: dict[str, Any], **body: Any) -> list[str]:
    full = {"scheduler": scheduler, "learning_rate": 0.1, "epochs": 10, **body}
    return preview(PreviewRequest.model_validate(full)).warnings


def test_warnings_for_legal_but_odd_settings() -> None:
    assert warnings_for(EXAMPLES["cyclic"] | {"step_size_up": 10})[0].startswith(
        "The cyclic cycle (up + down = 20 steps) is longer than the run (10 steps)"
    )
    assert (
        "`t_max` (5) is shorter than the run (10 epochs)"
        in warnings_for({"type": "cosine", "t_max": 5})[0]
    )
    assert "never reaches eta_min" in warnings_for({"type": "cosine", "t_max": 50})[0]
    assert warnings_for({"type": "cosine", "t_max": 10}) == []
    assert "`step_size` (10) never fires" in warnings_for({"type": "step", "step_size": 10})[0]
    assert (
        "`milestones` [12] never fire"
        in warnings_for({"type": "multistep", "milestones": [3, 12]})[0]
    )
    low = warnings_for({"type": "exponential", "gamma": 0.01})
    assert low == ["The learning rate falls below 1e-8 at epoch 5."]
    long_cycle = warnings_for({"type": "one_cycle", "max_lr": 0.1, "total_steps": 20})
    assert "`total_steps` (20) is longer than the run (10 steps)" in long_cycle[0]
    plateau = warnings_for({"type": "plateau", "monitor": "val_accuracy"}, metrics=[0.5] * 9)
    assert "use mode `max`" in plateau[0]


def test_sequential_child_warnings_use_the_child_segment() -> None:
    spec = {
        "type": "sequential",
        "schedulers": [{"type": "linear", "total_iters": 2}, {"type": "cosine", "t_max": 9}],
        "milestones": [2],
    }
    got = warnings_for(spec)
    assert got == [
        "`schedulers[1]`: `t_max` (9) is longer than the run (8 epochs): the cosine never "
        "reaches eta_min."
    ]


# ---------------------------------------------------------------------------- catalog & scale


def test_catalog_lists_every_type_with_schema_and_interval() -> None:
    entries = catalog()
    assert [entry["type"] for entry in entries] == list(SCHEDULER_TYPES)
    assert len(SCHEDULER_TYPES) == 12
    for entry in entries:
        assert entry["description"] and "\n" not in entry["description"]
        assert entry["parameters"]["properties"]["type"]["const"] == entry["type"]
        expected = "step" if entry["type"] in ("cyclic", "one_cycle") else "epoch"
        assert entry["default_interval"] == expected
    json.dumps(entries)
    step = next(e for e in entries if e["type"] == "step")["parameters"]
    assert step["properties"]["gamma"]["default"] == 0.1
    assert step["properties"]["step_size"]["minimum"] == 1
    assert step["required"] == ["step_size"]


def test_default_interval_follows_stated_value() -> None:
    assert (
        default_interval(SPEC.validate_python({"type": "cyclic", "base_lr": 0, "max_lr": 1}))
        == "step"
    )
    assert (
        default_interval(SPEC.validate_python({"type": "step", "step_size": 2, "interval": "step"}))
        == "step"
    )
    assert default_interval(SPEC.validate_python({"type": "plateau"})) == "epoch"


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_million_values_preview_matches_per_epoch_run(kind: str) -> None:
    # The preview's bulk path must agree with the worker's epoch-by-epoch path everywhere.
    scheduler = dict(EXAMPLES[kind])
    if kind != "plateau":  # plateau has no interval: it always steps per epoch
        scheduler["interval"] = "step"
    metrics = [1.0 / (1 + k % 7) for k in range(999)]
    request = PreviewRequest.model_validate(
        {
            "scheduler": scheduler,
            "learning_rate": 0.1,
            "epochs": 1000,
            "steps_per_epoch": 1000,
            "metrics": metrics if kind == "plateau" else None,
        }
    )
    result = preview(request)
    assert len(result.steps) == 1_000_000 and len(result.epochs) == 1000
    assert all(isinstance(v, float) for v in result.steps[:10])
    run = build_run(request.scheduler, base_lr=0.1, epochs=1000, steps_per_epoch=1000)
    steps = np.asarray(result.steps).reshape(1000, 1000)
    for epoch in range(1000):
        expected = run.epoch_lrs(epoch)
        if epoch in (0, 1, 499, 998, 999) or kind == "plateau":
            assert np.array_equal(steps[epoch], expected)
        run.end_epoch(epoch, {"val_loss": metrics[epoch] if epoch < 999 else 0.0})
    assert result.epochs == result.steps[::1000]
