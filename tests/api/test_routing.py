"""How request bodies are read: a client that leaves mid-body."""

import asyncio
import logging

import pytest

from api.main import app
from tests.conftest import SessionKeys


def test_a_client_leaving_mid_body_logs_one_line(
    keys: SessionKeys, caplog: pytest.LogCaptureFixture
) -> None:
    messages = [
        {"type": "http.request", "body": b'{"scheduler": ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, object]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/experiments",
        "raw_path": b"/experiments",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", b"5000"),
            (b"authorization", f"Bearer {keys.write}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }

    async def receive() -> dict[str, object]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    with caplog.at_level(logging.INFO):
        asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    lines = [r for r in caplog.records if "disconnect" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
