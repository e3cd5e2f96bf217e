"""Benchmark: a sweep through the service vs the seed tutorial's model.fit (`make bench`)."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MNIST = ROOT.parent / "shared" / "datasets" / "mnist-offline"
BENCH_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/lrlab_bench"
EPOCHS, BATCH, LR, TRAIN_SAMPLES = 10, 32, 1e-3, 8000
SEEDS = [0, 1]
SCHEDULERS: list[dict[str, Any]] = [
    {"type": "constant"},
    {"type": "step", "step_size": 3, "gamma": 0.5},
    {"type": "exponential", "gamma": 0.8},
    {"type": "cosine", "t_max": 10, "eta_min": 1e-5},
    {"type": "plateau", "patience": 2},
    # One triangle up and down every two epochs (250 steps per epoch at 8,000 / 32).
    {"type": "cyclic", "base_lr": 1e-4, "max_lr": 3e-3, "step_size_up": 250, "interval": "step"},
]
TRAINING = {"epochs": EPOCHS, "batch_size": BATCH, "learning_rate": LR}
DATASET = {"name": "mnist", "train_samples": TRAIN_SAMPLES}

lines: list[str] = []

# The same process management the tests use (their own session, stoppable as a group).
from devtools.processes import ApiProcess, WorkerProcess  # noqa: E402

SECTION = "## Fused training against plain `model.fit` (`python -m bench.run`)"


def say(text: str = "") -> None:
    """Print a result line and keep it for RESULTS.md."""
    print(text, flush=True)
    lines.append(text)


def machine() -> list[str]:
    """CPU, cores, RAM, framework versions and load: what the figures depend on."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    import keras
    import tensorflow as tf

    return [
        f"CPU: {cpu}, {os.cpu_count()} cores, RAM {mem}",
        f"Python {platform.python_version()}, TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__} (backend {keras.backend.backend()})",
        f"load average at start: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
        f"{os.getloadavg()[2]:.2f}",
    ]


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


def http(api: httpx.Client, method: str, path: str, body: Any = None) -> Any:
    """JSON request with the API's key; raises on a non-2xx answer with its body."""
    response = api.request(method, path, json=body, timeout=30)
    if response.is_error:
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
    return response.json() if response.content else None


@contextlib.contextmanager
def service(env: dict[str, str], logs: Path) -> Iterator[httpx.Client]:
    """Run the API (uvicorn) and one worker; stop both afterwards, also on error."""
    api = ApiProcess(logs / "api.log", env=env)
    worker = WorkerProcess(logs / "worker.log", env=env)
    try:
        api.wait_healthy(timeout=120)
        worker.wait_ready(timeout=300)
        yield api.client
    finally:
        api.stop()
        worker.stop()


def wait_experiment(api: httpx.Client, experiment_id: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        exp = http(api, "GET", f"/experiments/{experiment_id}")
        if exp["status"] in ("succeeded", "failed", "cancelled"):
            return dict(exp)
        if time.monotonic() > deadline:
            raise RuntimeError(f"experiment {experiment_id} still {exp['status']}")
        time.sleep(0.05)


def experiment_spec(scheduler: dict[str, Any], seed: int, epochs: int = EPOCHS) -> dict[str, Any]:
    return {
        "scheduler": scheduler,
        "training": {**TRAINING, "epochs": epochs, "seed": seed},
        "dataset": DATASET,
    }


def label(scheduler: dict[str, Any]) -> str:
    return str(scheduler["type"])


# --------------------------------------------------------------------------------------------
# The parts
# --------------------------------------------------------------------------------------------


def engine_in_process(data: Any) -> dict[int, float]:
    """The engine alone (no service): s/epoch of a group of 1, 4 and 12, compile excluded."""
    from models.experiments import ExperimentCreate
    from models.schedules import build_run
    from worker.engine import max_stack, train_members, warm_up
    from worker.members import MemberConfig

    spec = ExperimentCreate.model_validate({"scheduler": {"type": "constant"}}).scheduler
    epochs = 4
    per_epoch: dict[int, float] = {}
    for size in (1, 4, 12):
        warm_up(BATCH, len(data.y_train), len(data.y_val), size)
        members = [
            MemberConfig(
                key=str(i),
                epochs=epochs,
                batch_size=BATCH,
                learning_rate=LR,
                optimizer="adam",
                momentum=0.0,
                seed=i,
                schedule=build_run(spec, base_lr=LR, epochs=epochs, steps_per_epoch=250),
            )
            for i in range(size)
        ]
        started = time.perf_counter()
        train_members(members, data, on_epoch=lambda r: True)
        per_epoch[size] = (time.perf_counter() - started) / epochs
    say(
        f"engine in-process (max stack {max_stack()} members), Adam, s per epoch of the group "
        "(checkpoints included, compile excluded):"
    )
    for size, s in per_epoch.items():
        say(f"  {size:2d} member(s): {s:.3f} s/epoch, {s / size:.3f} s per member-epoch")
    return per_epoch


def plain_sweep(data: Any) -> tuple[float, dict[str, list[float]], list[float]]:
    """The 12 runs with model.fit, one after another."""
    from bench.plain_keras import fit_run

    finals: dict[str, list[float]] = {}
    first_run_seconds: list[float] = []
    started = time.perf_counter()
    for scheduler in SCHEDULERS:
        for seed in SEEDS:
            t = time.perf_counter()
            epochs = fit_run(
                data, scheduler, seed=seed, epochs=EPOCHS, batch_size=BATCH, learning_rate=LR
            )
            finals.setdefault(label(scheduler), []).append(epochs[-1]["val_accuracy"])
            if not first_run_seconds:
                first_run_seconds = [e["seconds"] for e in epochs]
            say(
                f"  model.fit {label(scheduler):12s} seed {seed}: "
                f"{time.perf_counter() - t:6.1f} s, "
                f"final val_accuracy {epochs[-1]['val_accuracy']:.4f}"
            )
    return time.perf_counter() - started, finals, first_run_seconds


def service_part(data_path: str) -> dict[str, Any]:
    """Warm worker: first-row latency, one experiment, then the sweep over HTTP."""
    from models.storage import prepare_database

    prepare_database(BENCH_DB, recreate=True)
    env = dict(os.environ)
    env.update(
        LRLAB_DATABASE_URL=BENCH_DB,
        LRLAB_QUEUE=f"lrlab-bench-{os.getpid()}",
        LRLAB_MNIST_PATH=data_path,
        PYTHONPATH=str(ROOT),
    )
    results: dict[str, Any] = {}
    logs = Path(tempfile.mkdtemp(prefix="lrlab-bench-"))
    say(f"service logs: {logs}")
    with service(env, logs) as api:
        # Warm the worker the way a long-running one is: TensorFlow loaded, the default shape
        # compiled (a worker that calls engine.warm_up at start has this already).
        t = time.perf_counter()
        warm = http(api, "POST", "/experiments", experiment_spec({"type": "constant"}, 0, 1))
        status = wait_experiment(api, warm["id"])["status"]
        say(f"worker warm-up experiment (1 epoch): {status} in {time.perf_counter() - t:.1f} s")

        t0 = time.perf_counter()
        single = http(api, "POST", "/experiments", experiment_spec({"type": "constant"}, 0))
        while not http(api, "GET", f"/experiments/{single['id']}/metrics")["items"]:
            if time.perf_counter() - t0 > 120:
                raise RuntimeError("no metrics row within 120 s")
            time.sleep(0.02)
        results["first_row"] = time.perf_counter() - t0
        exp = wait_experiment(api, single["id"])
        results["single_wall"] = time.perf_counter() - t0
        rows = http(api, "GET", f"/experiments/{single['id']}/metrics")["items"]
        results["single_status"] = exp["status"]
        results["single_seconds"] = [r["seconds"] for r in rows]

        body = {
            "name": "bench",
            "base": {"training": TRAINING, "dataset": DATASET},
            "schedulers": SCHEDULERS,
            "seeds": SEEDS,
        }
        t0 = time.perf_counter()
        sweep = http(api, "POST", "/sweeps", body)
        deadline = time.monotonic() + 3600
        while True:
            read = http(api, "GET", f"/sweeps/{sweep['id']}")
            if read["status"] in ("completed", "failed", "cancelled"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"sweep still {read['status']} after an hour")
            time.sleep(0.1)
        results["sweep_wall"] = time.perf_counter() - t0
        results["sweep_status"] = read["status"]
        results["sweep_counts"] = read["counts"]
        finals: dict[str, list[float]] = {}
        for experiment_id in read["experiments"]:
            exp = http(api, "GET", f"/experiments/{experiment_id}")
            items = http(api, "GET", f"/experiments/{experiment_id}/metrics")["items"]
            if items:
                finals.setdefault(label(exp["spec"]["scheduler"]), []).append(
                    items[-1]["val_accuracy"]
                )
        results["sweep_finals"] = finals
        worker_log = (logs / "worker.log").read_text(errors="replace").splitlines()
        results["compile_lines"] = [line for line in worker_log if "compiled the epoch" in line]
    return results


def main() -> None:
    """Run every part, print the figures, write bench/RESULTS.md."""
    os.chdir(ROOT)
    data_path = os.environ.get("LRLAB_MNIST_PATH") or str(DEFAULT_MNIST)
    started_at = time.strftime("%Y-%m-%d %H:%M:%S")
    say(f"# lrlab benchmark ({started_at})")
    say()
    for line in machine():
        say(line)
    say(
        f"data: {data_path}; {len(SCHEDULERS)} schedules × {len(SEEDS)} seeds × {EPOCHS} epochs, "
        f"batch {BATCH}, Adam lr {LR}, train_samples {TRAIN_SAMPLES}"
    )
    say()

    from worker.datasets import load_dataset

    data = load_dataset("mnist", train_samples=TRAIN_SAMPLES, mnist_path=data_path)
    say(f"train {len(data.y_train)} / val {len(data.y_val)} samples")
    # The baseline first, while this process's TensorFlow is untouched: the engine below turns
    # on op determinism process-wide, which would slow model.fit and flatter the ratios.
    say("(a) plain Keras model.fit, one run after another:")
    plain_wall, plain_finals, plain_epoch_seconds = plain_sweep(data)
    say(f"  total {plain_wall:.1f} s")
    say()
    engine = engine_in_process(data)
    say()
    say("(b)-(d) the service (API + one worker, concurrency 1):")
    svc = service_part(data_path)
    for line in svc["compile_lines"]:
        say(f"  worker log: {line.split('lrlab.worker')[-1].strip(': ')}")
    say()

    plain_epoch = statistics.median(plain_epoch_seconds)
    single_epoch = (
        statistics.median(svc["single_seconds"]) if svc["single_seconds"] else float("nan")
    )
    sweep_ratio = plain_wall / svc["sweep_wall"]
    single_ratio = plain_epoch / single_epoch
    fit_eng = {k: plain_epoch / v * k for k, v in engine.items()}
    say("## Results")
    say()
    say(
        f"sweep, 12 runs × {EPOCHS} epochs: model.fit {plain_wall:.1f} s, service "
        f"{svc['sweep_wall']:.1f} s (submit → last member finished; status "
        f"{svc['sweep_status']}, {svc['sweep_counts']}) → {sweep_ratio:.2f}x"
    )
    say()
    say("| schedule | model.fit mean final val_acc | service mean final val_acc | diff (pp) |")
    say("| --- | --- | --- | --- |")
    diffs = []
    for name, plain in plain_finals.items():
        served = svc["sweep_finals"].get(name, [])
        p = statistics.mean(plain)
        s = statistics.mean(served) if served else float("nan")
        diffs.append((s - p) * 100)
        say(f"| {name} | {p:.4f} | {s:.4f} | {(s - p) * 100:+.2f} |")
    all_plain = statistics.mean(v for vs in plain_finals.values() for v in vs)
    served_all = [v for vs in svc["sweep_finals"].values() for v in vs]
    all_served = statistics.mean(served_all) if served_all else float("nan")
    overall = (all_served - all_plain) * 100
    say(f"| all | {all_plain:.4f} | {all_served:.4f} | {overall:+.2f} |")
    say()
    say(
        f"single experiment: model.fit median {plain_epoch:.3f} s/epoch, service median "
        f"{single_epoch:.3f} s/epoch (metrics `seconds`) → {single_ratio:.2f}x; submit → "
        f"finished {svc['single_wall']:.1f} s ({svc['single_status']})"
    )
    say(f"submit → first metrics row on the warm worker: {svc['first_row']:.2f} s")
    say(
        "engine in-process vs model.fit per member-epoch: "
        + ", ".join(f"{k} member(s) {v:.1f}x" for k, v in fit_eng.items())
    )
    say()
    say("## Targets")
    say()
    sweep_ok = sweep_ratio >= 5 and abs(overall) <= 1
    say(
        f"- sweep ≥5x faster end to end with mean final val_accuracy within 1 pp: "
        f"{'MET' if sweep_ok else 'NOT MET'} ({sweep_ratio:.2f}x, {overall:+.2f} pp overall, "
        f"largest per-schedule diff {max(diffs, key=abs):+.2f} pp)"
    )
    say(
        f"- single experiment ≥2x faster per epoch: {'MET' if single_ratio >= 2 else 'NOT MET'} "
        f"({single_ratio:.2f}x)"
    )
    say(
        f"- submit → first epoch row < 3 s: {'MET' if svc['first_row'] < 3 else 'NOT MET'} "
        f"({svc['first_row']:.2f} s)"
    )
    say()
    say(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    out = ROOT / "bench" / "RESULTS.md"
    out.write_text(_with_section(out.read_text(), "\n".join(lines)))
    print(f"wrote this run's section of {out}")


def _with_section(results: str, report: str) -> str:
    """RESULTS.md with this benchmark's section replaced by `report`; the others kept."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    # The report's own headings sit below the section's.
    report = re.sub(r"(?m)^(#+) ", lambda m: "#" * (len(m.group(1)) + 2) + " ", report)
    body = f"{SECTION}\n\nRun on commit {commit or 'not recorded'}.\n\n{report}\n\n"
    start = results.find(SECTION)
    if start < 0:
        return results.rstrip("\n") + "\n\n" + body
    end = results.find("\n## ", start + len(SECTION))
    return results[:start] + body + (results[end + 1 :] if end >= 0 else "")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
