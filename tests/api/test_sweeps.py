"""The sweeps API: submission, idempotency (also under concurrency), cancel, comparison."""

import csv
import io
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from models.experiments import finish_experiment, record_epoch
from models.plots import render as plots
from models.storage import get_engine, get_settings, session_scope
from models.sweeps import SWEEP_METRIC_FIELDS, sweep_curves
from models.sweeps import export as sweep_metrics
from models.tables import Experiment, Sweep
from tests.factories import claim, epoch_metrics, home_project_id

SWEEP: dict[str, Any] = {
    "name": "api test",
    "base": {"training": {"epochs": 2, "batch_size": 64}, "dataset": {"train_samples": 512}},
    "schedulers": [{"type": "constant"}, {"type": "exponential", "gamma": 0.5}],
    "seeds": [0, 1],
}


def _count(session: Session, table: type[Sweep] | type[Experiment]) -> int:
    return session.scalar(select(func.count()).select_from(table)) or 0


def test_submit_expands_and_reports_progress(client: TestClient, db_session: Session) -> None:
    response = client.post("/sweeps", json=SWEEP)
    assert response.status_code == 202, response.text
    body = response.json()
    assert response.headers["location"] == f"/sweeps/{body['id']}"
    assert body["status"] == "queued"
    assert len(body["experiments"]) == 4
    assert body["counts"]["queued"] == 4
    assert body["progress"] == {
        "experiments_done": 0,
        "experiments": 4,
        "epochs_done": 0,
        "epochs": 8,
    }
    member = client.get(f"/experiments/{body['experiments'][1]}").json()
    assert member["spec"]["training"]["seed"] == 1


def test_bad_cell_stores_nothing(client: TestClient, db_session: Session) -> None:
    before = (_count(db_session, Sweep), _count(db_session, Experiment))
    bad = {**SWEEP, "grid": {"exponential.gamma": [0.5, -1.0]}}
    response = client.post("/sweeps", json=bad)
    assert response.status_code == 422
    assert "gamma" in response.text
    assert (_count(db_session, Sweep), _count(db_session, Experiment)) == before


def test_idempotency_key_replays_and_conflicts(client: TestClient) -> None:
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = client.post("/sweeps", json=SWEEP, headers=headers)
    again = client.post("/sweeps", json=SWEEP, headers=headers)
    assert first.status_code == 202
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["experiments"] == first.json()["experiments"]
    other = client.post("/sweeps", json={**SWEEP, "seeds": [5]}, headers=headers)
    assert other.status_code == 409


def test_experiment_idempotency_key(client: TestClient) -> None:
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    body = {"scheduler": {"type": "constant"}}
    ids = {client.post("/experiments", json=body, headers=headers).json()["id"] for _ in range(3)}
    assert len(ids) == 1
    changed = {"scheduler": {"type": "constant"}, "training": {"epochs": 3}}
    assert client.post("/experiments", json=changed, headers=headers).status_code == 409


@pytest.mark.parametrize("path", ["/sweeps", "/experiments"])
def test_concurrent_identical_submissions_make_one_resource(
    live_client: TestClient, path: str
) -> None:
    key = f"race-{uuid.uuid4()}"
    body = SWEEP if path == "/sweeps" else {"scheduler": {"type": "constant"}}
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(
            pool.map(
                lambda _: live_client.post(path, json=body, headers={"Idempotency-Key": key}),
                range(8),
            )
        )
    assert all(r.status_code in (200, 202) for r in responses), [r.text for r in responses]
    assert [r.status_code for r in responses].count(202) == 1
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    with session_scope() as session:
        if path == "/sweeps":
            members = session.scalar(
                select(func.count())
                .select_from(Experiment)
                .where(Experiment.sweep_id == uuid.UUID(ids.pop()))
            )
            assert members == 4
        else:
            assert session.get(Experiment, uuid.UUID(ids.pop())) is not None


def test_cancel_sweep_then_conflict(client: TestClient) -> None:
    sweep = client.post("/sweeps", json=SWEEP).json()
    cancelled = client.post(f"/sweeps/{sweep['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["counts"]["cancelled"] == 4
    assert client.post(f"/sweeps/{sweep['id']}/cancel").status_code == 409
    assert client.post(f"/sweeps/{uuid.uuid4()}/cancel").status_code == 404


def _finish(session: Session, experiment_id: uuid.UUID, accuracies: list[float]) -> None:
    claim(session, experiment_id)
    for epoch, accuracy in enumerate(accuracies, start=1):
        record_epoch(
            session,
            experiment_id=experiment_id,
            attempt=1,
            lease_seconds=60,
            metrics=epoch_metrics(epoch, val_accuracy=accuracy),
        )
    finish_experiment(session, experiment_id=experiment_id, attempt=1)


def test_comparison_plots_and_metrics(client: TestClient, db_session: Session) -> None:
    sweep = client.post("/sweeps", json=SWEEP).json()
    ids = [uuid.UUID(i) for i in sweep["experiments"]]
    _finish(db_session, ids[0], [0.90, 0.96])
    _finish(db_session, ids[1], [0.92, 0.98])
    _finish(db_session, ids[2], [0.95, 0.97])
    assert client.get(f"/sweeps/{sweep['id']}").json()["status"] == "running"

    comparison = client.get(f"/sweeps/{sweep['id']}/comparison", params={"target": 0.97}).json()
    rows = {r["label"]: r for r in comparison["rows"]}
    constant = rows["constant"]
    # Ranked by the share reaching the target first: 1 of 1 decay run beats 1 of 2 constant.
    assert constant["rank"] == 2 and constant["runs"] == 2 and constant["failed"] == 0
    assert constant["final_val_accuracy"]["mean"] == pytest.approx(0.97)
    assert constant["final_val_accuracy"]["std"] == pytest.approx(0.01414213562)
    assert constant["epochs_to_target"]["mean"] == pytest.approx(2.0)
    assert constant["reached_target"] == 1 and constant["reached_fraction"] == 0.5
    # Two seeds: the Student-t interval [0.843, 1.097] is clipped to accuracy's range.
    assert constant["final_val_accuracy"]["ci95"][1] == 1.0
    assert constant["final_val_accuracy"]["small_sample"] is True
    assert constant["auc_val_accuracy"]["mean"] == pytest.approx((0.93 + 0.95) / 2)
    decay = rows["exponential(gamma=0.5)"]
    assert decay["rank"] == 1 and decay["runs"] == 1 and decay["pending"] == 1
    assert decay["reached_fraction"] == 1.0
    assert decay["final_val_accuracy"]["ci95"] is None

    project_id = home_project_id(db_session)
    curves = {c.label: c for c in sweep_curves(db_session, project_id=project_id,
                                                sweep_id=uuid.UUID(sweep["id"]),
                                                metric="val_accuracy")}  # fmt: skip
    assert curves["constant"].epochs == [1, 2] and curves["constant"].runs == 2
    assert curves["constant"].mean == pytest.approx([0.91, 0.97])
    assert curves["constant"].high[0] - curves["constant"].mean[0] == pytest.approx(0.01414213562)
    single = curves["exponential(gamma=0.5)"]
    assert single.runs == 1 and single.mean == single.low == single.high == [0.95, 0.97]

    csv_text = client.get(f"/sweeps/{sweep['id']}/comparison?format=csv").text
    assert csv_text.splitlines()[0].startswith("rank,label,runs,failed")
    long = client.get(f"/sweeps/{sweep['id']}/metrics?format=csv").text.splitlines()
    assert (
        long[0] == "sweep,experiment,label,seed,status,epoch,lr,loss,accuracy,val_loss,"
        "val_accuracy,seconds"
    )
    assert len(long) == 1 + 6
    for name in ("lr", "loss", "accuracy"):
        png = client.get(f"/sweeps/{sweep['id']}/plots/{name}.png")
        assert png.headers["content-type"] == "image/png"
        assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    svg = client.get(f"/sweeps/{sweep['id']}/plots/accuracy.svg")
    assert svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content[:500]


def test_a_configuration_whose_seeds_diverge_ranks_below_one_whose_seeds_all_reach(
    client: TestClient, db_session: Session
) -> None:
    from models.experiments import fail_experiment

    sweep = client.post("/sweeps", json={**SWEEP, "seeds": [0, 1, 2, 3]}).json()
    ids = [uuid.UUID(i) for i in sweep["experiments"]]
    fast, diverged, cancelled = ids[0], ids[1:3], ids[3]  # constant: 1 reaches, 2 fail
    _finish(db_session, fast, [0.97, 0.98])
    for experiment_id in diverged:
        claim(db_session, experiment_id)
        fail_experiment(db_session, experiment_id=experiment_id, attempt=1, error="loss is nan")
    assert client.post(f"/experiments/{cancelled}/cancel").status_code == 200
    for experiment_id in ids[4:]:  # exponential: all 4 reach the target, one epoch later
        _finish(db_session, experiment_id, [0.90, 0.97])

    comparison = client.get(f"/sweeps/{sweep['id']}/comparison", params={"target": 0.97}).json()
    rows = {r["label"]: r for r in comparison["rows"]}
    constant, decay = rows["constant"], rows["exponential(gamma=0.5)"]
    assert (constant["runs"], constant["failed"], constant["cancelled"]) == (1, 2, 1)
    # The denominator is every member that ended except the cancelled one.
    assert constant["reached_target"] == 1 and constant["reached_fraction"] == pytest.approx(1 / 3)
    assert decay["reached_fraction"] == 1.0
    assert (decay["rank"], constant["rank"]) == (1, 2)
    csv_rows = list(csv.DictReader(io.StringIO(
        client.get(f"/sweeps/{sweep['id']}/comparison?format=csv").text
    )))  # fmt: skip
    assert {r["label"]: r["failed"] for r in csv_rows} == {
        "constant": "2",
        "exponential(gamma=0.5)": "0",
    }


def test_metrics_are_sent_page_by_page_in_member_then_epoch_order(
    client: TestClient, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page holds about ROWS_PER_PAGE epochs: here 3, so the 4 members go out one by one."""
    monkeypatch.setattr(sweep_metrics, "ROWS_PER_PAGE", 3)
    sweep = client.post("/sweeps", json=SWEEP).json()
    ids = [uuid.UUID(i) for i in sweep["experiments"]]
    for experiment_id in ids:
        _finish(db_session, experiment_id, [0.5, 0.75])
    response = client.get(f"/sweeps/{sweep['id']}/metrics", params={"format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    assert f"{sweep['id']}-metrics.csv" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(row["experiment"], row["epoch"]) for row in rows] == [
        (str(i), str(epoch)) for i in ids for epoch in (1, 2)
    ]
    as_json = client.get(f"/sweeps/{sweep['id']}/metrics", params={"format": "json"}).json()
    assert len(as_json) == len(rows)
    for row, expected in zip(rows, as_json, strict=True):
        assert set(row) == set(expected)
        for field, value in expected.items():
            assert (float(row[field]) if isinstance(value, float) else row[field]) == (
                value if isinstance(value, float) else str(value)
            ), field
    # A sweep whose members recorded nothing yet: the header, and an empty array.
    empty = client.post("/sweeps", json={**SWEEP, "name": "empty"}).json()["id"]
    assert client.get(f"/sweeps/{empty}/metrics").text.splitlines() == [
        ",".join(SWEEP_METRIC_FIELDS)
    ]
    assert client.get(f"/sweeps/{empty}/metrics", params={"format": "json"}).json() == []
    assert client.get(f"/sweeps/{uuid.uuid4()}/metrics").status_code == 404


def test_list_sweeps(client: TestClient) -> None:
    first = client.post("/sweeps", json=SWEEP).json()["id"]
    second = client.post("/sweeps", json={**SWEEP, "name": "second"}).json()["id"]
    page = client.get("/sweeps", params={"limit": 2}).json()
    assert [s["id"] for s in page["items"]] == [second, first]


def _statements(session: Session, call: Any) -> int:
    """How many SQL statements `call()` sends on the test's connection."""
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", count)
    try:
        call()
    finally:
        event.remove(connection, "before_cursor_execute", count)
    return len(seen)


def test_listing_sweeps_costs_the_same_queries_for_one_or_many(
    client: TestClient, db_session: Session
) -> None:
    for _ in range(4):
        assert client.post("/sweeps", json=SWEEP).status_code == 202
    one = _statements(db_session, lambda: client.get("/sweeps?limit=1"))
    four = _statements(db_session, lambda: client.get("/sweeps?limit=4"))
    assert one == four
    page = client.get("/sweeps?limit=4").json()["items"]
    assert [len(item["experiments"]) for item in page] == [4, 4, 4, 4]


def test_accepted_sweep_lists_warnings_per_member(client: TestClient) -> None:
    sweep = {
        "base": {"training": {"epochs": 4}},
        "schedulers": [{"type": "constant"}, {"type": "step", "step_size": 2, "gamma": 1.0}],
        "seeds": [0, 1],
    }
    response = client.post("/sweeps", json=sweep)
    assert response.status_code == 202, response.text
    body = response.json()
    flagged = body["member_warnings"]
    assert len(flagged) == 2  # both seeds of the step schedule; the constant one is fine
    assert {m["label"] for m in flagged} == {"step(step_size=2, gamma=1)"}
    assert {m["experiment"] for m in flagged} <= set(body["experiments"])
    assert all(m["warnings"] == ["`gamma` is 1, so the lr never changes."] for m in flagged)


def _finished_sweep(client: TestClient, db_session: Session) -> str:
    sweep = client.post("/sweeps", json=SWEEP).json()
    for index, member in enumerate(sweep["experiments"]):
        _finish(db_session, uuid.UUID(member), [0.90 + index / 100, 0.95])
    assert client.get(f"/sweeps/{sweep['id']}").json()["status"] == "completed"
    return str(sweep["id"])


def test_plot_past_the_renderer_queue_is_a_503_with_retry_after(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = client.post("/sweeps", json=SWEEP).json()
    monkeypatch.setattr(get_settings(), "render_queue_depth", 1)
    # The test holds the renderer's only place: a request must not queue behind it.
    with plots.RENDERER.slot():
        busy = client.get(f"/sweeps/{sweep['id']}/plots/lr.png", params={"log_scale": True})
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "1"
    assert "renderer is busy" in busy.json()["detail"]
    assert client.get(f"/sweeps/{sweep['id']}/plots/lr.png").status_code == 200


def test_a_finished_sweeps_plot_is_rendered_once(
    client: TestClient, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep_id = _finished_sweep(client, db_session)
    first = client.get(f"/sweeps/{sweep_id}/plots/loss.png", params={"log_scale": True})
    assert first.status_code == 200
    monkeypatch.setattr(get_settings(), "render_queue_depth", 1)
    with plots.RENDERER.slot():
        again = client.get(f"/sweeps/{sweep_id}/plots/loss.png", params={"log_scale": True})
        # Other options are another image, not yet drawn.
        other = client.get(f"/sweeps/{sweep_id}/plots/loss.png")
    assert again.status_code == 200 and again.content == first.content
    assert other.status_code == 503


def test_a_running_sweeps_plot_is_not_cached(
    client: TestClient, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = client.post("/sweeps", json=SWEEP).json()
    _finish(db_session, uuid.UUID(sweep["experiments"][0]), [0.9, 0.95])
    assert client.get(f"/sweeps/{sweep['id']}/plots/accuracy.svg").status_code == 200
    monkeypatch.setattr(get_settings(), "render_queue_depth", 1)
    with plots.RENDERER.slot():
        assert client.get(f"/sweeps/{sweep['id']}/plots/accuracy.svg").status_code == 503


class _WatchedLock:
    """The renderer's lock, telling when a request starts waiting for it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.wanted = threading.Event()

    def __enter__(self) -> None:
        self.wanted.set()
        self.lock.acquire()

    def __exit__(self, *_: object) -> None:
        self.lock.release()


def test_a_plot_waiting_for_the_renderer_holds_no_database_connection(
    live_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = live_client.post("/sweeps", json=SWEEP).json()
    watched = _WatchedLock()
    monkeypatch.setattr(plots, "_RENDER_LOCK", watched)
    with ThreadPoolExecutor(1) as pool:
        watched.lock.acquire()  # the test draws: the request must queue
        try:
            waiting = pool.submit(live_client.get, f"/sweeps/{sweep['id']}/plots/lr.png")
            assert watched.wanted.wait(timeout=60)
            assert not waiting.done()
            assert get_engine().pool.checkedout() == 0  # type: ignore[attr-defined]
        finally:
            watched.lock.release()
        assert waiting.result(timeout=60).status_code == 200
