"""The preview: conformance with PyTorch, request validation, warnings and scale."""

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from models.schedules import (
    PreviewRequest,
    build_run,
    preview,
    schedule_warnings,
)
from tests.models.schedules.examples import EXAMPLES

CONFORMANCE = (
    Path(__file__).resolve().parents[3].parent / "shared" / "conformance" / "schedulers.json"
)


def _cases() -> list[Any]:
    if not CONFORMANCE.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{CONFORMANCE} is missing"))]
    cases = json.loads(CONFORMANCE.read_text())["cases"]
    return [pytest.param(case, id=case["id"]) for case in cases]


def test_the_conformance_file_is_present_in_ci() -> None:
    # Locally the shared cases may be absent (skipped); in CI their absence is a failure.
    if not CONFORMANCE.exists() and os.environ.get("CI", "").lower() != "true":
        pytest.skip(f"conformance file missing: {CONFORMANCE}")
    assert CONFORMANCE.exists(), f"conformance file missing in CI: {CONFORMANCE}"


@pytest.mark.parametrize("case", _cases())
def test_conformance_case_matches_pytorch(case: dict[str, Any]) -> None:
    result = preview(PreviewRequest.model_validate(case["request"]))
    assert case["expect"], "a case must expect something"
    for key, expected in case["expect"].items():
        got = getattr(result, key)
        assert len(got) == len(expected)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


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


@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        ({"type": "cosine", "t_max": 10, "eta_min": 0.1}, "`eta_min` (0.1) equals the learning"),
        ({"type": "cosine", "t_max": 10, "eta_min": 0.2}, "the cosine climbs instead"),
        ({"type": "cosine_warm_restarts", "t_0": 5, "eta_min": 0.1}, "equals the learning"),
        ({"type": "step", "step_size": 2, "gamma": 1.0}, "`gamma` is 1, so the lr never"),
        ({"type": "multistep", "milestones": [2], "gamma": 1.0}, "`gamma` is 1"),
        ({"type": "exponential", "gamma": 1.0}, "`gamma` is 1"),
        (
            {"type": "linear", "start_factor": 0.5, "end_factor": 0.5, "total_iters": 4},
            "`start_factor` equals `end_factor` (0.5)",
        ),
        ({"type": "polynomial", "total_iters": 5, "power": 0.0}, "`power` is 0"),
        (
            {"type": "one_cycle", "max_lr": 0.1, "div_factor": 1.0, "final_div_factor": 1.0},
            "`div_factor` and `final_div_factor` are 1",
        ),
        ({"type": "plateau", "min_lr": 0.1}, "`min_lr` (0.1) is not below the learning rate"),
    ],
)
def test_a_schedule_that_never_changes_the_lr_is_flagged(
    scheduler: dict[str, Any], message: str
) -> None:
    metrics = [1.0] * 9 if scheduler["type"] == "plateau" else None
    got = warnings_for(scheduler, **({"metrics": metrics} if metrics else {}))
    assert any(message in w for w in got), got


def test_schedule_warnings_match_the_preview_without_building_the_curve() -> None:
    scheduler = PreviewRequest.model_validate(
        {
            "scheduler": {"type": "cosine", "t_max": 5, "eta_min": 0.1},
            "learning_rate": 0.1,
            "epochs": 10,
        }
    ).scheduler
    got = schedule_warnings(scheduler, learning_rate=0.1, epochs=10, steps_per_epoch=3)
    assert got == warnings_for({"type": "cosine", "t_max": 5, "eta_min": 0.1})
    # Too many steps for a preview: the spec checks still run, the low-lr scan is skipped.
    big = schedule_warnings(scheduler, learning_rate=0.1, epochs=1000, steps_per_epoch=10_000)
    assert big[0].startswith("`eta_min` (0.1) equals the learning rate")


@pytest.mark.parametrize(
    "scheduler",
    [
        {"type": "exponential", "gamma": 0.01},
        {"type": "exponential", "gamma": 0.01, "interval": "step"},
        {"type": "step", "step_size": 2, "gamma": 1e-3},
        {"type": "cosine", "t_max": 7, "eta_min": 0.0},
        {"type": "cosine", "t_max": 5, "eta_min": 0.0, "interval": "step"},
    ],
)
@pytest.mark.parametrize("steps_per_epoch", [1, 3])
def test_schedule_warnings_find_the_low_lr_step_the_preview_finds(
    scheduler: dict[str, Any], steps_per_epoch: int
) -> None:
    """Epoch-interval runs are scanned an epoch at a time: the same step as the full curve."""
    request = PreviewRequest.model_validate(
        {
            "scheduler": scheduler,
            "learning_rate": 0.1,
            "epochs": 10,
            "steps_per_epoch": steps_per_epoch,
        }
    )
    expected = preview(request).warnings
    assert any("falls below 1e-8" in w for w in expected), expected
    got = schedule_warnings(
        request.scheduler, learning_rate=0.1, epochs=10, steps_per_epoch=steps_per_epoch
    )
    assert got == expected


def test_a_long_epoch_interval_run_is_still_scanned_for_a_low_lr() -> None:
    """Past the preview's bound of steps, an epoch-interval run costs one lr per epoch."""
    scheduler = PreviewRequest.model_validate(
        {"scheduler": {"type": "exponential", "gamma": 0.5}, "learning_rate": 0.1, "epochs": 1}
    ).scheduler
    got = schedule_warnings(scheduler, learning_rate=0.1, epochs=100, steps_per_epoch=20_000)
    # 0.1 * 0.5^24 < 1e-8 <= 0.1 * 0.5^23: the 25th epoch, its first step.
    assert got == ["The learning rate falls below 1e-8 at epoch 25 (step 480001)."]


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
