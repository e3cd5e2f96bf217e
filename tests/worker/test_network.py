"""The families' networks: initial weights, and the stacked forward pass and its gradients."""

from typing import Any

import keras
import numpy as np
import pytest

from models.training import CnnSpec, MlpSpec
from worker.backend import tensor, value_and_grad
from worker.network import build_model, cross_entropy, initial_weights, stacked_logits


def test_initial_weights_are_build_models() -> None:
    for got, want in zip(initial_weights(seed=5), build_model(seed=5).get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "spec",
    [
        CnnSpec(dropout=0.0),
        # Odd sides (27 and 5 before pooling): pooling drops a row and a column.
        CnnSpec(filters=[6, 5, 3], kernel_size=2, dropout=0.0),
        MlpSpec(hidden_units=[64, 32], activation="tanh"),
    ],
    ids=["cnn", "cnn-2x2-3-layers", "mlp"],
)
def test_stacked_loss_and_gradients_equal_each_keras_models(spec: CnnSpec | MlpSpec) -> None:
    """Three members at once give each one's Keras loss and gradients, to float rounding."""
    seeds, batch = [0, 1, 2], 16
    rng = np.random.default_rng(7)
    x = rng.random((len(seeds), batch, 784), dtype=np.float32)
    y = rng.integers(0, 10, (len(seeds), batch))
    members = [initial_weights(seed=s, spec=spec) for s in seeds]
    stacked = [tensor(np.stack(w), "float32") for w in zip(*members, strict=True)]

    def engine_loss(params: list[Any]) -> tuple[Any, Any]:
        per_row, _ = cross_entropy(
            stacked_logits(spec, params, tensor(x, "float32"), shared_input=False),
            tensor(y, "int32"),
        )
        loss = keras.ops.mean(per_row, axis=-1)
        return keras.ops.sum(loss), loss

    _, losses, grads = value_and_grad(engine_loss)(stacked)
    for m, seed in enumerate(seeds):
        model = build_model(spec, seed=seed)

        def keras_loss(weights: list[Any], m: int = m, model: keras.Model = model) -> Any:
            probs, _ = model.stateless_call(weights, [], tensor(x[m], "float32"))
            loss = keras.losses.sparse_categorical_crossentropy(tensor(y[m], "int32"), probs)
            return keras.ops.mean(loss), None

        want, _, want_grads = value_and_grad(keras_loss)([tensor(w, "float32") for w in members[m]])
        assert float(keras.ops.convert_to_numpy(losses)[m]) == pytest.approx(float(want), rel=1e-6)
        for got, expected in zip(grads, want_grads, strict=True):
            want_m = np.asarray(keras.ops.convert_to_numpy(expected))
            got_m = np.asarray(keras.ops.convert_to_numpy(got))[m]
            atol = float(np.abs(want_m).max()) * 1e-5
            np.testing.assert_allclose(got_m, want_m, rtol=1e-4, atol=atol)
