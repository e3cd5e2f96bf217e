"""Settings read from LRLAB_* variables."""

import pytest

from models.storage import Settings


def test_an_empty_admin_token_is_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    # Compose passes `${LRLAB_ADMIN_TOKEN:-}`: empty when the operator set none.
    monkeypatch.setenv("LRLAB_ADMIN_TOKEN", "")
    assert Settings().admin_token is None
    monkeypatch.setenv("LRLAB_ADMIN_TOKEN", "short")
    with pytest.raises(ValueError, match="at least 16"):
        Settings()


@pytest.mark.parametrize("name", ["LRLAB_RATE_LIMIT", "LRLAB_AUTH_FAILURE_LIMIT"])
@pytest.mark.parametrize("value", ["fifty", "50/fortnight", "5/second garbage", "0/second", ""])
def test_a_rate_limit_that_cannot_be_parsed_fails_at_startup(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    field = name.removeprefix("LRLAB_").lower()
    with pytest.raises(ValueError, match=f"`{field}` must be 'off' or limits like"):
        Settings()


def test_rate_limits_accept_off_and_several_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LRLAB_RATE_LIMIT", " 100/minute;5/second ")
    monkeypatch.setenv("LRLAB_AUTH_FAILURE_LIMIT", "OFF")
    settings = Settings()
    assert settings.rate_limit == "100/minute;5/second"
    assert settings.auth_failure_limit == "off"
