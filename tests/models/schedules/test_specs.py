"""Scheduler specs: validation located at the parameter, the catalog and intervals."""

import json
import math
from typing import Any

import pytest
from pydantic import ValidationError

from models.schedules import (
    MAX_DURATION,
    SCHEDULER_TYPES,
    LinearSchedule,
    PreviewRequest,
    catalog,
)
from tests.models.schedules.examples import EXAMPLES, SPEC


@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        ({"type": "step", "step_size": 0}, "`step_size` must be >= 1, got 0"),
        (
            {"type": "cyclic", "base_lr": 0.1, "max_lr": 0.01},
            "`max_lr` must be > `base_lr`, got max_lr=0.01, base_lr=0.1",
        ),
        ({"type": "constant", "factor": 0.0}, "`factor` must be > 0, got 0.0"),
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
        ({"type": "plateau", "factor": 1.0}, "`factor` must be < 1, got 1.0"),
        ({"type": "plateau", "interval": "step"}, "Extra inputs are not permitted"),
        ({"type": "multistep", "milestones": []}, "`milestones` must not be empty"),
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


def test_catalog_lists_every_type_with_schema_and_interval() -> None:
    entries = catalog()
    assert [entry["type"] for entry in entries] == list(SCHEDULER_TYPES)
    assert len(SCHEDULER_TYPES) == 28
    for entry in entries:
        assert entry["description"] and "\n" not in entry["description"]
        assert entry["parameters"]["properties"]["type"]["const"] == entry["type"]
        library = entry["type"].startswith(("keras.", "transformers."))
        expected = "step" if library or entry["type"] in ("cyclic", "one_cycle") else "epoch"
        assert entry["default_interval"] == expected
    json.dumps(entries)
    step = next(e for e in entries if e["type"] == "step")["parameters"]
    assert step["properties"]["gamma"]["default"] == 0.1
    assert step["properties"]["step_size"]["minimum"] == 1
    assert step["required"] == ["step_size"]


def test_effective_interval_follows_stated_value() -> None:
    cyclic = SPEC.validate_python({"type": "cyclic", "base_lr": 0, "max_lr": 1})
    assert cyclic.effective_interval == "step"
    stated = SPEC.validate_python({"type": "step", "step_size": 2, "interval": "step"})
    assert stated.effective_interval == "step"
    assert SPEC.validate_python({"type": "plateau"}).effective_interval == "epoch"


@pytest.mark.parametrize(
    ("scheduler", "loc"),
    [
        ({"type": "step", "step_size": 0}, ("step", "step_size")),
        ({"type": "cyclic", "base_lr": 0.1, "max_lr": 0.01}, ("cyclic", "max_lr")),
        ({"type": "multistep", "milestones": [4, 2]}, ("multistep", "milestones")),
        ({"type": "multistep", "milestones": [1, -1]}, ("multistep", "milestones", 1)),
        ({"type": "one_cycle", "max_lr": 0.1, "pct_start": 1.0}, ("one_cycle", "pct_start")),
        ({"type": "plateau", "patience": -1}, ("plateau", "patience")),
        (
            {"type": "sequential", "schedulers": [{"type": "constant"}] * 2, "milestones": []},
            ("sequential", "milestones"),
        ),
        (
            {
                "type": "sequential",
                "interval": "step",
                "schedulers": [{"type": "cosine", "t_max": 3, "interval": "epoch"}],
                "milestones": [],
            },
            ("sequential", "schedulers", 0, "interval"),
        ),
        (
            {
                "type": "sequential",
                "schedulers": [{"type": "linear", "total_iters": 0}],
                "milestones": [],
            },
            ("sequential", "schedulers", 0, "linear", "total_iters"),
        ),
    ],
)
def test_a_broken_rule_is_located_at_its_parameter(
    scheduler: dict[str, Any], loc: tuple[str | int, ...]
) -> None:
    with pytest.raises(ValidationError) as error:
        SPEC.validate_python(scheduler)
    [only] = error.value.errors()
    assert only["loc"] == loc


def test_the_schema_publishes_the_bounds_the_math_checks() -> None:
    schemas = {entry["type"]: entry["parameters"] for entry in catalog()}
    props = {kind: schema["properties"] for kind, schema in schemas.items()}
    assert props["constant"]["factor"]["exclusiveMinimum"] == 0
    assert props["constant"]["factor"]["maximum"] == 1
    assert props["plateau"]["factor"] == props["plateau"]["factor"] | {
        "minimum": 0,
        "exclusiveMaximum": 1,
    }
    assert props["multistep"]["milestones"]["minItems"] == 1
    assert props["multistep"]["milestones"]["maxItems"] == 1000
    assert props["multistep"]["milestones"]["items"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": MAX_DURATION,
    }
    total_steps = props["one_cycle"]["total_steps"]["anyOf"]
    assert {"type": "integer", "minimum": 1, "maximum": MAX_DURATION} in total_steps
    assert props["cosine_warm_restarts"]["t_mult"]["maximum"] == 1000
    assert props["sequential"]["schedulers"]["minItems"] == 1
    # Defaults come from the math objects too.
    assert props["linear"]["start_factor"]["default"] == LinearSchedule().start_factor


@pytest.mark.parametrize(
    ("kind", "parameter", "value"),
    [
        ("constant", "factor", 1.5),
        ("step", "step_size", 0),
        ("cosine_warm_restarts", "t_mult", 1001),
        ("plateau", "factor", 1.0),
        ("one_cycle", "pct_start", -0.1),
    ],
)
def test_a_value_outside_the_published_bounds_is_rejected(
    kind: str, parameter: str, value: float
) -> None:
    schema = next(e for e in catalog() if e["type"] == kind)["parameters"]["properties"]
    published = schema[parameter]
    limits = [
        ("minimum", lambda bound: value < bound),
        ("exclusiveMinimum", lambda bound: value <= bound),
        ("maximum", lambda bound: value > bound),
        ("exclusiveMaximum", lambda bound: value >= bound),
    ]
    assert any(key in published and outside(published[key]) for key, outside in limits)
    with pytest.raises(ValidationError, match=f"`{parameter}` must be"):
        SPEC.validate_python(EXAMPLES[kind] | {parameter: value})
