"""Waiting for runs to end: polling with retries, and following the live event streams.

`LrlabClient`'s `wait`, `wait_range_test`, `follow` and `watch` are these functions; they
read the API only through the client's endpoint methods. An API that is away (no answer,
502/503/504) is retried for `retry_for` seconds in a row; anything else it answers is raised.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from lrlab_client.answers import EXPERIMENT_TERMINAL, ExperimentRead, Progress, RangeTestRead
from lrlab_client.documents import Kind
from lrlab_client.errors import ApiConnectionError, ApiError
from lrlab_client.events import SseEvent

if TYPE_CHECKING:
    from lrlab_client.client import LrlabClient

__all__ = [
    "OutageCallback",
    "ProgressCallback",
    "follow",
    "retrying",
    "transient",
    "wait",
    "wait_range_test",
    "watch",
]

ProgressCallback = Callable[[dict[str, ExperimentRead]], None]
# Called once when the API stops answering (connection lost, 502/503/504) while waiting, with
# the error and how long the wait keeps retrying before it gives up.
OutageCallback = Callable[[ApiError, float], None]
T = TypeVar("T")


def transient(exc: ApiError) -> bool:
    """The API is away (no answer, 502/503/504), not refusing: worth retrying."""
    return exc.status in (502, 503, 504) or isinstance(exc, ApiConnectionError)


def retrying(call: Callable[[], T], retry_for: float, on_outage: OutageCallback | None = None) -> T:
    """`call()`, retried with backoff while the API is away, for `retry_for` seconds."""
    give_up = time.monotonic() + retry_for
    delay = 0.5
    told = False
    while True:
        try:
            return call()
        except ApiError as exc:
            if not transient(exc) or time.monotonic() + delay > give_up:
                raise
            if on_outage is not None and not told:
                on_outage(exc, retry_for)
                told = True
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def wait_range_test(
    client: LrlabClient,
    range_test_id: str,
    *,
    interval: float,
    retry_for: float,
    on_outage: OutageCallback | None,
) -> RangeTestRead:
    """Poll the range test until it is terminal; its final read."""
    while True:
        body = retrying(partial(client.range_test, range_test_id), retry_for, on_outage)
        if body["status"] in EXPERIMENT_TERMINAL:
            return body
        time.sleep(interval)


def wait(
    client: LrlabClient,
    ids: str | Iterable[str],
    *,
    on_progress: ProgressCallback | None,
    interval: float,
    timeout: float | None,
    retry_for: float,
    on_outage: OutageCallback | None,
) -> dict[str, ExperimentRead]:
    """Poll every experiment behind `ids` until all are terminal; their final reads."""
    deadline = None if timeout is None else time.monotonic() + timeout
    members: list[str] = []
    # A sweep is read with one request per poll (its members, listed), not one per member.
    sweeps: list[str] = []
    in_sweeps: set[str] = set()
    for resource_id in [ids] if isinstance(ids, str) else ids:
        resource = retrying(partial(client.get, resource_id), retry_for, on_outage)
        if resource.kind == "sweep":
            sweeps.append(resource.id)
            found = [str(i) for i in resource.data.get("experiments") or []]
            in_sweeps.update(found)
        else:
            found = [resource.id]
        members.extend(m for m in found if m not in members)
    latest: dict[str, ExperimentRead] = {}
    while True:
        for sweep_id in sweeps:
            reads = retrying(partial(client.sweep_members, sweep_id), retry_for, on_outage)
            for read in reads:
                latest[str(read["id"])] = read
        for member in members:
            done = member in latest and latest[member]["status"] in EXPERIMENT_TERMINAL
            if done or member in in_sweeps:
                continue
            latest[member] = retrying(partial(client.experiment, member), retry_for, on_outage)
        if on_progress is not None:
            on_progress(dict(latest))
        if all(latest[m]["status"] in EXPERIMENT_TERMINAL for m in members):
            return {m: latest[m] for m in members}
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"{len(members)} experiment(s) not finished within {timeout}s")
        time.sleep(interval)


def follow(
    client: LrlabClient,
    resource_id: str,
    *,
    kind: Kind,
    retry_for: float,
    on_outage: OutageCallback | None,
) -> Iterator[SseEvent]:
    """Every event up to and with `end`, reconnecting with Last-Event-ID after a drop."""
    last_id: str | None = None
    give_up = time.monotonic() + retry_for
    delay = 0.5
    told = False
    while True:
        try:
            for event in client.events(resource_id, kind=kind, last_event_id=last_id):
                last_id, give_up, delay = event.id or last_id, time.monotonic() + retry_for, 0.5
                told = False
                yield event
                if event.type == "end":
                    return
        except ApiError as exc:
            if not transient(exc) or time.monotonic() + delay > give_up:
                raise
            if on_outage is not None and not told:
                on_outage(exc, retry_for)
                told = True
        # Only `end` says the run is over: a stream that closed without it was cut.
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def watch(
    client: LrlabClient,
    resource_id: str,
    *,
    kind: Kind,
    on_progress: ProgressCallback | None,
    retry_for: float,
    interval: float,
    on_outage: OutageCallback | None,
) -> dict[str, ExperimentRead]:
    """Follow the events until `end`, each member's read kept current; their final reads."""
    retry = partial(retrying, retry_for=retry_for, on_outage=on_outage)
    members = retry(partial(client.members, resource_id))
    latest = {m: retry(partial(client.experiment, m)) for m in members}
    if on_progress is not None:
        on_progress(dict(latest))
    try:
        for event in client.follow(
            resource_id, kind=kind, retry_for=retry_for, on_outage=on_outage
        ):
            if event.type == "end":
                break
            data = json.loads(event.data)
            member = data.get("experiment_id", "")
            run = latest.get(member)
            if run is None:
                continue
            if event.type == "epoch":
                run["progress"] = Progress(
                    epochs_done=data["epoch"], epochs=run["progress"]["epochs"]
                )
                # The epoch's metrics ride along: progress shows val_accuracy unpolled.
                run["latest_metrics"] = data
            elif event.type == "status" and data["status"] in EXPERIMENT_TERMINAL:
                # The event carries no result or error: the member's read does.
                latest[member] = retry(partial(client.experiment, member))
            elif event.type == "status":
                run["status"] = data["status"]
                run["progress"] = Progress(
                    epochs_done=data["epochs_done"], epochs=run["progress"]["epochs"]
                )
            if on_progress is not None:
                on_progress(dict(latest))
    except ApiError as exc:
        if exc.status not in (404, 405, 501):
            raise
        return client.wait(
            resource_id,
            on_progress=on_progress,
            retry_for=retry_for,
            interval=interval,
            on_outage=on_outage,
        )
    # A member whose end the stream did not show is read again, results included.
    return {
        m: run if run["status"] in EXPERIMENT_TERMINAL else retry(partial(client.experiment, m))
        for m, run in latest.items()
    }
