"""End to end: every Keras and transformers schedule trains through a real worker with the lrs
its preview shows (and, for Keras, the lrs Keras' own schedule objects give)."""

import math
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from devtools.processes import WorkerProcess
from tests.conftest import wait_for
from tests.factories import experiment_payload

pytestmark = pytest.mark.e2e

TRAIN_SAMPLES = 512
BATCH = 64
STEPS = math.ceil(TRAIN_SAMPLES / BATCH)
LR = 0.01

KERAS: list[dict[str, Any]] = [
    {"type": "keras.exponential_decay", "decay_steps": 3, "decay_rate": 0.5, "staircase": True},
    {"type": "keras.piecewise_constant_decay", "boundaries": [4, 9], "values": [0.02, 0.01, 0.005]},
    {"type": "keras.polynomial_decay", "decay_steps": 5, "power": 2.0, "cycle": True},
    {"type": "keras.inverse_time_decay", "decay_steps": 2, "decay_rate": 0.5},
    {"type": "keras.cosine_decay", "decay_steps": 10, "warmup_target": 0.02, "warmup_steps": 4},
    {"type": "keras.cosine_decay_restarts", "first_decay_steps": 3, "t_mul": 1.5, "m_mul": 0.8},
]

TRANSFORMERS: list[dict[str, Any]] = [
    {"type": "transformers.linear", "num_warmup_steps": 3},
    {"type": "transformers.cosine", "num_warmup_steps": 2},
    {"type": "transformers.cosine_with_restarts", "num_cycles": 2},
    {"type": "transformers.polynomial", "power": 2.0, "lr_end": 1e-4},
    {"type": "transformers.constant"},
    {"type": "transformers.constant_with_warmup", "num_warmup_steps": 4},
    {"type": "transformers.inverse_sqrt", "num_warmup_steps": 4},
    {"type": "transformers.cosine_with_min_lr", "num_warmup_steps": 2, "min_lr": 1e-3},
    {"type": "transformers.cosine_warmup_with_min_lr", "num_warmup_steps": 2, "min_lr_rate": 0.1},
    {
        "type": "transformers.warmup_stable_decay",
        "num_warmup_steps": 3,
        "num_decay_steps": 6,
        "warmup_type": "cosine",
        "decay_type": "1-sqrt",
    },
]


def _train_all(client: TestClient, schedulers: list[dict[str, Any]]) -> list[list[float]]:
    """Submit each schedule for 2 epochs, wait, check the lrs against the preview."""
    ids = []
    for scheduler in schedulers:
        payload = experiment_payload(
            scheduler=scheduler,
            training={"epochs": 2, "batch_size": BATCH, "learning_rate": LR},
            dataset={"name": "mnist", "train_samples": TRAIN_SAMPLES},
        )
        response = client.post("/experiments", json=payload)
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    trained = []
    for experiment_id, scheduler in zip(ids, schedulers, strict=True):

        def done(i: str = experiment_id) -> dict[str, Any] | None:
            body: dict[str, Any] = client.get(f"/experiments/{i}").json()
            return body if body["status"] in {"succeeded", "failed", "cancelled"} else None

        body = wait_for(done, timeout=240)
        assert isinstance(body, dict) and body["status"] == "succeeded", body["error"]
        request = {
            "scheduler": scheduler,
            "learning_rate": LR,
            "epochs": 2,
            "steps_per_epoch": STEPS,
        }
        expected = client.post("/schedulers/preview", json=request).json()
        pages = client.get(f"/experiments/{experiment_id}/lr").json()["items"]
        steps = [lr for page in pages for lr in page["lrs"]]
        # The optimizer holds the lr in float32.
        assert steps == pytest.approx(expected["steps"], rel=1e-6, abs=1e-12), scheduler["type"]
        trained.append(steps)
    return trained


def test_every_keras_schedule_trains_with_keras_own_lrs(
    live_client: TestClient, worker: WorkerProcess
) -> None:
    import keras

    trained = _train_all(live_client, KERAS)
    for scheduler, steps in zip(KERAS, trained, strict=True):
        params = {k: v for k, v in scheduler.items() if k != "type"}
        name = "".join(p.capitalize() for p in scheduler["type"].removeprefix("keras.").split("_"))
        if name != "PiecewiseConstantDecay":
            params["initial_learning_rate"] = LR
        schedule = getattr(keras.optimizers.schedules, name)(**params)
        own = [float(keras.ops.convert_to_numpy(schedule(np.int64(t)))) for t in range(2 * STEPS)]
        np.testing.assert_allclose(steps, own, rtol=1e-6, atol=4e-9, err_msg=name)


def test_every_transformers_schedule_trains_with_its_preview_lrs(
    live_client: TestClient, worker: WorkerProcess
) -> None:
    trained = _train_all(live_client, TRANSFORMERS)
    wsd = trained[-1]
    # Warm-up from 0, stable at the lr, then the 1-sqrt decay over the last 6 steps.
    assert wsd[0] == 0.0 and wsd[3:11] == pytest.approx([LR] * 8, rel=1e-6)
    assert wsd[11] == pytest.approx(LR * (1 - math.sqrt(1 / 6)), rel=1e-6)
