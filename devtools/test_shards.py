"""`make test`: the suite as shards run side by side, each its own pytest session.

Most of the suite waits on processes (workers, browsers, killed and restarted servers), so two
sessions side by side finish well before one would. Each session has its own database, queue,
worker and API processes (tests/conftest.py names them by process id), so the shards share
nothing but the servers. A shard's output is printed whole once it ends, so the log reads as
two plain pytest runs; the exit status is the worst of theirs.
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The fault and browser tests (long waits on processes) against everything else.
SLOW = ("tests/faults", "tests/ui")
SHARDS: tuple[tuple[str, ...], ...] = (
    SLOW,
    ("tests", *(f"--ignore={path}" for path in SLOW)),
)


def main(extra: list[str]) -> int:
    """Run every shard with `extra` pytest arguments; the worst exit status."""
    logs = Path(tempfile.mkdtemp(prefix="lrlab-test-shards-"))
    running: dict[int, tuple[subprocess.Popen[bytes], Path, float]] = {}
    for index, args in enumerate(SHARDS):
        log = logs / f"shard-{index}.log"
        command = [sys.executable, "-m", "pytest", *args, *extra]
        print(f"shard {index}: {' '.join(command[1:])}", flush=True)
        with log.open("wb") as out:
            process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        running[index] = (process, log, time.monotonic())
    worst = 0
    while running:
        for index, (process, log, started) in list(running.items()):
            if process.poll() is None:
                continue
            del running[index]
            print(f"\n===== shard {index} ({time.monotonic() - started:.0f} s) =====", flush=True)
            sys.stdout.write(log.read_text(errors="replace"))
            sys.stdout.flush()
            worst = max(worst, process.returncode)
        time.sleep(1)
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
