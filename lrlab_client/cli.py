"""`lrlab`: submit, watch and compare learning-rate-scheduler experiments over HTTP.

Talks to the API at `--api` / `LRLAB_API_URL` (default http://127.0.0.1:8000) and nothing else.
Exit codes: 0 ok; 1 a run failed or was cancelled (`--wait`, `watch`); 2 a user error (bad
file, bad input, unknown id, conflict); 3 the API is unreachable or failed (5xx); 130 Ctrl-C.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import yaml
from rich.console import Console, JustifyMethod
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

from lrlab_client.client import (
    DEFAULT_API_URL,
    EXPERIMENT_TERMINAL,
    PLOT_KINDS,
    ApiConnectionError,
    ApiError,
    Json,
    Kind,
    LrlabClient,
    SpecError,
    content_key,
    detect_kind,
)

EXIT_RUN_FAILED = 1
EXIT_USER = 2
EXIT_UNAVAILABLE = 3
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="lrlab",
    help="Submit, watch and compare learning-rate-scheduler experiments (lrlab API client).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ApiOption = Annotated[
    str,
    typer.Option(
        "--api",
        envvar="LRLAB_API_URL",
        help="Base URL of the lrlab API.",
        show_default=True,
    ),
]
IntervalOption = Annotated[
    float, typer.Option("--interval", min=0.05, help="Seconds between polls.", hidden=True)
]


# --------------------------------------------------------------------------------------------
# Output and errors
# --------------------------------------------------------------------------------------------


def _out() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 160  # tables piped to files or captured by tests: do not squash them
    return console


def _err() -> Console:
    return Console(stderr=True, highlight=False)


def _fail(message: str, code: int = EXIT_USER) -> NoReturn:
    one_line = " ".join(message.split())
    typer.echo(f"error: {one_line}", err=True)
    raise typer.Exit(code)


def _api_error_line(exc: ApiError) -> tuple[str, int]:
    message = str(exc)
    if isinstance(exc, ApiConnectionError):
        return message, EXIT_UNAVAILABLE
    if exc.status == 404:
        if message.strip().lower() == "not found":
            return "not found", EXIT_USER
        return (message if "not found" in message.lower() else f"not found: {message}"), EXIT_USER
    if exc.is_user_error:
        return message, EXIT_USER
    return f"the API failed (HTTP {exc.status}): {message}", EXIT_UNAVAILABLE


@contextmanager
def _handled() -> Iterator[None]:
    """Turn expected failures into one `error: ...` line and an exit code, never a traceback."""
    try:
        yield
    except ApiError as exc:
        line, code = _api_error_line(exc)
        _fail(line, code)
    except SpecError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        typer.echo(
            "interrupted; runs already submitted go on (`lrlab cancel ID` stops one)", err=True
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _echo_text(text: str) -> None:
    """Raw text to stdout, exactly once newline-terminated."""
    typer.echo(text, nl=not text.endswith("\n"))


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML 1.2 floats: `1e-3` is a number, not the string PyYAML's 1.1 rules make of it."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load_document(path: Path) -> dict[str, Any]:
    """Read a YAML or JSON mapping; every problem is one `error:` line and exit 2."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        _fail(f"{path}: no such file")
    except IsADirectoryError:
        _fail(f"{path} is a directory, not a file")
    except UnicodeDecodeError:
        _fail(f"{path} is not a UTF-8 text file")
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}")
    document: Any
    if path.suffix.lower() == ".json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            _fail(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    else:
        try:
            document = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
        except yaml.YAMLError as exc:
            _fail(f"{path} is not valid YAML: {_yaml_problem(exc)}")
    if not isinstance(document, dict):
        kind = "nothing" if document is None else type(document).__name__
        _fail(f"{path} must hold a mapping (an object), got {kind}")
    return document


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = exc.problem or exc.context or "syntax error"
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
        return problem
    return str(exc)


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


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
        text += f" ± {_num(stat['std'], digits)}"
    return text


def _ci(stat: Any, digits: int = 4) -> str:
    if not isinstance(stat, Mapping):
        return "—"
    ci = stat.get("ci95")
    if not isinstance(ci, Sequence) or len(ci) != 2 or None in ci:
        return "—"
    return f"[{_num(ci[0], digits)}, {_num(ci[1], digits)}]"


def _label(run: Json) -> str:
    """`[name: ]type seed=N`: sweep members share the sweep's name, so type and seed tell apart."""
    seed = ((run.get("spec") or {}).get("training") or {}).get("seed")
    label = str(run.get("scheduler_type") or "?")
    if seed is not None:
        label += f" seed={seed}"
    name = run.get("name")
    return f"{name}: {label}" if name else label


def result_line(run: Json) -> str:
    """One line summing up an experiment."""
    status = run["status"]
    if status == "succeeded":
        result = run.get("result") or {}
        return (
            f"succeeded: final val_accuracy {_num(result.get('final_val_accuracy'))}, "
            f"best {_num(result.get('best_val_accuracy'))} (epoch {result.get('best_epoch')}), "
            f"{_num(result.get('train_seconds'), 1)} s"
        )
    if status == "failed":
        return f"failed: {' '.join(str(run.get('error') or 'no error recorded').split())}"
    progress = run.get("progress") or {}
    return f"{status} ({progress.get('epochs_done', 0)}/{progress.get('epochs', '?')} epochs)"


def comparison_table(sweep_id: str, comparison: Json) -> Table:
    """The ranked comparison of a sweep's schedules."""
    target = comparison.get("target")
    table = Table(
        title=Text(f"sweep {sweep_id} · ranked by mean final val_accuracy · target {target}"),
        title_justify="left",
    )
    columns: list[tuple[str, JustifyMethod]] = [
        ("#", "right"),
        ("schedule", "left"),
        ("runs", "right"),
        ("final val_acc", "right"),
        ("95% CI", "right"),
        ("best val_acc", "right"),
        ("final val_loss", "right"),
        ("epochs→target", "right"),
        ("AUC val_acc", "right"),
    ]
    for header, justify in columns:
        table.add_column(header, justify=justify, overflow="fold")
    for rank, row in enumerate(comparison.get("rows") or [], start=1):
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
            str(row.get("label") or (row.get("scheduler") or {}).get("type", "?")),
            runs,
            _stat(row.get("final_val_accuracy")),
            _ci(row.get("final_val_accuracy")),
            _stat(row.get("best_val_accuracy")),
            _stat(row.get("final_val_loss")),
            reach_text,
            _stat(row.get("auc_val_accuracy"), 3),
        ]
        table.add_row(*(Text(c) for c in cells))
    return table


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


def _rows_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Table:
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


# --------------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------------


class ProgressView:
    """A live bar per experiment on a terminal; one line per status change elsewhere."""

    def __init__(self, console: Console) -> None:
        self.console = console
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

    def update(self, runs: dict[str, Json]) -> None:
        if self._progress is not None:
            self._update_bars(self._progress, runs)
        for run_id, run in runs.items():
            status = str(run["status"])
            if self._seen.get(run_id) != status:
                self._seen[run_id] = status
                if not self.live:
                    text = result_line(run) if status in EXPERIMENT_TERMINAL else status
                    typer.echo(f"{_label(run)} [{run_id[:8]}]: {text}", err=True)

    def _update_bars(self, progress: Progress, runs: dict[str, Json]) -> None:
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
                description = escape(f"{_label(run)} ({run_id[:8]})")
                self._tasks[run_id] = progress.add_task(description, total=epochs, status="")
            progress.update(
                self._tasks[run_id], completed=epochs_done, total=epochs, status=_styled(status)
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


def _styled(status: str) -> str:
    colour = {"succeeded": "green", "failed": "red", "cancelled": "yellow", "running": "cyan"}
    return f"[{colour[status]}]{status}[/]" if status in colour else status


def _wait_and_report(
    client: LrlabClient, kind: Kind, resource_id: str, *, target: float | None, interval: float
) -> int:
    """Show live progress until every member is terminal, then the result; the exit code."""
    with ProgressView(_err()) as view:
        finals = client.wait([resource_id], on_progress=view.update, interval=interval)
    out = _out()
    if kind == "sweep":
        try:
            out.print(comparison_table(resource_id, client.comparison(resource_id, target=target)))
        except ApiError as exc:
            typer.echo(f"warning: no comparison: {_api_error_line(exc)[0]}", err=True)
    else:
        for run in finals.values():
            out.print(Text(result_line(run)))
    bad = [run for run in finals.values() if run["status"] != "succeeded"]
    if bad:
        typer.echo(
            f"{len(bad)} of {len(finals)} experiment(s) did not succeed: "
            + "; ".join(f"{_label(r)} [{str(r['id'])[:8]}] {r['status']}" for r in bad[:5]),
            err=True,
        )
        return EXIT_RUN_FAILED
    return 0


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


@app.command()
def submit(
    file: Annotated[Path, typer.Argument(help="Experiment or sweep spec (YAML or JSON).")],
    wait: Annotated[
        bool, typer.Option("--wait", help="Show live progress until done, then the results.")
    ] = False,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            help="Idempotency-Key header (default: derived from the file's content).",
            show_default=False,
        ),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="Send no Idempotency-Key: always create a new run."),
    ] = False,
    target: Annotated[
        float | None,
        typer.Option("--target", help="With --wait, a sweep's val_accuracy target."),
    ] = None,
    api: ApiOption = DEFAULT_API_URL,
    interval: IntervalOption = 1.0,
) -> None:
    """Submit an experiment or a sweep (told apart by shape); prints its id last on stdout.

    Re-submitting the same content returns the original run instead of a duplicate.
    """
    document = load_document(file)
    with _handled():
        try:
            kind = detect_kind(document)
        except SpecError as exc:
            _fail(f"{file}: {exc}")
        key = None if fresh else (idempotency_key or content_key(document))
        with LrlabClient(api) as client:
            submission = client.submit(document, idempotency_key=key)
            data = submission.data
            verb = "already submitted" if submission.replayed else "submitted"
            extra = f", {len(data.get('experiments') or [])} experiments" if kind == "sweep" else ""
            typer.echo(f"{verb} {kind} {submission.id} ({data.get('status')}{extra})", err=True)
            code = 0
            if wait:
                try:
                    code = _wait_and_report(
                        client, kind, submission.id, target=target, interval=interval
                    )
                except KeyboardInterrupt:
                    typer.echo(submission.id)
                    raise
    typer.echo(submission.id)
    raise typer.Exit(code)


@app.command()
def status(
    resource_id: Annotated[str, typer.Argument(metavar="ID", help="Experiment or sweep id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON.")] = False,
    api: ApiOption = DEFAULT_API_URL,
) -> None:
    """Show an experiment's or a sweep's status, progress and result."""
    with _handled(), LrlabClient(api) as client:
        resource = client.get(resource_id)
    if as_json:
        typer.echo(json.dumps(resource.data, indent=2, sort_keys=True))
        return
    rows = (
        _sweep_rows(resource.data) if resource.kind == "sweep" else _experiment_rows(resource.data)
    )
    _out().print(_key_value_table(rows))


@app.command()
def watch(
    resource_id: Annotated[str, typer.Argument(metavar="ID", help="Experiment or sweep id.")],
    target: Annotated[
        float | None, typer.Option("--target", help="A sweep's val_accuracy target.")
    ] = None,
    api: ApiOption = DEFAULT_API_URL,
    interval: IntervalOption = 1.0,
) -> None:
    """Live progress until every member is finished; exit 1 if any did not succeed."""
    with _handled(), LrlabClient(api) as client:
        resource = client.get(resource_id)
        code = _wait_and_report(
            client, resource.kind, resource.id, target=target, interval=interval
        )
    raise typer.Exit(code)


@app.command()
def metrics(
    resource_id: Annotated[str, typer.Argument(metavar="ID", help="Experiment or sweep id.")],
    as_csv: Annotated[bool, typer.Option("--csv", help="Raw CSV to stdout.")] = False,
    api: ApiOption = DEFAULT_API_URL,
) -> None:
    """Per-epoch metrics: a table, or CSV with --csv (a sweep: every member's)."""
    with _handled(), LrlabClient(api) as client:
        resource = client.get(resource_id)
        if as_csv:
            _echo_text(client.metrics_csv(resource.id, kind=resource.kind))
            return
        if resource.kind == "sweep":
            reader = csv.DictReader(io.StringIO(client.metrics_csv(resource.id, kind="sweep")))
            rows: Sequence[Mapping[str, Any]] = list(reader)
            columns = [c for c in reader.fieldnames or [] if c not in {"sweep", "sweep_id"}]
        else:
            rows = client.metrics(resource.id)
            columns = ["epoch", "lr", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]
    if not rows:
        typer.echo(f"no finished epoch yet ({resource.data.get('status')})", err=True)
        return
    _out().print(_rows_table(rows, columns))


@app.command()
def compare(
    sweep_id: Annotated[str, typer.Argument(metavar="SWEEP_ID", help="Sweep id.")],
    target: Annotated[
        float | None,
        typer.Option("--target", help="val_accuracy target for epochs-to-target (e.g. 0.97)."),
    ] = None,
    plots: Annotated[
        Path | None,
        typer.Option("--plots", help="Write lr, loss and accuracy plots into this folder."),
    ] = None,
    plot_format: Annotated[
        str, typer.Option("--plot-format", help="png or svg.", show_default=True)
    ] = "png",
    as_csv: Annotated[bool, typer.Option("--csv", help="Raw CSV to stdout.")] = False,
    api: ApiOption = DEFAULT_API_URL,
) -> None:
    """Rank a sweep's schedules by mean final val_accuracy (mean ± std over seeds, 95% CI)."""
    if plot_format not in ("png", "svg"):
        _fail(f"--plot-format must be png or svg, got {plot_format!r}")
    fmt: Any = plot_format
    with _handled(), LrlabClient(api) as client:
        if as_csv:
            _echo_text(client.comparison_csv(sweep_id, target=target))
        else:
            _out().print(comparison_table(sweep_id, client.comparison(sweep_id, target=target)))
        if plots is not None:
            images = {kind: client.plot(sweep_id, kind, fmt=fmt) for kind in PLOT_KINDS}
            try:
                plots.mkdir(parents=True, exist_ok=True)
                for kind, content in images.items():
                    path = plots / f"{kind}.{plot_format}"
                    path.write_bytes(content)
                    typer.echo(f"wrote {path}", err=True)
            except OSError as exc:
                _fail(f"cannot write plots into {plots}: {exc.strerror or exc}")


@app.command()
def cancel(
    resource_id: Annotated[str, typer.Argument(metavar="ID", help="Experiment or sweep id.")],
    api: ApiOption = DEFAULT_API_URL,
) -> None:
    """Cancel a queued or running experiment, or every unfinished member of a sweep."""
    with _handled(), LrlabClient(api) as client:
        resource = client.cancel(resource_id)
    typer.echo(f"{resource.kind} {resource.id}: {resource.data.get('status')}")


@app.command()
def preview(
    file: Annotated[
        Path,
        typer.Argument(help="Preview request (YAML/JSON): scheduler, learning_rate, epochs, …"),
    ],
    png: Annotated[
        Path | None, typer.Option("--png", help="Also write the lr curve as a PNG here.")
    ] = None,
    log_scale: Annotated[bool, typer.Option("--log-scale", help="Log-scale lr axis.")] = False,
    api: ApiOption = DEFAULT_API_URL,
) -> None:
    """The lr a schedule would give, without training: a compact table and its warnings."""
    request = load_document(file)
    with _handled(), LrlabClient(api) as client:
        result = client.preview(request)
        image = client.preview_png(request, log_scale=log_scale) if png is not None else None
    epochs: list[float] = list(result.get("epochs") or [])
    steps: list[float] = list(result.get("steps") or [])
    scheduler = request.get("scheduler") or {}
    out = _out()
    out.print(
        Text(
            f"{scheduler.get('type', '?')}: lr {request.get('learning_rate')}, "
            f"{len(epochs)} epochs × {request.get('steps_per_epoch', 1)} steps"
        )
    )
    if epochs:
        table = Table()
        table.add_column("epoch", justify="right")
        table.add_column("lr", justify="right")
        for index in _sample(len(epochs), 12):
            table.add_row(str(index + 1), _lr(epochs[index]))
        out.print(table)
        values = steps or epochs
        out.print(
            Text(
                f"min {_lr(min(values))} · max {_lr(max(values))} · "
                f"final {_lr(values[-1])} · {len(values)} steps"
            )
        )
    for warning in result.get("warnings") or []:
        out.print(Text(f"warning: {warning}", style="yellow"))
    if png is not None and image is not None:
        try:
            png.parent.mkdir(parents=True, exist_ok=True)
            png.write_bytes(image)
        except OSError as exc:
            _fail(f"cannot write {png}: {exc.strerror or exc}")
        typer.echo(f"wrote {png}", err=True)


def _sample(n: int, at_most: int) -> list[int]:
    if n <= at_most:
        return list(range(n))
    return sorted({round(i * (n - 1) / (at_most - 1)) for i in range(at_most)})


@app.command()
def schedulers(api: ApiOption = DEFAULT_API_URL) -> None:
    """List the scheduler types the API knows, with their parameters."""
    with _handled(), LrlabClient(api) as client:
        catalog = client.schedulers()
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
    _out().print(table)


def main() -> None:
    """Entry point for `python -m lrlab_client.cli`."""
    app(prog_name="lrlab")


if __name__ == "__main__":
    main()
