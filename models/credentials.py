"""The local credentials file: the operator token and a first write key, made on first start.

`python -m models.bootstrap` writes it (0600, under `.lrlab/` of the checkout unless
`LRLAB_CREDENTIALS_FILE` says otherwise); the API reads the operator token from it when
`LRLAB_ADMIN_TOKEN` is unset, and the `lrlab` client reads the key from it.
"""

import json
import os
from pathlib import Path

from models.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / ".lrlab" / "credentials.json"


def credentials_path(settings: Settings) -> Path:
    """Where the credentials file lives."""
    return Path(settings.credentials_file) if settings.credentials_file else DEFAULT_FILE


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
    return read_credentials(credentials_path(settings)).get("admin_token") or None
