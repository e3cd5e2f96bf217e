"""The range test trains the chosen model with the chosen optimizer."""

import pytest

from models.families import CnnSpec, MlpSpec
from worker.datasets import Dataset
from worker.range_engine import run_range_test


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
