"""What the CLI draws, from API JSON to text (pure)."""

import io
from typing import Any

import pytest
from rich.console import Console, RenderableType

from lrlab_client.client import Resource
from lrlab_client.render import (
    RANKING,
    ProgressView,
    comparison_table,
    failures_line,
    preview_report,
    result_line,
    status_table,
    sweep_metric_rows,
)


def _text(*parts: RenderableType) -> str:
    console = Console(file=io.StringIO(), width=200, highlight=False)
    for part in parts:
        console.print(part)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def _run(status: str, **extra: Any) -> dict[str, Any]:
    spec = {"training": {"seed": 3}}
    return {"id": "0123456789ab", "status": status, "scheduler_type": "step", "spec": spec, **extra}


def test_result_line_per_status() -> None:
    result = {
        "final_val_accuracy": 0.91234,
        "best_val_accuracy": 0.95,
        "best_epoch": 4,
        "train_seconds": 12.34,
    }
    assert result_line(_run("succeeded", result=result)) == (
        "succeeded: final val_accuracy 0.9123, best 0.9500 (epoch 4), 12.3 s"
    )
    assert result_line(_run("failed", error="out\n of   memory")) == "failed: out of memory"
    running = _run("running", progress={"epochs_done": 2, "epochs": 5})
    assert result_line(running) == "running (2/5 epochs)"


def test_comparison_table_ranks_and_marks_failures() -> None:
    rows = [
        {
            "label": "cosine",
            "runs": 3,
            "failed": 1,
            "final_val_accuracy": {"mean": 0.9, "std": 0.01, "ci95": [0.88, 0.92]},
            "epochs_to_target": {"mean": None},
        },
        {"scheduler": {"type": "step"}, "runs": 2, "final_val_accuracy": {"mean": 0.8}},
    ]
    text = _text(comparison_table("abc", {"target": 0.97, "rows": rows}))
    assert "sweep abc · target 0.97" in text
    assert f"ranked by {RANKING}" in text
    first, second = (line for line in text.splitlines() if "cosine" in line or "step" in line)
    assert "3 (1 failed)" in first and "0.9000±0.0100" in first
    assert "[0.8800,0.9200]" in first and "not reached" in first
    assert second.split()[0] == "2"


def test_comparison_table_shows_each_verdict_and_its_adjusted_p() -> None:
    paired = {"verdict": "worse", "p_t_holm": 0.0123, "method": "paired", "excluded_pruned": 1}
    rows = [
        {"label": "leader", "runs": 2},
        {"label": "other", "runs": 2, "paired": paired},
        {"label": "resized", "runs": 2, "paired": paired | {"method": "welch", "p_t_holm": None}},
    ]
    lines = _text(comparison_table("abc", {"rows": rows})).splitlines()
    leader, other, resized = (
        next(line for line in lines if line.split()[:2] == [str(rank), label])
        for rank, label in ((1, "leader"), (2, "other"), (3, "resized"))
    )
    assert "baseline" in leader
    assert "worse (1 pruned left out)" in other and other.rstrip().endswith("0.0123")
    assert "unpaired, Welch" in resized


def test_comparison_table_at_120_columns_breaks_labels_only_between_parameters() -> None:
    label = "cyclic(base_lr=0.001, max_lr=0.1, step_size_up=20, interval=epoch) batch_size=32"
    stat = {"mean": 0.9615, "std": 0.0012, "ci95": [0.9595, 0.9635]}
    row = {"label": label, "runs": 3, "final_val_accuracy": stat, "best_val_accuracy": stat}
    row |= {"final_val_loss": stat, "epochs_to_target": stat, "auc_val_accuracy": stat}
    console = Console(file=io.StringIO(), width=120, highlight=False)
    console.print(comparison_table("3f1c2d9e-aaaa-bbbb-cccc-1234567890ab", {"rows": [row]}))
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert max(len(line) for line in lines) <= 120
    table_lines = lines[2:-2]  # less the title and the caption (the ranking)
    cells = [line[4:].split("  ")[0].strip() for line in table_lines if line[4:5].isalpha()]
    # Each physical line of the label holds whole parameters, in order.
    assert " ".join(c for c in cells if c not in ("schedule",)).endswith(label)
    assert "0.9615±0.0012" in "\n".join(lines)


def test_status_table_of_a_sweep_and_an_experiment() -> None:
    sweep = {"id": "s1", "status": "running", "counts": {"queued": 2}, "experiments": ["a", "b"]}
    text = _text(status_table(Resource("sweep", sweep)))
    assert "queued 2" in text and "a b" in text
    run = _run("succeeded", result={"final_val_accuracy": 0.5})
    text = _text(status_table(Resource("experiment", run)))
    assert "succeeded: final val_accuracy 0.5000" in text
    assert '{"type": "step"}' in text


def test_sweep_metric_rows_drop_the_sweep_id() -> None:
    rows, columns = sweep_metric_rows("sweep_id,experiment_id,epoch,lr\ns,e,1,0.1\n")
    assert columns == ["experiment_id", "epoch", "lr"]
    assert rows == [{"sweep_id": "s", "experiment_id": "e", "epoch": "1", "lr": "0.1"}]


def test_failures_line_names_at_most_five() -> None:
    bad = [_run("failed", name=f"n{i}") for i in range(7)]
    line = failures_line(bad, 9)
    assert line.startswith(
        "7 of 9 experiment(s) did not succeed: n0: step seed=3 [01234567] failed"
    )
    assert line.count("failed") == 5


def test_preview_report_samples_twelve_epochs_and_warns() -> None:
    request = {"scheduler": {"type": "exponential"}, "learning_rate": 0.1}
    epochs = [0.1 * 0.5**i for i in range(30)]
    report = preview_report(request, {"epochs": epochs, "warnings": ["lr below 1e-8"]})
    text = _text(*report)
    assert text.startswith("exponential: lr 0.1, 30 epochs × 1 steps")
    assert "max 0.1 · final 1.86265e-10 · 30 steps" in text
    assert text.rstrip().endswith("warning: lr below 1e-8")
    table_rows = [line for line in text.splitlines() if line.startswith("│")]
    assert len(table_rows) == 12


def test_comparison_table_shows_the_reached_fraction_beside_epochs_to_target() -> None:
    stat = {"n": 3, "mean": 0.97, "std": 0.01, "ci95": [0.95, 0.99]}
    row = {"label": "cosine", "runs": 3, "reached_target": 2, "reached_fraction": 2 / 3}
    row |= {"final_val_accuracy": stat, "epochs_to_target": {"n": 2, "mean": 4.5, "std": 0.5}}
    never = {"label": "constant", "runs": 3, "reached_target": 0, "reached_fraction": 0.0}
    never |= {"final_val_accuracy": stat, "epochs_to_target": {"n": 0, "mean": None}}
    text = _text(comparison_table("abc", {"target": 0.97, "rows": [row, never]}))
    header = " ".join(line for line in text.splitlines()[:6])
    assert "reached" in header
    cosine = next(line for line in text.splitlines() if "cosine" in line)
    constant = next(line for line in text.splitlines() if "constant" in line)
    # Next to each other: the share that reached it, then how fast those runs did.
    # After them: the AUC, then the verdict against the baseline and its adjusted p.
    assert cosine.split()[-5:-3] == ["(67%)", "4.5±0.5"] and "2/3 (67%)" in cosine
    assert constant.split()[-6:-3] == ["(0%)", "not", "reached"] and "0/3 (0%)" in constant


def test_progress_off_a_terminal_is_one_line_per_change(capsys: pytest.CaptureFixture[str]) -> None:
    console = Console(file=io.StringIO())  # not a terminal
    with ProgressView(console) as view:
        view.update({"e1": _run("queued"), "e2": _run("queued")})
        view.update({"e1": _run("queued"), "e2": _run("queued")})
        view.update({"e1": _run("failed", error="boom"), "e2": _run("queued")})
    assert capsys.readouterr().err.splitlines() == [
        "step seed=3 [e1]: queued",
        "step seed=3 [e2]: queued",
        "step seed=3 [e1]: failed: boom",
    ]


def test_a_lone_runs_end_is_left_to_the_result_line(capsys: pytest.CaptureFixture[str]) -> None:
    # The command prints the result line on stdout: stderr must not say it a second time.
    console = Console(file=io.StringIO())  # not a terminal
    result = {"final_val_accuracy": 0.9, "best_val_accuracy": 0.9, "best_epoch": 1}
    with ProgressView(console) as view:
        view.update({"e1": _run("running")})
        view.update({"e1": _run("succeeded", result=result | {"train_seconds": 1.0})})
    assert capsys.readouterr().err.splitlines() == ["step seed=3 [e1]: running"]


def test_live_progress_shows_compiling_then_val_accuracy_and_eta() -> None:
    from datetime import UTC, datetime, timedelta

    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    reads: list[str] = []

    def metrics_of(run_id: str) -> list[dict[str, Any]]:
        reads.append(run_id)
        return [{"epoch": 1, "val_accuracy": 0.9123}]

    view = ProgressView(console, metrics_of=metrics_of)
    started = (datetime.now(UTC) - timedelta(seconds=100)).isoformat()
    compiling = _run("running") | {"progress": {"epochs_done": 0, "epochs": 5}}
    assert "compiling…" in view._status_text("e1", compiling, 0, 5)
    running = _run("running") | {"started_at": started, "progress": {"epochs_done": 1, "epochs": 5}}
    text = view._status_text("e1", running, 1, 5)
    assert "val_acc 0.9123" in text
    assert "ETA 6:4" in text  # 100 s per epoch, 4 epochs left: 6:40 give or take a second
    view._status_text("e1", running, 1, 5)
    assert reads == ["e1"]  # one read per new epoch, not per poll


def test_live_progress_takes_val_accuracy_from_the_event_stream() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    reads: list[str] = []

    def metrics_of(run_id: str) -> list[dict[str, Any]]:
        reads.append(run_id)
        return []

    view = ProgressView(console, metrics_of=metrics_of)
    # `LrlabClient.watch` puts each epoch event's metrics on the run it follows.
    running = _run("running") | {
        "progress": {"epochs_done": 2, "epochs": 4},
        "latest_metrics": {"epoch": 2, "val_accuracy": 0.875},
    }
    text = view._status_text("e1", running, 2, 4)
    assert "val_acc 0.8750" in text
    assert "ETA " in text  # from when this view first saw it running (no started_at yet)
    assert reads == []
