"""Settings read from LRLAB_* variables."""

import pytest

from models.settings import Settings


def test_an_empty_admin_token_is_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    # Compose passes `${LRLAB_ADMIN_TOKEN:-}`: empty when the operator set none.
    monkeypatch.setenv("LRLAB_ADMIN_TOKEN", "")
    assert Settings().admin_token is None
    monkeypatch.setenv("LRLAB_ADMIN_TOKEN", "short")
    with pytest.raises(ValueError, match="at least 16"):
        Settings()
