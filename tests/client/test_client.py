"""The Python client: request shapes over a mock transport, then against the live API."""

import contextlib
import json
import uuid
from typing import Any

import httpx
import pytest

from devtools.processes import free_port
from lrlab_client import (
    ApiConnectionError,
    ApiError,
    LrlabClient,
)
from lrlab_client.client import default_api_url

# -- the client over a mock transport (request shapes only) ------------------------------------


def _mock(handler: Any) -> LrlabClient:
    return LrlabClient("http://lrlab.test", transport=httpx.MockTransport(handler))


def test_submit_routes_by_shape_and_sends_the_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        replay = request.headers.get("idempotency-key") == "again"
        return httpx.Response(200 if replay else 202, json={"id": "abc", "status": "queued"})

    with _mock(handler) as client:
        first = client.submit({"scheduler": {"type": "constant"}}, idempotency_key="k1")
        second = client.submit({"schedulers": [{"type": "constant"}]}, idempotency_key="again")
        third = client.submit({"scheduler": {"type": "constant"}})
    assert (first.kind, first.id, first.replayed) == ("experiment", "abc", False)
    assert (second.kind, second.replayed) == ("sweep", True)
    assert [r.url.path for r in seen] == ["/experiments", "/sweeps", "/experiments"]
    assert seen[0].headers["idempotency-key"] == "k1"
    assert "idempotency-key" not in seen[2].headers
    assert json.loads(seen[1].content) == {"schedulers": [{"type": "constant"}]}
    assert third.id == "abc"


def test_get_falls_back_to_sweeps_and_reports_not_found() -> None:
    sweep_id = str(uuid.uuid4())

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/sweeps/{sweep_id}":
            return httpx.Response(200, json={"id": sweep_id, "status": "running"})
        return httpx.Response(404, json={"detail": "not found"})

    with _mock(handler) as client:
        assert client.get(sweep_id).kind == "sweep"
        with pytest.raises(ApiError) as caught:
            client.get(str(uuid.uuid4()))
    assert caught.value.status == 404
    assert "no experiment or sweep" in str(caught.value)


def test_wait_expands_sweeps_retries_503_and_reports_progress() -> None:
    polls = {"sweep": 0}
    calls = {"503": 0, "member": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/experiments/s":
            return httpx.Response(404, json={"detail": "experiment s not found"})
        if path == "/sweeps/s":
            return httpx.Response(200, json={"id": "s", "experiments": ["a", "b"]})
        if path == "/experiments" and request.url.params.get("sweep_id") == "s":
            if calls["503"] == 0:
                calls["503"] += 1
                return httpx.Response(503, json={"detail": "database unavailable"})
            polls["sweep"] += 1
            done = polls["sweep"] >= 2
            items = [
                {
                    "id": run_id,
                    "status": "succeeded" if done else "running",
                    "progress": {"epochs_done": 1 if done else 0, "epochs": 1},
                }
                for run_id in ("a", "b")
            ]
            return httpx.Response(200, json={"items": items, "total": 2})
        calls["member"] += 1
        return httpx.Response(500, json={"detail": f"unexpected {path}"})

    updates: list[dict[str, Any]] = []
    with _mock(handler) as client:
        finals = client.wait(["s"], on_progress=updates.append, interval=0.01)
    assert list(finals) == ["a", "b"]
    assert {r["status"] for r in finals.values()} == {"succeeded"}
    assert updates[0]["a"]["status"] == "running"
    assert calls == {"503": 1, "member": 0}  # one list request per poll, none per member
    assert polls["sweep"] == 2


class _Counting(httpx.HTTPTransport):
    """The real transport, counting the paths it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return super().handle_request(request)


def test_live_wait_reads_a_sweep_with_one_request_per_poll(live_api: str) -> None:
    transport = _Counting()
    sweep = {
        "base": {"training": {"epochs": 1}, "dataset": {"train_samples": 64}},
        "schedulers": [{"type": "constant"}],
        "seeds": [0, 1, 2, 3],
    }
    with LrlabClient(live_api, transport=transport) as client:
        submitted = client.submit_sweep(sweep)
        members = [str(m) for m in submitted.data["experiments"]]
        transport.paths.clear()
        # Whether or not a test worker trains them meanwhile, every poll is one request.
        with contextlib.suppress(TimeoutError):
            client.wait([submitted.id], interval=0.2, timeout=1.0)
        with contextlib.suppress(ApiError):
            client.cancel_sweep(submitted.id)
    assert transport.paths.count("/experiments") >= 1
    assert not [p for p in transport.paths if p.rsplit("/", 1)[-1] in members]


def test_unreachable_api_is_one_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with LrlabClient(url, timeout=2) as client, pytest.raises(ApiConnectionError) as caught:
        client.experiment(str(uuid.uuid4()))
    assert str(caught.value) == f"cannot reach the lrlab API at {url} (set LRLAB_API_URL)"
    assert caught.value.status == 0


def test_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LRLAB_HOST", "LRLAB_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LRLAB_API_URL", "http://elsewhere:9000/")
    monkeypatch.setenv("LRLAB_PORT", "8765")
    with LrlabClient() as client:
        assert client.base_url == "http://elsewhere:9000"
    monkeypatch.delenv("LRLAB_API_URL")
    with LrlabClient() as client:
        assert client.base_url == "http://127.0.0.1:8765"  # where `make up` listens
    monkeypatch.delenv("LRLAB_PORT")
    with LrlabClient() as client:
        assert client.base_url == "http://127.0.0.1:8000"
    for host, url in (("0.0.0.0", "http://127.0.0.1:8000"), ("::1", "http://[::1]:8000")):
        monkeypatch.setenv("LRLAB_HOST", host)
        assert default_api_url() == url


# -- against the live API -----------------------------------------------------------------------


def test_live_validation_error_names_the_field(live_api: str) -> None:
    with LrlabClient(live_api) as client, pytest.raises(ApiError) as caught:
        client.submit_experiment({"scheduler": {"type": "step", "step_size": 0}})
    assert caught.value.status == 422
    assert caught.value.field == "scheduler.step.step_size"


def test_live_unknown_id_is_404(live_api: str) -> None:
    with LrlabClient(live_api) as client, pytest.raises(ApiError) as caught:
        client.experiment(str(uuid.uuid4()))
    assert caught.value.status == 404


def test_live_schedulers_and_preview(live_api: str) -> None:
    with LrlabClient(live_api) as client:
        types = {entry["type"] for entry in client.schedulers()}
        result = client.preview(
            {
                "scheduler": {"type": "step", "step_size": 2, "gamma": 0.5},
                "learning_rate": 0.1,
                "epochs": 4,
            }
        )
        png = client.preview_png(
            {"scheduler": {"type": "constant"}, "learning_rate": 0.1, "epochs": 3}, log_scale=True
        )
    assert {"constant", "step", "cosine", "cyclic", "plateau", "exponential"} <= types
    assert result["epochs"] == pytest.approx([0.1, 0.1, 0.05, 0.05])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_cancel_falls_back_to_the_sweep_and_names_a_missing_id() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/sweeps/s1/cancel":
            return httpx.Response(200, json={"id": "s1", "status": "cancelled"})
        return httpx.Response(404, json={"detail": "not found"})

    with _mock(handler) as client:
        resource = client.cancel("s1")
        assert (resource.kind, resource.data["status"]) == ("sweep", "cancelled")
        with pytest.raises(ApiError) as info:
            client.cancel("nope")
    assert info.value.status == 404
    assert str(info.value) == "no experiment or sweep has id nope"


def test_watch_follows_the_stream_and_resumes_after_a_drop() -> None:
    run = str(uuid.uuid4())
    read = {"id": run, "status": "running", "progress": {"epochs_done": 0, "epochs": 2}}
    first = (
        f'event: status\nid: 0r\ndata: {{"experiment_id": "{run}", "status": "running",'
        ' "epochs_done": 0}\n\n: heartbeat\n\n'
        f'event: epoch\nid: 1r\ndata: {{"experiment_id": "{run}", "epoch": 1}}\n\n'
    )
    second = (
        f'event: epoch\nid: 2r\ndata: {{"experiment_id": "{run}", "epoch": 2}}\n\n'
        f'event: status\nid: 2s\ndata: {{"experiment_id": "{run}", "status": "succeeded",'
        ' "epochs_done": 2}\n\n'
        f'event: end\nid: 2s\ndata: {{"statuses": {{"{run}": "succeeded"}}}}\n\n'
    )
    finished = {
        **read,
        "status": "succeeded",
        "progress": {"epochs_done": 2, "epochs": 2},
        "result": {"final_val_accuracy": 0.9},
    }
    resumed_from: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            resumed_from.append(request.headers.get("last-event-id"))
            if len(resumed_from) > 2:
                return httpx.Response(500, json={"detail": "the stream had ended"})
            body = first if len(resumed_from) == 1 else second  # the first one is cut short
            return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})
        done = len(resumed_from) == 2
        return httpx.Response(200, json=finished if done else read)

    seen: list[tuple[str, int]] = []
    shown: list[Any] = []

    def on_progress(runs: dict[str, Any]) -> None:
        seen.append((runs[run]["status"], runs[run]["progress"]["epochs_done"]))
        shown.append(runs[run].get("result"))

    with _mock(handler) as client:
        finals = client.watch(run, on_progress=on_progress)
    assert resumed_from == [None, "1r"]
    assert seen == [
        ("running", 0),
        ("running", 0),
        ("running", 1),
        ("running", 2),
        ("succeeded", 2),
    ]
    assert finals[run]["status"] == "succeeded"
    # The live view shows the result the moment the member ends (the event carries none).
    assert shown[-1] == {"final_val_accuracy": 0.9}
    assert finals[run]["result"] == {"final_val_accuracy": 0.9}


def test_follow_ends_on_end_only_and_reconnects_a_stream_closed_without_it() -> None:
    member = str(uuid.uuid4())
    ended = f'{{"experiment_id": "{member}", "status": "succeeded", "epochs_done": 1}}'
    bodies = [
        # The member's last status, then the connection closes before `end`: a cut.
        f"event: status\nid: one\ndata: {ended}\n\n",
        # The ids are opaque to the client: only the event's type says it is over.
        f'event: end\nid: one\ndata: {{"statuses": {{"{member}": "succeeded"}}}}\n\n',
    ]
    resumed_from: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/sweeps/s1/events"
        resumed_from.append(request.headers.get("last-event-id"))
        if len(resumed_from) > len(bodies):
            return httpx.Response(500, json={"detail": "the stream had ended"})
        body = bodies[len(resumed_from) - 1]
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    with _mock(handler) as client:
        events = list(client.follow("s1", kind="sweep"))
    assert resumed_from == [None, "one"]
    assert [e.type for e in events] == ["status", "end"]
    assert json.loads(events[-1].data) == {"statuses": {member: "succeeded"}}


def test_watch_takes_a_run_for_over_at_end_not_at_its_last_status() -> None:
    run = str(uuid.uuid4())
    read = {"id": run, "status": "succeeded", "progress": {"epochs_done": 1, "epochs": 1}}
    bodies = [
        f'event: status\nid: 1s\ndata: {{"experiment_id": "{run}", "status": "succeeded",'
        ' "epochs_done": 1}\n\n',
        f'event: end\nid: 1s\ndata: {{"statuses": {{"{run}": "succeeded"}}}}\n\n',
    ]
    resumed_from: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/events"):
            return httpx.Response(200, json=read)
        resumed_from.append(request.headers.get("last-event-id"))
        if len(resumed_from) > len(bodies):
            return httpx.Response(500, json={"detail": "the stream had ended"})
        body = bodies[len(resumed_from) - 1]
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    with _mock(handler) as client:
        finals = client.watch(run)
    # The first stream closed after the last status but before `end`: it was cut.
    assert resumed_from == [None, "1s"]
    assert finals[run]["status"] == "succeeded"


def test_the_real_api_answers_422_for_a_malformed_id_and_404_for_an_unknown_one(
    live_api: str,
) -> None:
    with LrlabClient(live_api) as client:
        with pytest.raises(ApiError) as malformed:
            client.experiment("nope")
        with pytest.raises(ApiError) as unknown:
            client.get(str(uuid.uuid4()))
    assert malformed.value.status == 422
    assert unknown.value.status == 404
    assert "no experiment or sweep" in str(unknown.value)


def test_default_api_url_follows_lrlab_port(monkeypatch: pytest.MonkeyPatch) -> None:
    from lrlab_client.client import default_api_url

    monkeypatch.delenv("LRLAB_API_URL", raising=False)
    monkeypatch.delenv("LRLAB_PORT", raising=False)
    assert default_api_url() == "http://127.0.0.1:8000"
    monkeypatch.setenv("LRLAB_PORT", "8123")
    assert default_api_url() == "http://127.0.0.1:8123"
    monkeypatch.setenv("LRLAB_API_URL", "http://lab:9000")
    assert default_api_url() == "http://lab:9000"


def test_wait_takes_one_id_or_a_list() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/experiments/sweep-1":
            return httpx.Response(404, json={"detail": "experiment sweep-1 not found"})
        if path == "/sweeps/sweep-1":
            return httpx.Response(200, json={"id": "sweep-1", "experiments": ["a", "b"]})
        if path == "/experiments" and request.url.params.get("sweep_id") == "sweep-1":
            items = [
                {"id": i, "status": "succeeded", "progress": {"epochs_done": 1, "epochs": 1}}
                for i in ("a", "b")
            ]
            return httpx.Response(200, json={"items": items, "total": 2})
        return httpx.Response(404, json={"detail": f"{path} not found"})

    with _mock(handler) as client:
        one = client.wait("sweep-1", interval=0.01)
        listed = client.wait(["sweep-1"], interval=0.01)
    assert list(one) == list(listed) == ["a", "b"]


def test_a_submission_reads_like_the_json_answer() -> None:
    answer = {"id": "abc", "status": "queued", "experiments": ["m1"], "warnings": []}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json=answer)

    with _mock(handler) as client:
        sub = client.submit({"schedulers": [{"type": "constant"}]})
        test = client.submit_range_test({})
    assert sub["id"] == sub.id == "abc"
    assert sub["experiments"] == ["m1"] and sub.get("warnings") == [] and sub.status == "queued"
    assert dict(sub) == answer and "status" in sub and len(sub) == len(answer)
    assert (sub.kind, sub.replayed) == ("sweep", False)
    assert test["id"] == test.id == "abc" and dict(test) == answer


def test_the_main_answers_are_typed() -> None:
    from typing import get_type_hints

    from lrlab_client import answers

    expected = {
        "experiment": answers.ExperimentRead,
        "sweep": answers.SweepRead,
        "comparison": answers.Comparison,
        "range_test": answers.RangeTestRead,
        "wait_range_test": answers.RangeTestRead,
        "wait": dict[str, answers.ExperimentRead],
        "watch": dict[str, answers.ExperimentRead],
        "metrics": list[answers.MetricRow],
        "pruning": list[answers.PruningDecision],
        "cancel_experiment": answers.ExperimentRead,
        "cancel_sweep": answers.SweepRead,
        "sweep_members": list[answers.ExperimentRead],
    }
    for method, answer in expected.items():
        assert get_type_hints(getattr(LrlabClient, method))["return"] == answer, method
    assert "final_val_accuracy" in get_type_hints(answers.ComparisonRow)


def test_the_typed_answers_name_every_field_the_api_sends() -> None:
    from typing import get_type_hints

    from pydantic import BaseModel

    from lrlab_client import answers
    from models.experiments import ExperimentAccepted
    from models.range_tests import RangeTestRead
    from models.sweeps import (
        Comparison,
        ComparisonRow,
        PairedStats,
        PruningDecisionRead,
        SweepAccepted,
        SweepCounts,
    )
    from models.training import MetricRead

    described: list[tuple[type, type[BaseModel]]] = [
        (answers.ExperimentRead, ExperimentAccepted),
        (answers.SweepRead, SweepAccepted),
        (answers.SweepCounts, SweepCounts),
        (answers.RangeTestRead, RangeTestRead),
        (answers.Comparison, Comparison),
        (answers.ComparisonRow, ComparisonRow),
        (answers.PairedStats, PairedStats),
        (answers.MetricRow, MetricRead),
        (answers.PruningDecision, PruningDecisionRead),
    ]
    for typed, model in described:
        missing = set(model.model_fields) - set(get_type_hints(typed))
        assert not missing, f"{typed.__name__} lacks {sorted(missing)}"


def test_wait_says_once_that_the_api_went_away_and_goes_on_when_it_is_back() -> None:
    polls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        polls["n"] += 1
        if 2 <= polls["n"] <= 4:
            raise httpx.ConnectError("connection refused", request=request)
        done = polls["n"] > 5
        read = {"id": "e1", "status": "succeeded" if done else "running"}
        return httpx.Response(200, json=read | {"progress": {"epochs_done": 0, "epochs": 1}})

    outages: list[tuple[int, float]] = []
    with _mock(handler) as client:
        finals = client.wait(
            "e1",
            interval=0.01,
            retry_for=30,
            on_outage=lambda exc, retry_for: outages.append((exc.status, retry_for)),
        )
    assert finals["e1"]["status"] == "succeeded"
    assert outages == [(0, 30)]  # said once, at the first failure, not per retry
