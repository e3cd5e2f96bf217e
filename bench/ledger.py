"""The ledger at scale: API latencies and query plans on the database `bench.ledger_data` filled.

    python -m bench.ledger [--database URL] [--requests 200]

Runs the real API (uvicorn) against that database, authenticated by a read key of the big
project (`ledger-big`, ~90% of the rows: the worst case for one user's list), and reports p50/p99 of
`GET /experiments?limit=50` (no filter, each filter, a shallow offset page, a keyset page a
million rows deep), `GET /experiments/{id}/metrics` of the 1,000-epoch run, and
`GET /sweeps/{id}/comparison` of the 500-member × 100-epoch sweep; then times the reconciler's
pass. Beside each HTTP figure it times the same domain call in-process (query, rows, read
models, JSON), so the gap is the HTTP stack and auth. Writes the results, the load average
seen and the EXPLAIN (ANALYZE, BUFFERS) plans behind the indexes to bench/LEDGER_PLANS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench.ledger_data import BIG_PROJECT, DEFAULT_DB, LONG_RUN, WIDE_SWEEP

ROOT = Path(__file__).resolve().parent.parent
TARGETS_MS = {"list": 50.0, "metrics": 50.0, "comparison": 500.0, "reconciler": 100.0}


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _time_get(client: Any, path: str, params: dict[str, Any], n: int) -> list[float]:
    client.get(path, params=params).raise_for_status()  # warm: plans and caches
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path, params=params)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return times


def _time_call(call: Any, n: int) -> list[float]:
    call()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _in_process(project: uuid.UUID, path: str, params: dict[str, Any]) -> Any:
    """The domain work behind one GET, as the route does it, without HTTP: a callable."""
    import orjson

    from models.experiments import ExperimentPage, experiment_read, list_experiments, metric_rows
    from models.storage import get_sessionmaker
    from models.sweeps import compare_sweep

    def call() -> None:
        with get_sessionmaker()() as session:
            if path == "/experiments":
                items, total, exact, cursor = list_experiments(
                    session, project_id=project, **{k: v for k, v in params.items()}
                )
                ExperimentPage(
                    items=[experiment_read(e) for e in items], total=total, total_exact=exact,
                    limit=params["limit"], offset=params.get("offset", 0), next=cursor,
                ).model_dump_json()  # fmt: skip
            elif path.endswith("/metrics"):
                experiment = uuid.UUID(path.split("/")[2])
                orjson.dumps(
                    {"items": metric_rows(session, project_id=project, experiment_id=experiment)}
                )
            else:
                compare_sweep(
                    session, project_id=project, sweep_id=uuid.UUID(path.split("/")[2]),
                    target=0.97,
                ).model_dump_json()  # fmt: skip

    return call


def _deep_cursor(conn: psycopg.Connection, project: uuid.UUID, depth: int) -> str:
    """The cursor of the row `depth` rows down the project's newest-first order (once)."""
    from models.storage import encode_cursor

    created_at, experiment_id = conn.execute(
        "SELECT created_at, id FROM experiment WHERE project_id = %s "
        "ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
        (project, depth),
    ).fetchone()  # type: ignore[misc]
    return encode_cursor(created_at, experiment_id)


PLANS = {
    "GET /experiments?limit=50 (no filter)": (
        "SELECT * FROM experiment WHERE project_id = '{project}' "
        "ORDER BY created_at DESC, id DESC LIMIT 50"
    ),
    "GET /experiments?after=<cursor 90% deep>": (
        "SELECT * FROM experiment WHERE project_id = '{project}' "
        "AND (created_at, id) < ('{deep_at}', '{deep_id}') "
        "ORDER BY created_at DESC, id DESC LIMIT 50"
    ),
    "GET /experiments?scheduler_type=cosine": (
        "SELECT * FROM experiment WHERE project_id = '{project}' AND scheduler_type = 'cosine' "
        "ORDER BY created_at DESC, id DESC LIMIT 50"
    ),
    "GET /experiments?status=failed&scheduler_type=cosine&after=<deep cursor>": (
        "SELECT * FROM experiment WHERE project_id = '{project}' AND status = 'failed' "
        "AND scheduler_type = 'cosine' AND (created_at, id) < ('{deep_at}', '{deep_id}') "
        "ORDER BY created_at DESC, id DESC LIMIT 50"
    ),
    "the capped total of GET /experiments?status=succeeded": (
        "SELECT count(*) FROM (SELECT id FROM experiment WHERE project_id = '{project}' "
        "AND status = 'succeeded' LIMIT 1001) s"
    ),
    "auth: the key by its hash": ("SELECT * FROM api_key WHERE secret_hash = '{key_hash}'"),
    "GET /experiments/{id}/metrics (1,000 epochs)": (
        "SELECT epoch, lr, loss, accuracy, val_loss, val_accuracy, seconds FROM metric "
        "WHERE experiment_id = '{long_run}' ORDER BY epoch"
    ),
    "GET /sweeps/{id}/comparison: the members": (
        "SELECT * FROM experiment WHERE project_id = '{project}' AND sweep_id = '{sweep}' "
        "ORDER BY created_at"
    ),
    "GET /sweeps/{id}/comparison: every member's curve as two arrays": (
        "SELECT experiment_id, array_agg(val_accuracy ORDER BY epoch), "
        "array_agg(val_loss ORDER BY epoch) FROM metric WHERE experiment_id IN ({members}) "
        "GROUP BY experiment_id"
    ),
    "reconciler: expired leases": (
        "SELECT * FROM experiment WHERE status = 'running' AND lease_expires_at < now() "
        "FOR UPDATE SKIP LOCKED"
    ),
    "reconciler: unsignalled queued": (
        "SELECT id, queue, enqueued_at FROM experiment WHERE status = 'queued' AND "
        "((enqueued_at IS NULL AND updated_at < now() - interval '5 seconds') OR "
        "enqueued_at < now() - interval '30 seconds') ORDER BY created_at LIMIT 1000"
    ),
    "reconciler: queued count per queue": (
        "SELECT count(*) FROM experiment WHERE status = 'queued' AND queue = 'lrlab'"
    ),
}


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=DEFAULT_DB)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--plans-only", action="store_true", help="only write LEDGER_PLANS.md")
    args = parser.parse_args()
    sa_url = args.database.replace("postgresql://", "postgresql+psycopg://")
    os.environ["LRLAB_DATABASE_URL"] = sa_url
    from devtools.processes import ApiProcess, provision_key
    from models.identity import hash_key

    results: list[tuple[str, str, float, float, float]] = []
    with psycopg.connect(args.database) as conn:
        (project,) = conn.execute(
            "SELECT id FROM project WHERE name = %s", (BIG_PROJECT,)
        ).fetchone()  # type: ignore[misc]
        (experiments,) = conn.execute("SELECT count(*) FROM experiment").fetchone()  # type: ignore[misc]
        (in_project,) = conn.execute(
            "SELECT count(*) FROM experiment WHERE project_id = %s", (project,)
        ).fetchone()  # type: ignore[misc]
        (metrics,) = conn.execute("SELECT count(*) FROM metric").fetchone()  # type: ignore[misc]
        (long_run,) = conn.execute(
            "SELECT id FROM experiment WHERE name = %s", (LONG_RUN,)
        ).fetchone()  # type: ignore[misc]
        (sweep,) = conn.execute("SELECT id FROM sweep WHERE name = %s", (WIDE_SWEEP,)).fetchone()  # type: ignore[misc]
        deep = _deep_cursor(conn, project, int(in_project * 0.9))
    sizes = (experiments, in_project, metrics)
    print(f"ledger: {experiments:,} experiments ({in_project:,} in {BIG_PROJECT}), "
          f"{metrics:,} metric rows", flush=True)  # fmt: skip
    key = provision_key(sa_url, project=BIG_PROJECT, role="read", label="ledger bench")
    ids = {"project": project, "long_run": long_run, "sweep": sweep, "deep": deep,
           "key_hash": hash_key(key)}  # fmt: skip
    if args.plans_only:
        _write_plans(args.database, sizes, [], "", **ids)
        return
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        api = ApiProcess(Path(tmp) / "api.log", env={"LRLAB_DATABASE_URL": sa_url}, api_key=key)
        try:
            api.wait_healthy(timeout=120)
            lists: dict[str, dict[str, Any]] = {
                "no filter": {},
                "status=succeeded": {"status": "succeeded"},
                "status=running": {"status": "running"},
                "scheduler_type=cosine": {"scheduler_type": "cosine"},
                "status=failed&scheduler_type=cyclic": {
                    "status": "failed",
                    "scheduler_type": "cyclic",
                },
                "offset=5000": {"offset": 5000},
                "after=<cursor 90% deep>": {"after": deep},
                "status=cancelled&after=<deep>": {"status": "cancelled", "after": deep},
            }
            gets = [
                (f"GET /experiments?limit=50&{label}", "list", "/experiments",
                 {"limit": 50, **params}, args.requests)
                for label, params in lists.items()
            ]  # fmt: skip
            gets += [
                ("GET /experiments/{id}/metrics (1,000 epochs)", "metrics",
                 f"/experiments/{long_run}/metrics", {}, args.requests),
                ("GET /sweeps/{id}/comparison (500 × 100)", "comparison",
                 f"/sweeps/{sweep}/comparison", {}, max(20, args.requests // 10)),
            ]  # fmt: skip
            for label, kind, path, params, n in gets:
                p50, p99 = _percentiles(_time_get(api.client, path, params, n))
                inner = statistics.median(
                    _time_call(_in_process(project, path, params), max(10, n // 4))
                )
                results.append((label, kind, p50, p99, inner))
                print(f"{label:60} {p50:8.1f} {p99:8.1f} {inner:8.1f}", flush=True)
        finally:
            api.stop()
    import gc

    from worker.reconciler import reconcile_once

    reconcile_once()
    gc.freeze()  # as the worker does once started (worker/celery_app.py)
    passes = []
    for _ in range(50):
        started = time.perf_counter()
        reconcile_once()
        passes.append((time.perf_counter() - started) * 1000)
    p50, p99 = _percentiles(passes)
    results.append(("reconciler pass", "reconciler", p50, p99, p50))
    load = f"{load_before} before, {_load()} after"
    print(f"\nload average (1/5/15 min): {load}")
    print(f"{'':60} {'p50 ms':>8} {'p99 ms':>8} {'domain':>8}  target")
    for label, kind, p50, p99, inner in results:
        ok = "ok" if p99 < TARGETS_MS[kind] else "MISSED"
        print(f"{label:60} {p50:8.1f} {p99:8.1f} {inner:8.1f}  < {TARGETS_MS[kind]:.0f} {ok}")
    _write_plans(args.database, sizes, results, load, **ids)


def _write_plans(
    url: str,
    sizes: tuple[int, int, int],
    results: list[tuple[str, str, float, float, float]],
    load: str,
    **ids: Any,
) -> None:
    experiments, in_project, metrics = sizes
    out = [
        "# Ledger latencies and query plans (`python -m bench.ledger`)",
        "",
        f"On the generated ledger (`python -m bench.ledger_data`): {experiments:,} experiments "
        f"({in_project:,} of them in `{BIG_PROJECT}`, whose read key the bench uses), "
        f"{metrics:,} metric rows. Through the real API (uvicorn); `domain` is the median of "
        "the same domain call in-process (query, read models, JSON), so p50 minus domain is "
        "the HTTP stack and auth.",
        "",
    ]
    if results:
        out += [
            f"Load average (1/5/15 min) on the shared 2-core machine: {load}.",
            "",
            "| request | p50 ms | p99 ms | domain ms | target (p99) |",
            "| --- | ---: | ---: | ---: | --- |",
        ]
        for label, kind, p50, p99, inner in results:
            ok = "" if p99 < TARGETS_MS[kind] else " **missed**"
            out.append(
                f"| {label} | {p50:.1f} | {p99:.1f} | {inner:.1f} | < {TARGETS_MS[kind]:.0f}{ok} |"
            )
        out.append("")
    out += ["<!-- notes -->", ""]
    from models.storage import decode_cursor

    deep_at, deep_id = decode_cursor(ids["deep"])
    with psycopg.connect(url, options="-c jit=off") as conn:  # as models.storage.db connects
        # The app names the members it read (models.sweeps.comparison), as this list does.
        members = ", ".join(
            f"'{row[0]}'"
            for row in conn.execute(
                "SELECT id FROM experiment WHERE sweep_id = %s", (ids["sweep"],)
            )
        )
        values = {**{k: str(v) for k, v in ids.items()}, "members": members,
                  "deep_at": deep_at.isoformat(), "deep_id": str(deep_id)}  # fmt: skip
        for title, query in PLANS.items():
            sql = query
            for name, value in values.items():
                sql = sql.replace("{" + name + "}", value)
            rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}").fetchall()
            out += [f"## {title}", "", "```", *(r[0] for r in rows), "```", ""]
            conn.rollback()
    path = ROOT / "bench" / "LEDGER_PLANS.md"
    notes = ""
    if path.exists() and "<!-- notes -->" in path.read_text():
        old = path.read_text().split("<!-- notes -->", 1)[1]
        notes = old.split("\n## ", 1)[0].strip()
    text = "\n".join(out).replace("<!-- notes -->", "<!-- notes -->\n\n" + notes, 1)
    path.write_text(text)
    print("results and plans written to bench/LEDGER_PLANS.md")


if __name__ == "__main__":
    main()
