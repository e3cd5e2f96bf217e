"""Optimizer parameters: Keras' defaults, and a parameter the optimizer lacks refused by name."""

import pytest
from pydantic import ValidationError

from models.experiments import ExperimentCreate, TrainingSpec
from models.training import OPTIMIZERS
from tests.factories import experiment_payload


def test_defaults_are_keras() -> None:
    assert TrainingSpec(optimizer="adamw").optimizer_params() == {
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-7,
        "weight_decay": 0.004,
    }
    assert TrainingSpec(optimizer="lion").optimizer_params()["beta_2"] == 0.99
    assert TrainingSpec(optimizer="schedule_free_adamw").optimizer_params()["epsilon"] == 1e-8
    rms = TrainingSpec(optimizer="rmsprop", momentum=0.5, centered=True).optimizer_params()
    assert rms == {
        "rho": 0.9,
        "momentum": 0.5,
        "epsilon": 1e-7,
        "centered": True,
        "weight_decay": 0,
    }


@pytest.mark.parametrize(
    ("training", "field"),
    [
        ({"optimizer": "adam", "momentum": 0.9}, "momentum"),
        ({"optimizer": "adamw", "nesterov": True}, "nesterov"),
        ({"optimizer": "sgd", "beta_1": 0.8}, "beta_1"),
        ({"optimizer": "lion", "epsilon": 1e-6}, "epsilon"),
        ({"optimizer": "nadam", "rho": 0.5}, "rho"),
        ({"optimizer": "sgd", "centered": True}, "centered"),
    ],
)
def test_a_parameter_the_optimizer_lacks_is_refused(
    training: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        ExperimentCreate.model_validate(experiment_payload(training=training))
    assert f"`{field}` applies only to optimizer" in str(info.value)


def test_every_optimizer_takes_weight_decay_as_keras_does() -> None:
    for name in OPTIMIZERS:
        spec = TrainingSpec(optimizer=name, weight_decay=0.01)  # type: ignore[arg-type]
        assert spec.optimizer_params()["weight_decay"] == 0.01
