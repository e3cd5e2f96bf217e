"""End to end: HTTP submit → real Celery worker on Redis → metrics committed in Postgres."""

import math
from typing import Any

import pytest
from fastapi.testclient import TestClient

from devtools.processes import WorkerProcess
from tests.conftest import wait_for
from tests.factories import experiment_payload

pytestmark = pytest.mark.e2e

TRAIN_SAMPLES = 512
BATCH = 64
STEPS = math.ceil(TRAIN_SAMPLES / BATCH)

# Every catalog type, the seed tutorial's six first; several advance per optimizer step.
CATALOG: list[dict[str, Any]] = [
    {"type": "constant"},
    {"type": "step", "step_size": 1, "gamma": 0.5},
    {"type": "exponential", "gamma": 0.7},
    {"type": "cosine", "t_max": 2, "eta_min": 0.001},
    {"type": "plateau", "patience": 0, "factor": 0.5, "monitor": "val_accuracy", "mode": "min"},
    {"type": "cyclic", "base_lr": 0.001, "max_lr": 0.01, "step_size_up": 5, "interval": "step"},
    {"type": "constant", "factor": 0.5, "total_iters": 1},
    {"type": "multistep", "milestones": [1, 1], "gamma": 0.5},
    {"type": "cosine_warm_restarts", "t_0": 5, "t_mult": 2, "interval": "step"},
    {"type": "one_cycle", "max_lr": 0.02},
    {"type": "linear", "start_factor": 0.1, "total_iters": 10, "interval": "step"},
    {"type": "polynomial", "total_iters": 2, "power": 2.0},
    {
        "type": "sequential",
        "interval": "step",
        "milestones": [4],
        "schedulers": [
            {"type": "linear", "start_factor": 0.1, "total_iters": 4},
            {"type": "cosine", "t_max": 12},
        ],
    },
]


def _submit(client: TestClient, **overrides: Any) -> str:
    payload = experiment_payload(
        dataset={"name": "mnist", "train_samples": TRAIN_SAMPLES},
        **overrides,
    )
    response = client.post("/experiments", json=payload)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _terminal(client: TestClient, experiment_id: str) -> dict[str, Any] | None:
    body: dict[str, Any] = client.get(f"/experiments/{experiment_id}").json()
    return body if body["status"] in {"succeeded", "failed", "cancelled"} else None


def test_every_catalog_type_trains_with_the_lr_its_preview_shows(
    live_client: TestClient, worker: WorkerProcess
) -> None:
    ids = [
        _submit(
            live_client,
            scheduler=s,
            training={"epochs": 2, "batch_size": BATCH, "learning_rate": 0.01},
        )
        for s in CATALOG
    ]
    for experiment_id, scheduler in zip(ids, CATALOG, strict=True):
        body = wait_for(lambda i=experiment_id: _terminal(live_client, i), timeout=240)
        assert isinstance(body, dict)
        assert body["status"] == "succeeded", body["error"]
        assert body["progress"] == {"epochs_done": 2, "epochs": 2}
        assert body["result"]["best_epoch"] in (1, 2)
        assert body["dataset"]["train_samples"] == TRAIN_SAMPLES
        assert len(body["dataset"]["sha256"]) == 64
        assert body["device"] == "CPU"
        assert {"python", "keras", "numpy"} <= set(body["versions"])
        items = live_client.get(f"/experiments/{experiment_id}/metrics").json()["items"]
        assert [m["epoch"] for m in items] == [1, 2]
        assert all(0.0 <= m["val_accuracy"] <= 1.0 and m["seconds"] > 0 for m in items)
        request: dict[str, Any] = {
            "scheduler": scheduler,
            "learning_rate": 0.01,
            "epochs": 2,
            "steps_per_epoch": STEPS,
        }
        if scheduler["type"] == "plateau":
            request["metrics"] = [items[0]["val_accuracy"]]
        expected = live_client.post("/schedulers/preview", json=request).json()
        # Keras keeps the lr in float32, so the lr read back matches to float32 precision.
        assert [m["lr"] for m in items] == pytest.approx(expected["epochs"], rel=1e-6)
        pages = live_client.get(f"/experiments/{experiment_id}/lr").json()["items"]
        steps = [lr for page in pages for lr in page["lrs"]]
        assert steps == pytest.approx(expected["steps"], rel=1e-6)


def test_same_seed_and_spec_give_the_same_metrics(
    live_client: TestClient, worker: WorkerProcess
) -> None:
    spec = {
        "scheduler": {"type": "exponential", "gamma": 0.9},
        "training": {"epochs": 2, "batch_size": BATCH, "learning_rate": 0.01, "seed": 7},
    }
    ids = [_submit(live_client, **spec) for _ in range(2)]
    for experiment_id in ids:
        wait_for(lambda i=experiment_id: _terminal(live_client, i), timeout=240)
    runs = [live_client.get(f"/experiments/{i}/metrics").json()["items"] for i in ids]
    strip = [[{k: v for k, v in m.items() if k != "seconds"} for m in run] for run in runs]
    assert strip[0] == strip[1]
    assert len(strip[0]) == 2


def test_cancel_queued_and_running(live_client: TestClient, worker: WorkerProcess) -> None:
    long_id = _submit(live_client, training={"epochs": 200, "batch_size": BATCH})
    wait_for(
        lambda: live_client.get(f"/experiments/{long_id}").json()["progress"]["epochs_done"] >= 1,
        timeout=240,
    )
    queued_id = _submit(live_client)
    assert live_client.post(f"/experiments/{queued_id}/cancel").json()["status"] == "cancelled"
    cancelled = live_client.post(f"/experiments/{long_id}/cancel").json()
    assert cancelled["status"] == "cancelled"

    # With one worker, a later experiment finishing proves the long one stopped.
    probe_id = _submit(live_client, training={"epochs": 1, "batch_size": BATCH})
    probe = wait_for(lambda: _terminal(live_client, probe_id), timeout=240)
    assert isinstance(probe, dict) and probe["status"] == "succeeded"

    long_run = live_client.get(f"/experiments/{long_id}").json()
    items = live_client.get(f"/experiments/{long_id}/metrics").json()["items"]
    assert long_run["status"] == "cancelled"
    assert 1 <= len(items) < 200
    assert [m["epoch"] for m in items] == list(range(1, len(items) + 1))
    assert long_run["progress"]["epochs_done"] == len(items)

    never = live_client.get(f"/experiments/{queued_id}").json()
    assert never["status"] == "cancelled"
    assert never["attempt"] == 0 and never["started_at"] is None
    assert live_client.get(f"/experiments/{queued_id}/metrics").json()["items"] == []
    assert live_client.post(f"/experiments/{probe_id}/cancel").status_code == 409


def test_five_epochs_of_constant_adam_reach_the_tutorials_accuracy(
    live_client: TestClient, worker: WorkerProcess
) -> None:
    response = live_client.post(
        "/experiments",
        json={
            "scheduler": {"type": "constant"},
            "training": {"epochs": 5, "batch_size": 32, "learning_rate": 0.001},
            "dataset": {"name": "mnist", "train_samples": 10000},
        },
    )
    experiment_id = response.json()["id"]
    body = wait_for(lambda: _terminal(live_client, experiment_id), timeout=300)
    assert isinstance(body, dict) and body["status"] == "succeeded", body
    # Plain Keras reaches about 0.95 on the offline MNIST (8,000 training digits).
    assert body["result"]["final_val_accuracy"] >= 0.93
