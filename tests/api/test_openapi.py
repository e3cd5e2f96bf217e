"""The OpenAPI document against the app: every answer documented, checked by schemathesis."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import hypothesis
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

from api.main import app
from models.storage import get_settings, redis_py_url
from tests.conftest import SessionKeys
from tests.factories import remove_made_since

# Bounded so the whole module stays well under two minutes on a slow shared machine.
CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20240611,
        "generation": {"max-examples": 8, "database": "none"},
        "checks": {
            # A schema-valid spec may still be refused with a 422 naming the field: a schedule's
            # consistency with the run (milestones within the epochs, a warm-up shorter than
            # the run, lr bounds) is checked by the schedule code, not expressible in JSON Schema.
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]
            },
        },
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)


@pytest.fixture(scope="module")
def api_headers(keys: SessionKeys) -> dict[str, str]:
    """The test project's admin key: every project route is open to it (operator routes: 403)."""
    return keys.headers(keys.admin)


@pytest.fixture(scope="module", autouse=True)
def _committed_rows_removed(database: str) -> Iterator[None]:
    """Schemathesis commits for real; remove what it made and the messages it published."""
    started = datetime.now(UTC) - timedelta(seconds=1)
    yield
    remove_made_since(started)
    import redis

    settings = get_settings()
    redis.Redis.from_url(redis_py_url(settings.broker_url)).delete(settings.queue)


def test_every_route_documents_its_errors() -> None:
    document = app.openapi()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            if path.startswith(
                ("/experiments", "/sweeps", "/schedulers", "/range-tests", "/keys", "/admin")
            ):
                assert {"401", "403", "429"} <= codes, (method, path)
            if "requestBody" in operation:
                assert {"413", "415", "422"} <= codes, (method, path)
            if "{" in path:
                assert {"404", "422"} <= codes, (method, path)


def test_non_json_media_types_are_documented() -> None:
    paths = app.openapi()["paths"]

    def media(path: str, method: str = "get") -> set[str]:
        return set(paths[path][method]["responses"]["200"]["content"])

    assert "text/csv" in media("/experiments/{experiment_id}/metrics")
    assert "text/csv" in media("/sweeps/{sweep_id}/comparison")
    assert "text/csv" in media("/sweeps/{sweep_id}/metrics")
    assert media("/sweeps/{sweep_id}/plots/{name}.{ext}") == {"image/png", "image/svg+xml"}
    assert "image/png" in media("/schedulers/preview", "post")


def test_submissions_document_the_replay_and_link_to_the_resource() -> None:
    paths = app.openapi()["paths"]
    for collection, read in (
        ("/experiments", "/experiments/{experiment_id}"),
        ("/sweeps", "/sweeps/{sweep_id}"),
    ):
        answers = paths[collection]["post"]["responses"]
        assert {"200", "202", "409"} <= set(answers)
        target = paths[read]["get"]["operationId"]
        for status in ("200", "202"):
            assert answers[status]["links"][target]["operationId"] == target


@pytest.mark.schemathesis
@schema.parametrize()
def test_api_conforms_to_its_document(case: schemathesis.Case, api_headers: dict[str, str]) -> None:
    case.call_and_validate(headers=api_headers)


@pytest.mark.schemathesis
def test_api_stateful_links(api_headers: dict[str, str]) -> None:
    workflow = schema.as_state_machine()

    class Workflow(workflow):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, object]:
            return {"headers": api_headers}

    Workflow.run(
        settings=hypothesis.settings(
            max_examples=10,
            stateful_step_count=4,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            database=None,
            # The app's answers depend on what earlier steps stored, so a replay of a case can
            # draw differently; generate only (no shrinking replays), and report the first failure.
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
    )


def test_every_ref_resolves_from_the_document_root() -> None:
    document = app.openapi()

    def refs(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            for value in node.values():
                if isinstance(value, str) and value.startswith("#/"):
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)

    found = list(refs(document))
    assert found and not [r for r in found if not r.startswith("#/components/schemas/")]
    schemas = document["components"]["schemas"]
    assert {r.removeprefix("#/components/schemas/") for r in found} <= set(schemas)
    # The schedule specs a sweep body names are shared components, not inline copies.
    assert "SweepCreate" in schemas or any("Sweep" in name for name in schemas)


def test_constraints_enforced_are_described() -> None:
    import re

    document = app.openapi()
    label = document["components"]["schemas"]["KeyCreate"]["properties"]["label"]
    assert re.match(label["pattern"], "a\x00b") is None and re.match(label["pattern"], "ab")
    listing = document["paths"]["/experiments"]["get"]["parameters"]
    (after,) = [p for p in listing if p["name"] == "after"]
    assert "opaque cursor" in after["description"]
