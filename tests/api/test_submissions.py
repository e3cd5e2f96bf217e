"""Group commit of `POST /experiments`: concurrent submissions share transactions, each one
admitted, stored, published and answered as if it had been alone."""

import asyncio
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from api import submissions as submissions_module
from api.submissions import Committer
from devtools.processes import ApiProcess, provision_key
from models.errors import QuotaError
from models.experiments import ExperimentCreate, ExperimentRead, Submission
from models.identity import ProjectCreate, create_project
from models.storage import get_sessionmaker, get_settings, redis_py_url, session_scope
from models.tables import Experiment, Project
from tests.factories import experiment_payload

SPEC = ExperimentCreate.model_validate(experiment_payload())


@pytest.fixture
def project(database: str) -> Iterator[tuple[uuid.UUID, str]]:
    """A project of its own (id, name); its experiments are removed after the test."""
    name = f"gc-{uuid.uuid4().hex[:12]}"
    with session_scope() as session:
        project_id = create_project(session, project=ProjectCreate(name=name)).id
    yield project_id, name
    with session_scope() as session:
        session.execute(delete(Experiment).where(Experiment.project_id == project_id))
        session.execute(delete(Project).where(Project.id == project_id))


@pytest.fixture
def queue() -> Iterator[str]:
    """A broker queue of its own, deleted after the test."""
    name = f"lrlab-test-gc-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_py_url(get_settings().broker_url))
    yield name
    client.delete(name)
    client.close()


def _limit_active(project_id: uuid.UUID, limit: int) -> None:
    with session_scope() as session:
        row = session.get(Project, project_id)
        assert row is not None
        row.max_active_experiments = limit


def _queued_messages(queue: str) -> int:
    client = redis.Redis.from_url(redis_py_url(get_settings().broker_url))
    try:
        return int(client.llen(queue))
    finally:
        client.close()


def _stored(project_id: uuid.UUID) -> int:
    with session_scope() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(Experiment)
                .where(Experiment.project_id == project_id)
            )
            or 0
        )


def test_submissions_arriving_during_a_commit_share_the_next_batch(
    project: tuple[uuid.UUID, str], queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_id, _ = project
    batches: list[int] = []
    first_started = threading.Event()
    store = submissions_module.store_submissions

    def observed(session: Any, *, submissions: list[Submission]) -> Any:
        batches.append(len(submissions))
        if len(batches) == 1:
            first_started.set()
            # Everyone else arrives while the first batch is still being stored.
            threading.Event().wait(0.5)
        return store(session, submissions=submissions)

    monkeypatch.setattr(submissions_module, "store_submissions", observed)
    committer = Committer(get_sessionmaker())
    submission = Submission(project_id=project_id, key_id=None, spec=SPEC, queue=queue)

    async def submit_all() -> list[ExperimentRead]:
        first = asyncio.create_task(committer.submit(submission))
        assert await asyncio.to_thread(first_started.wait, 10)
        rest = await asyncio.gather(*(committer.submit(submission) for _ in range(11)))
        return [await first, *rest]

    try:
        reads = asyncio.run(submit_all())
    finally:
        committer.close()
    assert batches == [1, 11]  # the other eleven shared one transaction
    assert len({r.id for r in reads}) == 12
    assert _stored(project_id) == 12
    assert _queued_messages(queue) == 12  # each published once, after its commit


def test_a_refused_submission_does_not_fail_its_batch(
    project: tuple[uuid.UUID, str], queue: str
) -> None:
    project_id, _ = project
    _limit_active(project_id, 1)
    committer = Committer(get_sessionmaker())
    submission = Submission(project_id=project_id, key_id=None, spec=SPEC, queue=queue)

    async def submit_all() -> list[ExperimentRead | BaseException]:
        return await asyncio.gather(
            *(committer.submit(submission) for _ in range(6)), return_exceptions=True
        )

    try:
        outcomes = asyncio.run(submit_all())
    finally:
        committer.close()
    assert sum(isinstance(o, ExperimentRead) for o in outcomes) == 1
    assert sum(isinstance(o, QuotaError) for o in outcomes) == 5
    assert _stored(project_id) == 1 and _queued_messages(queue) == 1


def test_concurrent_submissions_to_two_api_processes_keep_the_quota_exact(
    database: str, project: tuple[uuid.UUID, str], queue: str, tmp_path: Path
) -> None:
    project_id, name = project
    _limit_active(project_id, 5)
    api = ApiProcess(
        tmp_path / "api.log",
        env={"LRLAB_QUEUE": queue, "LRLAB_RATE_LIMIT": "off"},
        api_key=provision_key(database, project=name),
        workers=2,
    )
    try:
        api.wait_healthy()

        def post(_: int) -> int:
            with httpx.Client(base_url=api.url, timeout=30) as client:
                return client.post(
                    "/experiments",
                    json=experiment_payload(),
                    headers={"Authorization": f"Bearer {api.api_key}"},
                ).status_code

        with ThreadPoolExecutor(30) as pool:
            statuses = list(pool.map(post, range(30)))
    finally:
        api.stop()
    assert sorted(statuses) == [202] * 5 + [429] * 25
    assert _stored(project_id) == 5
    assert _queued_messages(queue) == 5


def test_a_batched_submission_is_validated_and_checked_off_the_event_loop(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_loop: list[bool] = []

    def running_loop() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    validate = submissions_module.accept_experiment_spec
    warnings = ExperimentCreate.warnings

    def spied_validate(*args: Any, **kwargs: Any) -> ExperimentCreate:
        on_loop.append(running_loop())
        return validate(*args, **kwargs)

    def spied_warnings(self: ExperimentCreate) -> list[str]:
        on_loop.append(running_loop())
        return warnings(self)

    monkeypatch.setattr(submissions_module, "accept_experiment_spec", spied_validate)
    monkeypatch.setattr(ExperimentCreate, "warnings", spied_warnings)
    # No Idempotency-Key: the group-commit path, the one that ran on the loop.
    assert client.post("/experiments", json=experiment_payload()).status_code == 202
    assert on_loop == [False, False]
