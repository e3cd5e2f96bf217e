"""A key revoked through one API process stops working on every other within 1 s.

Each process reuses a key row it read for at most `KEY_CACHE_SECONDS` (< 1 s), so the second
process refuses the key on its first request that late after the revocation committed.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.auth import KEY_CACHE_SECONDS
from devtools.processes import ApiProcess
from tests.conftest import SessionKeys


@pytest.fixture
def two_apis(tmp_path: Path, keys: SessionKeys) -> Iterator[tuple[ApiProcess, ApiProcess]]:
    first = ApiProcess(tmp_path / "api1.log", api_key=keys.admin)
    second = ApiProcess(tmp_path / "api2.log", api_key=keys.admin)
    try:
        first.wait_healthy()
        second.wait_healthy()
        yield first, second
    finally:
        first.stop()
        second.stop()


def test_revocation_reaches_a_second_process_on_its_next_request(
    two_apis: tuple[ApiProcess, ApiProcess],
) -> None:
    first, second = two_apis
    made = first.client.post("/keys", json={"label": "short-lived", "role": "read"}).json()
    victim = {"Authorization": f"Bearer {made['key']}"}
    # Warm: the second process has just served the key.
    assert second.client.get("/experiments", headers=victim).status_code == 200
    assert first.client.delete(f"/keys/{made['id']}").status_code == 200
    revoked = time.monotonic()
    assert KEY_CACHE_SECONDS < 1
    time.sleep(KEY_CACHE_SECONDS)
    answer = second.client.get("/experiments", headers=victim)
    assert answer.status_code == 401 and answer.json() == {"detail": "revoked API key"}
    assert answer.headers["www-authenticate"] == "Bearer"
    assert time.monotonic() - revoked < 1
