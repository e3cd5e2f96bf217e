"""Dependency outages met with the default rate limits on: writes still answer as documented."""

import os
import re
import time
import uuid

import httpx
import pytest

from tests.conftest import wait_for
from tests.faults.conftest import Stack, experiment_spec

pytestmark = pytest.mark.faults

PREVIEW = {"scheduler": {"type": "constant"}, "learning_rate": 0.01, "epochs": 2}
_PASSED = re.compile(r"^lrlab_rate_limit_store_errors_total (\S+)$", re.MULTILINE)


def _operator() -> dict[str, str]:
    return {"Authorization": f"Bearer {os.environ['LRLAB_ADMIN_TOKEN']}"}


def _passed_uncounted(client: httpx.Client) -> float:
    """The API's count of requests let through while the limiter's store failed."""
    scraped = client.get("/metrics", headers=_operator())
    assert scraped.status_code == 200, scraped.text
    found = _PASSED.search(scraped.text)
    assert found is not None, "the API exports lrlab_rate_limit_store_errors_total"
    return float(found.group(1))


def test_a_redis_outage_lets_every_mutating_request_through_and_counts_it(stack: Stack) -> None:
    api = stack.api()
    assert stack.env()["LRLAB_BROKER_URL"] == stack.redis.url
    assert stack.env()["LRLAB_RATE_LIMIT"] == "50/second"  # the default, on
    first = stack.submit(api, **experiment_spec(1, train_samples=500))
    stack.redis.stop()

    # Every kind of mutating call, by a project key and by the operator: none is a 500.
    ids = [stack.submit(api, **experiment_spec(1, train_samples=500, seed=s)) for s in (1, 2)]
    cancelled = api.client.post(f"/experiments/{first}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    preview = api.client.post("/schedulers/preview", json=PREVIEW)
    assert preview.status_code == 200, preview.text
    name = f"outage-{uuid.uuid4().hex[:8]}"
    created = api.client.post("/admin/projects", json={"name": name}, headers=_operator())
    assert created.status_code == 201, created.text
    key = api.client.post(
        f"/admin/projects/{name}/keys",
        json={"label": "during", "role": "write"},
        headers=_operator(),
    )
    assert key.status_code == 201, key.text
    for experiment_id in ids:
        assert api.client.get(f"/experiments/{experiment_id}").json()["status"] == "queued"
    passed = _passed_uncounted(api.client)
    assert passed >= 6
    # One log line for the outage, not one per request.
    assert api.log_tail(20_000).count("rate-limit store unavailable") == 1

    # Back: after its retry pause the limiter counts again, and nothing is let through.
    stack.redis.start()
    time.sleep(1.5)
    stack.submit(api, **experiment_spec(1, train_samples=500, seed=3))
    assert wait_for(lambda: _passed_uncounted(api.client) == passed, timeout=5)
