"""The local credentials file: the operator token and a first write key, made on first start.

`python -m models.identity` writes it (0600, under `.lrlab/` of the checkout unless
`LRLAB_CREDENTIALS_FILE` says otherwise); the API reads the operator token from it when
`LRLAB_ADMIN_TOKEN` is unset, and the `lrlab` client reads the key from it.
"""

import json
import logging
import os
import threading
from pathlib import Path

from models.storage import Settings, credentials_path

log = logging.getLogger("lrlab.credentials")


def read_credentials(path: Path) -> dict[str, str]:
    """The file's fields, or nothing when it does not exist."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    return {str(k): str(v) for k, v in data.items()}


def write_credentials(path: Path, values: dict[str, str]) -> None:
    """Write the file readable only by its owner; it never exists with wider permissions."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(values, out, indent=2)
        out.write("\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def admin_token(settings: Settings) -> str | None:
    """The operator token: `LRLAB_ADMIN_TOKEN`, else the credentials file's, else none."""
    if settings.admin_token:
        return settings.admin_token
    return _FILE_TOKENS.token(credentials_path(settings))


class _FileTokens:
    """The operator token of each credentials file, parsed again only when the file changes.

    A file that cannot be read or parsed (truncated mid-edit, invalid JSON, no string token)
    keeps the last good token of that path, or none, and is logged once per change: a bad
    edit must not turn every request that checks for the operator into a 500.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # path -> (identity of the file last parsed, its outcome, last good token)
        self._seen: dict[Path, tuple[tuple[int, int, int] | None, str | None]] = {}

    def token(self, path: Path) -> str | None:
        """The operator token the file holds now, or the last good one while it is bad."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            return self._bad(path, None, exc)
        identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        seen = self._seen.get(path)
        if seen is not None and seen[0] == identity:
            return seen[1]
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            token = data.get("admin_token")
            if token is not None and not isinstance(token, str):
                raise ValueError("`admin_token` is not a string")
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            return self._bad(path, identity, exc)
        with self._lock:
            self._seen[path] = (identity, token or None)
        return token or None

    def _bad(self, path: Path, identity: tuple[int, int, int] | None, exc: Exception) -> str | None:
        with self._lock:
            seen = self._seen.get(path)
            last_good = seen[1] if seen is not None else None
            if seen is None or seen[0] != identity:
                log.error(
                    "credentials file %s is unreadable (%s); keeping the last good operator "
                    "token (%s) until it is fixed",
                    path,
                    str(exc)[:200],
                    "none" if last_good is None else "set",
                )
            self._seen[path] = (identity, last_good)
        return last_good


_FILE_TOKENS = _FileTokens()
