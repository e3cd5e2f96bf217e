"""Latency of the live stream: epoch commit → `epoch` event at an HTTP client (p50, p95).

`python -m bench.stream_latency [EPOCHS]` runs the real API (uvicorn, its LISTEN connection)
on a bench database, commits epoch rows through the ledger functions the worker uses, and
reads `GET /experiments/{id}/events` with httpx in another thread. The clock starts just
before the commit, so each figure includes the commit itself.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/lrlab_bench_stream"
# Set before lrlab reads its settings: this script owns the bench database.
os.environ["LRLAB_DATABASE_URL"] = BENCH_DB

import httpx  # noqa: E402

from devtools.processes import ApiProcess  # noqa: E402
from lrlab_client.events import parse_sse  # noqa: E402
from models.experiments import (  # noqa: E402
    ExperimentCreate,
    claim_group,
    create_experiment,
    finish_experiment,
    record_epoch,
)
from models.storage import (  # noqa: E402
    prepare_database,
    session_scope,
)
from models.training import EpochMetrics  # noqa: E402


def _metrics(epoch: int) -> EpochMetrics:
    return EpochMetrics(
        epoch=epoch,
        lr=0.01,
        step_lrs=[0.01] * 250,
        loss=1 / epoch,
        accuracy=0.9,
        val_loss=1 / epoch,
        val_accuracy=0.9,
        seconds=0.5,
    )


def main(epochs: int = 200, gap_seconds: float = 0.05) -> dict[str, float]:
    """Commit `epochs` epochs and return the latency percentiles in milliseconds."""
    prepare_database(BENCH_DB, recreate=True)
    spec = ExperimentCreate.model_validate(
        {"scheduler": {"type": "constant"}, "training": {"epochs": epochs}}
    )
    with session_scope() as session:
        experiment_id = create_experiment(session, spec=spec, queue="bench-unused").id
        (claim,) = claim_group(
            session, experiment_id=experiment_id, lease_seconds=600, group_size=1, max_attempts=1
        )
    arrived: dict[int, float] = {}
    api = ApiProcess(Path(tempfile.mkdtemp()) / "api.log")
    try:
        api.wait_healthy()
        opened = threading.Event()

        def read() -> None:
            url = f"{api.url}/experiments/{experiment_id}/events"
            with httpx.stream("GET", url, timeout=httpx.Timeout(30, read=None)) as response:
                opened.set()
                for event in parse_sse(response.iter_lines()):
                    if event.type == "epoch":
                        arrived[int(event.id.rstrip("qrsfc-"))] = time.perf_counter()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        opened.wait(30)
        time.sleep(0.5)  # the first (empty) replay is done
        committed: dict[int, float] = {}
        for epoch in range(1, epochs + 1):
            committed[epoch] = time.perf_counter()
            with session_scope() as session:
                record_epoch(
                    session,
                    experiment_id=experiment_id,
                    attempt=claim.attempt,
                    metrics=_metrics(epoch),
                    lease_seconds=600,
                )
            time.sleep(gap_seconds)
        with session_scope() as session:
            finish_experiment(session, experiment_id=experiment_id, attempt=claim.attempt)
        reader.join(60)
    finally:
        api.stop()
    latencies = sorted((arrived[e] - committed[e]) * 1000 for e in committed if e in arrived)
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "events": len(latencies),
        "epochs": epochs,
        "p50_ms": statistics.median(latencies),
        "p95_ms": quantiles[94],
        "max_ms": latencies[-1],
    }


if __name__ == "__main__":
    figures = main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
    print(
        f"commit → event at the client, {figures['events']}/{figures['epochs']} epochs: "
        f"p50 {figures['p50_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} ms, "
        f"max {figures['max_ms']:.1f} ms"
    )
