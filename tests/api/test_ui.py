"""The dashboard's static serving: page addresses answer index.html, assets stay assets."""

import pytest
from fastapi.testclient import TestClient

from api.main import app


@pytest.fixture
def web() -> TestClient:
    """The app without a database: the dashboard's files need none."""
    return TestClient(app)


@pytest.mark.parametrize(
    "path",
    [
        "/ui/",
        "/ui/experiments",
        "/ui/experiments/0b7c2a1e-3f4d-4c5b-8a9e-1f2d3c4b5a69",
        "/ui/sweeps/new?status=running",
    ],
)
def test_page_addresses_answer_the_single_page(web: TestClient, path: str) -> None:
    response = web.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/ui/app.js">' in response.text


def test_modules_are_served_as_javascript_and_missing_assets_are_404(web: TestClient) -> None:
    module = web.get("/ui/pages/experiment.js")
    assert module.status_code == 200
    assert "javascript" in module.headers["content-type"]
    assert web.get("/ui/pages/missing.js").status_code == 404


def test_the_chart_library_comes_from_node_modules(web: TestClient) -> None:
    response = web.get("/ui/vendor/uplot/uPlot.esm.js")
    assert response.status_code == 200, "run `make install` (npm ci --prefix ui)"
    assert "export" in response.text
    assert web.get("/ui/vendor/uplot/uPlot.min.css").status_code == 200


@pytest.mark.parametrize("path", ["/ui/", "/ui/experiments/new", "/ui/app.js"])
def test_the_dashboard_answers_with_security_headers(web: TestClient, path: str) -> None:
    response = web.get(path)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src 'self';" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
