"""Two projects side by side, submitting concurrently: neither ever sees the other's resources."""

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from models.experiments import finish_experiment, record_epoch
from models.storage import session_scope
from models.tables import Experiment, Sweep
from tests.conftest import SessionKeys
from tests.factories import claim, epoch_metrics, experiment_payload

SWEEP = {
    "name": "iso",
    "base": {"training": {"epochs": 1}, "dataset": {"train_samples": 256}},
    "schedulers": [{"type": "constant"}, {"type": "exponential", "gamma": 0.5}],
    "seeds": [0],
}


def _reads(experiment: str, sweep: str) -> list[str]:
    """Every read route about one experiment or sweep."""
    return [
        f"/experiments/{experiment}",
        f"/experiments/{experiment}/metrics",
        f"/experiments/{experiment}/metrics?format=csv",
        f"/experiments/{experiment}/lr",
        f"/sweeps/{sweep}",
        f"/sweeps/{sweep}/metrics",
        f"/sweeps/{sweep}/metrics?format=json",
        f"/sweeps/{sweep}/comparison",
        f"/sweeps/{sweep}/comparison?format=csv",
        f"/sweeps/{sweep}/plots/lr.svg",
        f"/sweeps/{sweep}/plots/accuracy.png",
    ]


@pytest.fixture
def projects(live_client: TestClient, keys: SessionKeys) -> Iterator[dict[str, dict[str, str]]]:
    """Headers of two projects' write keys; their sweeps are removed after the test."""
    yield {"a": keys.headers(keys.write), "b": keys.headers(keys.other)}
    with session_scope() as session:
        session.execute(
            delete(Sweep).where(Sweep.project_id.in_((keys.project_id, keys.other_project_id)))
        )


def _submit(
    client: TestClient, headers: dict[str, str], index: int, **overrides: Any
) -> dict[str, Any]:
    key = {"Idempotency-Key": f"shared-{index}"}  # the same keys in both projects
    experiment = client.post(
        "/experiments",
        json=experiment_payload(name=f"e{index}", **overrides),
        headers=headers | key,
    )
    sweep = client.post("/sweeps", json=SWEEP, headers=headers | key)
    assert experiment.status_code == 202 and sweep.status_code == 202, (experiment, sweep)
    return {"experiment": experiment.json()["id"], "sweep": sweep.json()}


def _train(experiment_id: str) -> None:
    with session_scope() as session:
        claim(session, uuid.UUID(experiment_id))
        record_epoch(
            session,
            experiment_id=uuid.UUID(experiment_id),
            attempt=1,
            lease_seconds=60,
            metrics=epoch_metrics(1),
        )
        finish_experiment(session, experiment_id=uuid.UUID(experiment_id), attempt=1)


def test_two_projects_never_see_each_other(
    live_client: TestClient, projects: dict[str, dict[str, str]]
) -> None:
    jobs = [(name, i) for i in range(3) for name in projects]
    with ThreadPoolExecutor(max_workers=6) as pool:
        done = list(
            pool.map(lambda job: (job[0], _submit(live_client, projects[job[0]], job[1])), jobs)
        )
    made: dict[str, list[dict[str, Any]]] = {name: [] for name in projects}
    for name, resources in done:
        made[name].append(resources)
    for resources in (r for rs in made.values() for r in rs):
        _train(resources["experiment"])
        for member in resources["sweep"]["experiments"]:
            _train(member)

    for name, mine in made.items():
        other = "b" if name == "a" else "a"
        headers = projects[name]
        theirs = made[other]
        # Same Idempotency-Key, different projects: different resources, no conflict.
        assert {r["experiment"] for r in mine}.isdisjoint({r["experiment"] for r in theirs})
        listed = live_client.get("/experiments", params={"limit": 500}, headers=headers).json()
        listed_ids = {e["id"] for e in listed["items"]}
        mine_ids = {r["experiment"] for r in mine} | {
            m for r in mine for m in r["sweep"]["experiments"]
        }
        theirs_ids = {r["experiment"] for r in theirs} | {
            m for r in theirs for m in r["sweep"]["experiments"]
        }
        assert mine_ids <= listed_ids and listed_ids.isdisjoint(theirs_ids)
        sweeps = live_client.get("/sweeps", params={"limit": 500}, headers=headers).json()
        sweep_ids = {s["id"] for s in sweeps["items"]}
        assert {r["sweep"]["id"] for r in mine} <= sweep_ids
        assert sweep_ids.isdisjoint({r["sweep"]["id"] for r in theirs})

        for own, foreign in zip(mine, theirs, strict=True):
            for path in _reads(own["experiment"], own["sweep"]["id"]):
                response = live_client.get(path, headers=headers)
                assert response.status_code == 200, (path, response.text)
            for path in _reads(foreign["experiment"], foreign["sweep"]["id"]):
                response = live_client.get(path, headers=headers)
                assert response.status_code == 404, (path, response.text)
                assert "not found" in response.json()["detail"]
            # The other project's own view of a member: readable to them, 404 to us.
            member = foreign["sweep"]["experiments"][0]
            assert live_client.get(f"/experiments/{member}", headers=headers).status_code == 404


def test_cancelling_another_projects_resources_is_404_and_changes_nothing(
    live_client: TestClient, projects: dict[str, dict[str, str]]
) -> None:
    # Far longer than this test (250,000 steps), so the owner's cancel below finds it queued or
    # running even when a session-wide test worker has picked it up.
    theirs = _submit(
        live_client,
        projects["b"],
        99,
        training={"epochs": 1000, "batch_size": 32, "learning_rate": 0.01},
        dataset={"name": "mnist", "train_samples": 8000},
    )
    for path in (
        f"/experiments/{theirs['experiment']}/cancel",
        f"/sweeps/{theirs['sweep']['id']}/cancel",
    ):
        response = live_client.post(path, headers=projects["a"])
        assert response.status_code == 404, response.text
    with session_scope() as session:
        ids = [uuid.UUID(theirs["experiment"]), *map(uuid.UUID, theirs["sweep"]["experiments"])]
        statuses = {session.get(Experiment, i).status for i in ids}  # type: ignore[union-attr]
        # Untouched by the refused cancel (a session-wide test worker may have started them).
        assert "cancelled" not in statuses
        assert session.get(Sweep, uuid.UUID(theirs["sweep"]["id"])).cancelled_at is None  # type: ignore[union-attr]
    cancelled = live_client.post(
        f"/experiments/{theirs['experiment']}/cancel", headers=projects["b"]
    ).json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_by"]["label"] == "test write"
    assert cancelled["submitted_by"]["label"] == "test write"
    assert "key" not in cancelled["submitted_by"]


def test_batched_submissions_of_two_projects_stay_in_their_projects(
    live_client: TestClient, projects: dict[str, dict[str, str]], keys: SessionKeys
) -> None:
    """No Idempotency-Key: submissions of both projects share the committer's batches."""
    from sqlalchemy import text

    owner = {"a": keys.project_id, "b": keys.other_project_id}
    submitted: dict[str, str] = {}

    def submit(job: tuple[str, int]) -> None:
        name, index = job
        response = live_client.post(
            "/experiments",
            json=experiment_payload(name=f"batch-{name}-{index}"),
            headers=projects[name],
        )
        assert response.status_code == 202, response.text
        submitted[response.json()["id"]] = name

    mixed = False
    for _ in range(5):  # until one transaction has held both projects' submissions
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(submit, [("ab"[i % 2], i) for i in range(40)]))
        with session_scope() as session:
            # Rows inserted by one transaction share its xmin: one committer batch.
            batches = session.execute(
                text(
                    "SELECT xmin::text AS batch, count(DISTINCT project_id) AS projects "
                    "FROM experiment WHERE id = ANY(:ids) GROUP BY xmin::text"
                ),
                {"ids": [uuid.UUID(i) for i in submitted]},
            ).all()
        if any(row.projects == 2 for row in batches):
            mixed = True
            break
    assert mixed, "no batch held both projects' submissions"
    with session_scope() as session:
        rows = session.execute(
            text("SELECT id::text AS id, project_id FROM experiment WHERE id = ANY(:ids)"),
            {"ids": [uuid.UUID(i) for i in submitted]},
        ).all()
        stored = {row.id: row.project_id for row in rows}
    assert stored == {i: owner[name] for i, name in submitted.items()}
    for name, headers in projects.items():
        listed = live_client.get("/experiments", params={"limit": 500}, headers=headers).json()
        mine = {e["id"] for e in listed["items"] if e["name"].startswith("batch-")}
        assert mine == {i for i, n in submitted.items() if n == name}
        other = next(i for i, n in submitted.items() if n != name)
        assert live_client.get(f"/experiments/{other}", headers=headers).status_code == 404
