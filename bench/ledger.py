"""The ledger at scale: API latencies and query plans on the database `bench.ledger_data` filled.

    python -m bench.ledger [--database URL] [--requests 200]

Runs the real API (uvicorn) against that database and reports p50/p99 of
`GET /experiments?limit=50` (no filter, each filter, a shallow offset page, a keyset page a
million rows deep), `GET /experiments/{id}/metrics` of the 1,000-epoch run, and
`GET /sweeps/{id}/comparison` of the 500-member × 100-epoch sweep; then times the reconciler's
pass and writes the EXPLAIN ANALYZE plans behind the indexes to bench/LEDGER_PLANS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.ledger_data import DEFAULT_DB, LONG_RUN, WIDE_SWEEP

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


def _deep_cursor(conn: psycopg.Connection, depth: int) -> str:
    """The cursor of the row `depth` rows down the newest-first order (one slow query, once)."""
    from models.experiments import encode_cursor
    from models.tables import Experiment

    created_at, experiment_id = conn.execute(
        "SELECT created_at, id FROM experiment ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
        (depth,),
    ).fetchone()  # type: ignore[misc]
    return encode_cursor(Experiment(created_at=created_at, id=experiment_id))


PLANS = {
    "GET /experiments?limit=50 (no filter)": (
        "SELECT * FROM experiment ORDER BY created_at DESC, id DESC LIMIT 50"
    ),
    "GET /experiments?status=failed&scheduler_type=cosine&after=<deep cursor>": (
        "SELECT * FROM experiment WHERE status = 'failed' AND scheduler_type = 'cosine' "
        "AND (created_at, id) < (now() - interval '300 days', "
        "'ffffffff-ffff-ffff-ffff-ffffffffffff') "
        "ORDER BY created_at DESC, id DESC LIMIT 50"
    ),
    "the capped total of GET /experiments?status=succeeded": (
        "SELECT count(*) FROM (SELECT id FROM experiment WHERE status = 'succeeded' LIMIT 1001) s"
    ),
    "GET /experiments/{id}/metrics (1,000 epochs)": (
        "SELECT epoch, lr, loss, accuracy, val_loss, val_accuracy, seconds FROM metric "
        "WHERE experiment_id = '{long_run}' ORDER BY epoch"
    ),
    "GET /sweeps/{id}/comparison: the members": (
        "SELECT * FROM experiment WHERE sweep_id = '{sweep}' ORDER BY created_at"
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
        "enqueued_at < now() - interval '30 seconds') ORDER BY created_at"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=DEFAULT_DB)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--plans-only", action="store_true", help="only write LEDGER_PLANS.md")
    args = parser.parse_args()
    sa_url = args.database.replace("postgresql://", "postgresql+psycopg://")
    os.environ["LRLAB_DATABASE_URL"] = sa_url
    from devtools.processes import ApiProcess

    results: list[tuple[str, str, float, float]] = []
    with psycopg.connect(args.database) as conn:
        (experiments,) = conn.execute("SELECT count(*) FROM experiment").fetchone()  # type: ignore[misc]
        (metrics,) = conn.execute("SELECT count(*) FROM metric").fetchone()  # type: ignore[misc]
        (long_run,) = conn.execute(
            "SELECT id FROM experiment WHERE name = %s", (LONG_RUN,)
        ).fetchone()  # type: ignore[misc]
        (sweep,) = conn.execute("SELECT id FROM sweep WHERE name = %s", (WIDE_SWEEP,)).fetchone()  # type: ignore[misc]
        deep = _deep_cursor(conn, int(experiments * 0.9))
    print(f"ledger: {experiments:,} experiments, {metrics:,} metric rows", flush=True)
    if args.plans_only:
        _write_plans(args.database, experiments, metrics, long_run=long_run, sweep=sweep)
        return
    with tempfile.TemporaryDirectory() as tmp:
        api = ApiProcess(Path(tmp) / "api.log", env={"LRLAB_DATABASE_URL": sa_url})
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
            for label, params in lists.items():
                p50, p99 = _percentiles(
                    _time_get(api.client, "/experiments", {"limit": 50, **params}, args.requests)
                )
                results.append((f"GET /experiments?limit=50&{label}", "list", p50, p99))
            p50, p99 = _percentiles(
                _time_get(api.client, f"/experiments/{long_run}/metrics", {}, args.requests)
            )
            results.append(("GET /experiments/{id}/metrics (1,000 epochs)", "metrics", p50, p99))
            p50, p99 = _percentiles(
                _time_get(
                    api.client, f"/sweeps/{sweep}/comparison", {}, max(20, args.requests // 10)
                )
            )
            results.append(("GET /sweeps/{id}/comparison (500 × 100)", "comparison", p50, p99))
        finally:
            api.stop()
    from worker.reconciler import reconcile_once

    reconcile_once()
    passes = []
    for _ in range(50):
        started = time.perf_counter()
        reconcile_once()
        passes.append((time.perf_counter() - started) * 1000)
    p50, p99 = _percentiles(passes)
    results.append(("reconciler pass", "reconciler", p50, p99))
    print(f"\n{'':60} {'p50 ms':>8} {'p99 ms':>8}  target")
    for label, kind, p50, p99 in results:
        ok = "ok" if p99 < TARGETS_MS[kind] else "MISSED"
        print(f"{label:60} {p50:8.1f} {p99:8.1f}  < {TARGETS_MS[kind]:.0f} {ok}")
    _write_plans(args.database, experiments, metrics, long_run=long_run, sweep=sweep)


def _write_plans(url: str, experiments: int, metrics: int, **ids: object) -> None:
    out = [
        "# Ledger query plans (`python -m bench.ledger`)",
        "",
        f"On the generated ledger: {experiments:,} experiments, {metrics:,} metric rows. "
        "Each plan below is what justifies an index of migration 0010 (or shows that an "
        "existing one suffices).",
        "",
    ]
    with psycopg.connect(url, options="-c jit=off") as conn:  # as models.db connects
        # The app names the members it read (models.comparison), as this list does.
        members = ", ".join(
            f"'{row[0]}'"
            for row in conn.execute(
                "SELECT id FROM experiment WHERE sweep_id = %s", (ids["sweep"],)
            )
        )
        for title, query in PLANS.items():
            sql = (
                query.replace("{long_run}", str(ids["long_run"]))
                .replace("{sweep}", str(ids["sweep"]))
                .replace("{members}", members)
            )
            rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}").fetchall()  # type: ignore[arg-type]
            out += [f"## {title}", "", "```", *(r[0] for r in rows), "```", ""]
            conn.rollback()
    (ROOT / "bench" / "LEDGER_PLANS.md").write_text("\n".join(out))
    print("plans written to bench/LEDGER_PLANS.md")


if __name__ == "__main__":
    main()
