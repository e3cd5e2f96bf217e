"""Shared fixtures: a migrated test database, isolated sessions, a live API and a real worker."""

import contextlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devtools.servers import start_test_servers

_HERE = Path(__file__).resolve().parent
_RUN_ID = f"{os.getpid()}"
# The servers by `make up`'s rule (configured, else at the default address, else embedded
# ones in a directory of this session); set before any lrlab module reads its settings: the
# tests own their database and queue, never those of a running `make up`.
_EMBEDDED_DIR = Path(tempfile.mkdtemp(prefix="lrlab-test-servers-"))
_SERVERS = start_test_servers(_EMBEDDED_DIR, f"lrlab_test_{_RUN_ID}")
os.environ["LRLAB_DATABASE_URL"] = _SERVERS.database_url
os.environ["LRLAB_BROKER_URL"] = _SERVERS.broker_url
os.environ["LRLAB_QUEUE"] = f"lrlab-test-{_RUN_ID}"
# The operator token of the tests; no credentials file of the checkout is read.
os.environ["LRLAB_ADMIN_TOKEN"] = f"lrlab-test-operator-{_RUN_ID}-0123456789"
os.environ["LRLAB_CREDENTIALS_FILE"] = f"/tmp/lrlab-test-credentials-{_RUN_ID}-absent.json"
# Rate limits are off unless a test turns them on (the rate-limit tests and the fault suite,
# whose processes run with the defaults: tests/faults/conftest.py).
os.environ["LRLAB_RATE_LIMIT"] = "off"
os.environ["LRLAB_AUTH_FAILURE_LIMIT"] = "off"
# Tests train on small data; compiling the default spec's shapes at start would only cost time.
os.environ.setdefault("LRLAB_WARM_UP", "false")
_SHARED_MNIST = _HERE.parent.parent / "shared" / "datasets" / "mnist-offline"
if "LRLAB_MNIST_PATH" not in os.environ and _SHARED_MNIST.is_dir():
    os.environ["LRLAB_MNIST_PATH"] = str(_SHARED_MNIST)
_IN_CI = os.environ.get("CI", "").lower() == "true"

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from api.deps import get_session, get_sessions  # noqa: E402
from api.main import app  # noqa: E402
from api.submissions import Committer, get_committer  # noqa: E402
from devtools.processes import WorkerProcess  # noqa: E402
from models.identity import KeyCreate, ProjectCreate, create_key, create_project, revoke_key  # noqa: E402
from models.storage import (  # noqa: E402
    get_engine,
    get_settings,
    prepare_database,
    redis_py_url,
    session_scope,
)
from tests.factories import remove_made_since  # noqa: E402

TEST_PROJECT = "tests"
OTHER_PROJECT = "tests-other"


@dataclass(frozen=True)
class SessionKeys:
    """Secrets of this session's keys: three roles of the test project, one of another."""

    project_id: uuid.UUID
    other_project_id: uuid.UUID
    read: str
    write: str
    admin: str
    other: str
    other_admin: str
    revoked: str
    operator: str

    def headers(self, key: str) -> dict[str, str]:
        """The Authorization header for `key`."""
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="session", autouse=True)
def database() -> Iterator[str]:
    """Create and migrate this session's database once; drop it at the end."""
    url = get_settings().database_url
    prepare_database(url, recreate=True)
    yield url
    get_engine().dispose()
    _drop_database(url)


@pytest.fixture(scope="session", autouse=True)
def keys(database: str) -> SessionKeys:
    """This session's test project and keys; `client` and the CLI use its write key."""
    with session_scope() as session:
        mine = create_project(session, project=ProjectCreate(name=TEST_PROJECT))
        other = create_project(session, project=ProjectCreate(name=OTHER_PROJECT))

        def key(project_id: uuid.UUID, role: str) -> str:
            spec = KeyCreate.model_validate({"label": f"test {role}", "role": role})
            return create_key(session, project_id=project_id, key=spec).key

        made = SessionKeys(
            project_id=mine.id,
            other_project_id=other.id,
            read=key(mine.id, "read"),
            write=key(mine.id, "write"),
            admin=key(mine.id, "admin"),
            other=key(other.id, "write"),
            other_admin=key(other.id, "admin"),
            revoked=key(mine.id, "admin"),
            operator=os.environ["LRLAB_ADMIN_TOKEN"],
        )
        from models.identity import find_key

        revoked = find_key(session, key=made.revoked)
        assert revoked is not None
        revoke_key(session, key_id=revoked.id, project_id=None)
    # The CLI, LrlabClient and ApiProcess of the tests speak as the write key.
    os.environ["LRLAB_API_KEY"] = made.write
    return made


def _drop_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def db_session(database: str) -> Iterator[Session]:
    """A session inside a transaction rolled back after the test; commits become savepoints."""
    connection = get_engine().connect()
    outer = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def client(db_session: Session, keys: SessionKeys) -> Iterator[TestClient]:
    """The API bound to the test's rolled-back session, as the test project's write key."""

    def sessions() -> contextlib.AbstractContextManager[Session]:
        return contextlib.nullcontext(db_session)

    committer = Committer(sessions)
    app.dependency_overrides[get_session] = lambda: db_session
    app.dependency_overrides[get_sessions] = lambda: sessions
    app.dependency_overrides[get_committer] = lambda: committer
    try:
        with TestClient(app, headers=keys.headers(keys.write)) as test_client:
            yield test_client
    finally:
        app.dependency_overrides.pop(get_session, None)
        app.dependency_overrides.pop(get_sessions, None)
        app.dependency_overrides.pop(get_committer, None)
        committer.close()


@pytest.fixture
def live_client(database: str, keys: SessionKeys) -> Iterator[TestClient]:
    """The API committing for real (a worker must see its rows); its rows are removed after."""
    started = datetime.now(UTC) - timedelta(seconds=1)
    with TestClient(app, headers=keys.headers(keys.write)) as test_client:
        yield test_client
    remove_made_since(started)


@pytest.fixture(scope="session")
def worker(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """One real Celery worker for the end-to-end tests."""
    proc = WorkerProcess(tmp_path_factory.mktemp("worker") / "worker.log")
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()
        _purge_queue()


def _purge_queue() -> None:
    import redis

    settings = get_settings()
    redis.Redis.from_url(redis_py_url(settings.broker_url)).delete(settings.queue)


def wait_for(predicate: Callable[[], object], *, timeout: float, interval: float = 0.2) -> object:
    """Poll until `predicate()` is truthy and return its value, or fail the test."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(interval)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the embedded servers this session started and remove their data."""
    _SERVERS.stop()
    shutil.rmtree(_EMBEDDED_DIR, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`fresh` tests (a whole fresh clone; minutes) run only under `make check-fresh`."""
    if os.environ.get("LRLAB_CHECK_FRESH") == "1":
        return
    kept = [item for item in items if item.get_closest_marker("fresh") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per reason of what was skipped; under CI=true a skip fails the run."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    for reason, count in sorted(reasons.items()):
        terminalreporter.write_line(f"lrlab: skipped {count} test(s): {reason}", yellow=True)
    if reasons and _IN_CI:
        terminalreporter.write_line("lrlab: under CI=true nothing may skip", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI=true a skipped test is a failure: every test must run there."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if _IN_CI and reporter is not None and reporter.stats.get("skipped") and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
