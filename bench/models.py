"""Model × optimizer table: a 12-member sweep fused by the engine vs plain model.fit, one run.

Each row trains `MEMBERS` members (seeds 0..) for `EPOCHS` epochs on `SAMPLES` training images
with a constant lr, first as plain Keras (one fresh model per member, `model.fit`, the same
optimizer), then fused by worker.engine.train_members in this process twice: cold (compiling
the epoch, as a worker's first claim of a new shape) and warm (compiled, as every later claim).
It prints seconds per member-epoch of each, the ratios, the stack size the engine chose and the
final val accuracy.
Sizes: LRLAB_BENCH_MEMBERS, LRLAB_BENCH_EPOCHS, LRLAB_BENCH_SAMPLES (defaults 12, 5, 8000);
LRLAB_BENCH_ROWS picks rows by a word of their label (e.g. `CNN`), for a quick look.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from typing import Any

import keras
import numpy as np

from models.experiments import ExperimentCreate
from models.schedules import build_run
from models.storage import get_settings
from models.training import CnnSpec, MlpSpec
from worker.datasets import Dataset, load_dataset
from worker.members import EpochReport, MemberConfig
from worker.network import build_model

MEMBERS = int(os.environ.get("LRLAB_BENCH_MEMBERS", "12"))
EPOCHS = int(os.environ.get("LRLAB_BENCH_EPOCHS", "5"))
SAMPLES = int(os.environ.get("LRLAB_BENCH_SAMPLES", "8000"))
BATCH = 32
# (label, dataset, model, optimizer, Keras optimizer, lr)
ROWS: list[tuple[str, str, MlpSpec | CnnSpec, str, Any, float]] = [
    ("MLP + Adam, MNIST", "mnist", MlpSpec(), "adam", keras.optimizers.Adam, 1e-3),
    ("CNN + SGD, Fashion-MNIST", "fashion_mnist", CnnSpec(), "sgd", keras.optimizers.SGD, 0.05),
]


def _data(name: str) -> Dataset:
    settings = get_settings()
    return load_dataset(
        name,
        train_samples=SAMPLES,
        mnist_path=settings.mnist_path,
        fashion_mnist_path=settings.fashion_mnist_path,
    )


def plain(data: Dataset, model: MlpSpec | CnnSpec, keras_optimizer: Any, lr: float) -> float:
    """Seconds of MEMBERS × EPOCHS epochs of model.fit (with validation), one member at a time."""
    started = time.perf_counter()
    for seed in range(MEMBERS):
        net = build_model(model, seed=seed)
        net.compile(
            optimizer=keras_optimizer(learning_rate=lr),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        net.fit(
            data.x_train,
            data.y_train,
            batch_size=BATCH,
            epochs=EPOCHS,
            verbose=0,
            validation_data=(data.x_val, data.y_val),
        )
    return time.perf_counter() - started


def fused(
    data: Dataset, model: MlpSpec | CnnSpec, optimizer: str, lr: float
) -> tuple[float, float]:
    """Seconds of the same work fused by the engine (compilation included), mean final val acc."""
    from worker.engine import train_members

    steps = math.ceil(len(data.y_train) / BATCH)
    scheduler = ExperimentCreate.model_validate({"scheduler": {"type": "constant"}}).scheduler
    members = [
        MemberConfig(
            key=str(seed),
            epochs=EPOCHS,
            batch_size=BATCH,
            learning_rate=lr,
            optimizer=optimizer,  # type: ignore[arg-type]
            momentum=0.0,
            seed=seed,
            schedule=build_run(scheduler, base_lr=lr, epochs=EPOCHS, steps_per_epoch=steps),
            model=model,
        )
        for seed in range(MEMBERS)
    ]
    last: dict[str, float] = {}

    def on_epoch(report: EpochReport) -> bool:
        last[report.key] = report.metrics.val_accuracy
        return True

    started = time.perf_counter()
    train_members(members, data, on_epoch=on_epoch)
    return time.perf_counter() - started, float(np.mean(list(last.values())))


def fused_cold_and_warm(
    data: Dataset, model: MlpSpec | CnnSpec, optimizer: str, lr: float
) -> tuple[float, float, float]:
    """Seconds of the fused work compiling its epoch, then compiled; the mean final val acc.

    A warm run shorter than a minute is the median of three: a few seconds of other work on
    the machine would otherwise weigh on its ratio far more than on model.fit's minutes.
    """
    cold, accuracy = fused(data, model, optimizer, lr)
    warm = [fused(data, model, optimizer, lr)[0]]
    if warm[0] < 60:
        warm += [fused(data, model, optimizer, lr)[0] for _ in range(2)]
    return cold, statistics.median(warm), accuracy


def main() -> None:
    """Print the table (plain Keras first: the engine turns on op determinism process-wide)."""
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    wanted = os.environ.get("LRLAB_BENCH_ROWS", "")
    rows = [row for row in ROWS if not wanted or wanted in row[0]]
    results = []
    for label, dataset, model, optimizer, keras_optimizer, lr in rows:
        data = _data(dataset)
        results.append((label, data, model, optimizer, plain(data, model, keras_optimizer, lr)))
    from worker.engine import max_stack

    work = MEMBERS * EPOCHS
    print(f"{MEMBERS} members × {EPOCHS} epochs × {SAMPLES} samples, batch {BATCH}")
    print(
        "| model + optimizer, data | plain s/member-epoch | engine s/member-epoch, warm (cold) "
        "| ratio warm (cold) | stack | val acc |"
    )
    print("|---|---|---|---|---|---|")
    for (label, data, model, optimizer, plain_s), row in zip(results, rows, strict=True):
        cold, warm, accuracy = fused_cold_and_warm(data, model, optimizer, row[5])
        print(
            f"| {label} | {plain_s / work:.3f} | {warm / work:.3f} ({cold / work:.3f}) | "
            f"{plain_s / warm:.2f}× ({plain_s / cold:.2f}×) | {min(MEMBERS, max_stack(model))} "
            f"| {accuracy:.4f} |",
            flush=True,
        )
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
