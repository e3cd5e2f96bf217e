"""The server rule of `make up` and `make test`, against real servers and real embedded ones."""

import logging
import socket
from pathlib import Path

import psutil
import pytest
import redis
from kombu import Connection
from limits.storage import storage_from_string
from sqlalchemy import create_engine, text

from devtools.processes import free_port
from devtools.redis_server import RedisServer
from devtools.servers import (
    ServerUnavailable,
    broker_answers,
    choose,
    database_answers,
    start_servers,
)
from models.storage import kombu_url, limits_url, redis_py_url


def _nothing_at() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


def test_unset_with_a_server_at_the_default_address_uses_it(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    try:
        choice = choose("LRLAB_BROKER_URL", None, server.url, answers=broker_answers)
    finally:
        server.stop()
    assert choice.url == server.url
    assert "answers at the default address" in choice.reason


def test_unset_with_nothing_at_the_default_address_chooses_embedded() -> None:
    default = _nothing_at()
    choice = choose("LRLAB_BROKER_URL", None, default, answers=broker_answers)
    assert choice.url is None
    assert default in choice.reason


def test_a_configured_server_that_does_not_answer_is_an_error_naming_it() -> None:
    port = free_port()
    url = f"postgresql+psycopg://lrlab:secret@127.0.0.1:{port}/lrlab"
    with pytest.raises(ServerUnavailable, match=f"127.0.0.1:{port}") as info:
        choose("LRLAB_DATABASE_URL", url, url, answers=database_answers)
    assert "secret" not in str(info.value)
    assert "LRLAB_DATABASE_URL" in str(info.value)


def test_a_configured_server_that_answers_is_used_even_when_the_default_answers_too() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"postgresql+psycopg://postgres@127.0.0.1:{listener.getsockname()[1]}/mine"
        choice = choose("LRLAB_DATABASE_URL", url, "unused", answers=database_answers)
    assert choice.url == url


def test_embedded_is_chosen_when_asked_even_with_a_server_at_the_default(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    try:
        choice = choose("LRLAB_BROKER_URL", "embedded", server.url, answers=broker_answers)
    finally:
        server.stop()
    assert choice.url is None


def test_socket_urls_in_each_library_spelling() -> None:
    url = "redis+socket:///run/x/redis.sock?virtual_host=3"
    assert redis_py_url(url) == "unix:///run/x/redis.sock?db=3"
    assert limits_url(url) == "redis+unix:///run/x/redis.sock?db=3"
    assert kombu_url("unix:///run/x/redis.sock?db=3") == url
    assert redis_py_url("redis://127.0.0.1:6379/2") == "redis://127.0.0.1:6379/2"


def _server_processes(directory: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if any(str(directory) in part for part in proc.info["cmdline"] or []):
            found.append(proc)
    return found


def test_embedded_servers_keep_their_data_and_stop_without_a_trace(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lrlab.servers")
    servers = start_servers(database_url="embedded", broker_url="embedded", directory=tmp_path)
    try:
        assert "?host=" in servers.database_url and servers.database_url.startswith("postgres")
        assert servers.broker_url.startswith("redis+socket://")
        admin = create_engine(servers.database_url.replace("/lrlab?", "/postgres?"))
        with admin.connect() as conn:
            conn.execute(text("CREATE TABLE kept (v int)"))
            conn.execute(text("INSERT INTO kept VALUES (42)"))
            conn.commit()
        admin.dispose()
        redis.Redis.from_url(redis_py_url(servers.broker_url)).rpush("lrlab", b"accepted")
        # The rate limiter and Celery's producer reach the same socket in their spellings.
        assert storage_from_string(limits_url(servers.broker_url)).check()
        with Connection(kombu_url(servers.broker_url)) as connection:
            connection.ensure_connection(max_retries=1)
        running = _server_processes(tmp_path)
        assert {p.name() for p in running} >= {"postgres", "redis-server"}
        # Neither binds a TCP port: the socket files are all there is.
        assert [
            c.laddr
            for p in running
            for c in p.net_connections("inet")
            if c.status == psutil.CONN_LISTEN
        ] == []
    finally:
        servers.stop()
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        f"database: embedded Postgres, data in {tmp_path / 'postgres'}",
        f"broker: embedded Redis, data in {tmp_path / 'redis'}",
    ]
    assert _server_processes(tmp_path) == []

    again = start_servers(database_url="embedded", broker_url="embedded", directory=tmp_path)
    try:
        assert again.postgres is not None and not again.postgres.initialised
        admin = create_engine(again.database_url.replace("/lrlab?", "/postgres?"))
        with admin.connect() as conn:
            assert conn.execute(text("SELECT v FROM kept")).scalar() == 42
        admin.dispose()
        client = redis.Redis.from_url(redis_py_url(again.broker_url))
        assert client.lrange("lrlab", 0, -1) == [b"accepted"]
        client.close()
    finally:
        again.stop()
    assert _server_processes(tmp_path) == []
