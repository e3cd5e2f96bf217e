"""A small synchronous HTTP client of the lrlab API, for the CLI and for scripts.

It speaks HTTP only (httpx) and never imports the server's packages. Every error the API
answers with becomes an `ApiError` (see `lrlab_client.errors`); the answers are typed by the
`TypedDict`s of `lrlab_client.answers`. Its methods mirror the endpoints; waiting for runs and
following their event streams is `lrlab_client.following`, which `wait`, `wait_range_test`,
`follow` and `watch` call. docs/client.md has a complete example:

    from lrlab_client import LrlabClient, load_document

    with LrlabClient() as lab:                       # LRLAB_API_URL, else where `make up` listens
        sub = lab.submit(load_document(Path("examples/quick-sweep.yaml")))
        finals = lab.wait(sub.id)                    # one id or a list; a sweep: its members
        print(lab.comparison(sub["id"], target=0.97)["rows"][0]["label"])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, cast

import httpx

from lrlab_client import credentials, following
from lrlab_client.answers import (
    EXPERIMENT_TERMINAL,
    SWEEP_TERMINAL,
    Comparison,
    ExperimentRead,
    MetricRow,
    PruningDecision,
    RangeTestRead,
    SweepRead,
)
from lrlab_client.documents import Kind, canonical_json, detect_kind
from lrlab_client.errors import ApiConnectionError, ApiError, parse_error
from lrlab_client.events import SseEvent, parse_sse
from lrlab_client.following import OutageCallback, ProgressCallback

__all__ = [
    "DEFAULT_API_URL",
    "EXPERIMENT_TERMINAL",
    "PLOT_KINDS",
    "SWEEP_TERMINAL",
    "Json",
    "LrlabClient",
    "RangeTestSubmission",
    "Resource",
    "Submission",
    "default_api_url",
]

DEFAULT_API_URL = "http://127.0.0.1:8000"
PLOT_KINDS = ("lr", "loss", "accuracy")

Json = dict[str, Any]


def default_api_url() -> str:
    """`LRLAB_API_URL`, else where `make up` listens: `LRLAB_HOST` port `LRLAB_PORT` (8000)."""
    url = os.environ.get("LRLAB_API_URL", "").strip()
    if url:
        return url
    host = os.environ.get("LRLAB_HOST", "").strip()
    if host in ("", "0.0.0.0", "::", "[::]"):  # a wildcard bind is reached on loopback
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{os.environ.get('LRLAB_PORT', '').strip() or '8000'}"


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


class _ReadsLikeJson(Mapping[str, Any]):
    """The answer's JSON fields by subscript (`answer["status"]`), `.id` and `.status` too."""

    data: Json

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def status(self) -> str:
        return str(self.data["status"])


@dataclass(frozen=True, eq=False)
class Resource(_ReadsLikeJson):
    """An experiment or a sweep, as read by id: `kind`, and the JSON answer as a mapping."""

    kind: Kind
    data: Json = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Submission(Resource):
    """What a submit returned: the resource, and whether the API said it was a replay.

    Reads like the JSON answer (`sub["id"]`, `dict(sub)`), with `sub.id` and `sub.kind`.
    `replayed` is True when the API answered 200 (or `Idempotent-Replayed: true`) for a
    repeated Idempotency-Key; an API that answers a replay with 202 looks like a new submit.
    """

    replayed: bool = False


@dataclass(frozen=True, eq=False)
class RangeTestSubmission(_ReadsLikeJson):
    """What `submit_range_test` returned: the range test (a mapping), and whether a replay."""

    data: Json = field(default_factory=dict)
    replayed: bool = False


# --------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------


class LrlabClient:
    """Methods mirror the API's endpoints; errors raise `ApiError`.

    `base_url` defaults to `default_api_url()` (`LRLAB_API_URL`, else `LRLAB_HOST`/`LRLAB_PORT`,
    else http://127.0.0.1:8000). `api_key` defaults to
    `LRLAB_API_KEY`, else the credentials file `make up` wrote (see `credentials`).
    `transport` lets tests plug in an `httpx.MockTransport`.
    """

    def __init__(
        self,
        base_url: str | None = None,
        timeout: float = 30.0,
        *,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        url = base_url or default_api_url()
        self.base_url = url.rstrip("/")
        self.timeout = timeout
        headers = {"user-agent": "lrlab-client/0.1"}
        key = api_key or credentials.api_key()
        if key:
            headers["authorization"] = f"Bearer {key}"
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers=headers,
        )

    # -- plumbing -------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LrlabClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(
                method, path, json=json_body, params=clean or None, headers=headers
            )
        except httpx.TimeoutException:
            raise ApiConnectionError(
                f"the lrlab API at {self.base_url} did not answer within {self.timeout:g}s"
            ) from None
        except httpx.TransportError:
            raise ApiConnectionError(
                f"cannot reach the lrlab API at {self.base_url} (set LRLAB_API_URL)"
            ) from None
        if response.is_error:
            raise parse_error(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                response.status_code, f"the API answered {path} with something that is not JSON"
            ) from None

    # -- projects and keys (the admin routes need the operator token as `api_key`) ---------

    def projects(self) -> list[dict[str, Any]]:
        """`GET /admin/projects`."""
        return list(self._json("GET", "/admin/projects"))

    def create_project(self, name: str) -> dict[str, Any]:
        """`POST /admin/projects`."""
        return dict(self._json("POST", "/admin/projects", json_body={"name": name}))

    def keys(self, project: str | None = None) -> list[dict[str, Any]]:
        """A project's keys: `/admin/projects/<project>/keys`, or `/keys` for the own project."""
        path = f"/admin/projects/{project}/keys" if project else "/keys"
        return list(self._json("GET", path))

    def create_key(self, label: str, role: str, project: str | None = None) -> dict[str, Any]:
        """A new key (its secret is in the answer, only there)."""
        path = f"/admin/projects/{project}/keys" if project else "/keys"
        return dict(self._json("POST", path, json_body={"label": label, "role": role}))

    def revoke_key(self, key_id: str, *, operator: bool = False) -> dict[str, Any]:
        """Revoke a key: any key as operator, else one of the own project."""
        return dict(
            self._json("DELETE", f"/admin/keys/{key_id}" if operator else f"/keys/{key_id}")
        )

    # -- health and catalog ---------------------------------------------------------------

    def health(self) -> Json:
        """GET /healthz."""
        result: Json = self._json("GET", "/healthz")
        return result

    def schedulers(self) -> list[Json]:
        """GET /schedulers: every type with its description and parameter schema."""
        result: list[Json] = self._json("GET", "/schedulers")
        return result

    def preview(self, request: Mapping[str, Any]) -> Json:
        """POST /schedulers/preview: the lr of every epoch and step, and warnings."""
        result: Json = self._json("POST", "/schedulers/preview", json_body=dict(request))
        return result

    def preview_png(self, request: Mapping[str, Any], *, log_scale: bool = False) -> bytes:
        """POST /schedulers/preview?format=png: the lr curve as a PNG."""
        params = {"format": "png", "log_scale": "true" if log_scale else None}
        return self._request(
            "POST", "/schedulers/preview", json_body=dict(request), params=params
        ).content

    def workers(self) -> list[Json]:
        """GET /workers."""
        result: list[Json] = self._json("GET", "/workers")
        return result

    # -- submitting -----------------------------------------------------------------------

    def submit_experiment(
        self, spec: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Submission:
        """POST /experiments."""
        return self._submit("experiment", "/experiments", spec, idempotency_key)

    def submit_sweep(
        self, spec: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Submission:
        """POST /sweeps."""
        return self._submit("sweep", "/sweeps", spec, idempotency_key)

    def submit(
        self, document: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Submission:
        """Submit an experiment or a sweep, told apart by shape (see `detect_kind`)."""
        if detect_kind(document) == "sweep":
            return self.submit_sweep(document, idempotency_key=idempotency_key)
        return self.submit_experiment(document, idempotency_key=idempotency_key)

    def _submit(
        self, kind: Kind, path: str, spec: Mapping[str, Any], key: str | None
    ) -> Submission:
        data, replayed = self._post_idempotent(path, spec, key)
        return Submission(kind, data, replayed=replayed)

    def _post_idempotent(
        self, path: str, spec: Mapping[str, Any], key: str | None
    ) -> tuple[Json, bool]:
        """POST a spec with an optional Idempotency-Key; (the JSON answer, whether a replay)."""
        canonical_json(spec)  # refuse NaN/inf locally with a clear message
        headers = {"Idempotency-Key": key} if key else None
        response = self._request("POST", path, json_body=dict(spec), headers=headers)
        data: Json = response.json()
        replayed = response.status_code == 200 or response.headers.get(
            "idempotent-replayed", ""
        ).lower() in ("true", "1")
        return data, replayed

    # -- reading --------------------------------------------------------------------------

    def experiment(self, experiment_id: str) -> ExperimentRead:
        """GET /experiments/{id}."""
        return cast(ExperimentRead, self._json("GET", f"/experiments/{experiment_id}"))

    def experiments(
        self,
        *,
        status: str | None = None,
        scheduler_type: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        after: str | None = None,
    ) -> Json:
        """GET /experiments: one page `{"items","total","total_exact","limit","offset","next"}`;
        pass a page's `next` as `after` for the one after it."""
        params = {
            "status": status,
            "scheduler_type": scheduler_type,
            "limit": limit,
            "offset": offset,
            "after": after,
        }
        result: Json = self._json("GET", "/experiments", params=params)
        return result

    def sweep(self, sweep_id: str) -> SweepRead:
        """GET /sweeps/{id}."""
        return cast(SweepRead, self._json("GET", f"/sweeps/{sweep_id}"))

    def sweeps(
        self, *, limit: int | None = None, offset: int | None = None, after: str | None = None
    ) -> Json:
        """GET /sweeps: one page, as `experiments` pages."""
        params = {"limit": limit, "offset": offset, "after": after}
        result: Json = self._json("GET", "/sweeps", params=params)
        return result

    def get(
        self, resource_id: str, *, retry_for: float = 0.0, on_outage: OutageCallback | None = None
    ) -> Resource:
        """An experiment or, when no experiment has this id, a sweep (an API that is away is
        retried for `retry_for` seconds, as in `wait`)."""
        read = partial(self._either, resource_id, self.experiment, self.sweep)
        return following.retrying(read, retry_for, on_outage) if retry_for > 0 else read()

    def _either(
        self,
        resource_id: str,
        as_experiment: Callable[[str], Mapping[str, Any]],
        as_sweep: Callable[[str], Mapping[str, Any]],
    ) -> Resource:
        """Apply `as_experiment` to the id, or `as_sweep` when no experiment has it."""
        try:
            return Resource("experiment", dict(as_experiment(resource_id)))
        except ApiError as exc:
            if exc.status != 404:
                raise
        try:
            return Resource("sweep", dict(as_sweep(resource_id)))
        except ApiError as exc:
            if exc.status in (404, 405):
                raise ApiError(404, f"no experiment or sweep has id {resource_id}") from None
            raise

    def metrics(self, experiment_id: str) -> list[MetricRow]:
        """GET /experiments/{id}/metrics: one row per finished epoch."""
        items = self._json("GET", f"/experiments/{experiment_id}/metrics")["items"]
        return cast(list[MetricRow], items)

    def metrics_csv(self, resource_id: str, *, kind: Kind = "experiment") -> str:
        """The metrics as CSV: an experiment's, or every member's of a sweep."""
        prefix = "/sweeps" if kind == "sweep" else "/experiments"
        return self._request(
            "GET", f"{prefix}/{resource_id}/metrics", params={"format": "csv"}
        ).text

    def step_lrs(self, experiment_id: str) -> list[Json]:
        """GET /experiments/{id}/lr, every page: `{"epoch", "lrs"}` per finished epoch."""
        items: list[Json] = []
        epoch_from: int | None = 1
        while epoch_from is not None:
            page = self._json(
                "GET", f"/experiments/{experiment_id}/lr", params={"epoch_from": epoch_from}
            )
            items.extend(page["items"])
            epoch_from = page["next_epoch_from"]
        return items

    def comparison(self, sweep_id: str, *, target: float | None = None) -> Comparison:
        """GET /sweeps/{id}/comparison: rows ranked by share reaching the target (see API)."""
        answer = self._json("GET", f"/sweeps/{sweep_id}/comparison", params={"target": target})
        return cast(Comparison, answer)

    def pruning(self, sweep_id: str) -> list[PruningDecision]:
        """GET /sweeps/{id}/pruning: the pruning rule's decisions, in decision order."""
        return cast(list[PruningDecision], self._json("GET", f"/sweeps/{sweep_id}/pruning"))

    def comparison_csv(self, sweep_id: str, *, target: float | None = None) -> str:
        """GET /sweeps/{id}/comparison?format=csv."""
        params = {"target": target, "format": "csv"}
        return self._request("GET", f"/sweeps/{sweep_id}/comparison", params=params).text

    def plot(self, sweep_id: str, kind: str, *, fmt: Literal["png", "svg"] = "png") -> bytes:
        """GET /sweeps/{id}/plots/{lr|loss|accuracy}.{png|svg}."""
        if kind not in PLOT_KINDS:
            raise ValueError(f"plot kind must be one of {', '.join(PLOT_KINDS)}, got {kind!r}")
        return self._request("GET", f"/sweeps/{sweep_id}/plots/{kind}.{fmt}").content

    def members(self, resource_id: str) -> list[str]:
        """The experiment ids behind an id: itself for an experiment, the members of a sweep."""
        resource = self.get(resource_id)
        if resource.kind == "sweep":
            return [str(i) for i in resource.data.get("experiments") or []]
        return [resource.id]

    def sweep_members(self, sweep_id: str) -> list[ExperimentRead]:
        """Every member's current read, a page of up to 500 per request (one for most sweeps)."""
        reads: list[ExperimentRead] = []
        while True:
            page = self._json(
                "GET",
                "/experiments",
                params={"sweep_id": sweep_id, "limit": 500, "offset": len(reads)},
            )
            reads.extend(page["items"])
            if len(page["items"]) < 500:
                return reads

    def events(
        self, resource_id: str, *, kind: Kind = "experiment", last_event_id: str | None = None
    ) -> Iterator[SseEvent]:
        """One connection to the live events of an experiment or a sweep, until it ends."""
        headers = {"accept": "text/event-stream"}
        if last_event_id:
            headers["last-event-id"] = last_event_id
        # No read timeout: a quiet stream only sends a heartbeat comment every 15 s.
        timeout = httpx.Timeout(self.timeout, read=None)
        try:
            with self._http.stream(
                "GET", f"/{kind}s/{resource_id}/events", headers=headers, timeout=timeout
            ) as response:
                if response.is_error:
                    response.read()
                    raise parse_error(response)
                yield from parse_sse(response.iter_lines())
        except httpx.TransportError:
            raise ApiConnectionError(
                f"lost the event stream of {resource_id} at {self.base_url}"
            ) from None

    # -- range tests ----------------------------------------------------------------------

    def submit_range_test(
        self, spec: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> RangeTestSubmission:
        """POST /range-tests (a repeated Idempotency-Key returns the original test)."""
        data, replayed = self._post_idempotent("/range-tests", spec, idempotency_key)
        return RangeTestSubmission(data, replayed=replayed)

    def range_test(self, range_test_id: str) -> RangeTestRead:
        """GET /range-tests/{id}."""
        return cast(RangeTestRead, self._json("GET", f"/range-tests/{range_test_id}"))

    def cancel_range_test(self, range_test_id: str) -> RangeTestRead:
        """POST /range-tests/{id}/cancel (409 if it already finished)."""
        return cast(RangeTestRead, self._json("POST", f"/range-tests/{range_test_id}/cancel"))

    def range_test_plot(self, range_test_id: str, *, fmt: Literal["png", "svg"] = "png") -> bytes:
        """GET /range-tests/{id}/plot.{png|svg}."""
        return self._request("GET", f"/range-tests/{range_test_id}/plot.{fmt}").content

    # -- cancelling -----------------------------------------------------------------------

    def cancel_experiment(self, experiment_id: str) -> ExperimentRead:
        """POST /experiments/{id}/cancel (409 if it already finished)."""
        return cast(ExperimentRead, self._json("POST", f"/experiments/{experiment_id}/cancel"))

    def cancel_sweep(self, sweep_id: str) -> SweepRead:
        """POST /sweeps/{id}/cancel."""
        return cast(SweepRead, self._json("POST", f"/sweeps/{sweep_id}/cancel"))

    def cancel(self, resource_id: str) -> Resource:
        """Cancel an experiment or, when no experiment has this id, a sweep."""
        return self._either(resource_id, self.cancel_experiment, self.cancel_sweep)

    # -- waiting and following (lrlab_client.following) -----------------------------------

    def wait_range_test(
        self,
        range_test_id: str,
        *,
        interval: float = 1.0,
        retry_for: float = 60.0,
        on_outage: OutageCallback | None = None,
    ) -> RangeTestRead:
        """Poll until the range test is terminal and return its final read (retries as `wait`)."""
        return following.wait_range_test(
            self, range_test_id, interval=interval, retry_for=retry_for, on_outage=on_outage
        )

    def wait(
        self,
        ids: str | Iterable[str],
        *,
        on_progress: ProgressCallback | None = None,
        interval: float = 1.0,
        timeout: float | None = None,
        retry_for: float = 60.0,
        on_outage: OutageCallback | None = None,
    ) -> dict[str, ExperimentRead]:
        """Poll until every experiment is terminal; `ids` is one id or several, and a sweep's
        id stands for its members.

        `on_progress` gets `{experiment_id: ExperimentRead}` of every member after each poll.
        Returns the final reads in the order given. A 502/503/504 (e.g. the database briefly
        down) or a dropped connection is retried for up to `retry_for` seconds in a row;
        `on_outage` hears of each such outage when it starts. `timeout` (seconds) bounds the
        whole wait with a TimeoutError; None waits for ever.
        """
        return following.wait(
            self,
            ids,
            on_progress=on_progress,
            interval=interval,
            timeout=timeout,
            retry_for=retry_for,
            on_outage=on_outage,
        )

    def follow(
        self,
        resource_id: str,
        *,
        kind: Kind = "experiment",
        retry_for: float = 60.0,
        on_outage: OutageCallback | None = None,
    ) -> Iterator[SseEvent]:
        """Every event up to and with `end`, reconnecting with Last-Event-ID after a drop."""
        return following.follow(
            self, resource_id, kind=kind, retry_for=retry_for, on_outage=on_outage
        )

    def watch(
        self,
        resource_id: str,
        *,
        kind: Kind = "experiment",
        on_progress: ProgressCallback | None = None,
        retry_for: float = 60.0,
        interval: float = 1.0,
        on_outage: OutageCallback | None = None,
    ) -> dict[str, ExperimentRead]:
        """Follow the live events until the stream's `end`; like `wait`, without polling.

        Falls back to `wait` where the API has no event stream (404).
        """
        return following.watch(
            self,
            resource_id,
            kind=kind,
            on_progress=on_progress,
            retry_for=retry_for,
            interval=interval,
            on_outage=on_outage,
        )
