"""Benchmark: how fast the API accepts `POST /experiments`, and what a large sweep costs it
(`make bench-submit`, in `make bench`).

The real API (uvicorn, `--workers` processes, as deployed) on the bench database and a real
Redis, no worker consuming (the queue only fills), rate limits raised out of the way. A small
asyncio HTTP/1.1 client with kept connections stands in for scripted batch clients, so the
load generator costs little of the machine the API runs on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from devtools.processes import ROOT, ApiProcess
from devtools.up import api_workers

BENCH_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/lrlab_bench_submit"
SPEC = json.dumps(
    {
        "scheduler": {"type": "cosine", "t_max": 10, "eta_min": 0.001},
        "training": {"epochs": 3, "learning_rate": 0.01},
    }
).encode()
TARGET_RATE, TARGET_P99, TARGET_BURST_MAX = 350.0, 0.100, 5.0
# Issue 11's "5x faster", as a ratio measured in one run: main just before its first change
# (ec3ecf2's first parent), the code whose 69 accepted/s the issue reported.
BASELINE_REV, TARGET_RATIO = "46d935b", 5.0
# Issue 11: no accepted request may hold the API's CPU for more than ~100 ms.
SWEEP_MEMBERS, TARGET_REQUEST_CPU = 500, 0.100
SWEEP: dict[str, object] = {
    "base": {"training": {"epochs": 1}},
    "schedulers": [{"type": "constant"}, {"type": "step", "step_size": 1}],
    "seeds": list(range(SWEEP_MEMBERS // 2)),
}


def wide_sweep(variant: int) -> dict[str, object]:
    """500 distinct configurations, 9.4M optimizer steps (near the default request quota of
    10M): per-step cyclic schedules on all of MNIST, each needing its own checks and warnings.
    Each `variant` has other learning rates, so nothing is answered from a cache."""
    rates = [round(0.01 * (i + 1) + 0.0001 * variant, 6) for i in range(5)]
    return {
        "base": {"training": {"epochs": 10}, "dataset": {"train_samples": 60_000}},
        "schedulers": [{"type": "cyclic", "base_lr": 0.0001, "max_lr": 0.01, "interval": "step"}],
        "grid": {
            "cyclic.step_size_up": [100 + i for i in range(100)],
            "training.learning_rate": rates,
        },
    }


class Connection:
    """One kept HTTP/1.1 connection that POSTs the spec and reads the answer."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, api_key: str
    ) -> None:
        self.reader, self.writer = reader, writer
        self.request = (
            b"POST /experiments HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(SPEC)}\r\nAuthorization: Bearer {api_key}\r\n\r\n".encode()
            + SPEC
        )

    @classmethod
    async def open(cls, port: int, api_key: str) -> Connection:
        """Connect to the API on loopback, sending `api_key` on every request."""
        return cls(*await asyncio.open_connection("127.0.0.1", port), api_key)

    async def submit(self) -> int:
        """POST one experiment; return the status code."""
        self.writer.write(self.request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        """Close the socket."""
        self.writer.close()


async def sustained(
    port: int, api_key: str, *, clients: int, seconds: float
) -> tuple[int, list[float], int]:
    """`clients` loops submitting back to back for `seconds`: (accepted, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal errors
        conn = await Connection.open(port, api_key)
        try:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                status = await conn.submit()
                if status == 202:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1
        finally:
            conn.close()

    await asyncio.gather(*(loop() for _ in range(clients)))
    return len(latencies), latencies, errors


async def burst(port: int, api_key: str, *, clients: int) -> tuple[list[float], int]:
    """`clients` new connections each submitting once, all at once: (waits, errors)."""
    waits: list[float] = []
    errors = 0
    gate = asyncio.Event()

    async def one() -> None:
        nonlocal errors
        await gate.wait()
        started = time.perf_counter()
        try:
            conn = await Connection.open(port, api_key)
            status = await conn.submit()
            conn.close()
        except OSError:
            errors += 1
            return
        if status == 202:
            waits.append(time.perf_counter() - started)
        else:
            errors += 1

    tasks = [asyncio.create_task(one()) for _ in range(clients)]
    await asyncio.sleep(0.1)
    gate.set()
    await asyncio.gather(*tasks)
    return waits, errors


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


@dataclass(frozen=True)
class Figures:
    """What one run measured (seconds); `burst_waits` empty when no burst was sent."""

    rate: float
    p50: float
    p99: float
    errors: int
    burst_waits: list[float]
    burst_errors: int
    sweep_cpu: float | None
    wide_sweep_cpu: float | None


def run(*, workers: int, clients: int, seconds: float, burst_clients: int) -> tuple[str, Figures]:
    """Start the API, measure, stop it; return a line that says how it ran, and the figures."""
    from models.storage import prepare_database

    prepare_database(BENCH_DB, recreate=True)
    queue = f"lrlab-bench-submit-{os.getpid()}"
    # The benchmark is one caller sending far beyond any fair share and far past the default
    # active-experiment quota: both are raised out of the way (quotas are still checked).
    env = {
        "LRLAB_DATABASE_URL": BENCH_DB,
        "LRLAB_QUEUE": queue,
        "LRLAB_RATE_LIMIT": "off",
        "LRLAB_QUOTA_ACTIVE_EXPERIMENTS": "10000000",
    }
    logs = Path(tempfile.mkdtemp(prefix="lrlab-bench-submit-"))
    api = ApiProcess(logs / "api.log", env=env, workers=workers)
    header = (
        f"submissions: uvicorn --workers {workers}, no worker consuming, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, logs {logs}"
    )
    try:
        api.wait_healthy(timeout=120)
        # Warm every process: connection pools, first-request imports.
        asyncio.run(sustained(api.port, api.api_key, clients=workers * 4, seconds=2))
        accepted, latencies, errors = asyncio.run(
            sustained(api.port, api.api_key, clients=clients, seconds=seconds)
        )
        waits, burst_errors = (
            asyncio.run(burst(api.port, api.api_key, clients=burst_clients))
            if burst_clients
            else ([], 0)
        )
        figures = Figures(
            rate=accepted / seconds,
            p50=statistics.median(latencies),
            p99=percentile(latencies, 0.99),
            errors=errors,
            burst_waits=waits,
            burst_errors=burst_errors,
            sweep_cpu=_median_cpu(api, [SWEEP] * 3),
            wide_sweep_cpu=_median_cpu(api, [wide_sweep(v) for v in range(3)]),
        )
    finally:
        api.stop()
        _purge(queue)
    return header, figures


def report(figures: Figures, *, clients: int, seconds: float, burst_clients: int) -> list[str]:
    """The result lines, each against its target."""
    lines = [
        f"  {clients} concurrent clients for {seconds:.0f} s: {figures.rate:.0f} accepted/s "
        f"(target >= {TARGET_RATE:.0f}) {_verdict(figures.rate >= TARGET_RATE)}; "
        f"p50 {figures.p50 * 1000:.1f} ms, p99 {figures.p99 * 1000:.1f} ms "
        f"(target < {TARGET_P99 * 1000:.0f}) {_verdict(figures.p99 < TARGET_P99)}; "
        f"{figures.errors} non-202"
    ]
    if burst_clients:
        waits = figures.burst_waits
        worst = max(waits) if waits else float("inf")
        lines.append(
            f"  burst of {burst_clients} clients at once: {len(waits)} accepted, max wait "
            f"{worst:.2f} s (target < {TARGET_BURST_MAX:.0f}) "
            f"{_verdict(worst < TARGET_BURST_MAX and not figures.burst_errors)}, "
            f"p50 {statistics.median(waits) if waits else float('inf'):.2f} s, "
            f"{figures.burst_errors} failed"
        )
    for what, cpu in (
        ("2 configurations x 250 seeds", figures.sweep_cpu),
        ("500 configurations, 9.4M steps", figures.wide_sweep_cpu),
    ):
        lines.append(
            f"  one {SWEEP_MEMBERS}-member sweep ({what}): "
            + (
                "refused"
                if cpu is None
                else f"{cpu * 1000:.0f} ms of API CPU, median of 3 "
                f"(target ~{TARGET_REQUEST_CPU * 1000:.0f} ms) "
                f"{_verdict(cpu <= TARGET_REQUEST_CPU * 1.2)}"
            )
        )
    return lines


def _ms(seconds: float | None) -> str:
    return "refused" if seconds is None else f"{seconds * 1000:.0f} ms"


def _verdict(met: bool) -> str:
    return "OK" if met else "MISSED"


def baseline(rev: str, *, workers: int, clients: int, seconds: float) -> Figures | str:
    """Figures of the code at `rev`, measured by this harness; or why they could not be.

    The revision's tree is exported to a scratch folder, this bench and its process helper are
    laid over it (one harness measures both), and the bench runs there in a child process,
    which imports that tree's `api` and `models`. No burst: before 5108ad5 a 1,000-client
    burst deadlocked the API.
    """
    with tempfile.TemporaryDirectory(prefix="lrlab-bench-baseline-") as scratch:
        tree = Path(scratch)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True)
        if archive.returncode != 0:
            return f"`git archive {rev}` failed: {archive.stderr.decode(errors='replace').strip()}"
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        for harness in ("bench/submissions.py", "devtools/processes.py"):
            shutil.copy(ROOT / harness, tree / harness)
        command = [
            sys.executable, "-m", "bench.submissions", "--baseline", "none", "--json",
            "--burst", "0", "--workers", str(workers), "--clients", str(clients),
            "--seconds", str(seconds),
        ]  # fmt: skip
        child = subprocess.Popen(
            command, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            out, err = child.communicate(timeout=900)
        except subprocess.TimeoutExpired:
            child.terminate()  # its SIGTERM handler stops the API it started
            child.communicate()
            return f"the run at {rev} took over 900 s"
        if child.returncode != 0:
            return f"the run at {rev} failed: {err[-1000:]}"
        return Figures(**json.loads(out.splitlines()[-1]))


def _median_cpu(api: ApiProcess, sweeps: list[dict[str, object]]) -> float | None:
    """The median CPU seconds the API's processes spent on each `POST /sweeps` of `sweeps`;
    None if the API refused one (an older revision may not know its fields)."""
    pids = _process_tree(api.process.pid)
    spent = []
    for sweep in sweeps:
        before = _cpu_seconds(pids)
        response = api.client.post("/sweeps", json=sweep)
        if response.status_code != 202:
            print(f"  the sweep was refused: {response.status_code} {response.text[:300]}")
            return None
        spent.append(_cpu_seconds(pids) - before)
    return statistics.median(spent)


def _process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (uvicorn's workers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def _cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of `pids`, from /proc."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _purge(queue: str) -> None:
    import redis

    from models.storage import get_settings, redis_py_url

    redis.Redis.from_url(redis_py_url(get_settings().broker_url)).delete(queue)


def main() -> None:
    """Parse the options, run, print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--workers",
        type=int,
        default=api_workers(),
        help="uvicorn processes (default: as `make up` runs them, LRLAB_API_WORKERS)",
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--burst", type=int, default=1000, help="0: no burst")
    parser.add_argument(
        "--baseline",
        default=BASELINE_REV,
        help="a git revision to measure the same way, for the ratio; `none`: skip it",
    )
    parser.add_argument("--json", action="store_true", help="print only the figures, as JSON")
    args = parser.parse_args()
    # A stop by SIGTERM unwinds like Ctrl-C does, so the API it started is stopped too (it
    # runs in a session of its own and would outlive this process).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    shape = {"clients": args.clients, "seconds": args.seconds}
    header, figures = run(workers=args.workers, burst_clients=args.burst, **shape)
    if args.json:
        print(json.dumps(dataclasses.asdict(figures)))
        return
    print(header, flush=True)
    for line in report(figures, burst_clients=args.burst, **shape):
        print(line, flush=True)
    if args.baseline == "none":
        return
    before = baseline(args.baseline, workers=args.workers, **shape)
    if isinstance(before, str):
        print(f"  baseline {args.baseline}: not measured, {before}", flush=True)
        return
    ratio = figures.rate / before.rate
    print(
        f"  baseline {args.baseline} (main before issue 11), same harness, just after: "
        f"{before.rate:.0f} accepted/s, p99 {before.p99 * 1000:.1f} ms, "
        f"{_ms(before.sweep_cpu)} and {_ms(before.wide_sweep_cpu)} of CPU for the sweeps; "
        f"now {ratio:.1f}x its rate "
        f"(target >= {TARGET_RATIO:.0f}x) {_verdict(ratio >= TARGET_RATIO)}",
        flush=True,
    )


if __name__ == "__main__":
    main()
