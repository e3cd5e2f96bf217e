"""End to end through the real worker: plateau cuts the lr, and the sweep CSV round-trips."""

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from devtools.processes import WorkerProcess
from tests.conftest import wait_for

pytestmark = pytest.mark.e2e

DATASET = {"name": "mnist", "train_samples": 256}


def _terminal(client: TestClient, path: str) -> dict[str, Any] | None:
    body: dict[str, Any] = client.get(path).json()
    return body if body["status"] not in {"queued", "running"} else None


def test_plateau_cuts_the_lr_by_factor_when_the_metric_cannot_improve(
    live_client: TestClient, worker: WorkerProcess
) -> None:
    # An absolute threshold of 1 on an accuracy: only the first epoch (best = -inf) improves,
    # so with patience 0 every later epoch end cuts, whatever the metric's values are.
    scheduler = {
        "type": "plateau",
        "monitor": "val_accuracy",
        "mode": "max",
        "threshold": 1.0,
        "threshold_mode": "abs",
        "patience": 0,
        "factor": 0.5,
    }
    response = live_client.post(
        "/experiments",
        json={
            "scheduler": scheduler,
            "training": {"epochs": 4, "batch_size": 64, "learning_rate": 0.01},
            "dataset": DATASET,
        },
    )
    assert response.status_code == 202, response.text
    experiment_id = response.json()["id"]
    body = wait_for(lambda: _terminal(live_client, f"/experiments/{experiment_id}"), timeout=240)
    assert isinstance(body, dict) and body["status"] == "succeeded", body
    items = live_client.get(f"/experiments/{experiment_id}/metrics").json()["items"]
    assert [m["epoch"] for m in items] == [1, 2, 3, 4]
    # Epochs 1 and 2 at the base lr; the ends of epochs 2 and 3 each halve it.
    assert [m["lr"] for m in items] == pytest.approx([0.01, 0.01, 0.005, 0.0025], rel=1e-6)


def test_sweep_metrics_csv_quotes_labels_with_commas_and_parses_back_to_the_values(
    live_client: TestClient, worker: WorkerProcess
) -> None:
    response = live_client.post(
        "/sweeps",
        json={
            "base": {"training": {"epochs": 2, "batch_size": 64}, "dataset": DATASET},
            "schedulers": [
                {"type": "step", "step_size": 1, "gamma": 0.5},
                {"type": "multistep", "milestones": [1, 2], "gamma": 0.3},
            ],
            "seeds": [0],
        },
    )
    assert response.status_code == 202, response.text
    sweep_id = response.json()["id"]
    body = wait_for(lambda: _terminal(live_client, f"/sweeps/{sweep_id}"), timeout=240)
    assert isinstance(body, dict) and body["status"] == "completed", body
    assert body["counts"]["succeeded"] == 2
    as_json = live_client.get(f"/sweeps/{sweep_id}/metrics", params={"format": "json"}).json()
    text = live_client.get(f"/sweeps/{sweep_id}/metrics", params={"format": "csv"}).text
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert len(parsed) == len(as_json) == 4
    labels = {row["label"] for row in as_json}
    assert all("," in label for label in labels), labels  # the case under test
    for row, expected in zip(parsed, as_json, strict=True):
        assert set(row) == set(expected)
        for field, value in expected.items():
            if isinstance(value, float):
                assert float(row[field]) == value, field  # repr round-trips exactly
            else:
                assert row[field] == str(value), field
