"""Fill a database with a realistic ledger for `bench/ledger.py`, by bulk COPY (not the API).

    python -m bench.ledger_data [--experiments 1000000] [--epochs 20] [--database URL]

Five projects: `ledger-big` holds ~90% of the experiments (the worst case for one user's
list), four others share the rest. Experiments spread over a year, newest mostly succeeded
(94%), some failed/cancelled (with an event), a few queued and running with leases and claim
tokens; 12 scheduler types; a third of them in sweeps of 24. Every finished or running
experiment has one metric row per epoch done (mean `--epochs`, so 1M experiments give ~20M
rows). Added on top, in `ledger-big`: one 1,000-epoch run and one 500-member × 100-epoch sweep,
the sizes the ledger targets name. Per-step lrs are stored for 8 steps an epoch (a run of batch
256 on 2,000 samples): 20M rows of the default 313 steps would be ~50 GB, more than this
machine's disk; the other columns are full size.

Experiments go in by COPY; their metric rows are then generated inside Postgres by one
`INSERT ... SELECT generate_series` (the curves are a closed form of the epoch), which is
several times faster than formatting 20M rows in Python.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/lrlab_ledger_bench"
TYPES = [
    "constant", "step", "multistep", "exponential", "cosine", "cosine_warm_restarts",
    "plateau", "cyclic", "one_cycle", "linear", "polynomial", "sequential",
]  # fmt: skip
STEPS = 8
SWEEP_SIZE = 24
BIG_PROJECT = "ledger-big"
OTHER_PROJECTS = ["ledger-a", "ledger-b", "ledger-c", "ledger-d"]
BIG_SHARE = 0.9
# The two runs the targets name, found by bench/ledger.py through these names.
LONG_RUN, WIDE_SWEEP = "ledger-bench 1000-epoch run", "ledger-bench 500x100 sweep"
EXPERIMENT_COLUMNS = (
    "id, project_id, claim_token, training_seconds, events, reproducibility, "
    "name, status, scheduler_type, spec, queue, epochs, epochs_done, dataset, result, "
    "error, attempt, lease_expires_at, enqueued_at, created_at, updated_at, started_at, "
    "finished_at, sweep_id, label"
)
# Every epoch done of every experiment, in experiment order; accuracy climbs from a per-run
# start (0.85..0.90, from the id's hash) towards 0.995.
METRICS_SQL = f"""
INSERT INTO metric (experiment_id, epoch, lr, loss, accuracy, val_loss, val_accuracy, seconds,
                    step_lrs, attempt, created_at)
SELECT e.id, g.n, 0.001, 1 - c.acc, c.acc, 1.06 - c.acc, c.acc - 0.01, 2.4,
       array_fill(0.001::float8, ARRAY[{STEPS}]), e.attempt,
       coalesce(e.started_at, e.created_at) + g.n * interval '2.5 seconds'
FROM experiment e
CROSS JOIN LATERAL generate_series(1, e.epochs_done) AS g(n)
CROSS JOIN LATERAL (
    SELECT least(0.995, 1 - (0.15 - 0.05 * abs(hashtext(e.id::text)) / 2147483647.0)
                            * power(0.9, g.n)) AS acc
) AS c
WHERE e.epochs_done > 0
"""


def _status(rng: random.Random, age_fraction: float) -> str:
    """Old runs are over; the newest 0.2% are still queued or running."""
    if age_fraction < 0.002:
        return rng.choice(["queued", "running", "succeeded"])
    roll = rng.random()
    return "succeeded" if roll < 0.94 else "failed" if roll < 0.98 else "cancelled"


def _spec(scheduler: str, epochs: int, seed: int) -> dict[str, object]:
    return {
        "name": None,
        "scheduler": {"type": scheduler, "interval": "epoch"},
        "training": {
            "epochs": epochs, "batch_size": 256, "learning_rate": 0.001,
            "optimizer": "adam", "momentum": 0.0, "seed": seed,
        },
        "dataset": {"name": "mnist", "train_samples": 2000},
    }  # fmt: skip


_DATASET = json.dumps(
    {"name": "mnist", "source": "npz", "path": None, "requested_samples": 2000,
     "train_samples": 2000, "val_samples": 10000, "sha256": "0" * 64}
)  # fmt: skip


def _copy_text(value: object) -> str:
    """A value in COPY's text format."""
    if value is None:
        return r"\N"
    text = value if isinstance(value, str) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


class Ledger:
    """Generates experiment and sweep rows and writes them with COPY."""

    def __init__(
        self, conn: psycopg.Connection, projects: dict[str, uuid.UUID], seed: int = 0
    ) -> None:
        self.conn = conn
        self.big = projects[BIG_PROJECT]
        self.others = [projects[name] for name in OTHER_PROJECTS]
        self.rng = random.Random(seed)
        self.now = datetime.now(UTC)
        self.sweep_projects: dict[uuid.UUID, uuid.UUID] = {}

    def run(self, experiments: int, mean_epochs: int) -> None:
        span = timedelta(days=365)
        sweep_ids: list[uuid.UUID] = []
        with (
            self.conn.cursor() as ecur,
            ecur.copy(f"COPY experiment ({EXPERIMENT_COLUMNS}) FROM STDIN") as exp_copy,
        ):
            sweep: uuid.UUID | None = None
            project = self.big
            for i in range(experiments):
                age = 1 - i / experiments  # i grows towards now
                created = self.now - span * age
                if i % (3 * SWEEP_SIZE) == 0:  # a sweep every 72 experiments, 24 members long
                    project = (
                        self.big if self.rng.random() < BIG_SHARE else self.rng.choice(self.others)
                    )
                    sweep = uuid.uuid4()
                    sweep_ids.append(sweep)
                    self.sweep_projects[sweep] = project
                in_sweep = i % (3 * SWEEP_SIZE) < SWEEP_SIZE
                epochs = max(1, int(self.rng.gauss(mean_epochs, mean_epochs / 4)))
                self._experiment(
                    exp_copy, project, created, epochs, _status(self.rng, age),
                    sweep if in_sweep else None, None,
                )  # fmt: skip
            # The two shapes the targets name, newest of all, in the big project.
            self._experiment(exp_copy, self.big, self.now, 1000, "succeeded", None, LONG_RUN)
            wide = uuid.uuid4()
            sweep_ids.append(wide)
            self.sweep_projects[wide] = self.big
            for member in range(500):
                self._experiment(
                    exp_copy, self.big, self.now + timedelta(microseconds=member),
                    100, "succeeded", wide, WIDE_SWEEP,
                )  # fmt: skip
        self._sweeps(sweep_ids, wide)

    def _experiment(
        self,
        exp_copy: psycopg.Copy,
        project: uuid.UUID,
        created: datetime,
        epochs: int,
        status: str,
        sweep: uuid.UUID | None,
        name: str | None,
    ) -> None:
        rng = self.rng
        experiment_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        scheduler = rng.choice(TYPES)
        done = {"queued": 0, "running": rng.randrange(epochs)}.get(status, epochs)
        if status in ("failed", "cancelled"):
            done = rng.randrange(epochs + 1)
        started = created + timedelta(seconds=rng.uniform(0.1, 30)) if status != "queued" else None
        finished = (
            started + timedelta(seconds=done * 2.5)
            if started is not None and status not in ("queued", "running")
            else None
        )
        final = 0.9 + rng.random() * 0.08
        result = (
            json.dumps(
                {"final_val_accuracy": final, "best_val_accuracy": final + 0.002,
                 "best_epoch": max(1, done - 1), "train_seconds": done * 2.4}
            )
            if done and finished is not None
            else None
        )  # fmt: skip
        events = (
            json.dumps(
                [{"at": (finished or created).isoformat(), "kind": "checkpoint_lost",
                  "attempt": 1, "message": "no checkpoint to resume from; restarting at epoch 1"}]
            )
            if status == "failed"
            else "[]"
        )  # fmt: skip
        # One run in fifty was resumed and recomputed a few epochs, all equal to the record.
        recomputed = rng.randrange(1, 4) if started and rng.random() < 0.02 else 0
        reproducibility = (
            json.dumps({"recomputed_epochs": recomputed, "mismatches": []}) if recomputed else None
        )
        row = (
            experiment_id, project, uuid.UUID(int=rng.getrandbits(128), version=4) if started
            else None, done * 2.4, events, reproducibility, name, status, scheduler,
            json.dumps(_spec(scheduler, epochs, rng.randrange(5))), "lrlab", epochs, done,
            _DATASET if started else None, result,
            "loss became nan at epoch 3" if status == "failed" else None,
            1 if started else 0,
            # A day: the reconciler the bench runs must not requeue them mid-measurement.
            self.now + timedelta(days=1) if status == "running" else None,
            created, created, finished or started or created, started, finished,
            sweep, f"{scheduler}" if sweep else None,
        )  # fmt: skip
        exp_copy.write("\t".join(_copy_text(v) for v in row) + "\n")

    def _sweeps(self, sweep_ids: list[uuid.UUID], wide: uuid.UUID) -> None:
        spec = json.dumps({"seeds": [0, 1, 2], "schedulers": [{"type": "constant"}]})
        columns = "id, project_id, name, spec"
        with self.conn.cursor() as cur, cur.copy(f"COPY sweep ({columns}) FROM STDIN") as copy:
            for sweep_id in sweep_ids:
                name = WIDE_SWEEP if sweep_id == wide else None
                project = self.sweep_projects[sweep_id]
                copy.write(f"{sweep_id}\t{project}\t{_copy_text(name)}\t{spec}\n")


def _recreate(url: str) -> dict[str, uuid.UUID]:
    """A fresh database at head with the bench's projects; their ids by name."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from models.identity import ProjectCreate, create_project
    from models.storage import prepare_database

    sa_url = url.replace("postgresql://", "postgresql+psycopg://")
    prepare_database(sa_url, recreate=True)
    engine = create_engine(sa_url)
    try:
        with Session(engine) as session, session.begin():
            return {
                name: create_project(session, project=ProjectCreate(name=name)).id
                for name in [BIG_PROJECT, *OTHER_PROJECTS]
            }
    finally:
        engine.dispose()


# Load first, constrain after: one index build and one FK check beat millions of each.
_DEFERRED = [
    ("metric", "fk_metric_experiment_id_experiment",
     "FOREIGN KEY (experiment_id) REFERENCES experiment (id) ON DELETE CASCADE"),
    ("metric", "pk_metric", "PRIMARY KEY (experiment_id, epoch)"),
    ("experiment", "fk_experiment_sweep_id_sweep",
     "FOREIGN KEY (sweep_id) REFERENCES sweep (id) ON DELETE CASCADE"),
    ("experiment", "fk_experiment_project_id_project",
     "FOREIGN KEY (project_id) REFERENCES project (id) ON DELETE CASCADE"),
    ("sweep", "fk_sweep_project_id_project",
     "FOREIGN KEY (project_id) REFERENCES project (id) ON DELETE CASCADE"),
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=20, help="mean epochs per experiment")
    parser.add_argument("--database", default=DEFAULT_DB)
    args = parser.parse_args()
    started = time.monotonic()
    projects = _recreate(args.database)
    with psycopg.connect(args.database) as conn:
        conn.execute("SET synchronous_commit = off")
        for table, name, _ in _DEFERRED:
            conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        conn.commit()
        Ledger(conn, projects).run(args.experiments, args.epochs)
        conn.commit()
        copied = time.monotonic()
        print(f"copied {args.experiments + 501:,} experiments in {copied - started:.0f}s",
              flush=True)  # fmt: skip
        metric_rows = conn.execute(METRICS_SQL).rowcount
        conn.commit()
        loaded = time.monotonic()
        print(f"generated {metric_rows:,} metric rows in {loaded - copied:.0f}s", flush=True)
        for table, name, definition in reversed(_DEFERRED):
            conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        conn.commit()
    with psycopg.connect(args.database, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(f"constraints, indexes, VACUUM ANALYZE: {time.monotonic() - loaded:.0f}s; "
          f"total {time.monotonic() - started:.0f}s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
