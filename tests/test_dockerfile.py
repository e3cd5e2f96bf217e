"""The images and the compose stack, without a Docker engine: the api image's files, laid out
as the Dockerfile copies them, migrate a database and serve the API and the dashboard; the
Dockerfile and the compose files as the legacy builder and Compose read them."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import redis
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from devtools.processes import free_port
from devtools.redis_server import RedisServer
from models.jobs import WorkerInfo, publish_heartbeat
from models.storage import prepare_database

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
        from models.storage.migrate import prepare_database

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


# -- the Dockerfile and compose files as a builder and Compose read them (no engine here) --------


def _instructions(dockerfile: Path) -> list[tuple[str | None, str, str]]:
    """(stage, instruction, arguments) of every instruction, continuation lines joined."""
    stage: str | None = None
    found = []
    for line in dockerfile.read_text().replace("\\\n", " ").splitlines():
        words = line.split(maxsplit=1)
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "FROM":
            parts = words[1].split()
            stage = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
        found.append((stage, words[0], words[1] if len(words) > 1 else ""))
    return found


def test_the_dockerfile_needs_no_buildkit_frontend_and_copies_files_that_exist() -> None:
    dockerfile = ROOT / "Dockerfile"
    first = dockerfile.read_text().splitlines()[0]
    assert not first.lower().startswith("# syntax"), "a `# syntax=` line pulls a frontend"
    for stage, instruction, arguments in _instructions(dockerfile):
        # A heredoc (`<<'EOF'`) needs BuildKit's frontend; the legacy builder cannot parse it.
        assert "<<" not in arguments, (stage, instruction, arguments)
        if instruction == "COPY" and not arguments.startswith("--from="):
            *sources, _ = arguments.split()
            for source in sources:
                assert (ROOT / source).exists(), f"stage {stage} copies missing {source}"


def test_every_worker_image_has_a_health_check_of_its_heartbeat() -> None:
    instructions = _instructions(ROOT / "Dockerfile")
    for target in ("worker", "worker-gpu"):
        checks = [a for s, i, a in instructions if s == target and i == "HEALTHCHECK"]
        assert len(checks) == 1 and "docker/worker-healthcheck.py" in checks[0], target
    copied = [dest for _, dest in source_copies(ROOT / "Dockerfile")]
    assert any(d.startswith("./docker") for d in copied), copied


def _compose(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return loaded


def test_postgres_and_redis_are_published_only_by_the_host_override() -> None:
    services = _compose("docker-compose.yml")["services"]
    for name in ("postgres", "redis"):
        assert "ports" not in services[name], f"{name} is published by default"
    host = _compose("docker-compose.host.yml")["services"]
    assert host["postgres"]["ports"] == ["127.0.0.1:${LRLAB_PG_PORT:-5432}:5432"]
    assert host["redis"]["ports"] == ["127.0.0.1:${LRLAB_REDIS_PORT:-6379}:6379"]


def test_the_offline_mnist_override_covers_every_worker() -> None:
    services = _compose("docker-compose.yml")["services"]
    workers = [
        n
        for n, s in services.items()
        if str(s.get("build", {}).get("target", "")).startswith("worker")
    ]
    assert sorted(workers) == ["worker", "worker-gpu"]
    override = _compose("docker-compose.offline-mnist.yml")["services"]
    for name in workers:
        assert override[name]["environment"]["LRLAB_MNIST_PATH"] == "/data/mnist", name
        assert any(v.endswith(":/data/mnist:ro") for v in override[name]["volumes"]), name


def test_compose_writes_the_first_key_where_the_api_and_its_lrlab_read_it() -> None:
    services = _compose("docker-compose.yml")["services"]
    migrate, api = services["migrate"], services["api"]
    assert "python -m models.identity" in " ".join(migrate["command"])
    path = Path(migrate["environment"]["LRLAB_CREDENTIALS_FILE"])
    assert api["environment"]["LRLAB_CREDENTIALS_FILE"] == str(path)
    assert f"credentials:{path.parent}" in migrate["volumes"]
    assert f"credentials:{path.parent}:ro" in api["volumes"]
    # A fresh named volume takes the owner of the image's folder: the unprivileged user's.
    base = " ".join(
        a for s, i, a in _instructions(ROOT / "Dockerfile") if s == "base" and i == "RUN"
    )
    assert "mkdir -p" in base and str(path.parent) in base and "chown lrlab" in base


def test_compose_first_start_gives_a_working_key_and_lrlab_admin_inside_the_api(
    tmp_path: Path,
) -> None:
    """What `migrate` then `docker compose exec api lrlab …` do, run from the image's files."""
    app = tmp_path / "app"
    lay_out(source_copies(ROOT / "Dockerfile"), app)
    services = _compose("docker-compose.yml")["services"]
    database = make_url(os.environ["LRLAB_DATABASE_URL"]).set(
        database=f"lrlab_test_compose_{os.getpid()}"
    )
    url = database.render_as_string(hide_password=False)
    prepare_database(url, recreate=True)  # compose's postgres creates its database itself
    credentials = tmp_path / "credentials" / "credentials.json"
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LRLAB_API_KEY", "LRLAB_API_URL", "LRLAB_HOST")
    }
    env |= {
        "PYTHONPATH": str(app),
        "LRLAB_DATABASE_URL": url,
        "LRLAB_CREDENTIALS_FILE": str(credentials),
        "LRLAB_ADMIN_TOKEN": "",  # what `${LRLAB_ADMIN_TOKEN:-}` passes when it is unset
        "LRLAB_PORT": str(port),
        # The image's `python` is the one with the dependencies.
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    api: subprocess.Popen[bytes] | None = None
    try:
        done = subprocess.run(
            services["migrate"]["command"], cwd=app, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads(credentials.read_text())["api_key"].startswith("lrlab_")
        api = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.main:app", "--port", str(port)],
            cwd=app,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)

        def lrlab(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "lrlab_client.cli", *args],
                cwd=app,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )

        projects = lrlab("admin", "projects", "list")
        assert projects.returncode == 0, projects.stderr
        assert "default" in [p["name"] for p in json.loads(projects.stdout)]
        made = lrlab("admin", "keys", "create", "default", "me", "--role", "admin")
        assert made.returncode == 0, made.stderr
        schedulers = lrlab("schedulers")  # the project key from the credentials file
        assert schedulers.returncode == 0, schedulers.stderr
        assert "cosine" in schedulers.stdout
    finally:
        if api is not None:
            api.terminate()
            api.wait(30)
        admin = create_engine(database.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database.database}" WITH (FORCE)'))
        admin.dispose()


def test_the_worker_health_check_reads_its_own_heartbeat(tmp_path: Path) -> None:
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    env = {**os.environ, "LRLAB_BROKER_URL": redis_server.url, "PYTHONPATH": str(ROOT)}

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "docker/worker-healthcheck.py"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    heartbeat = {
        "name": "celery@test",
        "host": socket.gethostname(),
        "pid": 1,
        "queues": ["lrlab"],
        "device": "CPU",
        "versions": {},
        "current_experiments": [],
        "started_at": "2026-01-01T00:00:00Z",
        "last_heartbeat": "2026-01-01T00:00:00Z",
    }
    client = redis.Redis.from_url(redis_server.url)
    try:
        starting = check()
        assert starting.returncode == 1 and "no heartbeat" in starting.stdout
        elsewhere = heartbeat | {"host": "another-container"}
        publish_heartbeat(client, WorkerInfo.model_validate(elsewhere))
        assert check().returncode == 1
        publish_heartbeat(client, WorkerInfo.model_validate(heartbeat))
        healthy = check()
        assert (healthy.returncode, healthy.stdout.strip()) == (0, "ok"), healthy.stderr
        problem = heartbeat | {"dataset_error": "DatasetError: mnist: no such file"}
        publish_heartbeat(client, WorkerInfo.model_validate(problem))
        broken = check()
        assert broken.returncode == 1 and "DatasetError" in broken.stdout
    finally:
        client.close()
        redis_server.stop()
