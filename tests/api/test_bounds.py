"""Issue 11: every request bounded, every bad input a 4xx that stores nothing."""

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.experiments import record_epoch
from models.storage import get_settings
from models.tables import Experiment
from tests.conftest import SessionKeys
from tests.factories import claim, create_queued, epoch_metrics, experiment_payload

SWEEP: dict[str, Any] = {
    "base": {"training": {"epochs": 2, "batch_size": 64}, "dataset": {"train_samples": 512}},
    "schedulers": [{"type": "constant"}],
}


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Experiment)) or 0


def _post_raw(client: TestClient, path: str, body: bytes, **headers: str) -> Any:
    return client.post(path, content=body, headers={"content-type": "application/json", **headers})


# 1: queues come from the operator's allow-list.
@pytest.mark.parametrize("path", ["/sweeps", "/experiments"])
def test_queue_outside_the_allow_list_is_422_listing_allowed(
    client: TestClient, db_session: Session, path: str
) -> None:
    payload = {**SWEEP} if path == "/sweeps" else experiment_payload()
    response = client.post(path, json={**payload, "queue": "unacked"})
    assert response.status_code == 422, response.text
    assert "lrlab" in response.text and get_settings().queue in response.text
    assert _count(db_session) == 0


def test_experiment_queue_names_the_rows_queue(client: TestClient, db_session: Session) -> None:
    response = client.post("/experiments", json={**experiment_payload(), "queue": "lrlab"})
    assert response.status_code == 202, response.text
    assert db_session.get(Experiment, uuid.UUID(response.json()["id"])).queue == "lrlab"  # type: ignore[union-attr]


# 2: the size comes from the lengths, before any cell is built.
def test_huge_sweep_is_refused_without_expanding(client: TestClient) -> None:
    body = {
        **SWEEP,
        "schedulers": [{"type": "step", "step_size": 1}],
        "seeds": list(range(1000)),
        "grid": {
            "step.gamma": [0.1 + i / 1000 for i in range(100)],
            "step.step_size": list(range(1, 101)),
        },
    }
    started = time.perf_counter()
    response = client.post("/sweeps", json=body)
    elapsed = time.perf_counter() - started
    assert response.status_code == 422
    assert "10000000 experiments" in response.text
    # 10 million cells: expanding even a fraction would take far longer than this.
    assert elapsed < 2.0


# 3: bodies are bounded and errors echo a short prefix only.
def test_body_over_the_limit_is_413(client: TestClient, db_session: Session) -> None:
    big = b'{"name": "' + b"a" * (get_settings().max_body_bytes + 10) + b'"}'
    declared = _post_raw(client, "/experiments", big)
    assert declared.status_code == 413
    assert "LRLAB_MAX_BODY_BYTES" in declared.json()["detail"]
    # Also from a caller the API refuses anyway: every error is JSON.
    anonymous = _post_raw(client, "/experiments", big, Authorization="")
    assert anonymous.status_code == 413 and "detail" in anonymous.json()

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(20):
            yield b"a" * 100_000
        yield b'"}'

    response = client.post(
        "/experiments", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "LRLAB_MAX_BODY_BYTES" in response.json()["detail"]
    assert _count(db_session) == 0


def test_422_echoes_a_short_prefix(client: TestClient) -> None:
    response = client.post("/experiments", json=experiment_payload(name="x" * 500_000))
    assert response.status_code == 422
    assert len(response.content) < 2000
    (error,) = response.json()["detail"]
    assert error["input"] == "x" * 64 + "…"


# 5, 8: strict JSON.
def test_deep_nesting_is_422_with_one_log_line(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    for depth in (100, 480, 5000):
        body = b'{"name": ' + b"[" * depth + b"]" * depth + b"}"
        response = _post_raw(client, "/experiments", body)
        assert response.status_code == 422, response.text
        assert "deeper than 64" in response.text
    assert not any(r.exc_info for r in caplog.records)


def test_duplicate_keys_are_422(client: TestClient, db_session: Session) -> None:
    body = (
        b'{"scheduler": {"type": "constant"}, "training": {"epochs": 1}, "training": {"epochs": 2}}'
    )
    response = _post_raw(client, "/experiments", body)
    assert response.status_code == 422
    assert "duplicate key `training`" in response.text
    assert _count(db_session) == 0


@pytest.mark.parametrize(
    ("section", "values"),
    [
        ("training", {"epochs": True}),
        ("training", {"epochs": "1"}),
        ("training", {"epochs": 1.0}),
        ("training", {"learning_rate": "0.1"}),
        ("scheduler", {"type": "polynomial", "power": False}),
    ],
)
def test_types_are_not_coerced(
    client: TestClient, db_session: Session, section: str, values: dict[str, Any]
) -> None:
    payload = experiment_payload()
    payload[section] = {**payload[section], **values}
    assert client.post("/experiments", json=payload).status_code == 422
    assert _count(db_session) == 0


def test_floats_still_take_integers(client: TestClient) -> None:
    payload = experiment_payload(training={"epochs": 2, "batch_size": 64, "learning_rate": 1})
    assert client.post("/experiments", json=payload).status_code == 202


# 6: NUL and lone surrogates.
@pytest.mark.parametrize("name", ["a\x00b", "\ud800"])
def test_nul_and_lone_surrogates_are_422_naming_the_field(
    client: TestClient, db_session: Session, name: str
) -> None:
    body = b'{"name": "' + name.encode("unicode_escape").replace(b"\\x00", b"\\u0000") + b'",'
    body += b' "scheduler": {"type": "constant"}}'
    response = _post_raw(client, "/experiments", body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "name"]
    assert _count(db_session) == 0


def test_nul_in_a_query_is_422(client: TestClient) -> None:
    response = client.get("/experiments?scheduler_type=a%00b")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "scheduler_type"]


# 7: paging is bounded.
@pytest.mark.parametrize("query", ["offset=9223372036854775808", "offset=1000001", "limit=501"])
@pytest.mark.parametrize("path", ["/experiments", "/sweeps"])
def test_paging_is_bounded(client: TestClient, path: str, query: str) -> None:
    assert client.get(f"{path}?{query}").status_code == 422


# 11: content negotiation, 415, 405 with every method.
@pytest.mark.parametrize("accept", ["image/png, application/json", "image/*", "image/png"])
def test_preview_honours_accept(client: TestClient, accept: str) -> None:
    request = {"scheduler": {"type": "constant"}, "learning_rate": 0.1, "epochs": 3}
    response = client.post("/schedulers/preview", json=request, headers={"accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    as_json = client.post(
        "/schedulers/preview?format=json", json=request, headers={"accept": accept}
    )
    assert as_json.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_non_json_body_is_415(client: TestClient, db_session: Session, content_type: str) -> None:
    body = b'{"scheduler": {"type": "constant"}}'
    response = client.post("/experiments", content=body, headers={"content-type": content_type})
    assert response.status_code == 415
    assert _count(db_session) == 0


def test_405_allows_every_method_of_the_path(client: TestClient) -> None:
    response = client.put("/experiments")
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST"}


# 12: the per-step lrs are paged and the steps of one experiment are capped.
def test_steps_per_experiment_are_capped(client: TestClient, db_session: Session) -> None:
    payload = experiment_payload(
        training={"epochs": 1000, "batch_size": 1},
        dataset={"name": "mnist", "train_samples": 60_000},
    )
    response = client.post("/experiments", json=payload)
    assert response.status_code == 422
    assert "LRLAB_MAX_STEPS_PER_EXPERIMENT" in response.text
    assert _count(db_session) == 0


def test_step_lrs_are_paged_by_epoch(client: TestClient, db_session: Session) -> None:
    experiment = create_queued(db_session, training={"epochs": 3, "batch_size": 64})
    claimed = claim(db_session, experiment.id)
    assert claimed is not None
    for epoch in (1, 2, 3):
        record_epoch(
            db_session,
            experiment_id=experiment.id,
            attempt=claimed.attempt,
            metrics=epoch_metrics(epoch, step_lrs=[0.1 * epoch] * 2),
            lease_seconds=60,
        )
    first = client.get(f"/experiments/{experiment.id}/lr?limit=2").json()
    assert first == {
        "items": [{"epoch": 1, "lrs": [0.1, 0.1]}, {"epoch": 2, "lrs": [0.2, 0.2]}],
        "next_epoch_from": 3,
    }
    rest = client.get(f"/experiments/{experiment.id}/lr?epoch_from=3").json()
    assert [i["epoch"] for i in rest["items"]] == [3] and rest["next_epoch_from"] is None
    assert client.get(f"/experiments/{experiment.id}/lr?limit=101").status_code == 422


# 4 over HTTP: parallel renders all succeed.
def test_parallel_png_previews_all_succeed(
    live_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Renders past the renderer's queue are refused rather than held; here all twenty fit.
    monkeypatch.setattr(get_settings(), "render_queue_depth", 32)
    # The live API: one database session per request, as in production (the rolled-back
    # test session cannot serve 20 threads at once).
    client = live_client
    request = {
        "scheduler": {"type": "exponential", "gamma": 0.5},
        "learning_rate": 0.1,
        "epochs": 30,
    }

    def render(_: int) -> int:
        return client.post(
            "/schedulers/preview?format=png&log_scale=true", json=request
        ).status_code

    with ThreadPoolExecutor(20) as pool:
        assert list(pool.map(render, range(20))) == [200] * 20


@pytest.mark.parametrize(
    "body", [b"\x00", b"{", b"\xff\xfe", b'{"a": }', b'{"epochs": ' + b"9" * 5000 + b"}"]
)
def test_malformed_json_is_a_422_not_a_500(client: TestClient, body: bytes) -> None:
    response = client.post(
        "/schedulers/preview", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_a_key_label_with_nul_is_a_422(client: TestClient, keys: SessionKeys) -> None:
    response = client.post(
        "/keys", json={"label": "a\u0000b", "role": "read"}, headers=keys.headers(keys.admin)
    )
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"{"),
        ("application/json", b'{"epochs": ' + b"9" * 5000 + b"}"),
        ("text/plain", b"x"),
    ],
)
@pytest.mark.parametrize("path", ["/experiments", "/sweeps", "/schedulers/preview"])
def test_a_caller_without_a_key_gets_401_whatever_the_body(
    client: TestClient, db_session: Session, path: str, content_type: str, body: bytes
) -> None:
    response = client.post(
        path, content=body, headers={"content-type": content_type, "Authorization": ""}
    )
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert _count(db_session) == 0


def test_a_read_key_is_refused_before_its_body_is_read(
    client: TestClient, keys: SessionKeys
) -> None:
    response = client.post(
        "/experiments",
        content=b"{",
        headers={"content-type": "application/json", **keys.headers(keys.read)},
    )
    assert response.status_code == 403, response.text
