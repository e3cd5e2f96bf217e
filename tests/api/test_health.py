"""Liveness and readiness against the real services, and a broker that is not there."""

import socket
from collections.abc import Callable, Iterator
from typing import Any

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient

from models.jobs import get_producer
from models.storage import get_settings
from tests.conftest import SessionKeys


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_healthz_answers_on_the_event_loop_without_a_worker_thread(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A hop to a thread takes the interpreter twice more from whatever CPU work holds it:
    # under load each hop cost /healthz tens of milliseconds (docs/availability.md).
    hops: list[object] = []
    real = anyio.to_thread.run_sync

    async def counted(func: Callable[..., object], *args: object, **kwargs: Any) -> object:
        hops.append(func)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    assert client.get("/healthz").json() == {"status": "ok"}
    assert hops == []


def test_readyz_when_services_are_up(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready"}


@pytest.fixture
def dead_broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("LRLAB_BROKER_URL", f"redis://127.0.0.1:{port}/0")
    get_settings.cache_clear()
    get_producer.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()
    get_producer.cache_clear()


def test_readyz_tells_the_reasons_to_the_operator_only(
    client: TestClient, dead_broker: None, keys: SessionKeys
) -> None:
    public = client.get("/readyz", headers={"Authorization": ""})
    assert public.status_code == 503 and public.json() == {"status": "unavailable"}
    assert client.get("/readyz").json() == {"status": "unavailable"}  # a project key
    operator = client.get("/readyz", headers=keys.headers(keys.operator))
    assert operator.status_code == 503
    assert any(r.startswith("broker unreachable") for r in operator.json()["reasons"])


def test_submit_still_accepts_while_the_broker_is_down(
    client: TestClient, dead_broker: None
) -> None:
    response = client.post("/experiments", json={"scheduler": {"type": "constant"}})
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
