"""/docs and /redoc served from local files: they render with no network (no CDN, no fonts).

The Swagger UI and ReDoc bundles come from the `fastapi-offline` package (a kept PyPI
package that ships exactly these files), so the Python install is all the API needs; we use
only its static files and FastAPI's own page builders. Like FastAPI's own documentation
routes these are plain Starlette routes: public, outside the OpenAPI document and the
route-policy table.
"""

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

STATIC_URL = "/static/docs"


def install_offline_docs(app: FastAPI) -> None:
    """Mount the bundles and serve /docs and /redoc pages that reference only them."""
    directory = str(files("fastapi_offline") / "static")
    app.mount(STATIC_URL, StaticFiles(directory=directory), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
        )

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )

    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
