"""The experiments API over HTTP, each test in a rolled-back transaction."""

import csv
import io
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from models.experiments import record_epoch
from models.storage import get_settings, redis_py_url, session_scope
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
    # Three epochs: recording the last one would finish the run.
    experiment = create_queued(
        db_session, training={"epochs": 3, "batch_size": 64, "learning_rate": 0.01}
    )
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
    assert lrs == {
        "items": [{"epoch": 1, "lrs": [0.01, 0.01]}, {"epoch": 2, "lrs": [0.01, 0.01]}],
        "next_epoch_from": None,
    }
    second = client.get(f"/experiments/{experiment.id}/lr?limit=1").json()
    assert second["next_epoch_from"] == 2 and [i["epoch"] for i in second["items"]] == [1]


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


def test_list_filters_by_part_of_the_name_or_the_start_of_the_id(
    client: TestClient, db_session: Session
) -> None:
    token = uuid.uuid4().hex[:8]
    warm = create_queued(db_session, name=f"Warm-Up {token} 100%")
    cold = create_queued(db_session, name=f"cold {token}")
    create_queued(db_session, name="unrelated_run")

    def names(needle: str) -> set[str]:
        page = client.get("/experiments", params={"name": needle, "limit": 500}).json()
        assert page["total"] == len(page["items"])
        return {i["id"] for i in page["items"]}

    assert names(token) == {str(warm.id), str(cold.id)}
    assert names(f"warm-up {token.upper()}") == {str(warm.id)}
    # LIKE's wildcards are plain characters here.
    assert names(f"{token} 100%") == {str(warm.id)}
    assert names(f"{token}_") == set()
    assert names(str(cold.id)[:13]) == {str(cold.id)}
    assert client.get("/experiments", params={"name": "x" * 201}).status_code == 422
    assert client.get("/experiments", params={"name": ""}).status_code == 422


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


@pytest.fixture
def unpublishing_fails(database: str) -> Iterator[None]:
    """Postgres refuses to clear `enqueued_at` (the un-mark after a failed publish)."""
    with session_scope() as session:
        session.execute(
            text(
                "CREATE FUNCTION lrlab_test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$BEGIN RAISE EXCEPTION 'recording the failed publish failed'; END$$"
            )
        )
        session.execute(
            text(
                "CREATE TRIGGER lrlab_test_refuse BEFORE UPDATE OF enqueued_at ON experiment "
                "FOR EACH ROW WHEN (NEW.enqueued_at IS NULL) "
                "EXECUTE FUNCTION lrlab_test_refuse()"
            )
        )
    try:
        yield
    finally:
        with session_scope() as session:
            session.execute(text("DROP TRIGGER lrlab_test_refuse ON experiment"))
            session.execute(text("DROP FUNCTION lrlab_test_refuse()"))
        settings = get_settings()
        redis.Redis.from_url(redis_py_url(settings.broker_url)).delete(settings.queue)


@pytest.mark.parametrize("failure", ["publish raises", "publish fails and the un-mark fails"])
def test_a_failure_after_the_commit_does_not_fail_the_request(
    live_client: TestClient,
    unpublishing_fails: None,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    # The broker call is the fault injected here: Postgres (the record) stays real.
    import models.jobs.publishing

    def broken(*_: object, **__: object) -> bool:
        if failure == "publish raises":
            raise RuntimeError("the broker client exploded")
        return False

    monkeypatch.setattr(models.jobs.publishing, "enqueue_jobs", broken)
    response = live_client.post("/experiments", json=experiment_payload())
    assert response.status_code == 202, response.text
    experiment_id = uuid.UUID(response.json()["id"])
    with session_scope() as session:
        stored = session.get(Experiment, experiment_id)
        # Stored once; the reconciler's broker-count rule publishes it (no message exists).
        assert stored is not None and stored.status == "queued"


def test_deep_pages_follow_the_next_cursor(client: TestClient) -> None:
    for _ in range(3):
        assert client.post("/experiments", json=experiment_payload()).status_code == 202
    first = client.get("/experiments", params={"limit": 2}).json()
    assert first["total_exact"] is True and first["next"] is not None
    second = client.get("/experiments", params={"limit": 2, "after": first["next"]}).json()
    assert {i["id"] for i in first["items"]}.isdisjoint({i["id"] for i in second["items"]})
    assert client.get("/experiments", params={"after": "garbage!"}).status_code == 422


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
    page = client.get(f"/experiments/{experiment.id}/lr").json()
    assert page["items"] == [{"epoch": 1, "lrs": [0.01] * 3}]
