"""Model families and datasets: bounds, defaults, parameter counts, stored specs and catalog."""

from typing import Any

import pytest
from pydantic import ValidationError

from models.experiments import ExperimentCreate
from models.training import CnnSpec, MlpSpec, catalog, parameter_count
from tests.factories import experiment_payload


def _message(payload: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        ExperimentCreate.model_validate(payload)
    return str(info.value)


def test_a_spec_without_model_reads_as_the_seed_mlp() -> None:
    payload = experiment_payload()
    payload.pop("model", None)
    spec = ExperimentCreate.model_validate(payload)
    assert spec.model == MlpSpec(hidden_units=[128], activation="relu", dropout=0.0)


def test_the_cnn_default_is_keras_simple_mnist_convnet() -> None:
    spec = ExperimentCreate.model_validate(experiment_payload(model={"type": "cnn"}))
    assert spec.model == CnnSpec(filters=[32, 64], kernel_size=3, dropout=0.5)
    # Keras' example reports 34,826 parameters; the seed MLP has 101,770.
    assert parameter_count(spec.model) == 34_826
    assert parameter_count(MlpSpec()) == 101_770


@pytest.mark.parametrize(
    ("model", "field"),
    [
        ({"type": "mlp", "hidden_units": [0]}, "hidden_units"),
        ({"type": "mlp", "hidden_units": [8] * 9}, "hidden_units"),
        ({"type": "mlp", "activation": "softplus"}, "activation"),
        ({"type": "mlp", "dropout": 0.95}, "dropout"),
        ({"type": "cnn", "filters": [32, 300]}, "filters"),
        ({"type": "cnn", "kernel_size": 8}, "kernel_size"),
        ({"type": "cnn", "kernel_size": 7, "filters": [4, 4, 4]}, "kernel_size"),
        ({"type": "cnn", "hidden_units": [3]}, "hidden_units"),
    ],
)
def test_bad_model_parameters_are_refused_by_name(model: dict[str, Any], field: str) -> None:
    assert field in _message(experiment_payload(model=model))


def test_fashion_mnist_is_a_dataset_and_steps_cap_at_its_size() -> None:
    spec = ExperimentCreate.model_validate(
        experiment_payload(
            dataset={"name": "fashion_mnist", "train_samples": 1_000_000},
            training={"batch_size": 100, "epochs": 1},
        )
    )
    assert spec.steps_per_epoch == 600


def test_catalog_lists_families_optimizers_and_datasets() -> None:
    listed = catalog()
    families = {f["type"]: f for f in listed["families"]}
    assert families["cnn"]["defaults"] == {
        "type": "cnn",
        "filters": [32, 64],
        "kernel_size": 3,
        "dropout": 0.5,
    }
    assert families["cnn"]["parameter_count"] == 34_826
    assert families["mlp"]["parameters"]["properties"]["activation"]["default"] == "relu"
    optimizers = {o["name"]: o for o in listed["optimizers"]}
    assert optimizers["adamw"]["parameters"]["weight_decay"]["default"] == 0.004
    assert set(optimizers["sgd"]["parameters"]) == {"momentum", "nesterov", "weight_decay"}
    assert {d["name"] for d in listed["datasets"]} == {"mnist", "fashion_mnist"}
