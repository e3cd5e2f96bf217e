"""Every model family × every optimizer equals Keras' model.fit: same weights, same batches.

One member trained by the engine and the same Keras model trained by `model.fit` with the same
Keras optimizer, initial weights and batch order give the same metrics for 2 epochs (dropout
0: the engine draws its masks from the member's seed, Keras from its own stream).
"""

import math
import os
from typing import Any

import keras
import numpy as np
import pytest

from models.experiments import ExperimentCreate
from models.schedules import ScheduleRun, build_run
from models.training import CnnSpec, MlpSpec
from worker.datasets import Dataset, DatasetInfo
from worker.engine import train_members
from worker.members import EpochReport, MemberConfig
from worker.network import build_model

N_TRAIN, N_VAL, BATCH, EPOCHS = 200, 56, 32, 2
STEPS = math.ceil(N_TRAIN / BATCH)

# name → (engine optimizer, its parameters as the spec gives them, Keras optimizer, lr)
OPTIMIZERS: dict[str, tuple[str, dict[str, Any], Any, float]] = {
    "adam": ("adam", {}, keras.optimizers.Adam, 1e-2),
    "adamw": ("adamw", {"weight_decay": 0.05}, keras.optimizers.AdamW, 1e-2),
    "sgd": ("sgd", {}, keras.optimizers.SGD, 0.1),
    "sgd_nesterov": ("sgd", {"momentum": 0.9, "nesterov": True}, keras.optimizers.SGD, 0.05),
    "rmsprop": ("rmsprop", {}, keras.optimizers.RMSprop, 1e-3),
    "rmsprop_centered": (
        "rmsprop",
        {"momentum": 0.5, "centered": True, "rho": 0.8},
        keras.optimizers.RMSprop,
        1e-3,
    ),
    "nadam": ("nadam", {}, keras.optimizers.Nadam, 1e-2),
    # Lion steps by sign(·): at lr 1e-3 the CNN's gradient components that cancel to ~1e-9
    # change sign with the summation order of the convolution (Keras' oneDNN kernel, the
    # engine's GEMM) and val_loss drifts 4e-4 in epoch 1; at 3e-4 (the Lion paper's advice:
    # 3-10× below AdamW's lr) both stay within 1e-7. test_network checks the gradients.
    "lion": ("lion", {"weight_decay": 0.1}, keras.optimizers.Lion, 3e-4),
    "schedule_free_adamw": ("schedule_free_adamw", {}, keras.optimizers.ScheduleFreeAdamW, 5e-3),
}
FAMILIES: dict[str, MlpSpec | CnnSpec] = {
    "mlp": MlpSpec(),
    "mlp_tanh_2": MlpSpec(hidden_units=[64, 32], activation="tanh"),
    "cnn": CnnSpec(dropout=0.0),
}
# Under JAX (a separate CI run) the subset the accelerator path needs; all cases under TF.
JAX_CASES = {("mlp", "adam"), ("mlp", "adamw"), ("cnn", "sgd")}
CASES = [
    pytest.param(f, o, id=f"{f}-{o}")
    for f in FAMILIES
    for o in OPTIMIZERS
    if keras.backend.backend() != "jax" or (f, o) in JAX_CASES
]


def _dataset() -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.random((N_TRAIN + N_VAL, 784), dtype=np.float32)
    y = np.argmax((x - 0.5) @ rng.normal(size=(784, 10)), axis=1).astype(np.int64)
    info = DatasetInfo("tiny", "npz", None, N_TRAIN, N_TRAIN, N_VAL, "0" * 64)
    return Dataset(x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:], info)


def _halving(base_lr: float) -> ScheduleRun:
    scheduler = {"type": "step", "step_size": 1, "gamma": 0.5}
    spec = ExperimentCreate.model_validate({"scheduler": scheduler}).scheduler
    return build_run(spec, base_lr=base_lr, epochs=EPOCHS, steps_per_epoch=STEPS)


def _engine(family: str, optimizer: str, seed: int) -> list[EpochReport]:
    name, given, _, lr = OPTIMIZERS[optimizer]
    options = {k: v for k, v in given.items() if k != "momentum"}
    member = MemberConfig(
        key="m",
        epochs=EPOCHS,
        batch_size=BATCH,
        learning_rate=lr,
        optimizer=name,  # type: ignore[arg-type]
        momentum=given.get("momentum", 0.0),
        seed=seed,
        schedule=_halving(lr),
        model=FAMILIES[family],
        options=options,
    )
    reports: list[EpochReport] = []
    train_members([member], _dataset(), on_epoch=lambda r: reports.append(r) or True)
    return reports


@pytest.mark.parametrize(("family", "optimizer"), CASES)
def test_one_member_equals_model_fit(family: str, optimizer: str) -> None:
    seed = 3
    reports = _engine(family, optimizer, seed)
    data = _dataset()
    _, given, keras_class, lr = OPTIMIZERS[optimizer]
    model = build_model(FAMILIES[family], seed=seed)
    opt = keras_class(learning_rate=lr, **given)
    # Built eagerly: ScheduleFreeAdamW copies the weights into its z when built, and a build
    # traced inside fit's first step (TensorFlow) leaves z at zero instead.
    opt.build(model.trainable_variables)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    # The engine draws each epoch's order from default_rng(seed); fit gets the same batches.
    rng = np.random.default_rng(seed)
    for epoch, report in enumerate(r.metrics for r in reports):
        opt.learning_rate = lr / 2**epoch
        order = rng.permutation(N_TRAIN)
        hist = model.fit(
            data.x_train[order],
            data.y_train[order],
            batch_size=BATCH,
            epochs=1,
            shuffle=False,
            verbose=0,
            validation_data=(data.x_val, data.y_val),
        ).history
        assert report.loss == pytest.approx(hist["loss"][0], rel=1e-4)
        assert report.accuracy == pytest.approx(hist["accuracy"][0], abs=1e-6)
        assert report.val_loss == pytest.approx(hist["val_loss"][0], rel=1e-4)
        assert report.val_accuracy == pytest.approx(hist["val_accuracy"][0], abs=1e-6)
    assert len(reports) == EPOCHS


def test_backend_is_the_one_ci_asked_for() -> None:
    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")
