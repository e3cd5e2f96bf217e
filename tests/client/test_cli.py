"""The `lrlab` CLI: local errors without a server, then end to end against the real API and worker.

The end-to-end tests run the in-process CLI (typer's CliRunner) against `uvicorn api.main:app`
in a subprocess and a real Celery worker; one test runs the CLI as a real subprocess.
"""

import contextlib
import csv
import io
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.processes import ROOT, WorkerProcess, free_port
from lrlab_client import ApiError, LrlabClient
from tests.client.conftest import Invoke
from tests.faults.proxy import CuttableProxy

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY = {
    "training": {"epochs": 1, "batch_size": 64, "learning_rate": 0.01},
    "dataset": {"name": "mnist", "train_samples": 256},
}
SIX_SCHEDULERS: list[dict[str, Any]] = [
    {"type": "constant"},
    {"type": "step", "step_size": 1, "gamma": 0.5},
    {"type": "exponential", "gamma": 0.7},
    {"type": "cosine", "t_max": 2, "eta_min": 0.001},
    {"type": "plateau", "patience": 0, "factor": 0.5},
    {"type": "cyclic", "base_lr": 0.001, "max_lr": 0.01, "step_size_up": 2, "interval": "step"},
]


def _write(path: Path, document: dict[str, Any]) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(document))
    else:
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1].strip()


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- no server needed --------------------------------------------------------------------------


def test_help_lists_the_commands(lrlab: Invoke) -> None:
    result = lrlab("--help")
    assert result.exit_code == 0
    for command in ("submit", "status", "watch", "metrics", "compare", "cancel", "preview"):
        assert command in result.stdout


def _help(*command: str) -> str:
    """A command's --help, 200 columns wide, as one line of words without box drawing."""
    from typer.testing import CliRunner

    from lrlab_client.cli import app

    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return " ".join(result.stdout.replace("│", " ").split())


def test_help_has_no_stray_space_and_names_the_default_api() -> None:
    for command in (("submit",), ("compare",), ("lr-find",), ("status",)):
        text = _help(*command)
        assert " ." not in text and " ," not in text, text
        assert "default: http://127.0.0.1:$LRLAB_PORT, port 8000 when unset" in text, text


def test_compare_help_and_its_table_state_the_same_ranking() -> None:
    from lrlab_client.render import RANKING, comparison_table

    assert f"by {RANKING}" in _help("compare")
    assert "by mean final val_accuracy" not in _help("compare")
    table = comparison_table("s", {"target": 0.9, "rows": []})
    assert table.caption is not None and f"ranked by {RANKING}" in str(table.caption)


def test_missing_file_is_one_line_and_exit_2(lrlab: Invoke, tmp_path: Path) -> None:
    result = lrlab("submit", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "no such file" in _one_error_line(result.stderr)


def test_bad_yaml_is_one_line_and_exit_2(lrlab: Invoke, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("scheduler:\n  type: step\n   step_size: [1\n")
    result = lrlab("submit", str(bad))
    assert result.exit_code == 2
    line = _one_error_line(result.stderr)
    assert "not valid YAML" in line and "line" in line


def test_bad_json_and_non_mapping_and_unknown_shape(lrlab: Invoke, tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"scheduler": ')
    assert "not valid JSON" in _one_error_line(lrlab("submit", str(bad_json)).stderr)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    assert "must hold a mapping" in _one_error_line(lrlab("submit", str(listing)).stderr)
    neither = _write(tmp_path / "neither.yaml", {"training": {"epochs": 1}})
    result = lrlab("submit", str(neither))
    assert result.exit_code == 2
    assert "neither an experiment" in _one_error_line(result.stderr)


def test_unreachable_api_names_the_url(lrlab: Invoke, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    spec = _write(tmp_path / "e.yaml", {"scheduler": {"type": "constant"}})
    result = lrlab("submit", str(spec), api=url)
    assert result.exit_code == 3
    line = _one_error_line(result.stderr)
    assert line == f"error: cannot reach the lrlab API at {url} (set LRLAB_API_URL)"


# -- against the live API, no worker -------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheduler", "field"),
    [
        ({"type": "step", "step_size": 0}, "scheduler.step.step_size"),
        ({"type": "no_such_schedule"}, "scheduler"),
    ],
)
def test_invalid_spec_is_one_line_naming_the_field(
    lrlab: Invoke, live_api: str, tmp_path: Path, scheduler: dict[str, Any], field: str
) -> None:
    spec = _write(tmp_path / "bad.yaml", {"scheduler": scheduler, **TINY})
    result = lrlab("submit", str(spec), api=live_api)
    assert result.exit_code == 2
    assert _one_error_line(result.stderr).startswith(f"error: {field}: ")
    assert result.stdout == ""


def test_without_an_api_url_the_cli_finds_the_api_on_lrlab_port(
    lrlab: Invoke, live_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `LRLAB_PORT=8765 make up` then a bare `lrlab …`, as the README says.
    monkeypatch.delenv("LRLAB_API_URL", raising=False)
    monkeypatch.delenv("LRLAB_HOST", raising=False)
    monkeypatch.setenv("LRLAB_PORT", live_api.rsplit(":", 1)[1])
    result = lrlab("schedulers")
    assert result.exit_code == 0, result.stderr
    assert "cosine" in result.stdout


def test_keys_with_a_write_key_says_how_to_get_an_admin_key(lrlab: Invoke, live_api: str) -> None:
    result = lrlab("keys", "list", api=live_api)
    assert result.exit_code == 2
    line = _one_error_line(result.stderr)
    assert line.startswith("error: a write key may not do this: `lrlab keys` needs an admin key")
    assert "lrlab admin keys create <project> <label> --role admin" in line


def test_unknown_id_is_not_found(lrlab: Invoke, live_api: str) -> None:
    for command in ("status", "cancel", "metrics"):
        result = lrlab(command, str(uuid.uuid4()), api=live_api)
        assert result.exit_code == 2
        assert "not found" in _one_error_line(result.stderr)


def test_preview_prints_the_lrs_and_writes_a_png(
    lrlab: Invoke, live_api: str, tmp_path: Path
) -> None:
    out = tmp_path / "curve.png"
    result = lrlab(
        "preview",
        str(ROOT / "examples" / "preview-onecycle.yaml"),
        "--png",
        str(out),
        "--log-scale",
        api=live_api,
    )
    assert result.exit_code == 0, result.stderr
    assert "one_cycle" in result.stdout
    assert "max 0.01" in result.stdout
    assert out.read_bytes().startswith(PNG_SIGNATURE)


def test_lr_find_quiet_prints_only_the_id_and_a_rerun_reuses_the_test(
    lrlab: Invoke, live_api: str, tmp_path: Path
) -> None:
    spec = _write(
        tmp_path / "lr-find.yaml",
        {"name": f"cli-lr-find-{uuid.uuid4().hex[:8]}", "num_iter": 20},
    )
    quiet = lrlab("lr-find", str(spec), "--quiet", api=live_api)
    assert quiet.exit_code == 0, quiet.stderr
    assert quiet.stdout.count("\n") == 1
    test_id = quiet.stdout.strip()
    uuid.UUID(test_id)

    # The same file again is the same test, as `submit` reuses a run.
    again = lrlab("lr-find", str(spec), "--json", api=live_api)
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["id"] == test_id
    assert f"already submitted range test {test_id}" in again.stderr

    fresh = lrlab("lr-find", str(spec), "--fresh", "-q", api=live_api)
    assert fresh.exit_code == 0, fresh.stderr
    assert fresh.stdout.strip() != test_id
    both = lrlab("lr-find", str(spec), "--quiet", "--json", api=live_api)
    assert both.exit_code == 2 and "exclusive" in _one_error_line(both.stderr)
    with LrlabClient(live_api) as client:
        for made in (test_id, fresh.stdout.strip()):
            with contextlib.suppress(ApiError):
                client.cancel_range_test(made)


def _lines(stream: io.TextIOBase | Any) -> "queue.Queue[str]":
    """The lines a child writes, as they come."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _until(lines: "queue.Queue[str]", text: str, seen: list[str]) -> str:
    while True:
        line = lines.get(timeout=120)
        seen.append(line)
        if text in line:
            return line


def test_watch_says_at_once_that_the_run_goes_on_while_the_api_is_gone(
    live_api: str, tmp_path: Path
) -> None:
    # Long enough that it is still unfinished whether or not a test worker runs it.
    spec = {
        "name": f"cli-gone-{uuid.uuid4().hex[:8]}",
        "scheduler": {"type": "constant"},
        "training": {"epochs": 500, "batch_size": 32},
        "dataset": {"name": "mnist", "train_samples": 2000},
    }
    with LrlabClient(live_api) as client:
        experiment_id = client.submit(spec).id
    proxy = CuttableProxy(("127.0.0.1", int(live_api.rsplit(":", 1)[1])))
    env = {**os.environ, "LRLAB_API_URL": f"http://127.0.0.1:{proxy.port}"}
    watch = subprocess.Popen(
        [sys.executable, "-m", "lrlab_client.cli", "watch", experiment_id, "--retry-for", "120"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    try:
        lines = _lines(watch.stderr)
        _until(lines, f"[{experiment_id[:8]}]", seen)  # following the run
        proxy.cut()
        notice = _until(lines, "goes on", seen)
        assert watch.poll() is None, seen  # said while still retrying, not when giving up
        assert f"`lrlab watch {experiment_id}`" in notice
        assert "Retrying for up to 120 s" in notice
        proxy.restore()
        with LrlabClient(live_api) as client:
            client.cancel_experiment(experiment_id)
        assert watch.wait(timeout=120) == 1, seen
        assert "error:" not in "".join(seen) + watch.stderr.read()  # type: ignore[union-attr]
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
        proxy.close()
        with LrlabClient(live_api) as client, contextlib.suppress(ApiError):
            client.cancel_experiment(experiment_id)


def test_watch_gives_up_after_retry_for_and_says_the_run_goes_on(
    lrlab: Invoke, live_api: str
) -> None:
    with LrlabClient(live_api) as client:
        experiment_id = client.submit(
            {"name": f"cli-gone-{uuid.uuid4().hex[:8]}", "scheduler": {"type": "constant"}, **TINY}
        ).id
        client.cancel_experiment(experiment_id)
    proxy = CuttableProxy(("127.0.0.1", int(live_api.rsplit(":", 1)[1])))
    try:
        proxy.cut()
        result = lrlab(
            "watch", experiment_id, "--retry-for", "1", api=f"http://127.0.0.1:{proxy.port}"
        )
    finally:
        proxy.close()
    assert result.exit_code == 3
    # Two lines: the notice at once, then the error when it gives up.
    notice, error = [line for line in result.stderr.splitlines() if line.strip()]
    assert notice.startswith("warning: the lrlab API at") and "goes on" in notice
    assert error.startswith("error: gave up after 1 s")
    assert f"`lrlab watch {experiment_id}`" in error


# -- end to end: a real worker trains ------------------------------------------------------------


@pytest.fixture(scope="module")
def experiment_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A unique name, so that this session's content-derived idempotency key is new.
    spec = {"name": f"cli-{uuid.uuid4().hex[:8]}", "scheduler": {"type": "cosine", "t_max": 1}}
    return _write(tmp_path_factory.mktemp("cli") / "experiment.json", {**spec, **TINY})


@pytest.mark.e2e
def test_submit_wait_status_metrics_cancel(
    lrlab: Invoke, live_api: str, worker: WorkerProcess, experiment_file: Path
) -> None:
    submitted = lrlab("submit", str(experiment_file), "--wait", "--interval", "0.2", api=live_api)
    assert submitted.exit_code == 0, submitted.stdout + submitted.stderr
    experiment_id = _last_line(submitted.stdout)
    uuid.UUID(experiment_id)
    assert "succeeded: final val_accuracy" in submitted.stdout
    # One final line for a lone run: on stdout, not repeated by the progress on stderr.
    assert (submitted.stdout + submitted.stderr).count("final val_accuracy") == 1

    status = lrlab("status", experiment_id, api=live_api)
    assert status.exit_code == 0
    assert "succeeded" in status.stdout and experiment_id in status.stdout
    as_json = json.loads(lrlab("status", experiment_id, "--json", api=live_api).stdout)
    assert as_json["progress"] == {"epochs_done": 1, "epochs": 1}

    metrics = lrlab("metrics", experiment_id, "--csv", api=live_api)
    assert metrics.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(metrics.stdout)))
    assert [int(r["epoch"]) for r in rows] == [1]
    assert 0 <= float(rows[0]["val_accuracy"]) <= 1
    table = lrlab("metrics", experiment_id, api=live_api)
    assert table.exit_code == 0 and "val_accuracy" in table.stdout

    cancelled = lrlab("cancel", experiment_id, api=live_api)
    assert cancelled.exit_code == 2
    assert "already succeeded" in _one_error_line(cancelled.stderr)

    # Idempotent: the same file again is the same experiment, not a second run.
    again = lrlab("submit", str(experiment_file), api=live_api)
    assert again.exit_code == 0, again.stderr
    assert _last_line(again.stdout) == experiment_id

    # The real entry point, as a script would run it.
    env = {**os.environ, "LRLAB_API_URL": live_api}
    done = subprocess.run(
        [sys.executable, "-m", "lrlab_client.cli", "submit", str(experiment_file)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert _last_line(done.stdout) == experiment_id
    watched = subprocess.run(
        [sys.executable, "-m", "lrlab_client.cli", "watch", experiment_id],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert watched.returncode == 0, watched.stderr
    assert "succeeded" in watched.stdout


@pytest.mark.e2e
def test_reused_key_with_another_body_is_a_conflict(
    lrlab: Invoke, live_api: str, tmp_path: Path
) -> None:
    key = f"test-{uuid.uuid4()}"
    first = _write(tmp_path / "a.yaml", {"scheduler": {"type": "constant"}, **TINY})
    second = _write(tmp_path / "b.yaml", {"scheduler": {"type": "step", "step_size": 1}, **TINY})
    ok = lrlab("submit", str(first), "--idempotency-key", key, api=live_api)
    assert ok.exit_code == 0, ok.stderr
    conflict = lrlab("submit", str(second), "--idempotency-key", key, api=live_api)
    assert conflict.exit_code == 2
    assert "Idempotency-Key" in _one_error_line(conflict.stderr)
    lrlab("cancel", _last_line(ok.stdout), api=live_api)


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sweep = {
        "name": f"cli-sweep-{uuid.uuid4().hex[:8]}",
        "base": {
            "training": {"epochs": 2, "batch_size": 64, "learning_rate": 0.01},
            "dataset": {"name": "mnist", "train_samples": 256},
        },
        "schedulers": SIX_SCHEDULERS,
        "seeds": [0, 1],
    }
    return _write(tmp_path_factory.mktemp("cli") / "sweep.yaml", sweep)


@pytest.mark.e2e
def test_sweep_submit_wait_compare_plots(
    lrlab: Invoke, live_api: str, worker: WorkerProcess, sweep_file: Path, tmp_path: Path
) -> None:
    submitted = lrlab("submit", str(sweep_file), "--wait", "--interval", "0.3", api=live_api)
    assert submitted.exit_code == 0, submitted.stdout + submitted.stderr
    sweep_id = _last_line(submitted.stdout)
    uuid.UUID(sweep_id)
    assert "ranked by share reaching the target" in submitted.stdout
    for scheduler in SIX_SCHEDULERS:
        assert scheduler["type"] in submitted.stdout

    status = json.loads(lrlab("status", sweep_id, "--json", api=live_api).stdout)
    assert status["status"] == "completed"
    assert status["counts"]["succeeded"] == 12
    assert len(status["experiments"]) == 12
    assert "completed" in lrlab("status", sweep_id, api=live_api).stdout

    plots = tmp_path / "plots"
    compared = lrlab("compare", sweep_id, "--target", "0.5", "--plots", str(plots), api=live_api)
    assert compared.exit_code == 0, compared.stderr
    for kind in ("lr", "loss", "accuracy"):
        assert (plots / f"{kind}.png").read_bytes().startswith(PNG_SIGNATURE)

    as_csv = lrlab("compare", sweep_id, "--csv", api=live_api)
    assert as_csv.exit_code == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == 6
    assert all(r["runs"] == "2" and r["failed"] == "0" for r in rows), rows
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4, 5, 6]

    metrics = lrlab("metrics", sweep_id, "--csv", api=live_api)
    assert metrics.exit_code == 0, metrics.stderr
    assert len(list(csv.DictReader(io.StringIO(metrics.stdout)))) == 12 * 2

    # Re-running the same command does not start the sweep again.
    again = lrlab("submit", str(sweep_file), api=live_api)
    assert again.exit_code == 0, again.stderr
    assert _last_line(again.stdout) == sweep_id


@pytest.mark.e2e
def test_lr_find_prints_suggestions_and_a_seeded_spec_submits(
    lrlab: Invoke, live_api: str, worker: WorkerProcess, tmp_path: Path
) -> None:
    spec = _write(
        tmp_path / "lr-find.yaml",
        {"dataset": {"name": "mnist", "train_samples": 1024}, "num_iter": 60},
    )
    found = lrlab("lr-find", str(spec), "--wait", "--png", str(tmp_path / "lr.png"), api=live_api)
    assert found.exit_code == 0, found.stdout + found.stderr
    test_id = _last_line(found.stdout)
    uuid.UUID(test_id)
    assert "valley" in found.stdout and "steep" in found.stdout
    assert (tmp_path / "lr.png").read_bytes().startswith(PNG_SIGNATURE)

    seeded = _write(
        tmp_path / "seeded.yaml",
        {
            "scheduler": {"type": "constant"},
            "training": {"epochs": 1, "learning_rate": {"from_range_test": test_id}},
            "dataset": {"name": "mnist", "train_samples": 256},
        },
    )
    submitted = lrlab("submit", str(seeded), "--wait", "--interval", "0.3", api=live_api)
    assert submitted.exit_code == 0, submitted.stdout + submitted.stderr
    experiment = json.loads(
        lrlab("status", _last_line(submitted.stdout), "--json", api=live_api).stdout
    )
    assert experiment["spec"]["lr_from"]["training.learning_rate"]["from_range_test"] == test_id


def _recipe(example: Path) -> list[str]:
    """The shell commands a file's header comment gives, as written (lines `#   command`)."""
    lines = example.read_text().splitlines()
    return [line[4:] for line in lines if line.startswith("#   ")]


@pytest.mark.e2e
def test_the_lr_find_recipe_runs_as_written(
    live_api: str, worker: WorkerProcess, tmp_path: Path
) -> None:
    commands = _recipe(ROOT / "examples" / "lr-find.yaml")
    assert len(commands) == 3 and commands[0].startswith("id=$(lrlab lr-find"), commands
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "lrlab").write_text(f'#!/bin/sh\nexec {sys.executable} -m lrlab_client.cli "$@"\n')
    (bin_dir / "lrlab").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "LRLAB_API_URL": live_api,
    }

    def run(script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", f"set -euo pipefail\n{script}"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )

    done = run("\n".join(commands))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valley" in done.stderr and "steep" in done.stderr
    assert (tmp_path / "lr-find.png").read_bytes().startswith(PNG_SIGNATURE)
    seeded = yaml.safe_load((tmp_path / "seeded.yaml").read_text())
    test_id = seeded["base"]["training"]["learning_rate"]["from_range_test"]
    uuid.UUID(test_id)
    assert "ranked by share reaching the target" in done.stdout

    # The unchanged file again: the same test, already finished, no second run.
    again = run(commands[0] + '\necho "$id"')
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == test_id
    assert f"already submitted range test {test_id} (succeeded)" in again.stderr


def test_submit_prints_the_warnings_of_the_202(
    lrlab: Invoke, live_api: str, tmp_path: Path
) -> None:
    spec = _write(
        tmp_path / "flat.yaml",
        {"scheduler": {"type": "exponential", "gamma": 1.0}, **TINY},
    )
    result = lrlab("submit", str(spec), "--fresh", api=live_api)
    assert result.exit_code == 0, result.stderr
    assert "warning: `gamma` is 1, so the lr never changes." in result.stderr


def test_workers_lists_the_live_workers_or_says_there_are_none(
    lrlab: Invoke, live_api: str
) -> None:
    import redis

    from models.jobs import WorkerInfo, publish_heartbeat, withdraw
    from models.storage import get_settings, redis_py_url

    name = f"cli-{uuid.uuid4().hex[:8]}@test"
    info = {
        "name": name,
        "host": "test",
        "pid": 7,
        "queues": ["cli-queue"],
        "device": "CPU",
        "versions": {"python": "3.11.2"},
        "current_experiments": [],
        "started_at": "2026-01-01T00:00:00Z",
        "last_heartbeat": "2026-01-01T00:00:00Z",
    }
    client = redis.Redis.from_url(redis_py_url(get_settings().broker_url))
    publish_heartbeat(client, WorkerInfo.model_validate(info))
    try:
        # The operator's view: the CLI sends LRLAB_ADMIN_TOKEN (set for the tests).
        result = lrlab("workers", "--json", api=live_api)
    finally:
        withdraw(client, name)
    assert result.exit_code == 0, result.stderr
    assert name in [w["name"] for w in json.loads(result.stdout)]
