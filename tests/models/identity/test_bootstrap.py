"""First start: a 0600 credentials file with a working key, and the same file on a second start."""

import json
import stat
from pathlib import Path

import pytest

from models.identity import find_key, first_start
from models.storage import get_settings, session_scope


@pytest.fixture
def credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "nested" / "credentials.json"
    monkeypatch.setattr(get_settings(), "credentials_file", str(path))
    monkeypatch.setattr(get_settings(), "admin_token", None)
    return path


def test_first_start_writes_a_private_file_with_a_working_key_and_keeps_it(
    database: str, credentials: Path
) -> None:
    assert "written" in first_start()
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    first = json.loads(credentials.read_text())
    assert first["admin_token"].startswith("lrlabop_") and len(first["admin_token"]) > 40
    with session_scope() as session:
        key = find_key(session, key=first["api_key"])
        assert key is not None and key.role == "write" and key.revoked_at is None
        key.revoked_at = key.created_at
    # A revoked key is replaced; the operator token stays.
    assert "written" in first_start()
    second = json.loads(credentials.read_text())
    assert second["api_key"] != first["api_key"]
    assert second["admin_token"] == first["admin_token"]
    assert first_start() == f"lrlab credentials: {credentials}"
    assert json.loads(credentials.read_text()) == second


def test_an_operator_token_from_the_environment_is_never_written(
    database: str, credentials: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "admin_token", "operator-from-the-environment")
    first_start()
    assert "admin_token" not in json.loads(credentials.read_text())


def test_a_credentials_file_of_another_database_is_never_overwritten(
    database: str, credentials: Path
) -> None:
    from models.identity import ForeignCredentials

    credentials.parent.mkdir(parents=True)
    theirs = {
        "project": "default",
        "api_key": "lrlab_" + "k" * 43,
        "admin_token": "lrlabop_" + "t" * 43,
        "database": "postgresql+psycopg://postgres@127.0.0.1:5432/lrlab",
    }
    credentials.write_text(json.dumps(theirs))
    with pytest.raises(ForeignCredentials, match=r"127\.0\.0\.1:5432/lrlab") as info:
        first_start()
    assert "LRLAB_CREDENTIALS_FILE" in str(info.value)
    assert json.loads(credentials.read_text()) == theirs


def test_the_file_names_its_database_and_is_renewed_when_that_database_was_recreated(
    database: str, credentials: Path
) -> None:
    from sqlalchemy.engine import make_url

    first_start()
    written = json.loads(credentials.read_text())
    assert written["database"] == make_url(database).render_as_string(hide_password=True)
    # Same database URL, key gone (the database was dropped and created again): renewed.
    credentials.write_text(json.dumps({**written, "api_key": "lrlab_" + "g" * 43}))
    assert "written" in first_start()
    assert json.loads(credentials.read_text())["api_key"] != "lrlab_" + "g" * 43
