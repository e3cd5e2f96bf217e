"""The dashboard at /ui/: static ES modules served as is, and uPlot from ui/node_modules."""

from pathlib import Path, PurePosixPath

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

UI_DIR = Path(__file__).resolve().parent.parent.parent / "ui"
# The dashboard loads only its own modules, styles and images and talks only to this API;
# uPlot sets element styles from script, hence 'unsafe-inline' for styles alone.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class _SinglePage(StaticFiles):
    """Static files whose unknown extension-less paths answer index.html (the page routes)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        """Serve the file, or index.html for a page address such as experiments/<id>."""
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            # A missing asset (`x.js`) stays a 404; only page addresses fall back.
            if exc.status_code != 404 or "." in PurePosixPath(path).name:
                raise
            response = await super().get_response("index.html", scope)
        # Modules change with the checkout and are small: revalidate rather than cache stale.
        response.headers.setdefault("Cache-Control", "no-cache")
        response.headers.update(SECURITY_HEADERS)
        return response


def install_ui(app: FastAPI) -> None:
    """Mount the dashboard; the API starts even where `npm ci` has not run (charts then 404)."""
    app.mount(
        "/ui/vendor/uplot",
        StaticFiles(directory=UI_DIR / "node_modules" / "uplot" / "dist", check_dir=False),
        name="ui-vendor-uplot",
    )
    app.mount("/ui", _SinglePage(directory=UI_DIR / "static", html=True), name="ui")
