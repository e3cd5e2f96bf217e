"""Where the client finds its API key (and the operator token, for `lrlab admin`).

`LRLAB_API_KEY` (or `LRLAB_ADMIN_TOKEN`) first, else the credentials file that `make up`
writes: `LRLAB_CREDENTIALS_FILE`, else `./.lrlab/credentials.json`, else
`~/.config/lrlab/credentials.json`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def credentials_files() -> list[Path]:
    """The files searched, first match wins."""
    named = os.environ.get("LRLAB_CREDENTIALS_FILE")
    if named:
        return [Path(named)]
    return [Path(".lrlab/credentials.json"), Path.home() / ".config/lrlab/credentials.json"]


def _from_file(field: str) -> str | None:
    for path in credentials_files():
        try:
            value = json.loads(path.read_text()).get(field)
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            continue
        if value:
            return str(value)
    return None


def api_key() -> str | None:
    """The project key to send: `LRLAB_API_KEY`, else the credentials file's `api_key`."""
    return os.environ.get("LRLAB_API_KEY") or _from_file("api_key")


def admin_token() -> str | None:
    """The operator token: `LRLAB_ADMIN_TOKEN`, else the credentials file's `admin_token`."""
    return os.environ.get("LRLAB_ADMIN_TOKEN") or _from_file("admin_token")
