"""What the `lrlab` CLI shows: tables, one-line summaries and live progress (rich).

Functions here turn API JSON into text and renderables; they make no request and decide no
exit code.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import typer
from rich import box
from rich.console import Console, JustifyMethod, RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from lrlab_client.client import EXPERIMENT_TERMINAL, Json, Resource

EPOCH_COLUMNS = ("epoch", "lr", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")
# How `GET /sweeps/{id}/comparison` orders its rows; `lrlab compare`'s help and title say it.
RANKING = (
    "share reaching the target, then fewest mean epochs to it, then highest mean final val_accuracy"
)


def stdout_console() -> Console:
    """Standard output; 240 columns when it is not a terminal."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 240  # tables piped to files or captured by tests: do not squash them
    return console


def stderr_console() -> Console:
    """Standard error, where progress and notes go."""
    return Console(stderr=True, highlight=False)


def _num(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"{value:.{digits}f}"


def _lr(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"{value:.6g}"


def _stat(stat: Any, digits: int = 4) -> str:
    if not isinstance(stat, Mapping) or stat.get("mean") is None:
        return "—"
    text = _num(stat["mean"], digits)
    if stat.get("std") is not None:
        text += f"±{_num(stat['std'], digits)}"
    return text


def _ci(stat: Any, digits: int = 4) -> str:
    if not isinstance(stat, Mapping):
        return "—"
    ci = stat.get("ci95")
    if not isinstance(ci, Sequence) or len(ci) != 2 or None in ci:
        return "—"
    return f"[{_num(ci[0], digits)},{_num(ci[1], digits)}]"


def run_label(run: Mapping[str, Any]) -> str:
    """`[name: ]type seed=N`: sweep members share the sweep's name, so type and seed tell apart."""
    seed = ((run.get("spec") or {}).get("training") or {}).get("seed")
    label = str(run.get("scheduler_type") or "?")
    if seed is not None:
        label += f" seed={seed}"
    name = run.get("name")
    return f"{name}: {label}" if name else label


def result_line(run: Mapping[str, Any]) -> str:
    """One line summing up an experiment."""
    status = run["status"]
    if status == "succeeded":
        result = run.get("result") or {}
        return (
            f"succeeded: final val_accuracy {_num(result.get('final_val_accuracy'))}, "
            f"best {_num(result.get('best_val_accuracy'))} (epoch {result.get('best_epoch')}), "
            f"{_num(result.get('train_seconds'), 1)} s"
        )
    if status == "pruned":
        return f"pruned at epoch {run.get('pruned_at_epoch')}: below its rung's cutoff"
    if status == "failed":
        return f"failed: {' '.join(str(run.get('error') or 'no error recorded').split())}"
    progress = run.get("progress") or {}
    return f"{status} ({progress.get('epochs_done', 0)}/{progress.get('epochs', '?')} epochs)"


def comparison_table(sweep_id: str, comparison: Mapping[str, Any]) -> Table:
    """The ranked comparison of a sweep's schedules."""
    target = comparison.get("target")
    # Light borders: at 120 columns every figure fits whole and the label wraps between its
    # parameters.
    table = Table(
        title=Text(f"sweep {sweep_id} · target {target}"),
        title_justify="left",
        caption=Text(f"ranked by {RANKING}"),
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    columns: list[tuple[str, JustifyMethod]] = [
        ("#", "right"),
        ("schedule", "left"),
        ("runs", "right"),
        ("final val_acc", "right"),
        ("95% CI", "right"),
        ("best val_acc", "right"),
        ("final val_loss", "right"),
        ("reached target", "right"),
        ("epochs to target", "right"),
        ("AUC val_acc", "right"),
        ("vs baseline", "left"),
        ("adj. p", "right"),
    ]
    rows = comparison.get("rows") or []
    labels = [
        str(row.get("label") or (row.get("scheduler") or {}).get("type", "?")) for row in rows
    ]
    # As wide as the longest parameter (`step_size_up=20,`), so labels wrap only between them.
    widest = max((len(token) for label in labels for token in label.split()), default=8)
    for header, justify in columns:
        if header == "schedule":
            table.add_column(header, justify=justify, overflow="fold", min_width=min(widest, 40))
        elif header == "vs baseline":
            # A verdict is words: it wraps between them rather than widening the table.
            table.add_column(Text("vs\nbaseline"), justify=justify, overflow="fold", min_width=8)
        else:
            # Numbers never break ("0.9615±0.0012" is one token); headers wrap at their spaces.
            table.add_column(Text(header.replace(" ", "\n")), justify=justify, no_wrap=True)
    for rank, (row, label) in enumerate(zip(rows, labels, strict=True), start=1):
        runs = str(row.get("runs", "?"))
        if row.get("failed"):
            runs += f" ({row['failed']} failed)"
        reach = row.get("epochs_to_target")
        reach_text = (
            "not reached"
            if isinstance(reach, Mapping) and reach.get("mean") is None
            else _stat(reach, 1)
        )
        cells = [
            str(rank),
            label,
            runs,
            _stat(row.get("final_val_accuracy")),
            _ci(row.get("final_val_accuracy")),
            _stat(row.get("best_val_accuracy")),
            _stat(row.get("final_val_loss")),
            _reached(row),
            reach_text,
            _stat(row.get("auc_val_accuracy"), 3),
            *_paired_cells(row),
        ]
        table.add_row(*(Text(c) for c in cells))
    return table


def _reached(row: Mapping[str, Any]) -> str:
    """`2/3 (67%)`: runs that reached the target of those that ended (failed ones count), and
    the share."""
    fraction = row.get("reached_fraction")
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        return "—"
    finished = (row.get("final_val_accuracy") or {}).get("n")
    failed = row.get("failed")
    ended = (finished if isinstance(finished, int) else 0) + (
        failed if isinstance(failed, int) else 0
    )
    share = f"{fraction:.0%}"
    if ended > 0:
        return f"{row.get('reached_target', 0)}/{ended} ({share})"
    return share


def _paired_cells(row: Mapping[str, Any]) -> list[str]:
    """The verdict against the baseline and its Holm-adjusted p (the baseline: "baseline")."""
    paired = row.get("paired")
    if not isinstance(paired, Mapping):
        return ["baseline" if row.get("runs") else "—", "—"]
    verdict = str(paired.get("verdict", "?"))
    if paired.get("method") == "welch":
        verdict += " (unpaired, Welch)"
    if paired.get("excluded_pruned"):
        verdict += f" ({paired['excluded_pruned']} pruned left out)"
    p = paired.get("p_t_holm")
    return [verdict, f"{p:.3g}" if isinstance(p, int | float) else "—"]


def _key_value_table(rows: Sequence[tuple[str, str]]) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(Text(key), Text(value))
    return table


def _experiment_rows(run: Json) -> list[tuple[str, str]]:
    spec = run.get("spec") or {}
    scheduler = spec.get("scheduler") or {"type": run.get("scheduler_type")}
    training = spec.get("training") or {}
    progress = run.get("progress") or {}
    rows = [
        ("experiment", str(run["id"])),
        ("name", str(run.get("name") or "—")),
        ("status", str(run["status"])),
        ("scheduler", json.dumps(scheduler, sort_keys=True)),
        ("training", json.dumps(training, sort_keys=True)),
        ("progress", f"{progress.get('epochs_done', 0)}/{progress.get('epochs', '?')} epochs"),
        ("attempt", str(run.get("attempt", "—"))),
        ("created", str(run.get("created_at") or "—")),
        ("started", str(run.get("started_at") or "—")),
        ("finished", str(run.get("finished_at") or "—")),
    ]
    if run.get("result") or run["status"] in EXPERIMENT_TERMINAL:
        rows.append(("result", result_line(run)))
    return rows


def _sweep_rows(sweep: Json) -> list[tuple[str, str]]:
    counts = sweep.get("counts") or {}
    progress = sweep.get("progress") or {}
    return [
        ("sweep", str(sweep["id"])),
        ("name", str(sweep.get("name") or "—")),
        ("status", str(sweep["status"])),
        ("counts", ", ".join(f"{k} {v}" for k, v in counts.items()) or "—"),
        (
            "progress",
            f"{progress.get('experiments_done', 0)}/{progress.get('experiments', '?')} "
            f"experiments, {progress.get('epochs_done', 0)}/{progress.get('epochs', '?')} epochs",
        ),
        ("experiments", " ".join(str(i) for i in sweep.get("experiments") or []) or "—"),
        ("created", str(sweep.get("created_at") or "—")),
        ("updated", str(sweep.get("updated_at") or "—")),
    ]


def rows_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Table:
    """Rows of metrics (from JSON or CSV), numbers formatted per column."""
    table = Table()
    for column in columns:
        table.add_column(
            column, justify="left" if column in {"experiment_id", "label"} else "right"
        )
    for row in rows:
        table.add_row(*(Text(_cell(column, row.get(column))) for column in columns))
    return table


def _cell(column: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if column in {"sweep_id", "experiment_id", "experiment", "sweep", "id"}:
        return str(value)[:8]
    if isinstance(value, str):  # from CSV
        try:
            value = int(value)
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                return str(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if column == "lr":
        return _lr(value)
    if column == "seconds":
        return _num(value, 2)
    if isinstance(value, float):
        return _num(value)
    return str(value)


def status_table(resource: Resource) -> Table:
    """An experiment's or a sweep's fields, one per row."""
    rows = (
        _sweep_rows(resource.data) if resource.kind == "sweep" else _experiment_rows(resource.data)
    )
    return _key_value_table(rows)


def sweep_metric_rows(text: str) -> tuple[list[dict[str, str]], list[str]]:
    """The rows and columns of a sweep's metrics CSV, less the sweep's own id."""
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    return rows, [c for c in reader.fieldnames or [] if c not in {"sweep", "sweep_id"}]


def failures_line(bad: Sequence[Mapping[str, Any]], total: int) -> str:
    """Which of `total` experiments did not succeed (the first five named)."""
    return f"{len(bad)} of {total} experiment(s) did not succeed: " + "; ".join(
        f"{run_label(r)} [{str(r['id'])[:8]}] {r['status']}" for r in bad[:5]
    )


def preview_report(request: Mapping[str, Any], result: Json) -> list[RenderableType]:
    """A schedule preview: a headline, a sampled lr table, the lr range, and its warnings."""
    epochs: list[float] = list(result.get("epochs") or [])
    steps: list[float] = list(result.get("steps") or [])
    scheduler = request.get("scheduler") or {}
    report: list[RenderableType] = [
        Text(
            f"{scheduler.get('type', '?')}: lr {request.get('learning_rate')}, "
            f"{len(epochs)} epochs × {request.get('steps_per_epoch', 1)} steps"
        )
    ]
    if epochs:
        table = Table()
        table.add_column("epoch", justify="right")
        table.add_column("lr", justify="right")
        for index in _sample(len(epochs), 12):
            table.add_row(str(index + 1), _lr(epochs[index]))
        report.append(table)
        values = steps or epochs
        report.append(
            Text(
                f"min {_lr(min(values))} · max {_lr(max(values))} · "
                f"final {_lr(values[-1])} · {result.get('steps_total', len(values))} steps"
            )
        )
    report.extend(
        Text(f"warning: {warning}", style="yellow") for warning in result.get("warnings") or []
    )
    return report


def schedulers_table(catalog: Sequence[Json]) -> Table:
    """The scheduler types with their default interval, parameters and description."""
    table = Table()
    for column in ("type", "interval", "parameters", "description"):
        table.add_column(column, overflow="fold")
    for entry in catalog:
        properties = (entry.get("parameters") or {}).get("properties") or {}
        names = ", ".join(p for p in properties if p not in ("type", "interval"))
        table.add_row(
            Text(str(entry.get("type"))),
            Text(str(entry.get("default_interval") or "—")),
            Text(names),
            Text(" ".join(str(entry.get("description") or "").split())),
        )
    return table


def warning_lines(accepted: Mapping[str, Any]) -> list[str]:
    """The warnings of a 202 body: the submission's own, then each flagged sweep member's."""
    lines = [str(w) for w in accepted.get("warnings") or []]
    for member in accepted.get("member_warnings") or []:
        who = member.get("label") or str(member.get("experiment", "?"))[:8]
        lines += [
            f"{who} [{str(member.get('experiment', ''))[:8]}]: {w}" for w in member["warnings"]
        ]
    return lines


def workers_table(workers: Sequence[Json]) -> Table:
    """One row per live worker."""
    table = Table(title=Text(f"{len(workers)} live worker(s)"), title_justify="left")
    for header in ("worker", "queues", "device", "versions", "training", "last heartbeat"):
        table.add_column(header, overflow="fold")
    for w in workers:
        versions = w.get("versions") or {}
        problem = w.get("dataset_error")
        table.add_row(
            Text(str(w.get("name"))),
            Text(", ".join(w.get("queues") or [])),
            Text(str(w.get("device") or "?")),
            Text(" ".join(f"{k} {v}" for k, v in sorted(versions.items()))),
            Text(problem, style="red")
            if problem
            else Text(", ".join(str(e)[:8] for e in w.get("current_experiments") or []) or "-"),
            Text(str(w.get("last_heartbeat", "?"))),
        )
    return table


class ProgressView:
    """A live bar per experiment on a terminal; one line per status change elsewhere."""

    def __init__(
        self,
        console: Console,
        *,
        metrics_of: Callable[[str], Sequence[Mapping[str, Any]]] | None = None,
    ) -> None:
        self.console = console
        # Reads a running member's epochs for its current val_accuracy (once per new epoch).
        self._metrics_of = metrics_of
        self._val: dict[str, tuple[int, float | None]] = {}
        # When this view first saw a member running: the ETA's start where the stream gave none.
        self._running_since: dict[str, str] = {}
        self.live = console.is_terminal
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._total: TaskID | None = None
        self._seen: dict[str, str] = {}

    def __enter__(self) -> ProgressView:
        if self.live:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("epochs"),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, runs: Mapping[str, Mapping[str, Any]]) -> None:
        if self._progress is not None:
            self._update_bars(self._progress, runs)
        for run_id, run in runs.items():
            status = str(run["status"])
            if self._seen.get(run_id) != status:
                self._seen[run_id] = status
                # A lone run's end is the result line the command prints on stdout.
                if not self.live and not (len(runs) == 1 and status in EXPERIMENT_TERMINAL):
                    text = result_line(run) if status in EXPERIMENT_TERMINAL else status
                    typer.echo(f"{run_label(run)} [{run_id[:8]}]: {text}", err=True)

    def _update_bars(self, progress: Progress, runs: Mapping[str, Mapping[str, Any]]) -> None:
        if len(runs) > 1 and self._total is None:
            self._total = progress.add_task("[bold]all", total=None, status="")
        done = total = finished = 0
        for run_id, run in runs.items():
            epochs = int((run.get("progress") or {}).get("epochs") or 0)
            epochs_done = int((run.get("progress") or {}).get("epochs_done") or 0)
            done += epochs_done
            total += epochs
            status = str(run["status"])
            finished += status in EXPERIMENT_TERMINAL
            if run_id not in self._tasks:
                description = escape(f"{run_label(run)} ({run_id[:8]})")
                self._tasks[run_id] = progress.add_task(description, total=epochs, status="")
            progress.update(
                self._tasks[run_id],
                completed=epochs_done,
                total=epochs,
                status=self._status_text(run_id, run, epochs_done, epochs),
            )
            if status in EXPERIMENT_TERMINAL:
                progress.stop_task(self._tasks[run_id])
        if self._total is not None:
            progress.update(
                self._total,
                completed=done,
                total=total,
                status=f"{finished}/{len(runs)} finished",
            )

    def _status_text(
        self, run_id: str, run: Mapping[str, Any], epochs_done: int, epochs: int
    ) -> str:
        status = str(run["status"])
        if status != "running":
            return _styled(status)
        since = self._running_since.setdefault(run_id, datetime.now(UTC).isoformat())
        if epochs_done == 0:
            # The first epoch includes XLA compilation: tens of seconds with nothing to show.
            return _styled(status) + " [dim]compiling… (the first epoch is the slow one)[/]"
        parts = [_styled(status)]
        value = self._current_val_accuracy(run_id, run, epochs_done)
        if value is not None:
            parts.append(f"val_acc {value:.4f}")
        eta = _eta(run.get("started_at") or since, epochs_done, epochs)
        if eta is not None:
            parts.append(f"ETA {eta}")
        return " ".join(parts)

    def _current_val_accuracy(
        self, run_id: str, run: Mapping[str, Any], epochs_done: int
    ) -> float | None:
        latest = run.get("latest_metrics")
        if isinstance(latest, Mapping) and latest.get("epoch") == epochs_done:
            return float(latest["val_accuracy"])  # an event stream brought it
        known = self._val.get(run_id)
        if known is not None and known[0] == epochs_done:
            return known[1]
        value = None
        if self._metrics_of is not None:
            try:
                items = self._metrics_of(run_id)
            except Exception:  # progress is best effort: the poll itself reports real errors
                items = []
            if items:
                value = float(items[-1]["val_accuracy"])
        self._val[run_id] = (epochs_done, value)
        return value


def _eta(started: object, epochs_done: int, epochs: int) -> str | None:
    """Time left at the pace of the epochs done so far (since `started`, an ISO time)."""
    if not started or epochs_done <= 0:
        return None
    try:
        began = datetime.fromisoformat(str(started))
    except ValueError:
        return None
    if began.tzinfo is None:
        began = began.replace(tzinfo=UTC)
    elapsed = (datetime.now(UTC) - began).total_seconds()
    left = max(0.0, elapsed / epochs_done * (epochs - epochs_done))
    minutes, seconds = divmod(round(left), 60)
    return f"{minutes}:{seconds:02d}" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _styled(status: str) -> str:
    colour = {"succeeded": "green", "failed": "red", "cancelled": "yellow", "running": "cyan",
              "pruned": "magenta"}  # fmt: skip
    return f"[{colour[status]}]{status}[/]" if status in colour else status


def _sample(n: int, at_most: int) -> list[int]:
    if n <= at_most:
        return list(range(n))
    return sorted({round(i * (n - 1) / (at_most - 1)) for i in range(at_most)})


def suggestions_text(result: Mapping[str, Any]) -> str:
    """A range test's suggestions, one per line: name, lr, loss (and the spread over seeds)."""
    lines = [
        f"iterations: {result['iterations']}"
        + (" (stopped early: the loss diverged)" if result.get("stopped_early") else "")
    ]
    spread = result.get("spread") or {}
    for name in ("valley", "slide", "minimum", "steep"):
        found = result["suggestions"].get(name)
        if found is None:
            lines.append(f"{name:<8} -  (the curve is too short for it)")
            continue
        line = f"{name:<8} lr {found['lr']:.3g}  loss {found['loss']:.4g}"
        if spread.get(name):
            line += f"  seeds: {spread[name]['min_lr']:.3g} .. {spread[name]['max_lr']:.3g}"
        lines.append(line)
    return "\n".join(lines) + "\n"
