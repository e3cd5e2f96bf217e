"""Who may call what: one policy per route, read from `Authorization: Bearer`.

Every route declares exactly one `Policy` (or `PUBLIC`) as a dependency; the route-table test
reads them back from `app.routes`, so a route without one fails CI.
"""

import hmac
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache, partial
from typing import Annotated, Literal, TypeVar, cast

from fastapi import Depends, Header, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.requests import Request
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from api.deps import SettingsDep
from api.prometheus import RATE_LIMIT_STORE_ERRORS
from models.identity import (
    KEY_PATTERN,
    LAST_USED_EVERY_SECONDS,
    Caller,
    Role,
    admin_token,
    find_key,
    hash_key,
    touch_key,
)
from models.storage import get_settings, limits_url, session_scope

log = logging.getLogger("lrlab.api")
T = TypeVar("T")

Level = Literal["public", "read", "write", "admin", "operator"]
# What each key role may do; the operator token is not a project key and opens only /admin.
_ALLOWED: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "write": frozenset({"read", "write"}),
    "admin": frozenset({"read", "write", "admin"}),
}
_KEY = re.compile(KEY_PATTERN)
_BEARER = "Bearer"
AuthorizationHeader = Annotated[str | None, Header(include_in_schema=False)]
# A key row is reused for at most this long, so a revocation committed by any process is
# refused by every process within this, well inside the promised second.
KEY_CACHE_SECONDS = 0.5
# The oldest a row is ever used, while another request re-reads it (still under 1 s).
KEY_STALE_SECONDS = 0.9
_KEY_CACHE_SIZE = 4096
# Where a request's decision is kept, so the policy counts a rate-limited call only once.
_DECIDED = "lrlab.auth.decided"


class Declared:
    """A route's declared policy; `level` is what the route-table test reads."""

    level: Level


class Public(Declared):
    """Anyone may call the route."""

    level: Level = "public"

    async def __call__(self) -> None:
        """No check (async: FastAPI would run a plain function in a worker thread)."""


class Policy(Declared):
    """The route needs a key of at least `level`, or the operator token for `operator`."""

    def __init__(self, level: Literal["read", "write", "admin", "operator"]) -> None:
        self.level = level

    async def __call__(
        self, request: Request, authorization: AuthorizationHeader = None
    ) -> Caller | None:
        """The caller, or 401/403/429; decided once per request (a body route asks first)."""
        decided = request.scope.get(_DECIDED)
        if decided is not None and decided[0] is self:
            return cast(Caller | None, decided[1])
        caller = await self._decide(request, authorization)
        request.scope[_DECIDED] = (self, caller)
        return caller

    async def _decide(self, request: Request, authorization: str | None) -> Caller | None:
        token = _bearer(authorization)
        # A key read in the last KEY_CACHE_SECONDS needs no I/O (no database, no rate limit
        # on reads, no last-used stamp due): decided here, without a hop to a thread.
        key = _cached(token)
        if (
            key is not None
            and key.revoked_at is None
            and self.level in _ALLOWED[key.role]
            and not _use_due(key)
            and not _rate_limited(request)
        ):
            return _caller(key)
        return await run_in_threadpool(self._check, request, token)

    def _check(self, request: Request, token: str) -> Caller | None:
        """The full check, reading the database and the rate limiter as needed."""
        try:
            return self._authenticate(request, token)
        except HTTPException as exc:
            if exc.status_code == 401:
                _count_failure(request)
            raise

    def _authenticate(self, request: Request, token: str) -> Caller | None:
        key_shaped = bool(_KEY.match(token))
        if is_operator_token(token):
            if self.level != "operator":
                raise _forbidden("the operator token opens /admin only; use a project key")
            _rate_limit(request, "operator")
            return None
        if not key_shaped:
            raise _unauthorized("malformed API key")
        if _known_unknown(token):
            raise _unauthorized("unknown API key")
        _refuse_failing_client(request)
        key = _lookup(token)
        if key is None:
            raise _unauthorized("unknown API key")
        if key.revoked_at is not None:
            raise _unauthorized("revoked API key")
        if self.level == "operator" or self.level not in _ALLOWED[key.role]:
            raise _forbidden(f"a {key.role} key may not do this")
        if _use_due(key):
            _record_use(key.id)
            _KEYS.pop(key.secret_hash, None)
        _rate_limit(request, str(key.id))
        return _caller(key)


def _caller(key: "_Key") -> Caller:
    return Caller(
        project_id=key.project_id, key_id=key.id, key_label=key.label, role=cast(Role, key.role)
    )


def _use_due(key: "_Key") -> bool:
    """Whether the key's last-used stamp is due for a refresh."""
    return key.last_used_at is None or time.time() - key.last_used_at.timestamp() > (
        LAST_USED_EVERY_SECONDS
    )


class MetricsScrape(Policy):
    """`operator` (Prometheus sends the token as `bearer_token`), unless LRLAB_METRICS_PUBLIC."""

    def __init__(self) -> None:
        super().__init__("operator")

    async def __call__(  # type: ignore[override]
        self,
        request: Request,
        settings: SettingsDep,
        authorization: AuthorizationHeader = None,
    ) -> Caller | None:
        """Anyone when metrics are public (a scraper on a private network), else the operator."""
        if settings.metrics_public:
            return None
        return await super().__call__(request, authorization)


PUBLIC = Public()
READ = Policy("read")
WRITE = Policy("write")
ADMIN = Policy("admin")
OPERATOR = Policy("operator")
METRICS = MetricsScrape()

Reader = Annotated[Caller, Depends(READ)]
Writer = Annotated[Caller, Depends(WRITE)]
Admin = Annotated[Caller, Depends(ADMIN)]


def is_operator_token(token: str | None) -> bool:
    """Whether `token` is the operator's, compared in constant time."""
    if token and _KEY.match(token):
        # A project key never reaches the credentials file: a bad file cannot fail them.
        return _is_configured_operator(token)
    expected = admin_token(get_settings())
    if not token or not expected:
        return False
    return hmac.compare_digest(token.encode(), expected.encode())


def _is_configured_operator(token: str) -> bool:
    """Whether `token` is `LRLAB_ADMIN_TOKEN` (no file read), compared in constant time."""
    expected = get_settings().admin_token
    return bool(expected) and hmac.compare_digest(token.encode(), str(expected).encode())


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer` header, or None."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _bearer(authorization: str | None) -> str:
    if authorization is None:
        raise _unauthorized("missing Authorization: Bearer <API key>")
    token = bearer_token(authorization)
    if token is None:
        raise _unauthorized("malformed Authorization header: expected Bearer <API key>")
    return token


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(status_code=401, detail=reason, headers={"WWW-Authenticate": _BEARER})


def _forbidden(reason: str) -> HTTPException:
    return HTTPException(status_code=403, detail=reason)


@dataclass(frozen=True)
class _Key:
    """What a request needs of a key row, detached from any session."""

    id: uuid.UUID
    project_id: uuid.UUID
    label: str
    role: str
    secret_hash: str
    revoked_at: datetime | None
    last_used_at: datetime | None


# secret hash -> (monotonic expiry, row); only found keys are kept.
_KEYS: dict[str, tuple[float, _Key]] = {}
# A token no key row has is refused without a database read for this long. A key's secret is
# new at its creation, so no caller could have been refused it before it existed.
UNKNOWN_CACHE_SECONDS = 10.0
# secret hash -> monotonic expiry, for tokens found in no key row.
_UNKNOWN: dict[str, float] = {}
# Striped by secret hash: concurrent reads of different keys rarely wait for each other.
_LOOKUP_LOCKS = [threading.Lock() for _ in range(64)]


def _cached(token: str) -> _Key | None:
    """The key row of a key-shaped `token` if read under KEY_CACHE_SECONDS ago, else None.

    A row past that is still used while another request re-reads it, up to KEY_STALE_SECONDS
    after its read: under load, an expiry does not send every waiting request to a thread.
    """
    if not _KEY.match(token):
        return None
    digest = hash_key(token)
    cached = _KEYS.get(digest)
    if cached is None:
        return None
    expires, key = cached
    now = time.monotonic()
    if expires > now:
        return key
    read_at = expires - KEY_CACHE_SECONDS
    return key if now - read_at < KEY_STALE_SECONDS and _stripe(digest).locked() else None


def _stripe(digest: str) -> threading.Lock:
    return _LOOKUP_LOCKS[int(digest[:8], 16) % len(_LOOKUP_LOCKS)]


def _lookup(token: str) -> _Key | None:
    """The key row of `token`, read from the database at most KEY_CACHE_SECONDS ago.

    Its own short session: a request never holds a pooled connection while it waits for a
    thread to run its route (with every thread waiting for a connection, that deadlocked).
    """
    digest = hash_key(token)
    # One reader per key: when an entry expires under load, the requests behind the first
    # wait for its read instead of each reading the row again.
    with _stripe(digest):
        cached = _KEYS.get(digest)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return _read_key(token, digest)


def _read_key(token: str, digest: str) -> _Key | None:
    """Read the key row of `token` and cache it if found."""
    now = time.monotonic()
    with session_scope() as session:
        row = find_key(session, key=token)
        key = (
            None
            if row is None
            else _Key(
                id=row.id,
                project_id=row.project_id,
                label=row.label,
                role=row.role,
                secret_hash=row.secret_hash,
                revoked_at=row.revoked_at,
                last_used_at=row.last_used_at,
            )
        )
    if key is not None:
        if len(_KEYS) >= _KEY_CACHE_SIZE:
            _KEYS.clear()
        _KEYS[digest] = (now + KEY_CACHE_SECONDS, key)
    else:
        if len(_UNKNOWN) >= _KEY_CACHE_SIZE:
            _UNKNOWN.clear()
        _UNKNOWN[digest] = now + UNKNOWN_CACHE_SECONDS
    return key


def _known_unknown(token: str) -> bool:
    """Whether `token` was found in no key row under UNKNOWN_CACHE_SECONDS ago."""
    expires = _UNKNOWN.get(hash_key(token))
    return expires is not None and expires > time.monotonic()


def _record_use(key_id: uuid.UUID) -> None:
    # Its own short transaction: read routes never commit the request's session.
    with session_scope() as session:
        touch_key(session, key_id=key_id)


@lru_cache
def _limiter() -> MovingWindowRateLimiter:
    # Fail fast like every other broker call of the API: an outage must not hold requests.
    timeout = get_settings().broker_timeout_seconds
    storage = storage_from_string(
        limits_url(get_settings().broker_url),
        wrap_exceptions=True,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    return MovingWindowRateLimiter(storage)


@lru_cache
def _rates(text: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(text))


def _limit_on(setting: str) -> bool:
    return setting.strip().lower() != "off"


def _rate_limited(request: Request) -> bool:
    """Whether the request counts against the rate limit: a mutating call, limits on."""
    return request.method not in ("GET", "HEAD", "OPTIONS") and _limit_on(get_settings().rate_limit)


def _rate_limit(request: Request, who: str) -> None:
    """Count a mutating call of `who`; 429 with Retry-After past `LRLAB_RATE_LIMIT`."""
    if not _rate_limited(request):
        return
    setting = get_settings().rate_limit
    refused = _hit(_rates(setting), "lrlab", who)
    if refused is not None:
        raise _too_many(f"rate limit {setting} exceeded for this key", refused)


def _count_failure(request: Request) -> None:
    """Count a 401 of the request's client host; 429 once it passes its limit."""
    setting = get_settings().auth_failure_limit
    if not _limit_on(setting):
        return
    refused = _hit(_rates(setting), "lrlab-401", _client_host(request))
    if refused is not None:
        raise _too_many(f"too many failed authentications ({setting}) from this client", refused)


def _refuse_failing_client(request: Request) -> None:
    """429, before any database read, for a client host past its limit of 401s."""
    setting = get_settings().auth_failure_limit
    if not _limit_on(setting):
        return
    host = _client_host(request)
    for item in _rates(setting):
        allowed = _store(partial(_limiter().test, item, "lrlab-401", host))
        if not allowed:
            raise _too_many(
                f"too many failed authentications ({setting}) from this client",
                _reset(item, "lrlab-401", host),
            )


def _client_host(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _hit(items: tuple[RateLimitItem, ...], *identifiers: str) -> float | None:
    """Count one hit against each limit; the reset time of the first refusing one, or None."""
    for item in items:
        if not _store(partial(_limiter().hit, item, *identifiers)):
            return _reset(item, *identifiers)
    return None


def _reset(item: RateLimitItem, *identifiers: str) -> float:
    stats = _store(partial(_limiter().get_window_stats, item, *identifiers))
    return stats[0] if isinstance(stats, tuple) else time.time() + 1


def _too_many(reason: str, reset: float) -> HTTPException:
    retry = max(1, math.ceil(reset - time.time()))
    return HTTPException(
        status_code=429,
        detail=f"{reason}; retry in {retry} s",
        headers={"Retry-After": str(retry)},
    )


# While the limiter's store (the broker's Redis) fails, requests pass uncounted: the limit
# guards capacity, and refusing every write during a broker outage would lose accepted work
# the API can otherwise take (Postgres is the record). After a failure the store is left
# alone for STORE_RETRY_SECONDS, so an outage costs no request a connect timeout.
STORE_RETRY_SECONDS = 1.0
# One log line per this many seconds of an outage; the counter counts every request.
STORE_LOG_EVERY_SECONDS = 60.0
_store_state: dict[str, float] = {"down_until": 0.0, "logged_at": -1e9, "passed": 0}
_store_lock = threading.Lock()


def _store(call: Callable[[], T]) -> T | bool:
    """The limiter call's answer, or True (let the request through) while the store fails."""
    if time.monotonic() < _store_state["down_until"]:
        return _passed(None)
    try:
        return call()
    except StorageError as exc:
        _store_state["down_until"] = time.monotonic() + STORE_RETRY_SECONDS
        return _passed(exc.storage_error)


def _passed(error: Exception | None) -> bool:
    RATE_LIMIT_STORE_ERRORS.inc()
    with _store_lock:
        _store_state["passed"] += 1
        now = time.monotonic()
        if now - _store_state["logged_at"] < STORE_LOG_EVERY_SECONDS:
            return True
        passed, _store_state["passed"], _store_state["logged_at"] = _store_state["passed"], 0, now
    log.warning(
        "rate-limit store unavailable (%s): %d request(s) let through uncounted in the last %.0f s",
        str(error)[:200] if error is not None else "still down",
        passed,
        STORE_LOG_EVERY_SECONDS,
    )
    return True
