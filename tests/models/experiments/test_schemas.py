"""Validation of experiment specs: every rejection names its field."""

import math
from typing import Any

import pytest
from pydantic import ValidationError

from models.experiments import ExperimentCreate
from models.schedules import schedule_warnings
from tests.factories import experiment_payload


def _errors(payload: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as info:
        ExperimentCreate.model_validate(payload)
    return info.value.errors()


def test_defaults_reproduce_the_seed_tutorial() -> None:
    spec = ExperimentCreate.model_validate({"scheduler": {"type": "constant"}})
    assert spec.training.optimizer == "adam"
    assert spec.training.batch_size == 32
    assert spec.training.learning_rate == 0.001
    assert spec.training.seed == 0
    assert spec.dataset.name == "mnist"
    assert spec.dataset.train_samples == 10_000


def test_normalised_spec_contains_scheduler_defaults() -> None:
    spec = ExperimentCreate.model_validate({"scheduler": {"type": "plateau"}})
    dumped = spec.model_dump(mode="json")
    assert dumped["scheduler"]["patience"] == 10
    assert dumped["scheduler"]["monitor"] == "val_loss"
    assert dumped["scheduler"]["factor"] == 0.1


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"scheduler": {"type": "warp"}}, ("scheduler",)),
        ({"scheduler": {"type": "step", "step_size": 0}}, ("scheduler", "step")),
        (
            {"scheduler": {"type": "step", "step_size": 2, "bogus": 1}},
            ("scheduler", "step", "bogus"),
        ),
        ({"training": {"learning_rate": 0}}, ("training", "learning_rate")),
        ({"training": {"learning_rate": -1}}, ("training", "learning_rate")),
        ({"training": {"epochs": 0}}, ("training", "epochs")),
        ({"training": {"epochs": 1001}}, ("training", "epochs")),
        ({"training": {"batch_size": 8193}}, ("training", "batch_size")),
        ({"training": {"optimizer": "adagrad"}}, ("training", "optimizer")),
        ({"training": {"optimizer": "adam", "nesterov": True}}, ("training",)),
        ({"model": {"type": "rnn"}}, ("model",)),
        ({"model": {"type": "cnn", "filters": []}}, ("model", "cnn", "filters")),
        ({"training": {"momentum": 0.9}}, ("training",)),
        ({"dataset": {"name": "cifar10"}}, ("dataset", "name")),
        ({"dataset": {"train_samples": 0}}, ("dataset", "train_samples")),
        ({"unknown": 1}, ("unknown",)),
    ],
)
def test_bad_input_is_rejected_at_the_field(
    overrides: dict[str, Any], loc: tuple[str, ...]
) -> None:
    errors = _errors(experiment_payload(**overrides))
    assert any(tuple(str(p) for p in e["loc"])[: len(loc)] == loc for e in errors), errors


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_rejected(value: float) -> None:
    errors = _errors(experiment_payload(training={"learning_rate": value}))
    assert errors[0]["loc"] == ("training", "learning_rate")


def test_cyclic_max_lr_must_exceed_base_lr() -> None:
    errors = _errors(
        experiment_payload(scheduler={"type": "cyclic", "base_lr": 0.1, "max_lr": 0.01})
    )
    assert "max_lr" in errors[0]["msg"]


def test_step_size_message_names_the_value() -> None:
    errors = _errors(experiment_payload(scheduler={"type": "step", "step_size": 0}))
    assert "step_size" in str(errors)


def test_sgd_accepts_momentum() -> None:
    spec = ExperimentCreate.model_validate(
        experiment_payload(training={"optimizer": "sgd", "momentum": 0.9, "learning_rate": 0.1})
    )
    assert spec.training.momentum == 0.9


def test_specs_are_frozen() -> None:
    spec = ExperimentCreate.model_validate(experiment_payload())
    with pytest.raises(ValidationError):
        spec.name = "changed"  # type: ignore[misc]


def test_a_seeded_spec_validates_again_from_its_stored_json() -> None:
    # The worker's claim validates the stored (JSON) spec: its range-test id is a string there.
    import uuid

    spec = ExperimentCreate.model_validate(
        {
            "scheduler": {"type": "constant"},
            "training": {"epochs": 1, "learning_rate": 0.01},
            "lr_from": {
                "training.learning_rate": {
                    "from_range_test": uuid.uuid4(),
                    "suggestion": "valley",
                    "multiplier": 1.0,
                    "suggested_lr": 0.01,
                    "lr": 0.01,
                }
            },
        }
    )
    again = ExperimentCreate.model_validate(spec.model_dump(mode="json"))
    assert again == spec


@pytest.mark.parametrize(
    "scheduler",
    [
        {"type": "step", "step_size": 1, "gamma": 0.5},
        {"type": "multistep", "milestones": [1, 2], "gamma": 0.1},
        {"type": "cosine", "t_max": 1, "eta_min": 0.5},
        {"type": "cyclic", "base_lr": 0.001, "max_lr": 0.1, "step_size_up": 2000},
        {"type": "plateau", "patience": 0},
        {"type": "constant"},
    ],
)
def test_accepted_warnings_are_the_schedules_own(scheduler: dict[str, object]) -> None:
    spec = ExperimentCreate.model_validate(experiment_payload(scheduler=scheduler))
    expected = schedule_warnings(
        spec.scheduler,
        learning_rate=spec.training.learning_rate,
        epochs=spec.training.epochs,
        steps_per_epoch=spec.steps_per_epoch,
    )
    # Computed once per schedule and geometry, then reused: the same either way.
    assert spec.warnings() == expected
    assert spec.warnings() == expected
