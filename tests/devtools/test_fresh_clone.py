"""The README's two commands from a fresh clone on a machine with only Python and make.

Slow (a new virtualenv, TensorFlow included): `make check-fresh` runs it, `make test` does not.
Node, npm, psql, pg_ctl and redis-server are hidden from PATH; the servers are the embedded
ones. Prints the time from `git clone` to the first succeeded experiment.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from devtools.processes import ROOT, free_port

pytestmark = [pytest.mark.fresh, pytest.mark.timeout(3600)]

HIDDEN = {"node", "nodejs", "npm", "npx", "psql", "pg_ctl", "postgres", "initdb", "redis-server"}
DEFAULT_MNIST = ROOT.parent / "shared" / "datasets" / "mnist-offline"


def _bare_path(bin_dir: Path) -> str:
    """A PATH directory of links to every executable on PATH except the hidden servers and Node."""
    bin_dir.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder) or ".venv" in folder:
            continue
        for entry in os.scandir(folder):
            target = bin_dir / entry.name
            if entry.name in HIDDEN or target.exists() or not os.access(entry.path, os.X_OK):
                continue
            target.symlink_to(entry.path)
    return str(bin_dir)


def _processes_under(directory: Path) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status", "cwd"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            text = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["cwd"] or "")
        except psutil.Error:
            continue
        if str(directory) in text and proc.pid != os.getpid():
            found.append(f"{proc.pid} {text[:160]}")
    return found


def test_make_install_and_make_up_from_a_fresh_clone_with_embedded_servers(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    clone = tmp_path / "lrlab"
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "checkout", "-q", head], cwd=clone, check=True)
    path = _bare_path(tmp_path / "bin")
    for tool in ("npm", "node", "psql", "pg_ctl", "redis-server"):
        assert subprocess.run(["which", tool], env={"PATH": path}).returncode != 0
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LRLAB_", "VIRTUAL_ENV", "PYTHON"))
    }
    port = free_port()
    env.update(
        PATH=path,
        PYTHON="python3",
        LRLAB_DATABASE_URL="embedded",
        LRLAB_BROKER_URL="embedded",
        LRLAB_PORT=str(port),
        LRLAB_MNIST_PATH=os.environ.get("LRLAB_MNIST_PATH") or str(DEFAULT_MNIST),
    )
    log = (tmp_path / "install.log").open("wb")
    done = subprocess.run(["make", "install"], cwd=clone, env=env, stdout=log, stderr=log)
    log.close()
    installed = time.monotonic()
    assert done.returncode == 0, (tmp_path / "install.log").read_text()[-4000:]

    up_log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(
        ["make", "up"], cwd=clone, env=env, stdout=up_log, stderr=up_log, start_new_session=True
    )
    try:
        api = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while True:
            assert up.poll() is None, (tmp_path / "up.log").read_text()[-4000:]
            assert time.monotonic() < deadline, (tmp_path / "up.log").read_text()[-4000:]
            try:
                if httpx.get(f"{api}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        answered = time.monotonic()
        lrlab = clone / ".venv" / "bin" / "lrlab"
        submitted = subprocess.run(
            [str(lrlab), "submit", "examples/quick-sweep.yaml", "--wait"],
            cwd=clone,
            env={**env, "LRLAB_API_URL": api},
            capture_output=True,
            text=True,
            timeout=900,
        )
        succeeded = time.monotonic()
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        assert "succeeded" in submitted.stdout + submitted.stderr
        chart = httpx.get(f"{api}/ui/vendor/uplot/uPlot.esm.js", timeout=10)
        assert chart.status_code == 200 and "uPlot" in chart.text
        up_text = (tmp_path / "up.log").read_text()
        assert "database: embedded Postgres" in up_text and "broker: embedded Redis" in up_text
    finally:
        os.killpg(up.pid, signal.SIGINT)
        try:
            up.wait(180)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        up_log.close()
    time.sleep(1)
    assert _processes_under(clone) == []
    print(
        f"\nfresh clone: install {installed - started:.0f} s, API answering "
        f"{answered - started:.0f} s, first sweep succeeded {succeeded - started:.0f} s "
        f"after `git clone` ({succeeded - answered:.0f} s from the API's first answer)"
    )
