"""/docs and /redoc reference only files the API serves itself (they render offline)."""

import re

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_local_assets_and_those_are_served(
    client: TestClient, page: str
) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    urls += re.findall(r"""url:\s*['"]([^'"]+)['"]""", html)
    assert urls, html
    assert not [u for u in urls if "//" in u], f"external URLs in {page}: {urls}"
    assert "/openapi.json" in html
    scripts = [u for u in urls if u.endswith(".js")]
    assert scripts
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url


def test_routes_have_real_summaries(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    summaries = {
        (method.upper(), path): op["summary"]
        for path, ops in paths.items()
        for method, op in ops.items()
    }
    assert summaries[("GET", "/experiments")] == "List experiments"
    assert summaries[("POST", "/sweeps")] == "Submit a sweep"
    assert summaries[("GET", "/workers")] == "List live workers"
    assert summaries[("GET", "/range-tests")] == "List range tests"
    # FastAPI's default, the function's name title-cased ("List All", "Read Range Test"),
    # is never left: each summary starts with a verb and a lower-case word after it.
    defaults = [s for s in summaries.values() if len(s.split()) > 1 and s.split()[1].istitle()]
    assert defaults == []
