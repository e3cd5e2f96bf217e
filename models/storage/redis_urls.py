"""One broker URL, three spellings: kombu's, redis-py's and limits' for a Unix-socket Redis.

`LRLAB_BROKER_URL` may name a socket as `redis+socket:///PATH?virtual_host=N` (kombu's form,
what the embedded Redis uses) or `unix:///PATH?db=N` (redis-py's); TCP URLs pass unchanged.
"""

from urllib.parse import parse_qs, urlsplit

_SOCKET_SCHEMES = ("redis+socket", "unix", "redis+unix")


def _socket_parts(url: str) -> tuple[str, str] | None:
    parts = urlsplit(url)
    if parts.scheme not in _SOCKET_SCHEMES:
        return None
    query = parse_qs(parts.query)
    db = (query.get("virtual_host") or query.get("db") or ["0"])[0]
    return parts.path, db


def socket_path(url: str) -> str | None:
    """The socket path of a socket URL; None for a TCP URL."""
    found = _socket_parts(url)
    return found[0] if found else None


def redis_py_url(url: str) -> str:
    """The URL for `redis.Redis.from_url`."""
    found = _socket_parts(url)
    return f"unix://{found[0]}?db={found[1]}" if found else url


def kombu_url(url: str) -> str:
    """The URL for Celery and kombu."""
    found = _socket_parts(url)
    return f"redis+socket://{found[0]}?virtual_host={found[1]}" if found else url


def limits_url(url: str) -> str:
    """The URL for `limits.storage.storage_from_string`."""
    found = _socket_parts(url)
    return f"redis+unix://{found[0]}?db={found[1]}" if found else url
