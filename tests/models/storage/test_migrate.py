"""`python -m models.storage` creates a missing database on a first start or when asked."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from devtools.processes import ROOT
from devtools.servers import drop_database, other_database
from models.storage import DatabaseMissing, Settings, ensure_database, may_create


def _exists(url: str) -> bool:
    admin = create_engine(make_url(url).set(database="postgres"))
    try:
        with admin.connect() as conn:
            name = make_url(url).database
            found = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
    finally:
        admin.dispose()
    return bool(found)


def test_a_missing_database_is_an_error_naming_it_unless_creating_is_allowed(
    database: str,
) -> None:
    url = other_database(database, str(make_url(database).database) + "_typo")
    try:
        with pytest.raises(DatabaseMissing, match="_typo") as info:
            ensure_database(url, create=False)
        assert "LRLAB_CREATE_DATABASE=true" in str(info.value)
        assert not _exists(url)
        ensure_database(url, create=True)
        assert _exists(url)
    finally:
        drop_database(url)


def test_creating_is_allowed_on_a_first_start_or_when_asked(tmp_path: Path) -> None:
    absent = tmp_path / "credentials.json"
    present = tmp_path / "present.json"
    present.write_text("{}")
    assert may_create(Settings(credentials_file=str(absent)))
    assert not may_create(Settings(credentials_file=str(present)))
    assert may_create(Settings(credentials_file=str(present), create_database=True))


def test_the_command_refuses_a_mistyped_database_once_credentials_exist(
    database: str, tmp_path: Path
) -> None:
    url = other_database(database, str(make_url(database).database) + "_mistyped")
    present = tmp_path / "credentials.json"
    present.write_text("{}")
    env = {"LRLAB_DATABASE_URL": url, "LRLAB_CREDENTIALS_FILE": str(present)}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "models.storage"],
            cwd=ROOT,
            env={**_base_env(), **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode != 0
        assert "_mistyped" in done.stderr and "CREATE_DB=1" in done.stderr
        assert "RuntimeWarning" not in done.stderr
        assert not _exists(url)
    finally:
        drop_database(url)


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "LRLAB_CREATE_DATABASE"}
