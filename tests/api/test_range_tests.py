"""The range-tests API over HTTP, each test in a rolled-back transaction."""

import csv
import io
import math
import uuid
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.range_tests import (
    RangeTestTracker,
    SeedCurve,
    claim_range_test,
    finish_range_test,
    record_range_progress,
    suggest,
    summarise_curves,
)
from models.tables import RangeTest


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(RangeTest)) or 0


def _payload(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "training": {"batch_size": 64, "optimizer": "adam", "seed": 0},
        "dataset": {"name": "mnist", "train_samples": 512},
        "num_iter": 100,
    }
    body.update(overrides)
    return body


def test_submit_returns_202_with_defaults(client: TestClient, db_session: Session) -> None:
    response = client.post("/range-tests", json={})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert response.headers["location"] == f"/range-tests/{body['id']}"
    assert body["progress"] == {"iterations_done": 0, "num_iter": 100}
    assert body["spec"]["start_lr"] == 1e-7
    assert body["spec"]["end_lr"] == 10.0
    assert body["spec"]["stop_div"] is True
    assert body["result"] is None
    assert db_session.get(RangeTest, uuid.UUID(body["id"])) is not None


def test_idempotency_key_replays_the_range_test_and_conflicts(
    client: TestClient, db_session: Session
) -> None:
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = client.post("/range-tests", json=_payload(), headers=headers)
    assert first.status_code == 202, first.text
    before = _count(db_session)
    again = client.post("/range-tests", json=_payload(), headers=headers)
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert _count(db_session) == before
    other = client.post("/range-tests", json=_payload(num_iter=50), headers=headers)
    assert other.status_code == 409, other.text
    assert _count(db_session) == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (_payload(start_lr=1.0, end_lr=0.1), "start_lr"),
        (_payload(start_lr=0.1, end_lr=0.1), "start_lr"),
        (_payload(start_lr=0), "start_lr"),
        (_payload(start_lr=-1e-3), "start_lr"),
        (_payload(end_lr=-1), "end_lr"),
        (_payload(end_lr="inf"), "end_lr"),
        (_payload(num_iter=5), "num_iter"),
        (_payload(num_iter=10_001), "num_iter"),
        (_payload(num_iter=50.5), "num_iter"),
        (_payload(num_iter="100"), "num_iter"),
        (_payload(seeds=[]), "seeds"),
        (_payload(seeds=list(range(17))), "seeds"),
        (_payload(seeds=[1, 1]), "seeds"),
        (_payload(training={"optimizer": "adam", "momentum": 0.9}), "momentum"),
        (_payload(training={"learning_rate": 0.1}), "learning_rate"),
        (_payload(stop_div="yes"), "stop_div"),
        (_payload(surprise=1), "surprise"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_stores_nothing(
    client: TestClient, db_session: Session, payload: dict[str, Any], field: str
) -> None:
    before = _count(db_session)
    # NaN and inf are not JSON; send them the way a lenient client would.
    content = str(payload).replace("'", '"').replace("True", "true").replace('"inf"', "Infinity")
    response = client.post(
        "/range-tests", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert field in response.text
    assert _count(db_session) == before


def test_unknown_range_test_is_404(client: TestClient) -> None:
    missing = uuid.uuid4()
    for path in ("", "/curve", "/plot.png"):
        assert client.get(f"/range-tests/{missing}{path}").status_code == 404
    assert client.post(f"/range-tests/{missing}/cancel").status_code == 404


def test_cancel_a_queued_test_then_409(client: TestClient) -> None:
    test_id = client.post("/range-tests", json=_payload()).json()["id"]
    response = client.post(f"/range-tests/{test_id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert client.post(f"/range-tests/{test_id}/cancel").status_code == 409
    listed = client.get("/range-tests", params={"status": "cancelled"}).json()
    assert test_id in [item["id"] for item in listed["items"]]


def _record_synthetic(
    session: Session, test_id: uuid.UUID, seeds: list[int], num_iter: int
) -> list[SeedCurve]:
    """Drive the ledger as a worker would, with a loss that falls and then diverges."""
    claim = claim_range_test(session, range_test_id=test_id, lease_seconds=60, max_attempts=3)
    assert claim is not None
    curves = []
    for seed in seeds:
        tracker = RangeTestTracker(start_lr=1e-7, end_lr=10.0, num_iter=num_iter)
        going = True
        while going:
            lr = tracker.next_lr
            going = tracker.record(2.3 - 0.2 * math.log10(lr / 1e-7) + 0.4 * lr**2 + 0.01 * seed)
        curves.append(
            SeedCurve(
                seed=seed,
                lrs=tracker.lrs.tolist(),
                losses=tracker.losses.tolist(),
                smoothed_losses=tracker.smoothed_losses.tolist(),
            )
        )
    assert record_range_progress(
        session, range_test_id=test_id, attempt=claim.attempt, iterations_done=3, lease_seconds=60
    )
    result = summarise_curves(
        seeds=seeds,
        lrs=[c.lrs for c in curves],
        smoothed=[c.smoothed_losses for c in curves],
        num_iter=num_iter,
        train_seconds=0.5,
    )
    assert finish_range_test(
        session, range_test_id=test_id, attempt=claim.attempt, curves=curves, result=result
    )
    return curves


def test_a_finished_test_shows_suggestions_curve_and_plots(
    client: TestClient, db_session: Session
) -> None:
    test_id = client.post("/range-tests", json=_payload()).json()["id"]
    curves = _record_synthetic(db_session, uuid.UUID(test_id), [0], 100)
    body = client.get(f"/range-tests/{test_id}").json()
    assert body["status"] == "succeeded"
    result = body["result"]
    assert result["iterations"] == len(curves[0].lrs) == body["progress"]["iterations_done"]
    assert result["stopped_early"] is (len(curves[0].lrs) < 100)
    expected = suggest(curves[0].lrs, curves[0].smoothed_losses, num_iter=100)
    for name in ("valley", "slide", "minimum", "steep"):
        found = getattr(expected, name)
        assert result["suggestions"][name] == {"lr": found.lr, "loss": found.loss}
    assert result["seeds"][0]["suggestions"] == result["suggestions"]
    assert result["spread"] is None

    items = client.get(f"/range-tests/{test_id}/curve").json()["items"]
    assert [p["iteration"] for p in items] == list(range(len(curves[0].lrs)))
    assert np.allclose([p["lr"] for p in items], curves[0].lrs)
    assert np.allclose([p["smoothed_loss"] for p in items], curves[0].smoothed_losses)
    rows = list(
        csv.DictReader(io.StringIO(client.get(f"/range-tests/{test_id}/curve?format=csv").text))
    )
    assert len(rows) == len(items)
    assert set(rows[0]) == {"seed", "iteration", "lr", "loss", "smoothed_loss"}

    png = client.get(f"/range-tests/{test_id}/plot.png")
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    svg = client.get(f"/range-tests/{test_id}/plot.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    assert b"<svg" in svg.content


def test_several_seeds_report_each_seed_and_the_spread(
    client: TestClient, db_session: Session
) -> None:
    test_id = client.post("/range-tests", json=_payload(seeds=[0, 1, 2])).json()["id"]
    _record_synthetic(db_session, uuid.UUID(test_id), [0, 1, 2], 100)
    result = client.get(f"/range-tests/{test_id}").json()["result"]
    assert [s["seed"] for s in result["seeds"]] == [0, 1, 2]
    valley = result["spread"]["valley"]
    lrs = [s["suggestions"]["valley"]["lr"] for s in result["seeds"]]
    assert valley["min_lr"] == min(lrs)
    assert valley["max_lr"] == max(lrs)
    assert valley["seeds"] == 3
    assert client.get(f"/range-tests/{test_id}/plot.png").content.startswith(b"\x89PNG")


def test_a_finished_test_cannot_be_cancelled(client: TestClient, db_session: Session) -> None:
    test_id = client.post("/range-tests", json=_payload()).json()["id"]
    _record_synthetic(db_session, uuid.UUID(test_id), [0], 50)
    assert client.post(f"/range-tests/{test_id}/cancel").status_code == 409


def _succeeded(client: TestClient, db_session: Session) -> tuple[str, dict[str, Any]]:
    test_id = client.post("/range-tests", json=_payload()).json()["id"]
    _record_synthetic(db_session, uuid.UUID(test_id), [0], 100)
    return test_id, client.get(f"/range-tests/{test_id}").json()["result"]["suggestions"]


def test_an_experiment_lr_seeded_from_a_range_test_keeps_number_and_provenance(
    client: TestClient, db_session: Session
) -> None:
    test_id, suggestions = _succeeded(client, db_session)
    response = client.post(
        "/experiments",
        json={
            "scheduler": {
                "type": "one_cycle",
                "max_lr": {"from_range_test": test_id, "suggestion": "steep", "multiplier": 10},
            },
            "training": {"epochs": 2, "learning_rate": {"from_range_test": test_id}},
            "dataset": {"name": "mnist", "train_samples": 512},
        },
    )
    assert response.status_code == 202, response.text
    spec = response.json()["spec"]
    assert spec["training"]["learning_rate"] == suggestions["valley"]["lr"]
    assert spec["scheduler"]["max_lr"] == pytest.approx(10 * suggestions["steep"]["lr"])
    assert spec["lr_from"]["training.learning_rate"] == {
        "from_range_test": test_id,
        "suggestion": "valley",
        "multiplier": 1.0,
        "suggested_lr": suggestions["valley"]["lr"],
        "lr": suggestions["valley"]["lr"],
    }
    assert spec["lr_from"]["scheduler.max_lr"]["suggestion"] == "steep"


def test_library_schedules_take_their_peak_lr_from_a_range_test(
    client: TestClient, db_session: Session
) -> None:
    test_id, suggestions = _succeeded(client, db_session)
    seeded = {"from_range_test": test_id, "suggestion": "valley", "multiplier": 2}
    keras = client.post(
        "/experiments",
        json={
            "scheduler": {
                "type": "keras.cosine_decay",
                "decay_steps": 10,
                "warmup_steps": 2,
                "warmup_target": seeded,
            },
            "training": {"epochs": 1, "learning_rate": 1e-6},
            "dataset": {"name": "mnist", "train_samples": 512},
        },
    )
    assert keras.status_code == 202, keras.text
    spec = keras.json()["spec"]
    assert spec["scheduler"]["warmup_target"] == pytest.approx(2 * suggestions["valley"]["lr"])
    assert set(spec["lr_from"]) == {"scheduler.warmup_target"}
    # transformers schedules peak at the run's learning rate, which is seeded as usual.
    hf = client.post(
        "/experiments",
        json={
            "scheduler": {"type": "transformers.warmup_stable_decay", "num_decay_steps": 4},
            "training": {"epochs": 1, "learning_rate": seeded},
            "dataset": {"name": "mnist", "train_samples": 512},
        },
    )
    assert hf.status_code == 202, hf.text
    assert hf.json()["spec"]["training"]["learning_rate"] == pytest.approx(
        2 * suggestions["valley"]["lr"]
    )


def test_a_multiplier_that_makes_the_lr_zero_in_float32_is_a_422(
    client: TestClient, db_session: Session
) -> None:
    test_id, _ = _succeeded(client, db_session)
    response = client.post(
        "/experiments",
        json={
            "scheduler": {"type": "constant"},
            "training": {
                "learning_rate": {"from_range_test": test_id, "multiplier": 1e-300},
            },
        },
    )
    assert response.status_code == 422, response.text
    (issue,) = response.json()["detail"]
    assert issue["loc"] == ["body", "training", "learning_rate", "multiplier"]
    assert "is 0 in float32" in issue["msg"]


def test_a_sweep_seeded_from_a_range_test(client: TestClient, db_session: Session) -> None:
    test_id, suggestions = _succeeded(client, db_session)
    response = client.post(
        "/sweeps",
        json={
            "base": {
                "training": {"epochs": 1, "learning_rate": {"from_range_test": test_id}},
                "dataset": {"name": "mnist", "train_samples": 512},
            },
            "schedulers": [
                {"type": "constant"},
                {"type": "cyclic", "base_lr": 1e-5, "max_lr": {"from_range_test": test_id}},
            ],
        },
    )
    assert response.status_code == 202, response.text
    spec = response.json()["spec"]
    assert spec["base"]["training"]["learning_rate"] == suggestions["valley"]["lr"]
    assert spec["schedulers"][1]["max_lr"] == suggestions["valley"]["lr"]
    assert set(spec["lr_from"]) == {"base.training.learning_rate", "schedulers.1.max_lr"}
    member = client.get(f"/experiments/{response.json()['experiments'][0]}").json()
    assert member["spec"]["training"]["learning_rate"] == suggestions["valley"]["lr"]


def test_seeding_from_an_unfinished_range_test_is_409(client: TestClient) -> None:
    test_id = client.post("/range-tests", json=_payload()).json()["id"]
    response = client.post(
        "/experiments",
        json={
            "scheduler": {"type": "constant"},
            "training": {"learning_rate": {"from_range_test": test_id}},
        },
    )
    assert response.status_code == 409
    assert "training.learning_rate" in response.json()["detail"]
    assert "queued" in response.json()["detail"]


@pytest.mark.parametrize(
    ("reference", "field"),
    [
        ({"from_range_test": "00000000-0000-0000-0000-000000000000"}, "from_range_test"),
        ({"from_range_test": "not-a-uuid"}, "from_range_test"),
        (
            {"from_range_test": "00000000-0000-0000-0000-000000000000", "suggestion": "best"},
            "suggestion",
        ),
        (
            {"from_range_test": "00000000-0000-0000-0000-000000000000", "multiplier": 0},
            "multiplier",
        ),
        ({"from_range_test": "00000000-0000-0000-0000-000000000000", "extra": 1}, "extra"),
        (
            {"from_range_test": "00000000-0000-0000-0000-000000000000", "multiplier": "1"},
            "multiplier",
        ),
        (
            {"from_range_test": "00000000-0000-0000-0000-000000000000", "multiplier": True},
            "multiplier",
        ),
    ],
)
def test_bad_lr_references_are_422_naming_the_field(
    client: TestClient, db_session: Session, reference: dict[str, Any], field: str
) -> None:
    from models.tables import Experiment

    before = db_session.scalar(select(func.count()).select_from(Experiment))
    response = client.post(
        "/experiments",
        json={"scheduler": {"type": "constant"}, "training": {"learning_rate": reference}},
    )
    assert response.status_code == 422, response.text
    locs = [e["loc"] for e in response.json()["detail"]]
    assert any(loc[:3] == ["body", "training", "learning_rate"] and field in loc for loc in locs)
    assert db_session.scalar(select(func.count()).select_from(Experiment)) == before


def test_lr_from_cannot_be_supplied_by_the_client(client: TestClient) -> None:
    response = client.post("/experiments", json={"scheduler": {"type": "constant"}, "lr_from": {}})
    assert response.status_code == 422
    assert "lr_from" in response.text


def test_a_range_test_queue_must_be_allowed(client: TestClient) -> None:
    # Like experiments and sweeps: a queue named after a kombu key (`unacked`) kills workers.
    response = client.post("/range-tests", json={"queue": "unacked"})
    assert response.status_code == 422, response.text
    assert "queue" in response.json()["detail"][0]["loc"]


def test_a_range_test_name_with_nul_is_a_422(client: TestClient) -> None:
    response = client.post("/range-tests", json={"name": "a\u0000b"})
    assert response.status_code == 422, response.text


def test_a_dollar_in_the_name_is_text_in_the_plot_not_mathtext(client: TestClient) -> None:
    # Two `$` around a formula mathtext cannot parse: as mathtext, the plot would fail.
    response = client.post("/range-tests", json={"name": r"cost $\frac{1}{ and $5"})
    assert response.status_code == 202, response.text
    test_id = response.json()["id"]
    png = client.get(f"/range-tests/{test_id}/plot.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    svg = client.get(f"/range-tests/{test_id}/plot.svg")
    assert svg.status_code == 200 and b"<svg" in svg.content[:500]
