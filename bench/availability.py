"""Availability probes: `/healthz` latency while one caller leans on a heavy route.

`python -m bench.availability` runs the real API (uvicorn, one process) on a bench database
with two sweeps of MEMBERS members × EPOCHS epochs (one finished, one still running), then
runs each probe while a thread polls `/healthz` every 20 ms, and prints per probe the
answers' status codes and `/healthz`'s p99 and worst latency in milliseconds. Loopback only;
the probes are small enough for a 2-core machine (a few seconds each).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import get_context
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

BENCH_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/lrlab_bench_avail"
# Set before lrlab reads its settings: this script owns the bench database and queue.
os.environ["LRLAB_DATABASE_URL"] = BENCH_DB
# Its own queue: the bench's sweeps must not ring the worker of a stack running beside it.
os.environ["LRLAB_QUEUE"] = f"lrlab-bench-avail-{os.getpid()}"

import httpx  # noqa: E402

from devtools.processes import ApiProcess  # noqa: E402
from models.experiments import (  # noqa: E402
    claim_group,
    finish_experiment,
    record_epoch,
)
from models.storage import (  # noqa: E402
    prepare_database,
    session_scope,
)
from models.training import EpochMetrics  # noqa: E402

MEMBERS = 100
EPOCHS = 10


def _sweep(api: ApiProcess, *, finished: bool) -> str:
    body = {
        "name": "availability probe",
        "base": {"training": {"epochs": EPOCHS}},
        "schedulers": [
            {"type": "exponential", "gamma": 0.5 + k / (2 * MEMBERS)} for k in range(MEMBERS // 2)
        ],
        "seeds": [0, 1],
    }
    answer = api.client.post("/sweeps", json=body)
    answer.raise_for_status()
    members = answer.json()["experiments"]
    for index, member in enumerate(members):
        last = EPOCHS if finished or index else EPOCHS - 1
        with session_scope() as session:
            claim_group(
                session, experiment_id=member, lease_seconds=3600, group_size=1, max_attempts=1
            )
            for epoch in range(1, last + 1):
                lr = 0.1 * 0.9**epoch
                record_epoch(
                    session,
                    experiment_id=member,
                    attempt=1,
                    lease_seconds=3600,
                    metrics=EpochMetrics(
                        epoch=epoch,
                        lr=lr,
                        step_lrs=[lr],
                        loss=1 / epoch,
                        accuracy=0.9,
                        val_loss=1 / epoch,
                        val_accuracy=0.9,
                        seconds=0.1,
                    ),
                )
            if last == EPOCHS:
                finish_experiment(session, experiment_id=member, attempt=1)
    return str(answer.json()["id"])


def _poll(url: str, stop: EventType, ready: EventType, results: Connection) -> None:
    """Poll /healthz every 20 ms until `stop`; send the latencies in milliseconds."""
    latencies: list[float] = []
    with httpx.Client(timeout=60) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get(f"{url}/healthz")
            latencies.append((time.perf_counter() - started) * 1000)
            ready.set()
            stop.wait(0.02)
    results.send(latencies)


class _Health:
    """Polls /healthz every 20 ms from a process of its own and keeps each answer's latency.

    Not from a thread of this process: there it waited for this interpreter behind the probe's
    own client threads (60 of them for the plots), up to 300 ms the API had no part in.
    """

    def __init__(self, url: str) -> None:
        self.latencies: list[float] = []
        context = get_context("spawn")
        self._stop = context.Event()
        self._ready = context.Event()
        self._results, sender = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_poll, args=(url, self._stop, self._ready, sender), daemon=True
        )

    def __enter__(self) -> _Health:
        self._process.start()
        self._ready.wait(60)  # polling before the probe starts
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self.latencies = self._results.recv()
        self._process.join()

    def figures(self) -> dict[str, float]:
        ordered = sorted(self.latencies)
        if not ordered:
            return {}
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return {"p99_ms": round(p99, 1), "worst_ms": round(ordered[-1], 1)}


def _parallel(count: int, call: Callable[[httpx.Client], int]) -> Counter[int]:
    with httpx.Client(timeout=120) as client, ThreadPoolExecutor(count) as pool:
        return Counter(pool.map(lambda _: _call(call, client), range(count)))


def _call(call: Callable[[httpx.Client], int], client: httpx.Client) -> int:
    try:
        return call(client)
    except httpx.HTTPError:
        return 0  # no answer at all (connection refused, reset or timed out)


def probe(api: ApiProcess, name: str, count: int, call: Callable[[httpx.Client], int]) -> None:
    """Run `count` parallel calls while polling /healthz; print one line of figures."""
    with _Health(api.url) as health:
        started = time.perf_counter()  # from the first poll: the poller's start is not the probe's
        statuses = _parallel(count, call)
        seconds = time.perf_counter() - started
    figures: dict[str, Any] = {
        "statuses": dict(statuses),
        "seconds": round(seconds, 1),
        "load": _load(),
    }
    print(f"{name:<44} healthz {health.figures()} {figures}", flush=True)


def _load() -> float:
    """The machine's 1-minute load average: the figures are noisy on a shared machine."""
    return round(os.getloadavg()[0], 1)


def _idle(seconds: float) -> int:
    time.sleep(seconds)
    return 200


def drip(api: ApiProcess, connections: int = 200, seconds: float = 4.0) -> None:
    """Open `connections` sockets that send a request head one byte a second; print /healthz's
    figures meanwhile and how many of the sockets the server has closed at the end."""
    host, port = "127.0.0.1", int(api.url.rsplit(":", 1)[1])
    head = b"POST /experiments HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
    sockets = [socket.create_connection((host, port), timeout=5) for _ in range(connections)]
    closed = 0
    with _Health(api.url) as health:
        deadline = time.monotonic() + seconds
        position = 0
        while time.monotonic() < deadline and position < len(head):
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.send(head[position : position + 1])
            position += 1
            time.sleep(1)
    for sock in sockets:
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            closed += sock.recv(1) == b""
        sock.close()
    figures = {"connections": connections, "closed_by_server": closed, "load": _load()}
    print(f"{'200 clients dripping a request head':<44} healthz {health.figures()} {figures}")


def main() -> None:
    """Set up the sweeps and run every probe once."""
    prepare_database(BENCH_DB, recreate=True)
    api = ApiProcess(Path(tempfile.mkdtemp()) / "api.log", env={"LRLAB_RATE_LIMIT": "off"})
    try:
        api.wait_healthy()
        done = _sweep(api, finished=True)
        live = _sweep(api, finished=False)
        auth = {"Authorization": f"Bearer {api.api_key}"}
        url = api.url
        print(f"{MEMBERS}-member sweeps × {EPOCHS} epochs; /healthz polled every 20 ms")

        # /healthz alone for 2 s: the baseline (a single call can end before the first poll).
        probe(api, "idle (2 s)", 1, lambda c: _idle(2.0))
        for label, sweep in (("running", live), ("finished", done)):
            probe(
                api,
                f"60 × lr.png?log_scale of a {label} sweep",
                60,
                lambda c, s=sweep: (
                    c.get(  # type: ignore[misc]
                        f"{url}/sweeps/{s}/plots/lr.png", params={"log_scale": True}, headers=auth
                    ).status_code
                ),
            )
        big = b'{"name": "' + b"x" * (1024 * 1024 - 64) + b'"}'
        probe(
            api,
            "20 × 1 MiB bodies without a key",
            20,
            lambda c: (
                c.post(
                    f"{url}/experiments", content=big, headers={"content-type": "application/json"}
                ).status_code
            ),
        )
        preview = {
            "scheduler": {"type": "one_cycle", "max_lr": 0.1},
            "learning_rate": 0.1,
            "epochs": 1000,
            "steps_per_epoch": 1000,
        }
        for fmt in ("png", "json"):
            probe(
                api,
                f"20 × {fmt} previews of 1,000 × 1,000 steps",
                20,
                lambda c, f=fmt: (
                    c.post(  # type: ignore[misc]
                        f"{url}/schedulers/preview",
                        params={"format": f},
                        json=preview,
                        headers=auth,
                    ).status_code
                ),
            )
        probe(
            api,
            "40 × replay of the finished sweep's stream",
            40,
            lambda c: c.get(f"{url}/sweeps/{done}/events", headers=auth).status_code,
        )
        drip(api)
    finally:
        api.stop()


if __name__ == "__main__":
    sys.exit(main())
