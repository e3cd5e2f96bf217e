"""Every list pages the same way: offset pages, and `next` cursors that reach any depth."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import experiment_payload

BODIES: dict[str, dict[str, Any]] = {
    "/experiments": experiment_payload(),
    "/sweeps": {"schedulers": [{"type": "constant"}], "seeds": [0, 1]},
    "/range-tests": {"num_iter": 50},
}


@pytest.mark.parametrize("path", sorted(BODIES))
def test_each_list_follows_its_next_cursor_to_the_end(client: TestClient, path: str) -> None:
    made = set()
    for _ in range(3):
        response = client.post(path, json=BODIES[path])
        assert response.status_code == 202, response.text
        made.add(response.json()["id"])
    seen: list[str] = []
    page = client.get(path, params={"limit": 2}).json()
    assert page["total"] >= 3 and page["total_exact"] is True
    while True:
        seen += [item["id"] for item in page["items"]]
        if page["next"] is None:
            break
        page = client.get(path, params={"limit": 2, "after": page["next"]}).json()
    # Newest first, each row once, the rows made here among them.
    assert len(seen) == len(set(seen)) == page["total"] and made <= set(seen)
    assert seen[:3] == sorted(made, key=seen.index)


@pytest.mark.parametrize("path", sorted(BODIES))
def test_a_cursor_no_page_handed_out_is_a_422(client: TestClient, path: str) -> None:
    response = client.get(path, params={"after": "garbage!"})
    assert response.status_code == 422, response.text
    assert "`after` is not a cursor from a previous page" in response.text
