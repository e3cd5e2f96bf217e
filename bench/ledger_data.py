"""Fill a database with a realistic ledger for `bench/ledger.py`, by bulk COPY (not the API).

    python -m bench.ledger_data [--experiments 1000000] [--epochs 20] [--database URL]

Experiments spread over a year, newest mostly succeeded (94%), some failed/cancelled, a few
queued and running with leases; 12 scheduler types; a third of them in sweeps of 24. Every
finished or running experiment has one metric row per epoch done (mean `--epochs`, so 1M
experiments give ~20M rows). Added on top: one 1,000-epoch run and one 500-member × 100-epoch
sweep, the sizes the ledger targets name. Per-step lrs are stored for 8 steps an epoch (a run
of batch 256 on 2,000 samples): 20M rows of the default 313 steps would be ~50 GB, more than
this machine's disk; the other columns are full size.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/lrlab_ledger_bench"
TYPES = [
    "constant", "step", "multistep", "exponential", "cosine", "cosine_warm_restarts",
    "plateau", "cyclic", "one_cycle", "linear", "polynomial", "sequential",
]  # fmt: skip
STEPS = 8
SWEEP_SIZE = 24
# The two runs the targets name, found by bench/ledger.py through these names.
LONG_RUN, WIDE_SWEEP = "ledger-bench 1000-epoch run", "ledger-bench 500x100 sweep"
EXPERIMENT_COLUMNS = (
    "id, name, status, scheduler_type, spec, queue, epochs, epochs_done, dataset, result, "
    "error, attempt, lease_expires_at, enqueued_at, created_at, updated_at, started_at, "
    "finished_at, sweep_id, label"
)
METRIC_COLUMNS = (
    "experiment_id, epoch, lr, loss, accuracy, val_loss, val_accuracy, seconds, step_lrs, "
    "attempt, created_at"
)


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
    """Generates rows and writes them with COPY, experiments and metrics in lockstep."""

    def __init__(
        self, conn: psycopg.Connection, metric_conn: psycopg.Connection, seed: int = 0
    ) -> None:
        self.conn = conn
        self.metric_conn = metric_conn  # one COPY at a time per connection
        self.rng = random.Random(seed)
        self.now = datetime.now(UTC)
        self.metric_rows = 0

    def run(self, experiments: int, mean_epochs: int) -> None:
        span = timedelta(days=365)
        sweep_ids: list[uuid.UUID] = []
        with (
            self.conn.cursor() as ecur,
            self.metric_conn.cursor() as mcur,
            ecur.copy(f"COPY experiment ({EXPERIMENT_COLUMNS}) FROM STDIN") as exp_copy,
            mcur.copy(f"COPY metric ({METRIC_COLUMNS}) FROM STDIN") as met_copy,
        ):
            sweep: uuid.UUID | None = None
            for i in range(experiments):
                age = 1 - i / experiments  # i grows towards now
                created = self.now - span * age
                if i % (3 * SWEEP_SIZE) == 0:  # a sweep every 72 experiments, 24 members long
                    sweep = uuid.uuid4()
                    sweep_ids.append(sweep)
                in_sweep = i % (3 * SWEEP_SIZE) < SWEEP_SIZE
                epochs = max(1, int(self.rng.gauss(mean_epochs, mean_epochs / 4)))
                self._experiment(
                    exp_copy, met_copy, created, epochs, _status(self.rng, age),
                    sweep if in_sweep else None, None,
                )  # fmt: skip
            # The two shapes the targets name, newest of all.
            self._experiment(exp_copy, met_copy, self.now, 1000, "succeeded", None, LONG_RUN)
            wide = uuid.uuid4()
            sweep_ids.append(wide)
            for member in range(500):
                self._experiment(
                    exp_copy, met_copy, self.now + timedelta(microseconds=member),
                    100, "succeeded", wide, WIDE_SWEEP,
                )  # fmt: skip
        self._sweeps(sweep_ids, wide)

    def _experiment(
        self,
        exp_copy: psycopg.Copy,
        met_copy: psycopg.Copy,
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
        row = (
            experiment_id, name, status, scheduler,
            json.dumps(_spec(scheduler, epochs, rng.randrange(5))), "lrlab", epochs, done,
            _DATASET if started else None, result,
            "loss became nan at epoch 3" if status == "failed" else None,
            1 if started else 0,
            self.now + timedelta(seconds=60) if status == "running" else None,
            created, created, finished or started or created, started, finished,
            sweep, f"{scheduler}" if sweep else None,
        )  # fmt: skip
        exp_copy.write("\t".join(_copy_text(v) for v in row) + "\n")
        if done:
            met_copy.write("".join(self._metrics(experiment_id, done, started or created)))

    def _metrics(self, experiment_id: uuid.UUID, done: int, started: datetime) -> Iterator[str]:
        rng = self.rng
        lr, acc = 0.001, 0.85 + rng.random() * 0.05
        for epoch in range(1, done + 1):
            acc = min(0.995, acc + (1 - acc) * 0.1)
            val = acc - 0.01
            lrs = "{" + ",".join([repr(lr)] * STEPS) + "}"
            stamp = (started + timedelta(seconds=2.5 * epoch)).isoformat()
            yield (
                f"{experiment_id}\t{epoch}\t{lr!r}\t{1 - acc!r}\t{acc!r}\t{1.05 - val!r}\t"
                f"{val!r}\t2.4\t{lrs}\t1\t{stamp}\n"
            )
            self.metric_rows += 1

    def _sweeps(self, sweep_ids: list[uuid.UUID], wide: uuid.UUID) -> None:
        with self.conn.cursor() as cur, cur.copy("COPY sweep (id, name, spec) FROM STDIN") as copy:
            for sweep_id in sweep_ids:
                name = WIDE_SWEEP if sweep_id == wide else None
                spec = json.dumps({"seeds": [0, 1, 2], "schedulers": [{"type": "constant"}]})
                copy.write(f"{sweep_id}\t{_copy_text(name)}\t{spec}\n")


def _recreate(url: str) -> None:
    from models.migrate import prepare_database

    prepare_database(url.replace("postgresql://", "postgresql+psycopg://"), recreate=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=20, help="mean epochs per experiment")
    parser.add_argument("--database", default=DEFAULT_DB)
    args = parser.parse_args()
    started = time.monotonic()
    _recreate(args.database)
    with psycopg.connect(args.database) as conn, psycopg.connect(args.database) as metric_conn:
        conn.execute("SET synchronous_commit = off")
        metric_conn.execute("SET synchronous_commit = off")
        # Load first, constrain after: one index build and one FK check beat 20M of each.
        conn.execute("ALTER TABLE metric DROP CONSTRAINT fk_metric_experiment_id_experiment")
        conn.execute("ALTER TABLE experiment DROP CONSTRAINT fk_experiment_sweep_id_sweep")
        conn.execute("ALTER TABLE metric DROP CONSTRAINT pk_metric")
        conn.commit()
        ledger = Ledger(conn, metric_conn)
        ledger.run(args.experiments, args.epochs)
        conn.commit()
        metric_conn.commit()
        loaded = time.monotonic()
        print(f"copied {args.experiments + 501:,} experiments and {ledger.metric_rows:,} metric "
              f"rows in {loaded - started:.0f}s", flush=True)  # fmt: skip
        conn.execute(
            "ALTER TABLE metric ADD CONSTRAINT pk_metric PRIMARY KEY (experiment_id, epoch)"
        )
        conn.execute(
            "ALTER TABLE metric ADD CONSTRAINT fk_metric_experiment_id_experiment FOREIGN KEY "
            "(experiment_id) REFERENCES experiment (id) ON DELETE CASCADE"
        )
        conn.execute(
            "ALTER TABLE experiment ADD CONSTRAINT fk_experiment_sweep_id_sweep FOREIGN KEY "
            "(sweep_id) REFERENCES sweep (id) ON DELETE CASCADE"
        )
        conn.commit()
    with psycopg.connect(args.database, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(f"constraints, indexes, VACUUM ANALYZE: {time.monotonic() - loaded:.0f}s; "
          f"total {time.monotonic() - started:.0f}s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
