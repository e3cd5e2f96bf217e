"""GET /workers and GET /metrics: live workers from their heartbeats, Prometheus text."""

import uuid
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.main import app
from api.metrics import reset_scrape_cache
from models.settings import Settings, get_settings
from models.workers import HEARTBEAT_TTL_SECONDS, KEY_PREFIX, WorkerInfo
from tests.conftest import wait_for


@pytest.fixture
def settings_with(request: pytest.FixtureRequest) -> Iterator[Settings]:
    """The app's settings with the test's overrides (given through indirect parametrize)."""
    settings = get_settings().model_copy(update=request.param)
    app.dependency_overrides[get_settings] = lambda: settings
    try:
        yield settings
    finally:
        app.dependency_overrides.pop(get_settings, None)
        reset_scrape_cache()


TOKEN = "operator-token-for-tests-0123456789"


@pytest.mark.parametrize("settings_with", [{"admin_token": TOKEN}], indirect=True)
def test_metrics_need_the_operator_token(client: TestClient, settings_with: Settings) -> None:
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200, ok.text
    assert ok.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("settings_with", [{"metrics_public": True}], indirect=True)
def test_metrics_in_prometheus_format(client: TestClient, settings_with: Settings) -> None:
    submitted = client.post("/experiments", json={"scheduler": {"type": "constant"}})
    assert submitted.status_code == 202
    client.get(f"/experiments/{submitted.json()['id']}")
    reset_scrape_cache()
    response = client.get("/metrics")
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
    settings = get_settings()
    client = redis.Redis.from_url(settings.broker_url)
    info = WorkerInfo(
        name=f"fake-{uuid.uuid4().hex[:8]}@test",
        host="test",
        pid=1,
        queues=[queue],
        device="CPU",
        versions={"python": "3"},
        current_experiments=[],
        dataset_error="DatasetError: no data here",
        started_at="2026-01-01T00:00:00Z",
        last_heartbeat="2026-01-01T00:00:00Z",
    )
    client.set(KEY_PREFIX + info.name, info.model_dump_json(), ex=HEARTBEAT_TTL_SECONDS)
    try:
        yield info
    finally:
        client.delete(KEY_PREFIX + info.name)
        client.close()


@pytest.mark.parametrize("settings_with", [{"metrics_public": True}], indirect=True)
def test_readyz_operator_view_reports_unserved_queues_and_worker_problems(
    client: TestClient, settings_with: Settings
) -> None:
    lonely = f"lonely-{uuid.uuid4().hex[:8]}"
    sweep = {"schedulers": [{"type": "constant"}], "queue": lonely}
    assert client.post("/sweeps", json=sweep).status_code == 202
    served = f"served-{uuid.uuid4().hex[:8]}"
    fake = _fake_worker(served)
    info = next(fake)
    try:
        body = client.get("/readyz", params={"detail": "true"}).json()
    finally:
        next(fake, None)
        redis.Redis.from_url(settings_with.broker_url).delete(lonely)
    assert body["status"] == "ready"
    assert info.name in body["workers"]
    assert served not in body["unserved_queues"]
    assert f"{info.name}: DatasetError: no data here" in body["worker_problems"]
    # The readiness body without detail stays the plain probe.
    assert client.get("/readyz").json() == {"status": "ready"}


def test_readyz_detail_is_for_operators(client: TestClient) -> None:
    assert client.get("/readyz", params={"detail": "true"}).status_code == 401


def test_a_queue_without_a_live_worker_gets_a_warning(client: TestClient) -> None:
    lonely = f"lonely-{uuid.uuid4().hex[:8]}"
    try:
        response = client.post(
            "/sweeps", json={"schedulers": [{"type": "constant"}], "queue": lonely}
        )
    finally:
        redis.Redis.from_url(get_settings().broker_url).delete(lonely)
    assert response.status_code == 202
    assert response.json()["warnings"] == [
        f"No live worker consumes queue `{lonely}`: the work waits until one starts "
        "(`GET /workers` lists them)."
    ]


@pytest.mark.e2e
def test_workers_lists_a_real_worker(client: TestClient, worker: object) -> None:
    queue = get_settings().queue

    def mine() -> list[dict[str, object]]:
        listed = client.get("/workers")
        assert listed.status_code == 200, listed.text
        return [w for w in listed.json() if queue in w["queues"]]

    found = wait_for(mine, timeout=60)
    assert isinstance(found, list)
    (w,) = found
    assert w["device"] == "CPU"
    assert w["dataset_error"] is None
    assert {"python", "keras", "numpy"} <= set(w["versions"])
    assert w["current_experiments"] == []
    # The queue is served: no warning on a submission to it.
    response = client.post("/experiments", json={"scheduler": {"type": "constant"}})
    assert response.json()["warnings"] == []
