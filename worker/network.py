"""The seed tutorial's network and its optimizers."""

from __future__ import annotations

from typing import Literal

import keras

INPUT_FEATURES = 784
HIDDEN_UNITS = 128
NUM_CLASSES = 10


def build_model(*, seed: int, input_features: int = INPUT_FEATURES) -> keras.Model:
    """Build Dense(128, relu) -> Dense(10, softmax), its weights drawn from `seed` alone."""
    # Explicit initializer seeds make the weights independent of any global RNG state.
    return keras.Sequential(
        [
            keras.Input(shape=(input_features,)),
            keras.layers.Dense(
                HIDDEN_UNITS,
                activation="relu",
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
            ),
            keras.layers.Dense(
                NUM_CLASSES,
                activation="softmax",
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1),
            ),
        ],
        name="seed_mlp",
    )


def build_optimizer(
    *, name: Literal["adam", "sgd"], learning_rate: float, momentum: float
) -> keras.optimizers.Optimizer:
    """Build a Keras optimizer with a plain float lr, so the engine can assign it every step."""
    lr = float(learning_rate)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=float(momentum))
    raise ValueError(f"unknown optimizer {name!r}; expected 'adam' or 'sgd'")
