"""The api image, without a Docker engine: its files, laid out as the Dockerfile copies them,
migrate a database and serve the API and the dashboard."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
# What a build stage leaves in its WORKDIR, here: the ui stage runs `npm ci` in a copy of ui/,
# as `make install` does in the checkout.
STAGE_OUTPUT = {"ui": ROOT / "ui"}


def source_copies(dockerfile: Path) -> list[tuple[Path, str]]:
    """(file or folder on this machine, destination under /app) of each COPY of `source`."""
    stage: str | None = None
    workdirs: dict[str | None, str] = {}
    copies = []
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "FROM":
            stage = words[3] if len(words) == 4 and words[2].upper() == "AS" else None
        elif words[0] == "WORKDIR":
            workdirs[stage] = words[1]
        elif words[0] == "COPY" and stage == "source":
            arguments = words[1:]
            origin = arguments.pop(0).removeprefix("--from=") if "--from=" in words[1] else None
            *sources, destination = arguments
            for source in sources:
                if origin is None:
                    copies.append((ROOT / source, destination))
                else:
                    inside = Path(source).relative_to(workdirs[origin])
                    copies.append((STAGE_OUTPUT[origin] / inside, destination))
    return copies


def lay_out(copies: list[tuple[Path, str]], app: Path) -> None:
    """Copy each source where the build puts it (a destination ending in / is a folder)."""
    for source, destination in copies:
        assert source.exists(), f"the Dockerfile copies {source}, which does not exist"
        target = app / destination
        if destination.endswith("/"):
            target = target / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target)


def test_the_api_image_layout_migrates_and_serves_the_api_and_the_dashboard(
    tmp_path: Path,
) -> None:
    copies = source_copies(ROOT / "Dockerfile")
    assert copies, "no COPY found in the source stage"
    app = tmp_path / "app"
    lay_out(copies, app)
    database = make_url(os.environ["LRLAB_DATABASE_URL"]).set(
        database=f"lrlab_test_image_{os.getpid()}"
    )
    url = database.render_as_string(hide_password=False)
    check = textwrap.dedent(
        f"""
        from pathlib import Path
        from fastapi.testclient import TestClient
        import api.main
        from models.migrate import prepare_database

        # The image's copy, not the checkout's (the project is installed in development mode).
        assert Path(api.main.__file__).is_relative_to({str(app)!r}), api.main.__file__
        prepare_database({url!r}, recreate=True)
        client = TestClient(api.main.app)
        for path in ("/healthz", "/ui/", "/ui/experiments/x", "/ui/vendor/uplot/uPlot.esm.js"):
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code, response.text[:200])
        assert "<html" in client.get("/ui/").text.lower()
        print("image layout ok")
        """
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", check],
            cwd=app,
            env={**os.environ, "PYTHONPATH": str(app)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "image layout ok" in done.stdout
    finally:
        admin = create_engine(database.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database.database}" WITH (FORCE)'))
        admin.dispose()
