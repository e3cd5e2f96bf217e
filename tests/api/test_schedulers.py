"""The scheduler catalog and the preview endpoint, including every shared conformance case."""

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from models.schedules.closed_form import FloatArray
from models.schedules.run import ScheduleRun

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CONFORMANCE = SHARED / "conformance" / "schedulers.json"
CASES: list[dict[str, Any]] = (
    json.loads(CONFORMANCE.read_text())["cases"] if CONFORMANCE.exists() else []
)


def test_the_conformance_file_is_present_in_ci() -> None:
    # Locally the shared cases may be absent (skipped); in CI their absence is a failure.
    if not CONFORMANCE.exists() and os.environ.get("CI", "").lower() != "true":
        pytest.skip(f"conformance file missing: {CONFORMANCE}")
    assert CONFORMANCE.exists(), f"conformance file missing in CI: {CONFORMANCE}"


@pytest.mark.skipif(not CASES, reason=f"conformance file missing: {CONFORMANCE}")
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_conformance_case_through_http(client: TestClient, case: dict[str, Any]) -> None:
    response = client.post("/schedulers/preview", json=case["request"])
    assert response.status_code == 200, response.text
    body = response.json()
    for key, expected in case["expect"].items():
        np.testing.assert_allclose(body[key], expected, rtol=1e-9, atol=1e-12)


def test_catalog_lists_every_type_with_schema_and_interval(client: TestClient) -> None:
    catalog = client.get("/schedulers").json()
    types = {entry["type"]: entry for entry in catalog}
    assert set(types) == {
        "constant",
        "step",
        "multistep",
        "exponential",
        "cosine",
        "cosine_warm_restarts",
        "plateau",
        "cyclic",
        "one_cycle",
        "linear",
        "polynomial",
        "sequential",
        "keras.exponential_decay",
        "keras.piecewise_constant_decay",
        "keras.polynomial_decay",
        "keras.inverse_time_decay",
        "keras.cosine_decay",
        "keras.cosine_decay_restarts",
        "transformers.linear",
        "transformers.cosine",
        "transformers.cosine_with_restarts",
        "transformers.polynomial",
        "transformers.constant",
        "transformers.constant_with_warmup",
        "transformers.inverse_sqrt",
        "transformers.cosine_with_min_lr",
        "transformers.cosine_warmup_with_min_lr",
        "transformers.warmup_stable_decay",
    }
    assert types["cyclic"]["default_interval"] == "step"
    wsd = types["transformers.warmup_stable_decay"]
    assert wsd["default_interval"] == "step"
    assert wsd["parameters"]["properties"]["decay_type"]["enum"] == ["linear", "cosine", "1-sqrt"]
    assert wsd["parameters"]["required"] == ["num_decay_steps"]
    keras_cosine = types["keras.cosine_decay"]["parameters"]["properties"]
    assert keras_cosine["alpha"] == {**keras_cosine["alpha"], "default": 0.0, "maximum": 1}
    assert "absolute" in keras_cosine["initial_learning_rate"]["description"]
    assert types["cosine"]["default_interval"] == "epoch"
    assert types["step"]["parameters"]["properties"]["gamma"]["default"] == 0.1
    assert all(entry["description"] for entry in catalog)


def test_preview_per_step_schedule(client: TestClient) -> None:
    response = client.post(
        "/schedulers/preview",
        json={
            "scheduler": {"type": "cyclic", "base_lr": 0.001, "max_lr": 0.01, "step_size_up": 3},
            "learning_rate": 0.001,
            "epochs": 2,
            "steps_per_epoch": 4,
        },
    )
    body = response.json()
    assert len(body["steps"]) == 8
    assert body["epochs"] == [body["steps"][0], body["steps"][4]]
    assert body["steps"][3] == pytest.approx(0.01)


def test_preview_warns_about_a_cosine_longer_than_the_run(client: TestClient) -> None:
    body = client.post(
        "/schedulers/preview",
        json={
            "scheduler": {"type": "cosine", "t_max": 100},
            "learning_rate": 0.1,
            "epochs": 10,
        },
    ).json()
    assert any("t_max" in w for w in body["warnings"])


@pytest.mark.parametrize(
    ("request_body", "fragment"),
    [
        (
            {
                "scheduler": {"type": "multistep", "milestones": [5, 3]},
                "learning_rate": 0.1,
                "epochs": 10,
            },
            "milestones",
        ),
        (
            {
                "scheduler": {"type": "cosine_warm_restarts", "t_0": 0},
                "learning_rate": 0.1,
                "epochs": 10,
            },
            "t_0",
        ),
        (
            {
                "scheduler": {"type": "one_cycle", "max_lr": 0.1, "pct_start": 1.5},
                "learning_rate": 0.1,
                "epochs": 10,
            },
            "pct_start",
        ),
        (
            {
                "scheduler": {
                    "type": "sequential",
                    "schedulers": [{"type": "constant"}],
                    "milestones": [3],
                },
                "learning_rate": 0.1,
                "epochs": 10,
            },
            "milestones",
        ),
        (
            {
                "scheduler": {"type": "plateau"},
                "learning_rate": 0.1,
                "epochs": 10,
                "metrics": [1.0],
            },
            "metrics",
        ),
        (
            {
                "scheduler": {"type": "constant"},
                "learning_rate": 0.1,
                "epochs": 1001,
                "steps_per_epoch": 1000,
            },
            "1000000",
        ),
    ],
)
def test_preview_rejects_bad_specs_with_a_clear_422(
    client: TestClient, request_body: dict[str, Any], fragment: str
) -> None:
    response = client.post("/schedulers/preview", json=request_body)
    assert response.status_code == 422
    assert fragment in json.dumps(response.json()["detail"])


def test_preview_of_a_million_steps(client: TestClient) -> None:
    response = client.post(
        "/schedulers/preview",
        json={
            "scheduler": {"type": "one_cycle", "max_lr": 0.1},
            "learning_rate": 0.1,
            "epochs": 1000,
            "steps_per_epoch": 1000,
        },
    )
    body = response.json()
    # Past 10,000 steps an envelope that keeps the extremes; the exact values come in pages.
    assert body["steps_total"] == 1_000_000 and len(body["epochs"]) == 1000
    assert len(body["steps"]) <= 10_002
    assert max(body["steps"]) == pytest.approx(0.1)


@pytest.mark.parametrize("png", [False, True])
def test_a_heavy_preview_is_computed_in_the_renderer_process_not_the_api(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, png: bool
) -> None:
    # A million steps computed in a thread of the API process held the interpreter (and a
    # core) away from the event loop: /healthz waited 475-687 ms (docs/availability.md).
    computed_here: list[int] = []
    real = ScheduleRun.lrs_for_epochs

    def counted(run: ScheduleRun, start: int, stop: int) -> FloatArray:
        computed_here.append(stop - start)
        return real(run, start, stop)

    monkeypatch.setattr(ScheduleRun, "lrs_for_epochs", counted)
    request = {
        "scheduler": {"type": "one_cycle", "max_lr": 0.1},
        "learning_rate": 0.1,
        "epochs": 1000,
        "steps_per_epoch": 1000,
    }
    answer = client.post(
        "/schedulers/preview", params={"format": "png" if png else "json"}, json=request
    )
    assert answer.status_code == 200, answer.text
    if png:
        assert answer.content.startswith(b"\x89PNG\r\n\x1a\n")
    else:
        assert answer.json()["steps_total"] == 1_000_000
    assert computed_here == []
    # A light preview is computed in place: the hop would cost more than the work.
    small = {**request, "epochs": 10, "steps_per_epoch": 10}
    assert client.post("/schedulers/preview", json=small).json()["steps_total"] == 100
    assert computed_here == [10]


@pytest.mark.parametrize("how", ["query", "accept"])
def test_preview_as_png(client: TestClient, how: str) -> None:
    request = {
        "scheduler": {"type": "exponential", "gamma": 0.9},
        "learning_rate": 0.1,
        "epochs": 30,
    }
    if how == "query":
        response = client.post("/schedulers/preview?format=png&log_scale=true", json=request)
    else:
        response = client.post("/schedulers/preview", json=request, headers={"accept": "image/png"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(
    "scheduler",
    [
        {"type": "keras.cosine_decay_restarts", "first_decay_steps": 20, "m_mul": 0.8},
        {"type": "transformers.warmup_stable_decay", "num_decay_steps": 50, "decay_type": "1-sqrt"},
    ],
)
def test_library_schedules_preview_as_json_and_png(
    client: TestClient, scheduler: dict[str, Any]
) -> None:
    request = {"scheduler": scheduler, "learning_rate": 0.1, "epochs": 10, "steps_per_epoch": 20}
    body = client.post("/schedulers/preview", json=request).json()
    assert len(body["steps"]) == 200 and body["steps"][0] == pytest.approx(0.1)
    png = client.post("/schedulers/preview?format=png", json=request)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_a_keras_initial_lr_that_contradicts_the_run_lr_is_422_and_stores_nothing(
    client: TestClient,
) -> None:
    response = client.post(
        "/experiments",
        json={
            "scheduler": {
                "type": "keras.exponential_decay",
                "initial_learning_rate": 0.1,
                "decay_steps": 10,
                "decay_rate": 0.5,
            },
            "training": {"epochs": 1, "learning_rate": 0.01},
            "dataset": {"name": "mnist", "train_samples": 512},
        },
    )
    assert response.status_code == 422, response.text
    assert "`initial_learning_rate` (0.1) differs from the run's learning rate (0.01)" in (
        response.text
    )
    assert client.get("/experiments").json()["items"] == []


def test_a_million_step_preview_returns_a_bounded_envelope_and_exact_pages(
    client: TestClient,
) -> None:
    request = {
        "scheduler": {"type": "one_cycle", "max_lr": 0.1},
        "learning_rate": 0.1,
        "epochs": 1000,
        "steps_per_epoch": 1000,
    }
    answer = client.post("/schedulers/preview", json=request)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["steps_total"] == 1_000_000 and len(body["steps"]) <= 10_002
    assert len(body["step_index"]) == len(body["steps"]) and len(answer.content) < 1_000_000
    page = client.post(
        "/schedulers/preview", params={"step_offset": 999_000, "step_limit": 5000}, json=request
    ).json()
    assert len(page["steps"]) == 1000 and page["next_step_offset"] is None
    assert page["step_index"][0] == 999_000
