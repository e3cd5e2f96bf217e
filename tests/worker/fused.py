"""Members of mixed schedules and optimizers on a synthetic dataset, for fused training."""

import math
from typing import Any

import numpy as np

from models.experiments import ExperimentCreate
from models.schedules import ScheduleRun, build_run
from worker.datasets import Dataset, DatasetInfo
from worker.engine import train_members
from worker.members import EpochReport, MemberConfig

N_TRAIN, N_VAL, BATCH, EPOCHS = 800, 200, 32, 4
STEPS = math.ceil(N_TRAIN / BATCH)  # 25


def synthetic_dataset() -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.random((N_TRAIN + N_VAL, 784), dtype=np.float32)
    # Labels from a fixed noisy linear map: learnable, but not to 100%, so curves can differ.
    logits = (x - 0.5) @ rng.normal(size=(784, 10)) + rng.normal(scale=1.0, size=(len(x), 10))
    y = np.argmax(logits, axis=1).astype(np.int64)
    info = DatasetInfo("synthetic", "npz", None, N_TRAIN, N_TRAIN, N_VAL, "1" * 64)
    return Dataset(x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:], info)


# name → (scheduler spec, optimizer, momentum, learning rate, seed)
MEMBERS: dict[str, tuple[dict[str, Any], str, float, float, int]] = {
    "plateau": ({"type": "plateau", "patience": 0, "factor": 0.5}, "adam", 0.0, 1e-3, 0),
    "cyclic": (
        {"type": "cyclic", "base_lr": 1e-4, "max_lr": 3e-3, "step_size_up": 10, "interval": "step"},
        "adam",
        0.0,
        1e-3,
        1,
    ),
    "step-sgd": ({"type": "step", "step_size": 2, "gamma": 0.5}, "sgd", 0.9, 0.05, 2),
    "exp-sgd": ({"type": "exponential", "gamma": 0.8}, "sgd", 0.0, 0.1, 3),
}


def schedule(name: str) -> ScheduleRun:
    spec, _, _, lr, _ = MEMBERS[name]
    scheduler = ExperimentCreate.model_validate({"scheduler": spec}).scheduler
    return build_run(scheduler, base_lr=lr, epochs=EPOCHS, steps_per_epoch=STEPS)


def diverging() -> ScheduleRun:
    scheduler = ExperimentCreate.model_validate({"scheduler": {"type": "constant"}}).scheduler
    return build_run(scheduler, base_lr=1e10, epochs=EPOCHS, steps_per_epoch=STEPS)


def config(name: str, **over: Any) -> MemberConfig:
    _, optimizer, momentum, lr, seed = MEMBERS[name]
    fields: dict[str, Any] = {
        "key": name,
        "epochs": EPOCHS,
        "batch_size": BATCH,
        "learning_rate": lr,
        "optimizer": optimizer,
        "momentum": momentum,
        "seed": seed,
        "schedule": schedule(name),
    }
    fields.update(over)
    return MemberConfig(**fields)


def train(
    members: list[MemberConfig], data: Dataset, **kwargs: Any
) -> dict[str, list[EpochReport]]:
    """Train with `train_members`; every member's reports, by key."""
    reports: dict[str, list[EpochReport]] = {m.key: [] for m in members}

    def on_epoch(report: EpochReport) -> bool:
        reports[report.key].append(report)
        return True

    kwargs.setdefault("on_epoch", on_epoch)
    train_members(members, data, **kwargs)
    return reports
