"""docs/client.md's complete example, run as written against the real API and a real worker."""

import os
import re
import subprocess
import sys

import pytest

from devtools.processes import ROOT, WorkerProcess

DOC = ROOT / "docs" / "client.md"


def _first_python_block() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert blocks, f"no python block in {DOC}"
    return str(blocks[0])


@pytest.mark.e2e
def test_the_documented_script_submits_waits_and_compares(
    live_api: str, worker: WorkerProcess
) -> None:
    env = {**os.environ, "LRLAB_API_URL": live_api, "PYTHONPATH": str(ROOT)}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", _first_python_block()],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )

    first = run()
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.startswith("submitted sweep ")
    assert "6 of 6 members succeeded" in first.stdout
    ranked = [line for line in first.stdout.splitlines() if re.match(r"\d\. ", line)]
    assert [line[:2] for line in ranked] == ["1.", "2.", "3."], first.stdout
    assert "cancel: HTTP 409" in first.stdout

    again = run()  # the same content: the same sweep, already finished
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.startswith("reused sweep ")
    assert again.stdout.split()[2] == first.stdout.split()[2]
