"""Model families in the engine: dropout masks from the member's seed, mixed stacks, determinism."""

from typing import Any

import keras
import numpy as np
import pytest

from models.training import CnnSpec, MlpSpec
from tests.worker.fused import EPOCHS, config, train
from worker.backend import tensor
from worker.datasets import Dataset
from worker.members import EpochReport, MemberConfig
from worker.network import _dropout, build_model, initial_weights

pytestmark = pytest.mark.usefixtures("one_stack")


def _curve(reports: list[EpochReport]) -> list[dict[str, Any]]:
    return [r.metrics.model_dump(exclude={"seconds"}) for r in reports]


def test_dropout_masks_come_from_the_seed_and_step() -> None:
    h = tensor(np.ones((4, 64, 200), np.float32), "float32")
    seeds = tensor(np.array([1, 2, 1, 1], np.int32), "int32")
    salt = tensor(np.array([0, 0, 0, 1], np.int32), "int32")
    out = keras.ops.convert_to_numpy(_dropout(h, 0.3, seeds, salt))
    dropped = out == 0
    assert abs(dropped.mean() - 0.3) < 0.01
    # Inverted dropout: kept units are scaled by 1 / (1 - rate), as keras.layers.Dropout.
    np.testing.assert_allclose(out[~dropped], 1 / 0.7, rtol=1e-6)
    np.testing.assert_array_equal(dropped[0], dropped[2])  # same seed, same step
    assert (dropped[0] != dropped[1]).mean() > 0.3  # another member
    assert (dropped[0] != dropped[3]).mean() > 0.3  # another step
    again = keras.ops.convert_to_numpy(_dropout(h, 0.3, seeds, salt))
    np.testing.assert_array_equal(out, again)


@pytest.mark.parametrize(
    "model", [MlpSpec(hidden_units=[32, 16], dropout=0.3), CnnSpec(filters=[4, 8], dropout=0.5)]
)
def test_same_seed_same_spec_same_metrics(synthetic: Dataset, model: MlpSpec | CnnSpec) -> None:
    first = train([config("plateau", model=model, epochs=2)], synthetic)
    second = train([config("plateau", model=model, epochs=2)], synthetic)
    assert _curve(first["plateau"]) == _curve(second["plateau"])
    other = train([config("plateau", model=model, epochs=2, seed=9)], synthetic)
    assert _curve(other["plateau"]) != _curve(first["plateau"])


def test_cnn_initial_weights_are_build_models() -> None:
    spec = CnnSpec(filters=[4, 8], kernel_size=5)
    got = initial_weights(seed=5, spec=spec)
    for a, b in zip(got, build_model(spec, seed=5).get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# Six members, six optimizers, one stack: each equals itself trained alone.
MIXED: dict[str, dict[str, Any]] = {
    "adamw": {"optimizer": "adamw", "learning_rate": 1e-3, "options": {"weight_decay": 0.01}},
    "nesterov": {
        "optimizer": "sgd",
        "momentum": 0.9,
        "learning_rate": 0.02,
        "options": {"nesterov": True},
    },
    "rmsprop": {"optimizer": "rmsprop", "learning_rate": 1e-3, "options": {"centered": True}},
    "nadam": {"optimizer": "nadam", "learning_rate": 1e-3},
    "lion": {"optimizer": "lion", "learning_rate": 1e-4},
    "free": {"optimizer": "schedule_free_adamw", "learning_rate": 1e-3},
}


def test_a_stack_of_six_mixed_optimizers_equals_them_trained_one_by_one(
    synthetic: Dataset,
) -> None:
    def member(i: int, name: str) -> MemberConfig:
        # A fresh schedule each time: a schedule run is stateful.
        return config("cyclic", key=name, seed=i, **{"momentum": 0.0, **MIXED[name]})

    fused = train([member(i, name) for i, name in enumerate(MIXED)], synthetic)
    for i, name in enumerate(MIXED):
        solo = train([member(i, name)], synthetic)[name]
        got = fused[name]
        assert [r.metrics.epoch for r in got] == list(range(1, EPOCHS + 1))
        for f, s in ((a.metrics, b.metrics) for a, b in zip(got, solo, strict=True)):
            assert f.step_lrs == s.step_lrs
            assert f.loss == pytest.approx(s.loss, rel=1e-4)
            assert f.val_loss == pytest.approx(s.val_loss, rel=1e-4)
            assert abs(f.val_accuracy - s.val_accuracy) <= 0.005
        assert got[-1].metrics.loss < got[0].metrics.loss, name
