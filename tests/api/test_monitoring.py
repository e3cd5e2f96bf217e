"""GET /workers and GET /metrics: live workers from their heartbeats, Prometheus text."""

import uuid
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.deps import current_settings
from api.main import app
from api.prometheus import reset_scrape_cache
from models.jobs import WorkerInfo, publish_heartbeat, withdraw
from models.storage import Settings, get_settings, redis_py_url
from tests.conftest import SessionKeys, wait_for


@pytest.fixture
def settings_with(request: pytest.FixtureRequest) -> Iterator[Settings]:
    """The app's settings with the test's overrides (given through indirect parametrize)."""
    settings = get_settings().model_copy(update=request.param)
    app.dependency_overrides[current_settings] = lambda: settings
    try:
        yield settings
    finally:
        app.dependency_overrides.pop(current_settings, None)
        reset_scrape_cache()


@pytest.fixture
def allow_queues(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Two fresh queue names the API accepts (`LRLAB_QUEUES`); their broker keys go after."""
    names = [f"lonely-{uuid.uuid4().hex[:8]}", f"served-{uuid.uuid4().hex[:8]}"]
    monkeypatch.setenv("LRLAB_QUEUES", ",".join(names))
    get_settings.cache_clear()
    try:
        yield names
    finally:
        broker = redis.Redis.from_url(redis_py_url(get_settings().broker_url))
        broker.delete(*names)
        broker.close()
        monkeypatch.undo()
        get_settings.cache_clear()


def test_metrics_need_the_operator_token(client: TestClient, keys: SessionKeys) -> None:
    assert client.get("/metrics", headers={"Authorization": ""}).status_code == 401
    assert client.get("/metrics").status_code == 403  # a project (write) key
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    ok = client.get("/metrics", headers=keys.headers(keys.operator))
    assert ok.status_code == 200, ok.text
    assert ok.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("settings_with", [{"metrics_public": True}], indirect=True)
def test_metrics_in_prometheus_format(client: TestClient, settings_with: Settings) -> None:
    submitted = client.post("/experiments", json={"scheduler": {"type": "constant"}})
    assert submitted.status_code == 202
    client.get(f"/experiments/{submitted.json()['id']}")
    reset_scrape_cache()
    # Public: no token at all.
    response = client.get("/metrics", headers={"Authorization": ""})
    assert response.status_code == 200, response.text
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    requests = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in families["lrlab_http_requests"].samples
        if s.name == "lrlab_http_requests_total"
    }
    # By route template, not by URL: one series however many ids are read.
    assert requests[("POST", "/experiments", "202")] >= 1
    assert requests[("GET", "/experiments/{experiment_id}", "200")] >= 1
    assert "lrlab_http_request_duration_seconds" in families
    experiments = {
        (s.labels["status"], s.labels["queue"]): s.value
        for s in families["lrlab_experiments"].samples
    }
    assert experiments[("queued", settings_with.queue)] >= 1
    assert {s.labels["queue"] for s in families["lrlab_queue_depth"].samples} >= {
        settings_with.queue
    }
    assert "lrlab_workers_total" in families


def _fake_worker(queue: str) -> Iterator[WorkerInfo]:
    client = redis.Redis.from_url(redis_py_url(get_settings().broker_url))
    info = WorkerInfo.model_validate(
        {
            "name": f"fake-{uuid.uuid4().hex[:8]}@test",
            "host": "test",
            "pid": 1,
            "queues": [queue],
            "device": "CPU",
            "versions": {"python": "3"},
            "current_experiments": [],
            "dataset_error": "DatasetError: no data here",
            "started_at": "2026-01-01T00:00:00Z",
            "last_heartbeat": "2026-01-01T00:00:00Z",
        }
    )
    publish_heartbeat(client, info)
    try:
        yield info
    finally:
        withdraw(client, info.name)
        client.close()


def test_readyz_operator_view_reports_unserved_queues_and_worker_problems(
    client: TestClient, keys: SessionKeys, allow_queues: list[str]
) -> None:
    lonely, served = allow_queues
    fake = _fake_worker(served)
    info = next(fake)
    try:
        sweep = {"schedulers": [{"type": "constant"}], "queue": lonely}
        assert client.post("/sweeps", json=sweep).status_code == 202, "submitted"
        operator = client.get("/readyz", headers=keys.headers(keys.operator))
        public = client.get("/readyz", headers={"Authorization": ""})
        project = client.get("/readyz")
    finally:
        next(fake, None)
    body = operator.json()
    assert operator.status_code == 200 and body["status"] == "ready"
    assert body["reasons"] == []
    assert body["workers"][info.name] == [served]
    assert lonely in body["unserved_queues"] and served not in body["unserved_queues"]
    assert f"{info.name}: DatasetError: no data here" in body["worker_problems"]
    # Anyone else, a project key included, gets the plain probe.
    assert public.json() == project.json() == {"status": "ready"}


def test_workers_is_the_operators(client: TestClient, keys: SessionKeys) -> None:
    assert client.get("/workers").status_code == 403  # a project key
    fake = _fake_worker("some-queue")
    info = next(fake)
    try:
        listed = client.get("/workers", headers=keys.headers(keys.operator))
    finally:
        next(fake, None)
    assert listed.status_code == 200, listed.text
    assert info.name in [w["name"] for w in listed.json()]


def test_a_queue_without_a_live_worker_gets_a_warning(
    client: TestClient, allow_queues: list[str]
) -> None:
    lonely = allow_queues[0]
    response = client.post("/sweeps", json={"schedulers": [{"type": "constant"}], "queue": lonely})
    assert response.status_code == 202, response.text
    assert response.json()["warnings"] == [
        f"No live worker consumes queue `{lonely}`: the work waits until one starts "
        "(`GET /workers` lists them)."
    ]


@pytest.mark.e2e
def test_workers_lists_a_real_worker(
    live_client: TestClient, keys: SessionKeys, worker: object
) -> None:
    queue = get_settings().queue
    operator = keys.headers(keys.operator)

    def mine() -> list[dict[str, object]]:
        listed = live_client.get("/workers", headers=operator)
        assert listed.status_code == 200, listed.text
        return [w for w in listed.json() if queue in w["queues"]]

    found = wait_for(mine, timeout=60)
    assert isinstance(found, list)
    (w,) = found
    assert w["device"] == "CPU"
    assert w["dataset_error"] is None
    assert {"python", "keras", "numpy"} <= set(w["versions"])
    # The queue is served: no warning on a submission to it.
    response = live_client.post("/experiments", json={"scheduler": {"type": "constant"}})
    assert response.json()["warnings"] == []
