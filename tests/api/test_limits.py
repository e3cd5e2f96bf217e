"""Quotas and rate limits at their exact boundaries; a refusal stores nothing."""

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.experiments import ExperimentCreate, finish_experiment, request_steps
from models.identity import KeyCreate, create_key
from models.storage import get_settings, session_scope
from models.tables import Experiment, Project, RangeTest, Sweep
from tests.conftest import SessionKeys
from tests.factories import claim, experiment_payload, home_project_id

SWEEP = {"base": {"training": {"epochs": 1}}, "schedulers": [{"type": "constant"}]}


def _project(session: Session) -> Project:
    project = session.get(Project, home_project_id(session))
    assert project is not None
    return project


def _count(session: Session, table: Any) -> int:
    return session.scalar(select(func.count()).select_from(table)) or 0


def _active(session: Session, table: Any = Experiment) -> int:
    """Queued and running jobs of the test project in `table` (experiments or range tests)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(table)
            .where(
                table.project_id == home_project_id(session),
                table.status.in_(("queued", "running")),
            )
        )
        or 0
    )


def test_active_experiments_quota_is_exact_and_frees_on_cancel_and_finish(
    client: TestClient, db_session: Session
) -> None:
    start = _active(db_session)
    _project(db_session).max_active_experiments = start + 2
    db_session.flush()
    first, second = (client.post("/experiments", json=experiment_payload()) for _ in range(2))
    assert first.status_code == 202 and second.status_code == 202
    stored = _count(db_session, Experiment)
    refused = client.post("/experiments", json=experiment_payload())
    assert refused.status_code == 429
    assert refused.json() | {"detail": ""} == {
        "detail": "",
        "quota": "active_experiments",
        "limit": start + 2,
        "current": start + 2,
    }
    # The count is the project's, not the request's.
    assert refused.json()["detail"] == (
        f"quota active_experiments exceeded: at most {start + 2} queued and running "
        f"experiments, the project has {start + 2} and this request adds 1"
    )
    assert _count(db_session, Experiment) == stored
    assert client.post(f"/experiments/{first.json()['id']}/cancel").status_code == 200
    assert client.post("/experiments", json=experiment_payload()).status_code == 202
    assert client.post("/experiments", json=experiment_payload()).status_code == 429
    experiment_id = uuid.UUID(second.json()["id"])
    claim(db_session, experiment_id)
    assert client.post("/experiments", json=experiment_payload()).status_code == 429  # running
    finish_experiment(db_session, experiment_id=experiment_id, attempt=1)
    assert client.post("/experiments", json=experiment_payload()).status_code == 202


def test_active_range_tests_quota_is_exact_and_frees_on_cancel(
    client: TestClient, db_session: Session
) -> None:
    """Range tests are jobs too: a key cannot queue them without bound."""
    active = _active(db_session, RangeTest)
    _project(db_session).max_active_range_tests = active + 1
    db_session.flush()
    body = {"dataset": {"name": "mnist", "train_samples": 512}, "num_iter": 100}
    first = client.post("/range-tests", json=body)
    assert first.status_code == 202, first.text
    stored = _count(db_session, RangeTest)
    refused = client.post("/range-tests", json=body)
    assert refused.status_code == 429
    assert refused.json() | {"detail": ""} == {
        "detail": "",
        "quota": "active_range_tests",
        "limit": active + 1,
        "current": active + 1,
    }
    assert _count(db_session, RangeTest) == stored
    # Experiments have their own quota: a full range-test quota does not refuse them.
    assert client.post("/experiments", json=experiment_payload()).status_code == 202
    assert client.post(f"/range-tests/{first.json()['id']}/cancel").status_code == 200
    assert client.post("/range-tests", json=body).status_code == 202


def test_the_operator_sets_and_resets_the_range_test_quota(
    client: TestClient, db_session: Session, keys: SessionKeys
) -> None:
    operator_headers = keys.headers(keys.operator)
    name = _project(db_session).name
    patched = client.patch(
        f"/admin/projects/{name}", json={"max_active_range_tests": 3}, headers=operator_headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["max_active_range_tests"] == 3
    assert _project(db_session).max_active_range_tests == 3
    reset = client.patch(
        f"/admin/projects/{name}", json={"max_active_range_tests": None}, headers=operator_headers
    )
    assert reset.json()["max_active_range_tests"] is None
    negative = client.patch(
        f"/admin/projects/{name}", json={"max_active_range_tests": -1}, headers=operator_headers
    )
    assert negative.status_code == 422


def test_a_sweep_larger_than_the_members_quota_is_refused_whole(
    client: TestClient, db_session: Session
) -> None:
    _project(db_session).max_sweep_members = 2
    db_session.flush()
    two = {**SWEEP, "seeds": [0, 1]}
    three = {**SWEEP, "seeds": [0, 1, 2]}
    assert client.post("/sweeps", json=two).status_code == 202
    sweeps, experiments = _count(db_session, Sweep), _count(db_session, Experiment)
    refused = client.post("/sweeps", json=three)
    assert refused.status_code == 429, refused.text
    body = refused.json()
    assert (body["quota"], body["limit"], body["current"]) == ("sweep_members", 2, 3)
    assert (_count(db_session, Sweep), _count(db_session, Experiment)) == (sweeps, experiments)


def test_request_steps_count_epochs_times_capped_steps_per_epoch(
    client: TestClient, db_session: Session
) -> None:
    payload = experiment_payload()  # 2 epochs × ceil(512 / 64) = 16 steps
    assert request_steps([ExperimentCreate.model_validate(payload)]) == 16
    huge = experiment_payload(
        training={"epochs": 1, "batch_size": 1000}, dataset={"train_samples": 1_000_000}
    )
    assert request_steps([ExperimentCreate.model_validate(huge)]) == 60  # MNIST has 60,000
    project = _project(db_session)
    project.max_request_steps = 16
    db_session.flush()
    assert client.post("/experiments", json=payload).status_code == 202
    project.max_request_steps = 15
    db_session.flush()
    stored = _count(db_session, Experiment)
    refused = client.post("/experiments", json=payload)
    assert refused.status_code == 429
    assert (refused.json()["quota"], refused.json()["current"]) == ("request_steps", 16)
    assert _count(db_session, Experiment) == stored


def test_the_default_steps_quota_refuses_the_issue_example(client: TestClient) -> None:
    # The issue's 500-member sweep of batch 1, at 100 epochs so that each member stays within
    # LRLAB_MAX_STEPS_PER_EXPERIMENT (10^6 steps; 1000 epochs is a 422 on its own):
    # 500 × 100 × 10,000 steps is far past the default 10^7 steps of one request.
    sweep = {
        "base": {
            "training": {"epochs": 100, "batch_size": 1},
            "dataset": {"train_samples": 10_000},
        },
        "schedulers": [{"type": "constant"}],
        "seeds": list(range(500)),
    }
    refused = client.post("/sweeps", json=sweep)
    assert refused.status_code == 429, refused.text
    assert refused.json()["quota"] == "request_steps"
    assert refused.json()["limit"] == get_settings().quota_request_steps


def test_every_limit_of_a_multi_limit_setting_applies(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "rate_limit", "100/minute;2/hour")
    with session_scope() as session:
        fresh = create_key(
            session, project_id=home_project_id(session), key=KeyCreate(label="rl2", role="write")
        )
    headers = {"Authorization": f"Bearer {fresh.key}"}
    answers = [
        client.post("/experiments", json=experiment_payload(), headers=headers).status_code
        for _ in range(3)
    ]
    assert answers == [202, 202, 429]


def test_rate_limit_per_key_on_mutating_routes(
    client: TestClient, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "rate_limit", "3/minute")
    # Committed: keys are looked up in a session of their own, never the request's.
    with session_scope() as session:
        fresh = create_key(
            session, project_id=home_project_id(session), key=KeyCreate(label="rl", role="write")
        )
    headers = {"Authorization": f"Bearer {fresh.key}"}
    for _ in range(3):
        assert (
            client.post("/experiments", json=experiment_payload(), headers=headers).status_code
            == 202
        )
    stored = _count(db_session, Experiment)
    over = client.post("/experiments", json=experiment_payload(), headers=headers)
    assert over.status_code == 429
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    assert _count(db_session, Experiment) == stored
    # Reads are not limited, and another key has its own budget.
    assert client.get("/experiments", headers=headers).status_code == 200
    assert client.post("/experiments", json=experiment_payload()).status_code == 202


def test_the_rate_limit_applies_before_the_body_is_read(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "rate_limit", "2/minute")
    with session_scope() as session:
        fresh = create_key(
            session, project_id=home_project_id(session), key=KeyCreate(label="rb", role="write")
        )
    headers = {"Authorization": f"Bearer {fresh.key}", "content-type": "application/json"}
    # A refused body still counts: parsing it is the work the limit bounds.
    assert client.post("/experiments", content=b"{", headers=headers).status_code == 422
    assert client.post("/experiments", content=b"{", headers=headers).status_code == 422
    over = client.post("/experiments", content=b"{", headers=headers)
    assert over.status_code == 429, over.text
