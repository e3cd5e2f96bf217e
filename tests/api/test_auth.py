"""The route table × every kind of caller: each route declares one policy, and it holds.

Generated from `app.routes`: a new route without a declared policy, or missing from ROUTES
below, fails here.
"""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import routing
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from api.auth import Declared
from api.main import app
from models.identity import KeyCreate, create_key
from models.range_tests import RangeTestCreate, create_range_test
from models.storage import session_scope
from models.sweeps import SweepCreate
from models.tables import Experiment
from tests.conftest import TEST_PROJECT, SessionKeys
from tests.factories import (
    create_queued,
    experiment_payload,
    home_project_id,
    remove_made_since,
    submit_test_sweep,
)

# The documentation routes (FastAPI's, and /docs and /redoc from local files with their
# assets) and the dashboard's static files: public by design.
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
STATIC = ("/ui", "/static/docs")
SWEEP = {"base": {"training": {"epochs": 1}}, "schedulers": [{"type": "constant"}]}
PREVIEW = {"scheduler": {"type": "constant"}, "learning_rate": 0.01, "epochs": 2}


@dataclass(frozen=True)
class Call:
    """The policy a route must have, how to call it successfully, and what success answers."""

    level: str
    status: int
    body: Callable[[], Any] | None = None
    fixed: dict[str, str] = field(default_factory=dict)
    finished: bool = False


ROUTES: dict[tuple[str, str], Call] = {
    ("GET", "/healthz"): Call("public", 200),
    ("GET", "/readyz"): Call("public", 200),
    ("POST", "/experiments"): Call("write", 202, experiment_payload),
    ("GET", "/experiments"): Call("read", 200),
    ("GET", "/experiments/{experiment_id}"): Call("read", 200),
    ("GET", "/experiments/{experiment_id}/metrics"): Call("read", 200),
    ("GET", "/experiments/{experiment_id}/lr"): Call("read", 200),
    ("POST", "/experiments/{experiment_id}/cancel"): Call("write", 200),
    ("POST", "/sweeps"): Call("write", 202, lambda: SWEEP),
    ("GET", "/sweeps"): Call("read", 200),
    # Streams of finished runs (committed: a stream reads in sessions of its own) replay and end.
    ("GET", "/experiments/{experiment_id}/events"): Call("read", 200, finished=True),
    ("GET", "/sweeps/{sweep_id}/events"): Call("read", 200, finished=True),
    ("GET", "/sweeps/{sweep_id}"): Call("read", 200),
    ("POST", "/sweeps/{sweep_id}/cancel"): Call("write", 200),
    ("GET", "/sweeps/{sweep_id}/comparison"): Call("read", 200),
    ("GET", "/sweeps/{sweep_id}/metrics"): Call("read", 200),
    ("GET", "/sweeps/{sweep_id}/pruning"): Call("read", 200),
    ("GET", "/sweeps/{sweep_id}/plots/{name}.{ext}"): Call(
        "read", 200, fixed={"name": "lr", "ext": "svg"}
    ),
    ("POST", "/range-tests"): Call("write", 202, lambda: {"num_iter": 6}),
    ("GET", "/range-tests"): Call("read", 200),
    ("GET", "/range-tests/{range_test_id}"): Call("read", 200),
    ("POST", "/range-tests/{range_test_id}/cancel"): Call("write", 200),
    ("GET", "/range-tests/{range_test_id}/curve"): Call("read", 200),
    ("GET", "/range-tests/{range_test_id}/plot.{ext}"): Call("read", 200, fixed={"ext": "svg"}),
    ("GET", "/schedulers"): Call("read", 200),
    ("GET", "/datasets"): Call("read", 200),
    ("POST", "/schedulers/preview"): Call("read", 200, lambda: PREVIEW),
    ("GET", "/models"): Call("read", 200),
    ("GET", "/keys"): Call("admin", 200),
    ("POST", "/keys"): Call("admin", 201, lambda: {"label": "made", "role": "read"}),
    ("DELETE", "/keys/{key_id}"): Call("admin", 200),
    ("POST", "/admin/projects"): Call(
        "operator", 201, lambda: {"name": f"p-{uuid.uuid4().hex[:12]}"}
    ),
    ("GET", "/admin/projects"): Call("operator", 200),
    ("PATCH", "/admin/projects/{name}"): Call("operator", 200, lambda: {"max_sweep_members": 10}),
    ("POST", "/admin/projects/{name}/keys"): Call(
        "operator", 201, lambda: {"label": "op", "role": "read"}
    ),
    ("GET", "/admin/projects/{name}/keys"): Call("operator", 200),
    ("DELETE", "/admin/keys/{key_id}"): Call("operator", 200),
    # Workers serve every project and list all their experiments: the operator's view.
    ("GET", "/workers"): Call("operator", 200),
    # The operator's too, unless LRLAB_METRICS_PUBLIC (off in the tests) opens it.
    ("GET", "/metrics"): Call("operator", 200),
}

# Who calls: the Authorization header, and which key role it carries (None: no valid key).
CALLERS = (
    *("none", "malformed", "unknown", "revoked"),
    *("read", "write", "admin", "other", "other_admin", "operator"),
)
# Keys of another project, by role.
OTHERS = {"other": "write", "other_admin": "admin"}
ROLE_LEVELS = {"read": {"read"}, "write": {"read", "write"}, "admin": {"read", "write", "admin"}}


def declared(route: Any) -> list[str]:
    """The policy levels a route declares (exactly one is right)."""
    found: list[str] = []

    def walk(dependant: Any) -> None:
        for dep in dependant.dependencies:
            if isinstance(dep.call, Declared):
                found.append(dep.call.level)
            walk(dep)

    walk(route.dependant)
    return found


def app_routes() -> list[Any]:
    """Every route of the app as served: included routers' prefixes and dependencies applied."""
    return list(routing.iter_route_contexts(app.routes))


def api_routes() -> list[tuple[str, Any]]:
    """Every (method, route) of the app that FastAPI serves from an endpoint of ours."""
    return [
        (method, route)
        for route in app_routes()
        if getattr(route, "dependant", None) is not None
        for method in sorted(route.methods)
    ]


def test_every_route_declares_exactly_one_policy_and_is_in_the_matrix() -> None:
    for route in app_routes():
        if getattr(route, "dependant", None) is None:
            assert route.path in DOCS or route.path.startswith(STATIC), route
    for method, route in api_routes():
        assert len(declared(route)) == 1, f"{method} {route.path} declares {declared(route)}"
        assert (method, route.path) in ROUTES, f"{method} {route.path} is not in the matrix"
    assert set(ROUTES) == {(m, r.path) for m, r in api_routes()}


def test_a_route_without_a_policy_is_caught() -> None:
    undeclared = APIRoute("/nothing", lambda: None, methods=["GET"])
    assert declared(undeclared) == []


def expected(level: str, caller: str, call: Call, owned: bool) -> int:
    """What `caller` should get from a route of `level` (owned: it names a project resource)."""
    if level == "public":
        return call.status
    if caller in ("none", "malformed", "unknown", "revoked"):
        return 401
    if caller == "operator":
        return call.status if level == "operator" else 403
    role = OTHERS.get(caller, caller)
    if level not in ROLE_LEVELS[role]:
        return 403
    return 404 if caller in OTHERS and owned else call.status


def headers(keys: SessionKeys, caller: str) -> dict[str, str]:
    tokens = {
        "malformed": "not-a-key",
        "unknown": "lrlab_" + "A" * 43,
        "revoked": keys.revoked,
        "read": keys.read,
        "write": keys.write,
        "admin": keys.admin,
        "other": keys.other,
        "other_admin": keys.other_admin,
        "operator": keys.operator,
    }
    return {} if caller == "none" else {"Authorization": f"Bearer {tokens[caller]}"}


def resources(session: Session) -> dict[str, str]:
    """Fresh resources of the test project, one of each path parameter."""
    project_id = home_project_id(session)
    sweep, _, _ = submit_test_sweep(session, SweepCreate.model_validate(SWEEP))
    key = create_key(session, project_id=project_id, key=KeyCreate(label="victim", role="read"))
    return {
        "experiment_id": str(create_queued(session).id),
        "sweep_id": str(sweep.id),
        "range_test_id": str(
            create_range_test(
                session,
                project_id=project_id,
                key_id=None,
                spec=RangeTestCreate(num_iter=6),
                queue="lrlab-test-unused",
            ).id
        ),
        "key_id": str(key.id),
        "name": TEST_PROJECT,
    }


def finished_resources() -> dict[str, str]:
    """A committed succeeded experiment and a committed sweep whose members were cancelled."""
    with session_scope() as session:
        experiment = create_queued(session)
        experiment.status = "succeeded"
        sweep, members, _ = submit_test_sweep(session, SweepCreate.model_validate(SWEEP))
        session.execute(
            update(Experiment).where(Experiment.id.in_(members)).values(status="cancelled")
        )
        return {"experiment_id": str(experiment.id), "sweep_id": str(sweep.id)}


@pytest.fixture(autouse=True)
def _finished_resources_removed(database: str) -> Iterator[None]:
    started = datetime.now(UTC) - timedelta(seconds=1)
    yield
    remove_made_since(started)


@pytest.mark.parametrize(
    ("method", "path"), sorted(ROUTES), ids=[f"{m} {p}" for m, p in sorted(ROUTES)]
)
def test_route_answers_each_caller_as_its_policy_says(
    client: TestClient, db_session: Session, keys: SessionKeys, method: str, path: str
) -> None:
    route = next(r for m, r in api_routes() if m == method and r.path == path)
    call = ROUTES[(method, path)]
    assert declared(route) == [call.level]
    level = call.level
    owned = any(p in path for p in ("{experiment_id}", "{sweep_id}", "{range_test_id}", "{key_id}"))
    del client.headers["Authorization"]
    wrong = []
    for caller in CALLERS:
        made = finished_resources() if call.finished else resources(db_session)
        params = {**made, **call.fixed}
        url = path.format(**params)
        body = call.body() if call.body else None
        response = client.request(method, url, json=body, headers=headers(keys, caller))
        want = expected(level, caller, call, owned)
        if response.status_code != want:
            wrong.append((caller, want, response.status_code, response.text[:200]))
        if want == 401:
            assert response.headers.get("www-authenticate") == "Bearer"
            assert set(response.json()) == {"detail"} and "\n" not in response.json()["detail"]
    assert wrong == []


def test_an_expired_key_row_serves_only_while_it_is_being_read_again(
    keys: SessionKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api import auth

    row = auth._lookup(keys.write)
    assert row is not None
    digest = row.secret_hash
    now = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: now[0])

    def read(age: float) -> object:
        auth._KEYS[digest] = (1000.0 - age + auth.KEY_CACHE_SECONDS, row)
        return auth._cached(keys.write)

    assert read(0.1) is row  # fresh
    assert read(0.6) is None  # expired, nobody reading it again: the request reads it
    with auth._stripe(digest):  # another request is reading it again
        assert read(0.6) is row
        assert read(auth.KEY_STALE_SECONDS + 0.01) is None  # never past the bound
    assert auth.KEY_STALE_SECONDS < 1


def test_a_bad_credentials_file_fails_no_key_and_keeps_the_last_good_operator_token(
    client: TestClient, keys: SessionKeys, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from api import auth
    from models.storage import get_settings

    path = tmp_path / "credentials.json"
    operator = "lrlabop_" + "a" * 43
    path.write_text(json.dumps({"admin_token": operator}))
    monkeypatch.setattr(get_settings(), "admin_token", None)
    monkeypatch.setattr(get_settings(), "credentials_file", str(path))
    as_operator = keys.headers(operator)
    assert client.get("/admin/projects", headers=as_operator).status_code == 200
    # An operator's edit in place, caught half-written.
    path.write_text('{"admin_tok')
    for _ in range(2):
        auth._KEYS.clear()  # the full check, not the cached row
        assert client.get("/experiments").status_code == 200
        assert client.post("/experiments", json=experiment_payload()).status_code == 202
        assert client.get("/readyz").status_code in (200, 503)
        assert client.get("/readyz", headers=as_operator).status_code in (200, 503)
        assert client.get("/admin/projects", headers=as_operator).status_code == 200


def test_an_unknown_key_is_read_once_and_a_client_failing_auth_is_refused_unread(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import secrets

    from api import auth
    from models.storage import get_settings

    reads: list[str] = []
    real_find_key = auth.find_key

    def counted(session: Session, *, key: str) -> Any:
        reads.append(key)
        return real_find_key(session, key=key)

    monkeypatch.setattr(auth, "find_key", counted)
    unknown = "lrlab_" + secrets.token_urlsafe(32)
    for _ in range(3):
        assert (
            client.get("/experiments", headers={"Authorization": f"Bearer {unknown}"}).status_code
            == 401
        )
    assert reads == [unknown]  # refused from the cache after its first read

    # Past its limit of 401s, a client is answered 429 without a database read.
    monkeypatch.setattr(get_settings(), "auth_failure_limit", "3/minute")
    for item in auth._rates("3/minute"):
        auth._limiter().clear(item, "lrlab-401", "testclient")
    reads.clear()
    answers = []
    for _ in range(5):
        guess = "lrlab_" + secrets.token_urlsafe(32)
        answers.append(
            client.get("/experiments", headers={"Authorization": f"Bearer {guess}"}).status_code
        )
    assert answers == [401, 401, 401, 429, 429]
    assert len(reads) == 3
    refused = client.get("/experiments", headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    # A client with a good key is not refused (its key is cached or read, never a failure).
    assert client.get("/experiments").status_code == 200


def test_a_project_key_never_reads_the_credentials_file(
    client: TestClient, keys: SessionKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api import auth

    def unreadable(_: object) -> str | None:
        raise AssertionError("a project key's request read the credentials file")

    monkeypatch.setattr(auth, "admin_token", unreadable)
    auth._KEYS.clear()
    assert client.get("/experiments").status_code == 200
    assert client.get("/readyz", headers=keys.headers(keys.write)).status_code in (200, 503)
