"""A pruned sweep through the CLI and the example: pruned members are no failure, and a
watch of the sweep ends when its last member ends pruned."""

import importlib.util
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from devtools.processes import WorkerProcess
from tests.client.conftest import Invoke

ROOT = Path(__file__).resolve().parents[2]
SMALL: dict[str, Any] = {
    "base": {
        "training": {"epochs": 4, "batch_size": 64, "optimizer": "sgd"},
        "dataset": {"name": "mnist", "train_samples": 256},
    },
    "schedulers": [{"type": "constant"}],
    # Largest first: later arrivals at rung 1 fall behind and are pruned.
    "grid": {"training.learning_rate": [0.2, 0.05, 0.01, 0.002]},
    "seeds": [0, 1],
    "pruning": {"type": "asha", "reduction_factor": 2},
}


def test_submit_wait_of_a_pruned_sweep_succeeds_and_compare_prints_verdicts(
    lrlab: Invoke,
    live_api: str,
    worker: WorkerProcess,
    tmp_path: Path,
) -> None:
    spec = tmp_path / "pruned.json"
    spec.write_text(json.dumps({**SMALL, "name": f"pruned-{uuid.uuid4().hex[:8]}"}))
    submitted = lrlab("submit", str(spec), "--wait", "--interval", "0.3", api=live_api)
    assert submitted.exit_code == 0, submitted.stdout + submitted.stderr
    sweep_id = submitted.stdout.strip().splitlines()[-1].strip()
    status = json.loads(lrlab("status", sweep_id, "--json", api=live_api).stdout)
    assert status["status"] == "completed" and status["counts"]["pruned"] > 0
    compared = lrlab("compare", sweep_id, api=live_api)
    assert compared.exit_code == 0, compared.stderr
    assert sweep_id in compared.stdout


def test_the_example_runs_a_pruned_sweep_and_prints_its_verdicts(
    live_api: str,
    worker: WorkerProcess,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    loader = importlib.util.spec_from_file_location(
        "pruned_sweep", ROOT / "examples" / "pruned_sweep.py"
    )
    assert loader is not None and loader.loader is not None
    example = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(example)
    # The example's own sweep trains for minutes; the same code runs a small one here.
    monkeypatch.setattr(example, "SWEEP", {**SMALL, "name": "pruned-example"})
    monkeypatch.setenv("LRLAB_API_URL", live_api)
    example.main()
    out = capsys.readouterr().out
    assert "members pruned" in out and "pruned" in out.split("members:")[1].splitlines()[0]
    verdicts = ("no detectable difference", "worse", "better", "not compared: no seed finished")
    assert any(verdict in out for verdict in verdicts), out
