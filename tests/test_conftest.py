"""The session's skip rules: one summary line per reason outside CI, no skip at all under CI."""

import os
import subprocess
import sys
from pathlib import Path

from devtools.processes import ROOT


def _pytest(tests: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


OFFLINE_TEST = "tests/worker/test_datasets.py::test_offline_mnist_class_counts"


def _browser_test() -> str:
    path = "tests/ui/test_dashboard.py"
    for line in (ROOT / path).read_text().splitlines():
        if line.startswith("def test"):
            return path + "::" + line.split("(")[0].removeprefix("def ")
    raise AssertionError(f"no test in {path}")


def test_outside_ci_what_the_machine_lacks_skips_with_one_summary_line_per_reason(
    tmp_path: Path,
) -> None:
    mnist, chromium = tmp_path / "no-mnist-here", tmp_path / "no-chromium-here"
    done = _pytest(
        [OFFLINE_TEST, _browser_test()], LRLAB_MNIST_PATH=str(mnist), LRLAB_CHROMIUM=str(chromium)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("lrlab: skipped")]
    assert lines == [
        f"lrlab: skipped 1 test(s): no Chromium at {chromium}: `apt-get install chromium`, "
        "or LRLAB_CHROMIUM=/path to run the browser tests",
        f"lrlab: skipped 1 test(s): no offline MNIST at {mnist}: set LRLAB_MNIST_PATH",
    ], done.stdout


def test_under_ci_nothing_skips(tmp_path: Path) -> None:
    done = _pytest(
        [OFFLINE_TEST, _browser_test()],
        LRLAB_MNIST_PATH=str(tmp_path / "absent"),
        LRLAB_CHROMIUM=str(tmp_path / "absent-chromium"),
        CI="true",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    # The browser fixture fails outright; the dataset test's skip fails the session.
    assert "1 error" in done.stdout and "apt-get install chromium" in done.stdout
    assert "lrlab: under CI=true nothing may skip" in done.stdout
