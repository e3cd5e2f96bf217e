"""Median extra latency that authentication adds to `GET /experiments/{id}`.

Run: `.venv/bin/python -m bench.auth_latency`. In-process (ASGI, no network), on its own
database: the same request with the real key lookup, and with the policy replaced by a fixed
caller; reports both medians and their difference.
"""

import os
import statistics
import time

BENCH_DB = os.environ.get(
    "LRLAB_BENCH_AUTH_DB", "postgresql+psycopg://postgres@127.0.0.1:5432/lrlab_bench_auth"
)
os.environ["LRLAB_DATABASE_URL"] = BENCH_DB
os.environ["LRLAB_RATE_LIMIT"] = "off"

from fastapi.testclient import TestClient  # noqa: E402

from api.auth import READ  # noqa: E402
from api.main import app  # noqa: E402
from models.experiments import (  # noqa: E402
    ExperimentCreate,
    create_experiment,
)
from models.identity import Caller, KeyCreate, ProjectCreate, create_key, create_project  # noqa: E402
from models.storage import (  # noqa: E402
    prepare_database,
    session_scope,
)

ROUNDS = int(os.environ.get("LRLAB_BENCH_AUTH_ROUNDS", "2000"))


def _median_ms(client: TestClient, path: str, headers: dict[str, str]) -> float:
    for _ in range(50):
        assert client.get(path, headers=headers).status_code == 200
    times = []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        client.get(path, headers=headers)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    prepare_database(BENCH_DB, recreate=True)
    with session_scope() as session:
        project = create_project(session, project=ProjectCreate(name="bench"))
        key = create_key(session, project_id=project.id, key=KeyCreate(label="bench", role="read"))
        spec = ExperimentCreate.model_validate({"scheduler": {"type": "constant"}})
        experiment = create_experiment(session, project_id=project.id, spec=spec, queue="bench")
        caller = Caller(project_id=project.id, key_id=key.id, key_label="bench", role="read")
    path = f"/experiments/{experiment.id}"
    with TestClient(app) as client:
        rounds = []
        for _ in range(3):  # interleaved, so drift on a shared machine hits both alike
            with_auth = _median_ms(client, path, {"Authorization": f"Bearer {key.key}"})
            app.dependency_overrides[READ] = lambda: caller
            without = _median_ms(client, path, {})
            app.dependency_overrides.clear()
            rounds.append((with_auth, without))
    with_auth = statistics.median(r[0] for r in rounds)
    without = statistics.median(r[1] for r in rounds)
    print(f"GET /experiments/{{id}}, median of {ROUNDS} requests × 3 rounds, in-process:")
    print(f"  with key lookup     {with_auth:.3f} ms")
    print(f"  policy bypassed     {without:.3f} ms")
    print(f"  auth adds           {with_auth - without:.3f} ms ({with_auth / without - 1:+.0%})")


if __name__ == "__main__":
    main()
