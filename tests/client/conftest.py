"""Fixtures of the client tests: the real API served by uvicorn in a subprocess."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete
from typer.testing import CliRunner, Result

from devtools.processes import ApiProcess
from lrlab_client.cli import app
from models.storage import session_scope
from models.tables import Experiment, Sweep


@pytest.fixture(scope="session")
def live_api(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real API (`uvicorn api.main:app`) on a free port, on this session's test database."""
    api = ApiProcess(tmp_path_factory.mktemp("api") / "api.log")
    started = datetime.now(UTC) - timedelta(seconds=1)
    try:
        api.wait_healthy()
        yield api.url
    finally:
        api.stop()
        # What the CLI submitted was committed for real; leave the shared database as found.
        with session_scope() as session:
            session.execute(delete(Sweep).where(Sweep.created_at >= started))
            session.execute(delete(Experiment).where(Experiment.created_at >= started))


Invoke = Callable[..., Result]


@pytest.fixture
def lrlab() -> Invoke:
    """Run the CLI in-process: `lrlab("status", id, api=url)` (stdout and stderr apart)."""
    runner = CliRunner()

    def invoke(*args: str, api: str | None = None) -> Result:
        argv = [*args, "--api", api] if api is not None else list(args)
        return runner.invoke(app, argv, catch_exceptions=False)

    return invoke
