"""End to end: a sweep over two model families × three optimizers trains fused per model."""

import re
import uuid

import pytest
from fastapi.testclient import TestClient

from devtools.processes import WorkerProcess
from tests.conftest import wait_for

pytestmark = pytest.mark.e2e


def test_a_sweep_of_two_families_by_three_optimizers_trains_one_stack_per_model(
    live_client: TestClient, worker: WorkerProcess
) -> None:
    name = f"families e2e {uuid.uuid4().hex[:8]}"
    sweep = {
        "name": name,
        "base": {
            "training": {"epochs": 2, "batch_size": 64, "learning_rate": 0.003},
            "dataset": {"name": "mnist", "train_samples": 256},
            "model": {"type": "cnn", "filters": [4, 8]},
        },
        "schedulers": [{"type": "cosine", "t_max": 2}],
        "grid": {"model.type": ["mlp", "cnn"], "training.optimizer": ["adam", "adamw", "sgd"]},
        "seeds": [0],
    }
    logged = len(worker.log_path.read_text(errors="replace"))
    response = live_client.post("/sweeps", json=sweep)
    assert response.status_code == 202, response.text
    sweep_id = response.json()["id"]
    wait_for(
        lambda: live_client.get(f"/sweeps/{sweep_id}").json()["status"] == "completed", timeout=600
    )
    body = live_client.get(f"/sweeps/{sweep_id}").json()
    assert body["counts"]["succeeded"] == 6
    members = [live_client.get(f"/experiments/{i}").json()["spec"] for i in body["experiments"]]
    assert {(m["model"]["type"], m["training"]["optimizer"]) for m in members} == {
        (family, optimizer) for family in ("mlp", "cnn") for optimizer in ("adam", "adamw", "sgd")
    }
    # One claim of all six; each model's three optimizers share one stack, epoch after epoch.
    log = worker.log_path.read_text(errors="replace")[logged:]
    stacks = re.findall(r"epoch (\d) computes a stack of (\d+) member", log)
    assert sorted(stacks) == [("1", "3"), ("1", "3"), ("2", "3"), ("2", "3")]
