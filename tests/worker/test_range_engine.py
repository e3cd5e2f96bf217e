"""The range test's loop: batches as fastai's shuffled training loader makes them; the chosen
model and optimizer."""

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from models.training import CnnSpec, MlpSpec
from worker import range_engine
from worker.datasets import Dataset, DatasetInfo
from worker.range_engine import run_range_test

N_TRAIN = 200  # 6 full batches of 32 and a partial one of 8


def _data() -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.random((N_TRAIN + 20, 784), dtype=np.float32)
    y = rng.integers(0, 10, size=N_TRAIN + 20).astype(np.int64)
    info = DatasetInfo("tiny", "npz", None, N_TRAIN, N_TRAIN, 20, "0" * 64)
    return Dataset(x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:], info)


def _batches_seen(monkeypatch: pytest.MonkeyPatch, batch_size: int) -> list[Any]:
    seen: list[tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]] = []
    real = range_engine.padded_batches

    def recorded(order: npt.NDArray[np.int64], size: int) -> Any:
        batches = real(order, size)
        seen.append(batches)
        return batches

    monkeypatch.setattr(range_engine, "padded_batches", recorded)
    trackers = range_engine.run_range_test(
        _data(),
        seeds=[0],
        batch_size=batch_size,
        optimizer="sgd",
        momentum=0.0,
        start_lr=1e-4,
        end_lr=1e-2,
        num_iter=14,  # past two passes over the data
        stop_div=False,
        on_progress=lambda _: True,
    )
    assert trackers is not None and trackers[0].iterations_done == 14
    return seen


def test_the_partial_last_batch_is_dropped_as_fastai_drops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _batches_seen(monkeypatch, 32)
    assert len(seen) == 3  # a new order every 6 steps: steps 0, 6 and 12
    for orders, mask in seen:
        assert orders.shape == (6, 32) and mask.all()
        assert len(set(orders.reshape(-1).tolist())) == 192  # distinct samples, none padded


def test_fewer_samples_than_a_batch_keep_their_one_partial_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _batches_seen(monkeypatch, 256)
    orders, mask = seen[0]
    assert orders.shape == (1, 256) and int(mask.sum()) == N_TRAIN


@pytest.mark.parametrize(
    ("model", "optimizer", "options"),
    [
        (CnnSpec(filters=[4, 8], dropout=0.0), "adamw", {"weight_decay": 0.01}),
        (MlpSpec(hidden_units=[16]), "sgd", {"nesterov": True}),
    ],
)
def test_range_test_of_a_model_and_optimizer(
    synthetic: Dataset, model: MlpSpec | CnnSpec, optimizer: str, options: dict[str, object]
) -> None:
    trackers = run_range_test(
        synthetic,
        seeds=[0, 1],
        batch_size=32,
        optimizer=optimizer,  # type: ignore[arg-type]
        momentum=0.9 if optimizer == "sgd" else 0.0,
        model=model,
        options=options,  # type: ignore[arg-type]
        start_lr=1e-5,
        end_lr=10.0,
        num_iter=40,
        stop_div=True,
        on_progress=lambda done: True,
    )
    assert trackers is not None
    for tracker in trackers:
        assert 5 <= tracker.iterations_done <= 40
    # Different seeds, different initial weights: different loss curves.
    assert trackers[0]._losses != trackers[1]._losses
