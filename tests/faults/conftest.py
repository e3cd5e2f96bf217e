"""Fault-injection harness: its own redis-server, API and worker processes, all killable."""

import contextlib
import os
import re
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from devtools.processes import ApiProcess, WorkerProcess
from devtools.redis_server import RedisServer
from devtools.servers import drop_database, other_database
from models.storage import Settings, prepare_database
from models.tables import Experiment
from tests.faults.proxy import CuttableProxy

pytestmark = pytest.mark.faults

# Short leases and a fast reconciler keep recovery within seconds in these tests.
FAULT_ENV = {
    "LRLAB_LEASE_SECONDS": "4",
    "LRLAB_RECONCILE_INTERVAL_SECONDS": "0.5",
    "LRLAB_REQUEUE_AFTER_SECONDS": "3",
    "LRLAB_MAX_ATTEMPTS": "3",
    "LRLAB_BROKER_TIMEOUT_SECONDS": "1",
    "LRLAB_GROUP_SIZE": "4",
}

# The rest of the suite turns rate limits off; the fault suite's processes run with the
# defaults, so that an outage meets them as it would in production.
DEFAULT_ON = {
    f"LRLAB_{name.upper()}": str(Settings.model_fields[name].default)
    for name in ("rate_limit", "auth_failure_limit")
}


class Stack:
    """Processes of one fault test, on the fault tests' own database and a private Redis."""

    def __init__(self, tmp: Path, redis: RedisServer, database_url: str, engine: Engine) -> None:
        self.tmp = tmp
        self.redis = redis
        self.database_url = database_url
        self.engine = engine
        self.queue = f"faults-{uuid.uuid4().hex[:8]}"
        self.workers: list[WorkerProcess] = []
        self.apis: list[ApiProcess] = []
        self.experiment_ids: list[str] = []

    def env(self, **overrides: str) -> dict[str, str]:
        return {
            **os.environ,
            **DEFAULT_ON,
            **FAULT_ENV,
            "LRLAB_DATABASE_URL": self.database_url,
            "LRLAB_BROKER_URL": self.redis.url,
            "LRLAB_QUEUE": self.queue,
            **overrides,
        }

    def api(self, **overrides: str) -> ApiProcess:
        api = ApiProcess(self.tmp / f"api{len(self.apis)}.log", env=self.env(**overrides))
        self.apis.append(api)
        api.wait_healthy()
        return api

    def worker(self, *, ready: bool = True, **overrides: str) -> WorkerProcess:
        worker = WorkerProcess(
            self.tmp / f"worker{len(self.workers)}.log", env=self.env(**overrides)
        )
        self.workers.append(worker)
        if ready:
            worker.wait_ready()
        return worker

    def submit(self, api: ApiProcess, **spec: Any) -> str:
        response = api.client.post("/experiments", json=spec)
        assert response.status_code == 202, response.text
        experiment_id = str(response.json()["id"])
        self.experiment_ids.append(experiment_id)
        return experiment_id

    @contextlib.contextmanager
    def database_proxy(self) -> Iterator[tuple[CuttableProxy, str]]:
        """A proxy in front of this stack's Postgres that a test can cut, and its URL."""
        real = make_url(self.database_url)
        socket_dir = real.query.get("host")
        # An embedded Postgres listens on a Unix socket only: the proxy forwards TCP to it.
        target: tuple[str, int] | str = (
            f"{socket_dir}/.s.PGSQL.{real.port or 5432}"
            if isinstance(socket_dir, str)
            else (real.host or "127.0.0.1", real.port or 5432)
        )
        proxy = CuttableProxy(target)
        through = real.difference_update_query(["host"]).set(host="127.0.0.1", port=proxy.port)
        try:
            yield proxy, through.render_as_string(hide_password=False)
        finally:
            proxy.close()

    def close(self) -> None:
        for worker in self.workers:
            worker.stop(signal.SIGKILL)
        for api in self.apis:
            api.stop()
        if self.experiment_ids:
            with Session(self.engine) as session, session.begin():
                session.execute(
                    delete(Experiment).where(
                        Experiment.id.in_([uuid.UUID(i) for i in self.experiment_ids])
                    )
                )


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fault_database(database: str) -> Iterator[tuple[str, Engine]]:
    """A database of the fault tests' own: no other worker's reconciler acts on their rows."""
    url = other_database(database, make_url(database).database + "_faults")
    prepare_database(url, recreate=True)
    engine = create_engine(url)
    yield url, engine
    engine.dispose()
    drop_database(url)


@pytest.fixture
def stack(
    tmp_path: Path, redis_server: RedisServer, fault_database: tuple[str, Engine]
) -> Iterator[Stack]:
    s = Stack(tmp_path, redis_server, *fault_database)
    yield s
    s.close()


def experiment_spec(epochs: int, *, train_samples: int = 2000, **training: Any) -> dict[str, Any]:
    """A small run: a few hundred steps per epoch, so a kill lands inside an epoch."""
    return {
        "scheduler": {"type": "exponential", "gamma": 0.9},
        "training": {"epochs": epochs, "batch_size": 32, "learning_rate": 0.001, **training},
        "dataset": {"name": "mnist", "train_samples": train_samples},
    }


def wait_status(
    api: ApiProcess, ids: list[str], *, statuses: set[str], timeout: float
) -> dict[str, dict[str, Any]]:
    """Poll until every experiment is in one of `statuses`."""
    deadline = time.monotonic() + timeout
    while True:
        bodies = {}
        for experiment_id in ids:
            response = api.client.get(f"/experiments/{experiment_id}")
            if response.status_code == 200:
                bodies[experiment_id] = response.json()
        if len(bodies) == len(ids) and all(b["status"] in statuses for b in bodies.values()):
            return bodies
        if time.monotonic() > deadline:
            pytest.fail(
                f"not all in {statuses} after {timeout}s: "
                f"{ {k: v['status'] for k, v in bodies.items()} }"
            )
        time.sleep(0.2)


def _claims(stack: Stack) -> Counter[tuple[str, int]]:
    """How many times the stack's workers logged claiming each (experiment, attempt)."""
    claims: Counter[tuple[str, int]] = Counter()
    for worker in stack.workers:
        for line in worker.log_path.read_text(errors="replace").splitlines():
            found = _CLAIMED.search(line)
            if found is None:
                continue
            for item in found.group(1).split(", "):
                experiment_id, _, attempt = item.strip().partition("#")
                claims[(experiment_id, int(attempt))] += 1
    return claims


_CLAIMED = re.compile(r"claimed \d+ experiment\(s\): (.+)$")


def assert_ledger_invariants(stack: Stack) -> None:
    """The invariants every fault test ends with, checked in SQL over its experiments."""
    ids = stack.experiment_ids
    with Session(stack.engine) as session:
        params = {"ids": [uuid.UUID(i) for i in ids]}
        not_terminal = session.execute(
            text(
                "SELECT id, status FROM experiment WHERE id = ANY(:ids) "
                "AND status NOT IN ('succeeded', 'failed', 'cancelled', 'pruned')"
            ),
            params,
        ).all()
        assert not_terminal == [], f"accepted experiments not terminal: {not_terminal}"
        # Each epoch was trained once per attempt: no attempt was claimed by two workers (both
        # would train it), and every recorded row comes from an attempt a worker claimed.
        claims = _claims(stack)
        twice = sorted(claim for claim, count in claims.items() if count > 1)
        assert twice == [], f"attempts claimed more than once: {twice}"
        recorded = session.execute(
            text(
                "SELECT DISTINCT experiment_id::text, attempt FROM metric "
                "WHERE experiment_id = ANY(:ids)"
            ),
            params,
        ).all()
        unclaimed = sorted((str(i), a) for i, a in recorded if (str(i), a) not in claims)
        assert unclaimed == [], f"rows of attempts no worker claimed: {unclaimed}"
        incomplete = session.execute(
            text(
                "SELECT e.id FROM experiment e LEFT JOIN metric m ON m.experiment_id = e.id "
                "WHERE e.id = ANY(:ids) AND e.status = 'succeeded' GROUP BY e.id, e.epochs "
                "HAVING count(m.epoch) <> e.epochs OR min(m.epoch) <> 1 OR max(m.epoch) <> e.epochs"
            ),
            params,
        ).all()
        assert incomplete == [], f"succeeded without exactly epochs 1..n: {incomplete}"
        # A stale attempt's row would be newer than a later attempt's, or newer than the run's.
        stale = session.execute(
            text(
                "SELECT m.experiment_id, m.epoch, m.attempt FROM metric m "
                "JOIN experiment e ON e.id = m.experiment_id WHERE e.id = ANY(:ids) AND ("
                " m.attempt > e.attempt OR EXISTS (SELECT 1 FROM metric later "
                "  WHERE later.experiment_id = m.experiment_id AND later.epoch > m.epoch "
                "  AND later.attempt < m.attempt))"
            ),
            params,
        ).all()
        assert stale == [], f"rows from a stale attempt: {stale}"
        leftover = session.execute(
            text("SELECT experiment_id FROM checkpoint WHERE experiment_id = ANY(:ids)"), params
        ).all()
        assert leftover == [], "checkpoints of finished experiments must be deleted"
