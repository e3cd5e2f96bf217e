"""The seed tutorial's way: a fresh Keras model trained with model.fit and a schedule callback."""

from __future__ import annotations

import time
from typing import Any

import keras
import numpy as np

from models.experiments import ExperimentCreate
from models.schedules import ScheduleRun, build_run
from worker.datasets import Dataset


class _Timer(keras.callbacks.Callback):  # type: ignore[misc]
    """Wall time of every epoch (fit + validation), as model.fit users see it."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.seconds.append(time.perf_counter() - self._started)


class _StepSchedule(keras.callbacks.Callback):  # type: ignore[misc]
    """Per-batch lr for step-interval schedules (e.g. cyclic)."""

    def __init__(self, run: ScheduleRun) -> None:
        super().__init__()
        self.run = run
        self.lrs = np.empty(0)

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.lrs = self.run.epoch_lrs(epoch)

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        self.model.optimizer.learning_rate = float(self.lrs[batch])

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.run.end_epoch(epoch, logs or {})


class _PlateauSchedule(keras.callbacks.Callback):  # type: ignore[misc]
    """ReduceLROnPlateau with torch's semantics: the lr models.schedules decides per epoch."""

    def __init__(self, run: ScheduleRun) -> None:
        super().__init__()
        self.run = run

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.model.optimizer.learning_rate = float(self.run.epoch_lrs(epoch)[0])

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.run.end_epoch(epoch, logs or {})


def fit_run(
    data: Dataset,
    scheduler: dict[str, Any],
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
) -> list[dict[str, float]]:
    """Train one run with model.fit; return per-epoch val_accuracy, lr and seconds."""
    spec = ExperimentCreate.model_validate({"scheduler": scheduler}).scheduler
    steps = -(-len(data.y_train) // batch_size)
    run = build_run(spec, base_lr=learning_rate, epochs=epochs, steps_per_epoch=steps)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(data.x_train.shape[1],)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    timer = _Timer()
    if run.monitor is not None:
        schedule: keras.callbacks.Callback = _PlateauSchedule(run)
    elif run.interval == "step":
        schedule = _StepSchedule(run)
    else:
        schedule = keras.callbacks.LearningRateScheduler(
            lambda epoch, lr: float(run.epoch_lrs(epoch)[0])
        )
    history = model.fit(
        data.x_train,
        data.y_train,
        batch_size=batch_size,
        epochs=epochs,
        validation_data=(data.x_val, data.y_val),
        callbacks=[timer, schedule],
        verbose=0,
    ).history
    return [
        {"epoch": e + 1, "val_accuracy": float(history["val_accuracy"][e]), "seconds": s}
        for e, s in enumerate(timer.seconds)
    ]
