"""Parameter bounds: checked by the math at construction, with one message per rule."""

import math
from typing import Any

import pytest

from models.schedules import (
    Bound,
    CosineWarmRestartsSchedule,
    CyclicSchedule,
    LinearSchedule,
    MultiStepSchedule,
    OneCycleSchedule,
    ParameterError,
    PlateauSchedule,
    StepSchedule,
)


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
        (lambda: LinearSchedule(start_factor=0.0), "`start_factor` must be > 0, got 0.0"),
        (
            lambda: OneCycleSchedule(max_lr=1.0, pct_start=1.5),
            "`pct_start` must be <= 1, got 1.5",
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
    ("bound", "value", "loc", "message"),
    [
        (Bound(ge=1, integer=True), True, ("n",), "`n` must be an integer, got True"),
        (Bound(ge=1, integer=True), 1.5, ("n",), "`n` must be an integer, got 1.5"),
        (Bound(ge=0), math.nan, ("n",), "`n` must be finite, got nan"),
        (Bound(gt=0, le=1), 0.0, ("n",), "`n` must be > 0, got 0.0"),
        (Bound(ge=0, lt=1), 1.0, ("n",), "`n` must be < 1, got 1.0"),
        (Bound(ge=0, integer=True), (3, -1), ("n", 1), "`n` must be >= 0, got -1"),
        (Bound(min_items=1), (), ("n",), "`n` must not be empty"),
        (Bound(min_items=2), (1,), ("n",), "`n` must have at least 2 values, got 1"),
    ],
)
def test_bound_names_the_parameter_and_the_item(
    bound: Bound, value: Any, loc: tuple[str | int, ...], message: str
) -> None:
    with pytest.raises(ParameterError) as error:
        bound.check("n", value)
    assert error.value.loc == loc
    assert str(error.value) == message


def test_bound_accepts_its_edges_and_none() -> None:
    Bound(ge=0, le=1).check("n", 0.0)
    Bound(ge=0, le=1).check("n", 1.0)
    Bound(ge=1, integer=True).check("n", None)
    Bound(ge=1, integer=True, min_items=1).check("n", (1, 2))


def test_literal_parameters_are_checked_too() -> None:
    with pytest.raises(ParameterError, match="`mode` must be min or max, got 'up'"):
        PlateauSchedule(mode="up")  # type: ignore[arg-type]
