"""The live event streams: replay from the record, push on commit, heartbeat, bounds, resume."""

import contextlib
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from devtools.processes import ApiProcess, WorkerProcess
from lrlab_client.events import SseEvent, parse_sse
from models.experiments import finish_experiment
from models.identity import KeyCreate, create_key, revoke_key
from models.storage import session_scope
from models.tables import Experiment, Metric
from tests.conftest import SessionKeys, wait_for
from tests.factories import (
    claim,
    create_queued,
    epoch_metrics,
    experiment_payload,
    record_epochs,
    remove_made_since,
)


@pytest.fixture
def committed(database: str) -> Iterator[None]:
    """Rows the test commits for real (streams read committed data); removed after."""
    started = datetime.now(UTC) - timedelta(seconds=1)
    yield
    remove_made_since(started)


@pytest.fixture(scope="module")
def stream_api(
    database: str, keys: SessionKeys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiProcess]:
    """A real API server (streams are long responses): 1 s heartbeat, 2 streams per key, 3
    per project."""
    api = ApiProcess(
        tmp_path_factory.mktemp("stream-api") / "api.log",
        env={
            "LRLAB_STREAM_HEARTBEAT_SECONDS": "1",
            "LRLAB_MAX_STREAMS_PER_KEY": "2",
            "LRLAB_MAX_STREAMS_PER_PROJECT": "3",
        },
        api_key=keys.write,
    )
    try:
        api.wait_healthy()
        yield api
    finally:
        api.stop()


def _auth(api: ApiProcess) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.api_key}"}


def _running(epochs: int = 3) -> uuid.UUID:
    with session_scope() as session:
        experiment = create_queued(
            session, training={"epochs": epochs, "batch_size": 64, "learning_rate": 0.01}
        )
        claim(session, experiment.id)
        return experiment.id


def _record(experiment_id: uuid.UUID, epoch: int) -> None:
    with session_scope() as session:
        record_epochs(session, experiment_id, [epoch])


def _finish(experiment_id: uuid.UUID) -> None:
    with session_scope() as session:
        # Recording the last epoch already finishes the run; otherwise finish it here.
        finish_experiment(session, experiment_id=experiment_id, attempt=1)
        experiment = session.get(Experiment, experiment_id)
        assert experiment is not None and experiment.status == "succeeded"


def _events(body: str) -> list[SseEvent]:
    return list(parse_sse(body.splitlines()))


def test_a_finished_run_replays_everything_and_ends(live_client: TestClient) -> None:
    experiment_id = _running()
    for epoch in (1, 2, 3):
        _record(experiment_id, epoch)
    _finish(experiment_id)

    response = live_client.get(f"/experiments/{experiment_id}/events")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.text)
    assert [e.type for e in events] == ["epoch", "epoch", "epoch", "status", "end"]
    assert [json.loads(e.data)["epoch"] for e in events[:3]] == [1, 2, 3]
    assert all(json.loads(e.data)["experiment_id"] == str(experiment_id) for e in events[:-1])
    assert json.loads(events[-2].data)["status"] == "succeeded"
    assert json.loads(events[0].data)["val_accuracy"] == epoch_metrics(1).val_accuracy
    # The last word: every followed experiment's final status, at the final cursor.
    assert json.loads(events[-1].data) == {"statuses": {str(experiment_id): "succeeded"}}
    assert events[-1].id == events[-2].id

    # Resuming after the second event sends only what came after it.
    again = live_client.get(
        f"/experiments/{experiment_id}/events", headers={"Last-Event-ID": events[1].id}
    )
    assert [(e.type, e.id) for e in _events(again.text)] == [(e.type, e.id) for e in events[2:]]


def test_reconnecting_with_the_final_id_gets_end_at_once(live_client: TestClient) -> None:
    experiment_id = _running(epochs=1)
    _record(experiment_id, 1)
    _finish(experiment_id)
    path = f"/experiments/{experiment_id}/events"
    end = _events(live_client.get(path).text)[-1]
    assert end.type == "end"
    for _ in range(2):  # as often as the client comes back
        again = _events(live_client.get(path, headers={"Last-Event-ID": end.id}).text)
        assert [(e.type, e.id, e.data) for e in again] == [("end", end.id, end.data)]


def test_a_cursor_of_the_letters_format_still_resumes(live_client: TestClient) -> None:
    experiment_id = _running(epochs=2)
    _record(experiment_id, 1)
    _record(experiment_id, 2)
    _finish(experiment_id)
    path = f"/experiments/{experiment_id}/events"
    # An id as handed out before `end` existed: the first epoch sent, status "running".
    resumed = _events(live_client.get(path, headers={"Last-Event-ID": "1r"}).text)
    assert [(e.type, e.id) for e in resumed] == [("epoch", "2r"), ("status", "2s"), ("end", "2s")]


def test_an_unknown_experiment_or_sweep_is_404(live_client: TestClient) -> None:
    assert live_client.get(f"/experiments/{uuid.uuid4()}/events").status_code == 404
    assert live_client.get(f"/sweeps/{uuid.uuid4()}/events").status_code == 404


def test_a_foreign_last_event_id_replays_from_the_start(live_client: TestClient) -> None:
    experiment_id = _running(epochs=1)
    _record(experiment_id, 1)
    _finish(experiment_id)
    response = live_client.get(
        f"/experiments/{experiment_id}/events", headers={"Last-Event-ID": "nonsense.7q"}
    )
    assert [e.type for e in _events(response.text)] == ["epoch", "status", "end"]


def test_a_stream_carries_only_its_own_experiment(live_client: TestClient) -> None:
    # Isolation placeholder: the identity merge adds "another project's key gets 404".
    mine, other = _running(epochs=2), _running(epochs=2)
    for experiment_id in (mine, other):
        _record(experiment_id, 1)
        _record(experiment_id, 2)
        _finish(experiment_id)
    events = _events(live_client.get(f"/experiments/{mine}/events").text)
    assert {json.loads(e.data)["experiment_id"] for e in events[:-1]} == {str(mine)}
    assert json.loads(events[-1].data) == {"statuses": {str(mine): "succeeded"}}


def _collect(
    api: ApiProcess,
    path: str,
    into: list[SseEvent],
    lines: list[str],
    stop: threading.Event,
    key: str | None = None,
) -> None:
    headers = _auth(api) if key is None else {"Authorization": f"Bearer {key}"}
    with httpx.stream(
        "GET", api.url + path, headers=headers, timeout=httpx.Timeout(30, read=None)
    ) as response:
        assert response.status_code == 200

        def tap() -> Iterator[str]:
            for line in response.iter_lines():
                lines.append(line)
                yield line
                if stop.is_set():
                    return

        for event in parse_sse(tap()):
            into.append(event)


@pytest.mark.usefixtures("committed")
def test_epochs_are_pushed_live_with_heartbeats_until_the_end(stream_api: ApiProcess) -> None:
    experiment_id = _running(epochs=2)
    events: list[SseEvent] = []
    lines: list[str] = []
    stop = threading.Event()
    reader = threading.Thread(
        target=_collect,
        args=(stream_api, f"/experiments/{experiment_id}/events", events, lines, stop),
    )
    reader.start()
    wait_for(lambda: [e for e in events if e.type == "status"], timeout=30)
    assert json.loads(events[0].data)["status"] == "running"
    # Idle: only heartbeat comments (1 s in this server) keep the connection alive.
    wait_for(lambda: sum(line.startswith(": heartbeat") for line in lines) >= 2, timeout=30)
    _record(experiment_id, 1)
    wait_for(lambda: [e for e in events if e.type == "epoch"], timeout=30)
    _record(experiment_id, 2)
    _finish(experiment_id)
    reader.join(timeout=30)
    assert not reader.is_alive(), "the stream did not end after the terminal status"
    assert [e.type for e in events] == ["status", "epoch", "epoch", "status", "end"]
    assert json.loads(events[-2].data)["status"] == "succeeded"
    assert json.loads(events[-1].data) == {"statuses": {str(experiment_id): "succeeded"}}


@pytest.mark.usefixtures("committed")
def test_streams_are_bounded_per_caller(stream_api: ApiProcess) -> None:
    experiment_id = _running()
    path = f"{stream_api.url}/experiments/{experiment_id}/events"
    timeout = httpx.Timeout(30, read=None)
    with (
        httpx.Client(timeout=timeout, headers=_auth(stream_api)) as first,
        httpx.Client(timeout=timeout, headers=_auth(stream_api)) as second,
        first.stream("GET", path) as one,
        second.stream("GET", path) as two,
    ):
        assert (one.status_code, two.status_code) == (200, 200)
        refused = httpx.get(path, headers=_auth(stream_api), timeout=10)
        assert refused.status_code == 429
        assert "at most 2 open event streams per API key" in refused.json()["detail"]

    # Closed streams give their slots back.
    def admitted() -> bool:
        with httpx.stream("GET", path, headers=_auth(stream_api), timeout=timeout) as again:
            return again.status_code == 200

    wait_for(admitted, timeout=30, interval=0.5)


@pytest.mark.usefixtures("committed")
def test_streams_are_bounded_per_project_across_its_keys(
    stream_api: ApiProcess, keys: SessionKeys
) -> None:
    experiment_id = _running()
    path = f"{stream_api.url}/experiments/{experiment_id}/events"
    timeout = httpx.Timeout(30, read=None)
    with contextlib.ExitStack() as stack:
        for key in (keys.write, keys.write, keys.read):
            client = stack.enter_context(httpx.Client(timeout=timeout, headers=keys.headers(key)))
            assert stack.enter_context(client.stream("GET", path)).status_code == 200
        # A fourth key of the same project finds the project's streams all taken.
        fourth = stack.enter_context(
            httpx.Client(timeout=timeout, headers=keys.headers(keys.admin))
        )
        refused = stack.enter_context(fourth.stream("GET", path))
        assert refused.status_code == 429
        assert "at most 3 open event streams per project" in refused.read().decode()
        assert refused.headers["Retry-After"] == "5"


@pytest.mark.usefixtures("committed")
def test_a_revoked_key_loses_its_open_stream(stream_api: ApiProcess, keys: SessionKeys) -> None:
    experiment_id = _running()
    with session_scope() as session:
        made = create_key(
            session, project_id=keys.project_id, key=KeyCreate(label="stream", role="read")
        )
    lines: list[str] = []
    stop = threading.Event()
    reader = threading.Thread(
        target=_collect,
        args=(stream_api, f"/experiments/{experiment_id}/events", [], lines, stop),
        kwargs={"key": made.key},
    )
    reader.start()
    wait_for(lambda: any(line.startswith("event: status") for line in lines), timeout=30)
    with session_scope() as session:
        revoke_key(session, key_id=made.id, project_id=keys.project_id)
    reader.join(timeout=30)
    stop.set()
    assert not reader.is_alive(), "the stream of a revoked key stayed open"
    # Cut, not over: the client must not take the run for finished.
    assert not any(line.startswith("event: end") for line in lines)


@pytest.mark.usefixtures("committed")
def test_a_stream_cut_by_a_server_shutdown_sends_no_end(keys: SessionKeys, tmp_path: Path) -> None:
    experiment_id = _running()
    api = ApiProcess(tmp_path / "api.log", api_key=keys.read)
    lines: list[str] = []

    def read() -> None:
        # A cut may close the connection cleanly or mid-chunk; either way the lines are kept.
        with contextlib.suppress(httpx.TransportError):
            _collect(api, f"/experiments/{experiment_id}/events", [], lines, threading.Event())

    try:
        api.wait_healthy()
        reader = threading.Thread(target=read)
        reader.start()
        wait_for(lambda: any(line.startswith("event: status") for line in lines), timeout=30)
    finally:
        api.stop()
    reader.join(timeout=30)
    assert not reader.is_alive(), "the stream outlived its server"
    assert not any(line.startswith("event: end") for line in lines)


def _metrics(experiment_id: str) -> list[tuple[int, float]]:
    with session_scope() as session:
        return [
            (m.epoch, m.val_accuracy)
            for m in session.scalars(
                select(Metric).where(Metric.experiment_id == uuid.UUID(experiment_id))
            )
        ]


@pytest.mark.e2e
@pytest.mark.usefixtures("committed")
def test_reconnecting_with_last_event_id_misses_nothing(
    stream_api: ApiProcess, worker: WorkerProcess, tmp_path: Path
) -> None:
    epochs = 8
    response = stream_api.client.post(
        "/experiments",
        json=experiment_payload(
            training={"epochs": epochs, "batch_size": 32, "learning_rate": 0.01},
            dataset={"name": "mnist", "train_samples": 4000},
        ),
    )
    assert response.status_code == 202, response.text
    experiment_id = response.json()["id"]
    path = f"/experiments/{experiment_id}/events"
    seen: list[SseEvent] = []
    # First connection: killed by the client after two epochs arrive.
    with httpx.stream(
        "GET",
        stream_api.url + path,
        headers=_auth(stream_api),
        timeout=httpx.Timeout(30, read=None),
    ) as r:
        for event in parse_sse(r.iter_lines()):
            seen.append(event)
            if sum(e.type == "epoch" for e in seen) == 2:
                break
    # Away for a while: epochs keep committing with nobody listening.
    wait_for(
        lambda: (
            stream_api.client.get(f"/experiments/{experiment_id}").json()["progress"]["epochs_done"]
            >= 4
        ),
        timeout=300,
    )
    headers = {**_auth(stream_api), "Last-Event-ID": seen[-1].id}
    with httpx.stream(
        "GET", stream_api.url + path, headers=headers, timeout=httpx.Timeout(30, read=None)
    ) as r:
        seen.extend(parse_sse(r.iter_lines()))  # to the end: the run finishes

    epochs_seen = [json.loads(e.data) for e in seen if e.type == "epoch"]
    got: list[tuple[int, Any]] = [(m["epoch"], m["val_accuracy"]) for m in epochs_seen]
    assert got == sorted(_metrics(experiment_id)), "each epoch exactly once, in order"
    assert len(got) == epochs
    assert json.loads(seen[-2].data)["status"] == "succeeded"
    assert seen[-1].type == "end" and seen[-1].id == seen[-2].id
    ids = [e.id for e in seen[:-1]]
    assert ids == sorted(set(ids), key=ids.index)


@pytest.mark.usefixtures("committed")
def test_a_sweep_stream_follows_every_member_to_the_end(live_client: TestClient) -> None:
    response = live_client.post(
        "/sweeps",
        json={
            "base": {"training": {"epochs": 1, "batch_size": 64}},
            "schedulers": [{"type": "constant"}],
            "seeds": [0, 1],
        },
    )
    assert response.status_code == 202, response.text
    sweep = response.json()
    members = [uuid.UUID(m) for m in sweep["experiments"]]
    ran, dropped = members
    with session_scope() as session:
        claim(session, ran)
    _record(ran, 1)
    _finish(ran)
    assert live_client.post(f"/experiments/{dropped}/cancel").status_code == 200
    events = _events(live_client.get(f"/sweeps/{sweep['id']}/events").text)
    assert [e.type for e in events].count("end") == 1 and events[-1].type == "end"
    by_member = {
        str(m): [e.type for e in events[:-1] if json.loads(e.data)["experiment_id"] == str(m)]
        for m in members
    }
    assert by_member == {str(ran): ["epoch", "status"], str(dropped): ["status"]}
    assert events[-1].id.count(".") == len(members) - 1
    statuses = {str(ran): "succeeded", str(dropped): "cancelled"}
    assert json.loads(events[-1].data) == {"statuses": statuses}


@pytest.mark.usefixtures("committed")
def test_streams_survive_the_listener_losing_postgres(stream_api: ApiProcess) -> None:
    experiment_id = _running(epochs=1)
    events: list[SseEvent] = []
    reader = threading.Thread(
        target=_collect,
        args=(stream_api, f"/experiments/{experiment_id}/events", events, [], threading.Event()),
    )
    reader.start()
    wait_for(lambda: events, timeout=30)
    # Cut the API's LISTEN connection (only this test database's), then commit meanwhile.
    with session_scope() as session:
        killed = session.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query ILIKE 'LISTEN%'"
                " AND pid <> pg_backend_pid()"
            )
        )
    assert killed == 1
    _record(experiment_id, 1)
    _finish(experiment_id)
    reader.join(timeout=60)
    assert not reader.is_alive(), "the stream missed the events committed during the outage"
    assert [e.type for e in events] == ["status", "epoch", "status", "end"]
