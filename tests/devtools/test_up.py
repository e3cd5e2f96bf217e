"""`make up` in a real terminal (a pty): Ctrl-C stops every process before make returns."""

import os
import pty
import select
import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy.engine import make_url

from devtools.processes import ROOT, free_port
from devtools.servers import drop_database, other_database


class Terminal:
    """A command on the slave side of a pty, its output collected from the master."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a session whose controlling terminal is the pty
            os.chdir(ROOT)
            os.execvpe(args[0], args, env)
        self.output = b""
        self.status: int | None = None

    def read(self, seconds: float) -> None:
        """Collect output for up to `seconds` (less once the command has exited)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    self.output += os.read(self.fd, 65536)
                except OSError:  # the slave side closed: the command has exited
                    return
            elif self.exited():
                return

    def wait_for(self, text: bytes, timeout: float) -> None:
        """Read until `text` appears, or fail with the output so far."""
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if time.monotonic() > deadline or self.exited():
                pytest.fail(f"{text!r} never came:\n{self.output.decode(errors='replace')}")
            self.read(1)

    def exited(self) -> bool:
        """Whether the command has exited (reaping it)."""
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
        return self.status is not None


def _alive(processes: list[psutil.Process]) -> list[str]:
    found = []
    for proc in processes:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(f"{proc.pid} {' '.join(proc.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            continue
    return found


def test_ctrl_c_stops_the_api_and_the_worker_before_make_returns_and_a_hang_up_leaves_nothing(
    database: str, tmp_path: Path
) -> None:
    url = other_database(database, str(make_url(database).database) + "_up")
    port = free_port()
    env = {
        **os.environ,
        "LRLAB_DATABASE_URL": url,
        "LRLAB_CREATE_DATABASE": "true",
        "LRLAB_PORT": str(port),
        "LRLAB_QUEUE": f"lrlab-up-{os.getpid()}",
        "LRLAB_CREDENTIALS_FILE": str(tmp_path / "credentials.json"),
        "LRLAB_DATA_DIR": str(tmp_path / "data"),
        "LRLAB_API_WORKERS": "2",
    }
    # `-o install`: the checkout is installed already; this is about the processes of `up`.
    terminal = Terminal(["make", "--no-print-directory", "-o", "install", "up"], env)
    try:
        terminal.wait_for(b"worker process ready", timeout=240)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, terminal.output.decode(errors="replace")
            terminal.read(0.5)
        processes = psutil.Process(terminal.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in processes)
        assert "uvicorn" in names and "celery" in names

        os.write(terminal.fd, b"\x03")  # Ctrl-C, through the terminal's line discipline
        deadline = time.monotonic() + 120
        while not terminal.exited():
            assert time.monotonic() < deadline, terminal.output.decode(errors="replace")
            terminal.read(0.5)
        # make has returned: nothing it started may still run (a worker in warm shutdown
        # would get the closing terminal's SIGHUP and, detached, restart as an orphan).
        assert _alive(processes) == []
        os.close(terminal.fd)  # the terminal hangs up
        time.sleep(1)
        assert _alive(processes) == []
        assert b"Restarting celery worker" not in terminal.output
    finally:
        if not terminal.exited():
            os.killpg(terminal.pid, signal.SIGKILL)
            os.waitpid(terminal.pid, 0)
        drop_database(url)
