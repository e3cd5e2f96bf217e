"""The experiments API over HTTP, each test in a rolled-back transaction."""

import csv
import io
import uuid
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.ledger import record_epoch
from models.tables import Experiment
from tests.factories import claim, create_queued, epoch_metrics, experiment_payload


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Experiment)) or 0


def test_submit_returns_202_with_location(client: TestClient, db_session: Session) -> None:
    response = client.post("/experiments", json=experiment_payload())
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert response.headers["location"] == f"/experiments/{body['id']}"
    assert body["progress"] == {"epochs_done": 0, "epochs": 2}
    assert body["spec"]["scheduler"] == {
        "type": "step",
        "step_size": 1,
        "gamma": 0.5,
        "interval": "epoch",
    }
    assert db_session.get(Experiment, uuid.UUID(body["id"])) is not None


def test_the_issue_example_is_accepted(client: TestClient) -> None:
    response = client.post(
        "/experiments",
        json={
            "scheduler": {"type": "cosine", "t_max": 10, "eta_min": 0.001},
            "training": {"epochs": 3, "learning_rate": 0.01},
        },
    )
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "payload",
    [
        experiment_payload(scheduler={"type": "nope"}),
        experiment_payload(scheduler={"type": "step", "step_size": 0}),
        experiment_payload(training={"learning_rate": 0}),
        experiment_payload(training={"epochs": 1001}),
        experiment_payload(extra_field=True),
        experiment_payload(scheduler={"type": "cyclic", "base_lr": 0.1, "max_lr": 0.1}),
    ],
)
def test_bad_input_is_422_and_stores_nothing(
    client: TestClient, db_session: Session, payload: dict[str, Any]
) -> None:
    before = _count(db_session)
    response = client.post("/experiments", json=payload)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"
    assert _count(db_session) == before


def test_nan_in_json_is_rejected(client: TestClient) -> None:
    body = '{"scheduler": {"type": "exponential", "gamma": NaN}}'
    response = client.post(
        "/experiments", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_unknown_id_is_404(client: TestClient) -> None:
    missing = uuid.uuid4()
    for path in (f"/experiments/{missing}", f"/experiments/{missing}/metrics"):
        assert client.get(path).status_code == 404
    assert client.post(f"/experiments/{missing}/cancel").status_code == 404


def test_metrics_as_json_and_csv(client: TestClient, db_session: Session) -> None:
    experiment = create_queued(db_session)
    claim(db_session, experiment.id)
    for epoch in (2, 1):
        record_epoch(
            db_session,
            experiment_id=experiment.id,
            attempt=1,
            metrics=epoch_metrics(epoch, lr=0.1 * epoch),
            lease_seconds=60,
        )
    items = client.get(f"/experiments/{experiment.id}/metrics").json()["items"]
    assert [i["epoch"] for i in items] == [1, 2]
    assert items[1]["lr"] == pytest.approx(0.2)
    assert set(items[0]) == {
        "epoch",
        "lr",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "seconds",
    }
    response = client.get(f"/experiments/{experiment.id}/metrics?format=csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[0]["val_loss"]) == pytest.approx(1.1)
    lrs = client.get(f"/experiments/{experiment.id}/lr").json()
    assert lrs["epochs"] == [[0.01, 0.01], [0.01, 0.01]]
    assert len(lrs["steps"]) == 4


def test_empty_metrics_csv_has_a_header(client: TestClient, db_session: Session) -> None:
    experiment = create_queued(db_session)
    response = client.get(f"/experiments/{experiment.id}/metrics?format=csv")
    assert response.text.strip() == "epoch,lr,loss,accuracy,val_loss,val_accuracy,seconds"


def test_list_filters_and_paginates(client: TestClient, db_session: Session) -> None:
    first = create_queued(db_session, scheduler={"type": "constant"})
    second = create_queued(db_session, scheduler={"type": "exponential", "gamma": 0.9})
    page = client.get("/experiments", params={"limit": 1}).json()
    assert page["total"] >= 2 and [i["id"] for i in page["items"]] == [str(second.id)]
    page = client.get("/experiments", params={"scheduler_type": "constant"}).json()
    assert str(first.id) in [i["id"] for i in page["items"]]
    assert all(i["scheduler_type"] == "constant" for i in page["items"])
    assert client.get("/experiments", params={"status": "weird"}).status_code == 422
    assert client.get("/experiments", params={"limit": 0}).status_code == 422


def test_cancel_then_cancel_again_is_409(client: TestClient, db_session: Session) -> None:
    experiment = create_queued(db_session)
    response = client.post(f"/experiments/{experiment.id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    again = client.post(f"/experiments/{experiment.id}/cancel")
    assert again.status_code == 409
    assert "has already been cancelled" in again.json()["detail"]


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/experiments" in schema["paths"]


def test_accepted_body_carries_the_preview_warnings(client: TestClient) -> None:
    spec = {
        "scheduler": {"type": "cosine", "t_max": 10, "eta_min": 0.001},
        "training": {"epochs": 3, "learning_rate": 0.001},
    }
    response = client.post("/experiments", json=spec)
    assert response.status_code == 202, response.text
    warnings = response.json()["warnings"]
    assert "`eta_min` (0.001) equals the learning rate, so the lr never changes." in warnings
    assert any("`t_max` (10) is longer than the run (3 epochs)" in w for w in warnings)
    # A replay answers with the same warnings.
    key = {"Idempotency-Key": "warnings-replay"}
    first = client.post("/experiments", json=spec, headers=key).json()["warnings"]
    replay = client.post("/experiments", json=spec, headers=key)
    assert replay.status_code == 200
    assert replay.json()["warnings"] == first


def test_lrs_read_out_as_the_shortest_float32_decimal(
    client: TestClient, db_session: Session
) -> None:
    experiment = create_queued(db_session)
    claim(db_session, experiment.id)
    trained = float(np.float32(0.01))  # what the optimizer held: 0.009999999776482582
    record_epoch(
        db_session,
        experiment_id=experiment.id,
        attempt=1,
        metrics=epoch_metrics(1, lr=trained, step_lrs=[trained] * 3),
        lease_seconds=60,
    )
    items = client.get(f"/experiments/{experiment.id}/metrics").json()["items"]
    assert items[0]["lr"] == 0.01
    csv_text = client.get(f"/experiments/{experiment.id}/metrics?format=csv").text
    assert ",0.01," in csv_text.splitlines()[1]
    assert "0.00999" not in csv_text
    assert client.get(f"/experiments/{experiment.id}/lr").json()["steps"] == [0.01] * 3
