"""The operator token read from the credentials file, which an operator edits while it is read."""

import logging
from pathlib import Path

import pytest

from models.identity import admin_token, write_credentials
from models.storage import Settings


def _settings(path: Path) -> Settings:
    return Settings(credentials_file=str(path), admin_token=None)


def test_a_bad_file_keeps_the_last_good_token_and_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "credentials.json"
    write_credentials(path, {"admin_token": "lrlabop_first-good-token-0123"})
    assert admin_token(_settings(path)) == "lrlabop_first-good-token-0123"
    with caplog.at_level(logging.ERROR, logger="lrlab.credentials"):
        for bad in ('{"admin_token": "lrlabop_trunc', "[1, 2]", '{"admin_token": 7}'):
            path.write_text(bad)
            assert admin_token(_settings(path)) == "lrlabop_first-good-token-0123"
            assert admin_token(_settings(path)) == "lrlabop_first-good-token-0123"
    assert [r.message.count("unreadable") for r in caplog.records] == [1, 1, 1]
    write_credentials(path, {"admin_token": "lrlabop_second-good-token-45"})
    assert admin_token(_settings(path)) == "lrlabop_second-good-token-45"
    path.unlink()
    assert admin_token(_settings(path)) is None


def test_a_bad_file_with_no_good_token_before_means_no_operator(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text("{")
    assert admin_token(_settings(path)) is None
    assert admin_token(Settings(credentials_file=str(path), admin_token="x" * 16)) == "x" * 16
