"""`lrlab`: submit, watch and compare learning-rate-scheduler experiments over HTTP.

The commands are thin adapters: documents are read by `documents`, requests made by
`client`, output drawn by `render`; this module decides the exit codes.

Talks to the API at `--api` / `LRLAB_API_URL` (default: where `make up` listens, 127.0.0.1 on
`LRLAB_PORT`, 8000) and nothing else.
Exit codes: 0 ok; 1 a run failed or was cancelled (`--wait`, `watch`); 2 a user error (bad
file, bad input, unknown id, conflict); 3 the API is unreachable or failed (5xx); 130 Ctrl-C.
While waiting, an API that stops answering is retried for `--retry-for` seconds
(`DEFAULT_RETRY_SECONDS`); the runs go on on the workers meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.text import Text

from lrlab_client import credentials
from lrlab_client.client import PLOT_KINDS, LrlabClient, Submission
from lrlab_client.documents import Kind, content_key, detect_kind, load_document
from lrlab_client.errors import ApiConnectionError, ApiError, SpecError
from lrlab_client.render import (
    EPOCH_COLUMNS,
    RANKING,
    ProgressView,
    comparison_table,
    failures_line,
    preview_report,
    result_line,
    rows_table,
    schedulers_table,
    status_table,
    stderr_console,
    stdout_console,
    suggestions_text,
    sweep_metric_rows,
    warning_lines,
    workers_table,
)

EXIT_RUN_FAILED = 1
EXIT_USER = 2
EXIT_UNAVAILABLE = 3
EXIT_INTERRUPTED = 130
# How long `--wait` and `watch` keep retrying an API that stopped answering before giving up.
DEFAULT_RETRY_SECONDS = 300.0

app = typer.Typer(
    name="lrlab",
    help="Submit, watch and compare learning-rate-scheduler experiments (lrlab API client).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ApiOption = Annotated[
    str | None,
    typer.Option(
        "--api",
        envvar="LRLAB_API_URL",
        help="Base URL of the lrlab API (default: http://127.0.0.1:$LRLAB_PORT, port 8000"
        " when unset).",
        show_default=False,
    ),
]
IdArgument = Annotated[str, typer.Argument(metavar="ID", help="Experiment or sweep id.")]
IntervalOption = Annotated[
    float, typer.Option("--interval", min=0.05, help="Seconds between polls.", hidden=True)
]
RetryOption = Annotated[
    float,
    typer.Option(
        "--retry-for",
        min=0,
        help="Seconds to keep retrying an API that stops answering while waiting.",
    ),
]
IdempotencyKeyOption = Annotated[
    str | None,
    typer.Option(
        "--idempotency-key",
        help="Idempotency-Key header (default: derived from the file's content).",
        show_default=False,
    ),
]
FreshOption = Annotated[
    bool,
    typer.Option("--fresh", help="Send no Idempotency-Key: always create a new run."),
]


# --------------------------------------------------------------------------------------------
# Errors and exit codes
# --------------------------------------------------------------------------------------------


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


def _write(path: Path, content: bytes, *, what: str) -> None:
    """Write a file the user asked for (its folder too); a failure is one `error:` line."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    except OSError as exc:
        _fail(f"cannot write {what}: {exc.strerror or exc}")
    typer.echo(f"wrote {path}", err=True)


def _outage_notice(client: LrlabClient, resource_id: str) -> Callable[[ApiError, float], None]:
    """What to say, at once, when the API stops answering during a wait."""

    def notice(exc: ApiError, retry_for: float) -> None:
        reason = str(exc) if exc.status == 0 else f"HTTP {exc.status}: {exc}"
        typer.echo(
            f"warning: the lrlab API at {client.base_url} is not answering ({reason}). "
            f"The run goes on without this command; follow it with `lrlab watch {resource_id}`. "
            f"Retrying for up to {retry_for:g} s.",
            err=True,
        )

    return notice


@contextmanager
def _gone_api(resource_id: str, retry_for: float) -> Iterator[None]:
    """An API still away after `retry_for`: one error line saying the run goes on."""
    try:
        yield
    except ApiError as exc:
        if exc.status not in (0, 502, 503, 504):
            raise
        _fail(
            f"gave up after {retry_for:g} s: {exc}. The run goes on; follow it with"
            f" `lrlab watch {resource_id}`",
            EXIT_UNAVAILABLE,
        )


def _wait_and_report(
    client: LrlabClient,
    kind: Kind,
    resource_id: str,
    *,
    target: float | None,
    interval: float,
    retry_for: float = DEFAULT_RETRY_SECONDS,
) -> int:
    """Show live progress until every member is terminal, then the result; the exit code."""
    with (
        _gone_api(resource_id, retry_for),
        ProgressView(stderr_console(), metrics_of=client.metrics) as view,
    ):
        finals = client.watch(
            resource_id,
            kind=kind,
            on_progress=view.update,
            interval=interval,
            retry_for=retry_for,
            on_outage=_outage_notice(client, resource_id),
        )
    out = stdout_console()
    if kind == "sweep":
        try:
            out.print(comparison_table(resource_id, client.comparison(resource_id, target=target)))
        except ApiError as exc:
            typer.echo(f"warning: no comparison: {_api_error_line(exc)[0]}", err=True)
    else:
        for run in finals.values():
            out.print(Text(result_line(run)))
    # Pruned members are the sweep's pruning rule at work, not failures.
    bad = [run for run in finals.values() if run["status"] not in ("succeeded", "pruned")]
    if bad:
        typer.echo(failures_line(bad, len(finals)), err=True)
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
    idempotency_key: IdempotencyKeyOption = None,
    fresh: FreshOption = False,
    target: Annotated[
        float | None,
        typer.Option("--target", help="With --wait, a sweep's val_accuracy target."),
    ] = None,
    api: ApiOption = None,
    interval: IntervalOption = 1.0,
    retry_for: RetryOption = DEFAULT_RETRY_SECONDS,
) -> None:
    """Submit an experiment or a sweep (told apart by shape); prints its id last on stdout.

    Re-submitting the same content returns the original run instead of a duplicate.
    """
    with _handled():
        document = load_document(file)
        try:
            kind = detect_kind(document)
        except SpecError as exc:
            _fail(f"{file}: {exc}")
        key = None if fresh else (idempotency_key or content_key(document))
        with LrlabClient(api) as client:
            submission: Submission = client.submit(document, idempotency_key=key)
            verb = "already submitted" if submission.replayed else "submitted"
            extra = (
                f", {len(submission.get('experiments') or [])} experiments"
                if kind == "sweep"
                else ""
            )
            typer.echo(f"{verb} {kind} {submission.id} ({submission.status}{extra})", err=True)
            for line in warning_lines(submission):
                typer.echo(f"warning: {line}", err=True)
            code = 0
            if wait:
                try:
                    code = _wait_and_report(
                        client,
                        kind,
                        submission.id,
                        target=target,
                        interval=interval,
                        retry_for=retry_for,
                    )
                except KeyboardInterrupt:
                    typer.echo(submission.id)
                    raise
    typer.echo(submission.id)
    raise typer.Exit(code)


@app.command()
def status(
    resource_id: IdArgument,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON.")] = False,
    api: ApiOption = None,
) -> None:
    """Show an experiment's or a sweep's status, progress and result."""
    with _handled(), LrlabClient(api) as client:
        resource = client.get(resource_id)
    if as_json:
        typer.echo(json.dumps(resource.data, indent=2, sort_keys=True))
        return
    stdout_console().print(status_table(resource))


@app.command()
def watch(
    resource_id: IdArgument,
    target: Annotated[
        float | None, typer.Option("--target", help="A sweep's val_accuracy target.")
    ] = None,
    api: ApiOption = None,
    interval: IntervalOption = 1.0,
    retry_for: RetryOption = DEFAULT_RETRY_SECONDS,
) -> None:
    """Live progress until every member is finished; exit 1 if any did not succeed."""
    with _handled(), LrlabClient(api) as client:
        with _gone_api(resource_id, retry_for):
            resource = client.get(
                resource_id, retry_for=retry_for, on_outage=_outage_notice(client, resource_id)
            )
        code = _wait_and_report(
            client,
            resource.kind,
            resource.id,
            target=target,
            interval=interval,
            retry_for=retry_for,
        )
    raise typer.Exit(code)


@app.command()
def metrics(
    resource_id: IdArgument,
    as_csv: Annotated[bool, typer.Option("--csv", help="Raw CSV to stdout.")] = False,
    api: ApiOption = None,
) -> None:
    """Per-epoch metrics: a table, or CSV with --csv (a sweep: every member's)."""
    with _handled(), LrlabClient(api) as client:
        resource = client.get(resource_id)
        if as_csv:
            _echo_text(client.metrics_csv(resource.id, kind=resource.kind))
            return
        rows: Sequence[Mapping[str, Any]]
        columns: Sequence[str]
        if resource.kind == "sweep":
            rows, columns = sweep_metric_rows(client.metrics_csv(resource.id, kind="sweep"))
        else:
            rows, columns = client.metrics(resource.id), EPOCH_COLUMNS
    if not rows:
        typer.echo(f"no finished epoch yet ({resource.data.get('status')})", err=True)
        return
    stdout_console().print(rows_table(rows, columns))


@app.command(
    help=f"Rank a sweep's configurations by {RANKING}: mean ± std over seeds, 95% CI, and the"
    " share of runs that reached the target."
)
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
    api: ApiOption = None,
) -> None:
    """Rank a sweep's configurations (the help text says how)."""
    if plot_format not in ("png", "svg"):
        _fail(f"--plot-format must be png or svg, got {plot_format!r}")
    fmt: Any = plot_format
    with _handled(), LrlabClient(api) as client:
        if as_csv:
            _echo_text(client.comparison_csv(sweep_id, target=target))
        else:
            stdout_console().print(
                comparison_table(sweep_id, client.comparison(sweep_id, target=target))
            )
        if plots is not None:
            images = {kind: client.plot(sweep_id, kind, fmt=fmt) for kind in PLOT_KINDS}
            for kind, content in images.items():
                _write(plots / f"{kind}.{plot_format}", content, what=f"plots into {plots}")


@app.command()
def cancel(
    resource_id: IdArgument,
    api: ApiOption = None,
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
    api: ApiOption = None,
) -> None:
    """The lr a schedule would give, without training: a compact table and its warnings."""
    with _handled():
        request = load_document(file)
        with LrlabClient(api) as client:
            result = client.preview(request)
            image = client.preview_png(request, log_scale=log_scale) if png is not None else None
    out = stdout_console()
    for part in preview_report(request, result):
        out.print(part)
    if png is not None and image is not None:
        _write(png, image, what=str(png))


@app.command("lr-find")
def lr_find(
    file: Annotated[
        Path | None,
        typer.Argument(help="Range-test spec (YAML or JSON); default: fastai's defaults."),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the test, then print its suggestions.")
    ] = False,
    png: Annotated[
        Path | None, typer.Option("--png", help="With --wait, write the plot to this file.")
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="Print only the id on stdout (suggestions go to stderr)."
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print only the range test as JSON (with --wait: its end)."),
    ] = False,
    idempotency_key: IdempotencyKeyOption = None,
    fresh: FreshOption = False,
    api: ApiOption = None,
    interval: IntervalOption = 1.0,
    retry_for: RetryOption = DEFAULT_RETRY_SECONDS,
) -> None:
    """Run a learning-rate range test (fastai's lr_find); prints its id last on stdout.

    Re-running with the same content returns the original test instead of a new one.
    """
    if quiet and as_json:
        _fail("--quiet and --json are exclusive: choose one")
    with _handled():
        document = load_document(file) if file is not None else {}
        key = None if fresh else (idempotency_key or content_key(document))
        with LrlabClient(api) as client:
            submitted = client.submit_range_test(document, idempotency_key=key)
            test_id = submitted.id
            verb = "already submitted" if submitted.replayed else "submitted"
            typer.echo(f"{verb} range test {test_id} ({submitted.status})", err=True)
            if submitted.replayed and submitted.status in ("failed", "cancelled"):
                typer.echo("note: --fresh runs the test again", err=True)
            code = 0
            answer: Mapping[str, Any] = submitted
            if wait:
                with _gone_api(test_id, retry_for):
                    final = client.wait_range_test(
                        test_id,
                        interval=interval,
                        retry_for=retry_for,
                        on_outage=_outage_notice(client, test_id),
                    )
                answer = final
                if final["status"] != "succeeded" or final["result"] is None:
                    typer.echo(
                        f"range test {final['status']}: {final.get('error') or ''}", err=True
                    )
                    code = EXIT_RUN_FAILED
                else:
                    text = suggestions_text(final["result"])
                    if quiet or as_json:
                        typer.echo(text, err=True, nl=False)
                    else:
                        _echo_text(text)
                    if png is not None:
                        _write(png, client.range_test_plot(test_id), what="the plot")
    if as_json:
        typer.echo(json.dumps(dict(answer), indent=2, sort_keys=True))
    else:
        typer.echo(test_id)
    raise typer.Exit(code)


@app.command()
def workers(
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON.")] = False,
    api: ApiOption = None,
) -> None:
    """The live workers: queues, device, library versions, current experiments (operator)."""
    with _handled(), _operator(api) as client:
        listed = client.workers()
    if as_json:
        typer.echo(json.dumps(listed, indent=2, sort_keys=True))
        return
    if not listed:
        typer.echo("no live worker: submitted work waits until one starts", err=True)
        return
    stdout_console().print(workers_table(listed))


@app.command()
def schedulers(api: ApiOption = None) -> None:
    """List the scheduler types the API knows, with their parameters."""
    with _handled(), LrlabClient(api) as client:
        catalog = client.schedulers()
    stdout_console().print(schedulers_table(catalog))


# --------------------------------------------------------------------------------------------
# Projects and keys: `lrlab admin …` with the operator token, `lrlab keys …` with an admin key
# --------------------------------------------------------------------------------------------

admin_app = typer.Typer(help="Operator commands (LRLAB_ADMIN_TOKEN or the credentials file).")
admin_projects = typer.Typer(help="Projects.")
admin_keys = typer.Typer(help="Any project's keys.")
keys_app = typer.Typer(help="Your project's keys (needs an admin key).")
app.add_typer(admin_app, name="admin")
admin_app.add_typer(admin_projects, name="projects")
admin_app.add_typer(admin_keys, name="keys")
app.add_typer(keys_app, name="keys")
RoleOption = Annotated[str, typer.Option("--role", help="read, write or admin.")]


def _operator(api: str | None) -> LrlabClient:
    token = credentials.admin_token()
    if not token:
        _fail("no operator token: set LRLAB_ADMIN_TOKEN or run `make up` once")
    return LrlabClient(api, api_key=token)


def _print_json(value: object) -> None:
    typer.echo(json.dumps(value, indent=2))


@admin_projects.command("list")
def admin_projects_list(api: ApiOption = None) -> None:
    """Every project with its quota overrides."""
    with _handled(), _operator(api) as client:
        _print_json(client.projects())


@admin_projects.command("create")
def admin_projects_create(name: str, api: ApiOption = None) -> None:
    """Create a project."""
    with _handled(), _operator(api) as client:
        _print_json(client.create_project(name))


@admin_keys.command("list")
def admin_keys_list(project: str, api: ApiOption = None) -> None:
    """A project's keys (never their secrets)."""
    with _handled(), _operator(api) as client:
        _print_json(client.keys(project))


@admin_keys.command("create")
def admin_keys_create(
    project: str, label: str, role: RoleOption = "write", api: ApiOption = None
) -> None:
    """Make a key for a project; the secret is printed once, here."""
    with _handled(), _operator(api) as client:
        _print_json(client.create_key(label, role, project))


@admin_keys.command("revoke")
def admin_keys_revoke(key_id: str, api: ApiOption = None) -> None:
    """Revoke any key."""
    with _handled(), _operator(api) as client:
        _print_json(client.revoke_key(key_id, operator=True))


@contextmanager
def _project_admin() -> Iterator[None]:
    """`lrlab keys …`: a refusal says how to get the admin key it needs."""
    try:
        yield
    except ApiError as exc:
        if exc.status != 403:
            raise
        _fail(
            f"{exc}: `lrlab keys` needs an admin key of your project in LRLAB_API_KEY; an operator"
            " makes one with `lrlab admin keys create <project> <label> --role admin`"
        )


@keys_app.command("list")
def keys_list(api: ApiOption = None) -> None:
    """Your project's keys."""
    with _handled(), _project_admin(), LrlabClient(api) as client:
        _print_json(client.keys())


@keys_app.command("create")
def keys_create(label: str, role: RoleOption = "read", api: ApiOption = None) -> None:
    """Make a key for your project; the secret is printed once, here."""
    with _handled(), _project_admin(), LrlabClient(api) as client:
        _print_json(client.create_key(label, role))


@keys_app.command("revoke")
def keys_revoke(key_id: str, api: ApiOption = None) -> None:
    """Revoke one of your project's keys."""
    with _handled(), _project_admin(), LrlabClient(api) as client:
        _print_json(client.revoke_key(key_id))


def main() -> None:
    """Entry point for `python -m lrlab_client.cli`."""
    app(prog_name="lrlab")


if __name__ == "__main__":
    main()
