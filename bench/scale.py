"""`make bench`, scale section: a 96-member × 10-epoch sweep, its WAL and its disk, and a kill.

Runs the sweep twice in one service, on two workers: with a checkpoint after every epoch (the
old policy, the baseline) and with the default policy. Reports, for each: seconds, seconds per
member-epoch, WAL bytes (pg_current_wal_lsn(), pg_walinspect) and database growth
(pg_database_size()) per member-epoch, and the growth beyond what the metric and experiment
tables need; then the epochs recomputed after a SIGKILL (a second, 12-member sweep
killed half way, resumed by a new worker; its recomputed epochs are compared with the record).
Targets (issue 16): WAL <= 150 KB per member-epoch, no slower per member-epoch than the
baseline (issue 16 measured 0.097 s), growth <= 50 MB beyond metrics + experiments.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.run import DATASET, DEFAULT_MNIST, SCHEDULERS, TRAINING, http, machine, say
from devtools.processes import ApiProcess, WorkerProcess

SCALE_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/lrlab_bench_scale"
SEEDS = list(range(16))  # 6 schedulers × 16 seeds = 96 members
BEFORE_S_PER_MEMBER_EPOCH = 0.097  # issue 16: 96 × 10 in 92.7 s, a checkpoint every epoch
WAL_TARGET, GROWTH_TARGET = 150 * 1024, 50 * 2**20


def _db(query: str) -> Any:
    with psycopg.connect(SCALE_DB.replace("+psycopg", "")) as conn:
        cursor = conn.execute(query)
        return cursor.fetchone()[0] if cursor.description else None  # type: ignore[index]


def _wait_sweep(base: str, sweep_id: str, timeout: float = 3600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        read: dict[str, Any] = http("GET", f"{base}/sweeps/{sweep_id}")
        if read["status"] in ("completed", "failed", "cancelled"):
            return read
        if time.monotonic() > deadline:
            raise RuntimeError(f"sweep still {read['status']} after {timeout}s")
        time.sleep(0.2)


def _sweep(base: str, seeds: list[int], queue: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"base": {"training": TRAINING, "dataset": DATASET},
                            "schedulers": SCHEDULERS, "seeds": seeds}  # fmt: skip
    if queue is not None:
        body["queue"] = queue
    return dict(http("POST", f"{base}/sweeps", body))


def _measure(base: str, title: str, queue: str | None = None) -> float:
    """Run the 96 × 10 sweep, report its figures; returns seconds per member-epoch."""
    tables = "SELECT pg_total_relation_size('metric') + pg_total_relation_size('experiment')"
    size0, lsn0 = (
        _db("SELECT pg_database_size(current_database())"),
        _db("SELECT pg_current_wal_lsn()::text"),
    )
    tables0 = _db(tables)
    started = time.perf_counter()
    read = _wait_sweep(base, _sweep(base, SEEDS, queue)["id"])
    seconds = time.perf_counter() - started
    lsn1 = _db("SELECT pg_current_wal_lsn()::text")
    cluster_wal = _db(f"SELECT pg_wal_lsn_diff('{lsn1}', '{lsn0}')")
    # The WAL is the cluster's, shared with every other database on this server: count the
    # records that touch this database's relations (pg_walinspect; commit records, a few
    # dozen bytes each, name no relation and are left out).
    try:
        wal, whose = (
            _db(
                "SELECT coalesce(sum(record_length), 0) FROM pg_get_wal_records_info("
                f"'{lsn0}', '{lsn1}') WHERE block_ref LIKE '%/' || (SELECT oid FROM pg_database "
                "WHERE datname = current_database()) || '/%'"
            ),
            "this database",
        )
    except psycopg.errors.UndefinedFile:  # so much WAL that its segments were recycled already
        wal, whose = cluster_wal, "the cluster (this database's records were recycled)"
    size1, tables1 = _db("SELECT pg_database_size(current_database())"), _db(tables)
    checkpoint_table = _db("SELECT pg_total_relation_size('checkpoint')")
    member_epochs = len(SEEDS) * len(SCHEDULERS) * TRAINING["epochs"]
    per = seconds / member_epochs
    growth, needed = size1 - size0, tables1 - tables0
    wal_ok = "MET" if wal / member_epochs <= WAL_TARGET else "NOT MET"
    growth_ok = "MET" if growth - needed <= GROWTH_TARGET else "NOT MET"
    say(f"### {title}")
    say(f"- sweep: {read['status']} {read['counts']} in {seconds:.1f} s, {per:.3f} s per "
        f"member-epoch (issue 16: {BEFORE_S_PER_MEMBER_EPOCH} s on a quieter machine)")  # fmt: skip
    say(f"- WAL of {whose}: {wal / 2**20:.1f} MiB, {wal / member_epochs / 1024:.1f} KiB "
        f"per member-epoch (target <= 150 KiB) {wal_ok}; the whole cluster (other "
        f"databases on this server included) wrote {cluster_wal / 2**20:.1f} MiB")  # fmt: skip
    say(f"- database growth: {growth / 2**20:.1f} MiB, {growth / member_epochs / 1024:.1f} KiB "
        f"per member-epoch; metric + experiment tables grew {needed / 2**20:.1f} MiB; beyond "
        f"them {(growth - needed) / 2**20:.1f} MiB (target <= 50 MiB) {growth_ok}; checkpoint "
        f"table now {checkpoint_table / 1024:.0f} KiB")  # fmt: skip
    return per


def main() -> None:
    from models.storage import prepare_database

    prepare_database(SCALE_DB, recreate=True)
    _db("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
    env = {
        "LRLAB_DATABASE_URL": SCALE_DB,
        "LRLAB_QUEUE": f"lrlab-bench-scale-{os.getpid()}",
        "LRLAB_MNIST_PATH": os.environ.get("LRLAB_MNIST_PATH") or str(DEFAULT_MNIST),
    }
    logs = Path(tempfile.mkdtemp(prefix="lrlab-bench-scale-"))
    say("## Scale: 96 members × 10 epochs through the service")
    for line in machine():
        say(f"- {line}")
    policy = os.environ.get("LRLAB_CHECKPOINT_EVERY_SECONDS", "60 (default)")
    say(f"- LRLAB_CHECKPOINT_EVERY_SECONDS={policy}; logs in {logs}")
    api = ApiProcess(logs / "api.log", env=env)
    every_epoch = f"{env['LRLAB_QUEUE']}-every-epoch"
    workers = [
        WorkerProcess(logs / "worker0.log", env=env),
        WorkerProcess(
            logs / "worker-every-epoch.log",
            env={**env, "LRLAB_QUEUE": every_epoch, "LRLAB_CHECKPOINT_EVERY_SECONDS": "0"},
        ),
    ]
    try:
        api.wait_healthy(timeout=120)
        for worker in workers:
            worker.wait_ready(timeout=300)
        base = api.url
        # Warm the worker (TensorFlow loaded, shapes compiled) so the sweep measures training.
        _wait_sweep(base, _sweep(base, [100])["id"])
        # The same sweep with a checkpoint after every epoch (the policy before issue 16),
        # on a worker of its own queue, then with the default policy: ratios in one run.
        _wait_sweep(base, _sweep(base, [101], every_epoch)["id"])
        before = _measure(base, "a checkpoint after every epoch but the last", every_epoch)
        after = _measure(base, f"LRLAB_CHECKPOINT_EVERY_SECONDS={policy}")
        faster = "MET" if after <= before * 1.05 else "NOT MET"
        say(f"- per member-epoch, the policy takes {after / before:.2f}x the time of a "
            f"checkpoint every epoch (target: no slower) {faster}")  # fmt: skip

        # A SIGKILL half way through a 12-member sweep, then a fresh worker resumes it.
        killed = _sweep(base, [200, 201])
        ids = killed["experiments"]
        deadline = time.monotonic() + 600
        while (
            max(http("GET", f"{base}/experiments/{i}")["progress"]["epochs_done"] for i in ids) < 5
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("no member reached epoch 5")
            time.sleep(0.2)
        workers[0].stop(signal.SIGKILL)
        workers.append(WorkerProcess(logs / "worker1.log", env=env))
        workers[-1].wait_ready(timeout=300)
        read = _wait_sweep(base, killed["id"])
        bodies = [http("GET", f"{base}/experiments/{i}") for i in ids]
        recomputed = sum((b["reproducibility"] or {}).get("recomputed_epochs", 0) for b in bodies)
        mismatches = sum(len((b["reproducibility"] or {}).get("mismatches", [])) for b in bodies)
        say(f"- SIGKILL half way through a {len(ids)}-member × 10-epoch sweep: {read['status']} "
            f"{read['counts']}; {recomputed} epochs recomputed after the kill, {mismatches} "
            "differing from the recorded rows")  # fmt: skip
    finally:
        api.stop()
        for worker in workers:
            worker.stop()


if __name__ == "__main__":
    main()
