"""End to end: a range test on the offline MNIST through a real worker; a sweep seeded from it."""

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from devtools.processes import WorkerProcess
from tests.conftest import wait_for

pytestmark = pytest.mark.e2e

TERMINAL = {"succeeded", "failed", "cancelled"}


def _wait(client: TestClient, path: str, timeout: float = 300) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(path).json()
        return body if body["status"] in TERMINAL | {"completed"} else None

    body = wait_for(done, timeout=timeout)
    assert isinstance(body, dict)
    return body


def test_adam_range_test_suggests_a_valley_and_seeds_a_sweep_that_trains(
    live_client: TestClient, worker: WorkerProcess
) -> None:
    started = time.monotonic()
    response = live_client.post(
        "/range-tests",
        json={
            "name": "adam lr_find",
            "training": {"batch_size": 32, "optimizer": "adam", "seed": 0},
            "dataset": {"name": "mnist", "train_samples": 10_000},
            "num_iter": 100,
        },
    )
    assert response.status_code == 202, response.text
    test_id = response.json()["id"]
    body = _wait(live_client, f"/range-tests/{test_id}")
    print(f"range test wall time (submit to succeeded): {time.monotonic() - started:.1f} s")
    assert body["status"] == "succeeded", body["error"]
    result = body["result"]
    print("suggestions:", result["suggestions"], "train_seconds:", result["train_seconds"])
    assert body["progress"]["iterations_done"] == result["iterations"] > 50
    assert body["dataset"]["train_samples_requested"] == 10_000
    assert 1e-4 < result["suggestions"]["valley"]["lr"] < 1e-1
    items = live_client.get(f"/range-tests/{test_id}/curve").json()["items"]
    assert len(items) == result["iterations"]
    assert items[0]["lr"] == pytest.approx(1e-7)
    assert live_client.get(f"/range-tests/{test_id}/plot.png").content.startswith(b"\x89PNG")

    sweep = live_client.post(
        "/sweeps",
        json={
            "base": {
                "training": {
                    "epochs": 2,
                    "batch_size": 64,
                    "learning_rate": {"from_range_test": test_id, "suggestion": "valley"},
                },
                "dataset": {"name": "mnist", "train_samples": 1024},
            },
            "schedulers": [
                {"type": "constant"},
                {"type": "one_cycle", "max_lr": {"from_range_test": test_id, "multiplier": 3}},
            ],
        },
    )
    assert sweep.status_code == 202, sweep.text
    sweep_body = _wait(live_client, f"/sweeps/{sweep.json()['id']}", timeout=400)
    assert sweep_body["counts"]["succeeded"] == 2, sweep_body
    valley = result["suggestions"]["valley"]["lr"]
    for experiment_id in sweep_body["experiments"]:
        member = live_client.get(f"/experiments/{experiment_id}").json()
        assert member["spec"]["training"]["learning_rate"] == valley
        assert member["result"]["final_val_accuracy"] > 0.5


def test_several_seeds_fuse_and_report_the_spread(
    live_client: TestClient, worker: WorkerProcess
) -> None:
    test_id = live_client.post(
        "/range-tests",
        json={"dataset": {"name": "mnist", "train_samples": 2048}, "num_iter": 60, "seeds": [0, 1]},
    ).json()["id"]
    body = _wait(live_client, f"/range-tests/{test_id}")
    assert body["status"] == "succeeded", body["error"]
    assert [s["seed"] for s in body["result"]["seeds"]] == [0, 1]
    assert body["result"]["spread"]["valley"]["seeds"] == 2
    seeds = {p["seed"] for p in live_client.get(f"/range-tests/{test_id}/curve").json()["items"]}
    assert seeds == {0, 1}


def test_cancel_stops_a_range_test(live_client: TestClient, worker: WorkerProcess) -> None:
    # Long enough (10 000 iterations) that it is still running when the cancel arrives.
    test_id = live_client.post(
        "/range-tests",
        json={
            "dataset": {"name": "mnist", "train_samples": 2048},
            "num_iter": 10_000,
            "stop_div": False,
            "start_lr": 1e-7,
            "end_lr": 1e-6,
        },
    ).json()["id"]
    wait_for(
        lambda: (
            live_client.get(f"/range-tests/{test_id}").json()["progress"]["iterations_done"] > 0
        ),
        timeout=300,
    )
    response = live_client.post(f"/range-tests/{test_id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    time.sleep(3)  # the worker notices at its next progress record and writes nothing more
    body = live_client.get(f"/range-tests/{test_id}").json()
    assert body["status"] == "cancelled"
    assert body["result"] is None
    assert live_client.get(f"/range-tests/{test_id}/curve").json()["items"] == []
