"""Operator-only endpoints: a Bearer `LRLAB_ADMIN_TOKEN`, until identity (issue 12) takes over."""

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException

from api.deps import SettingsDep


def is_operator(settings: SettingsDep, authorization: str | None) -> bool:
    """Whether the request carries the operator token (none configured: nobody is)."""
    token = settings.admin_token
    if not token or not authorization or not authorization.startswith("Bearer "):
        return False
    return hmac.compare_digest(authorization.removeprefix("Bearer ").encode(), token.encode())


def require_metrics_reader(
    settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Let a scrape through with the operator token, or anyone when metrics are public."""
    if settings.metrics_public or is_operator(settings, authorization):
        return
    raise HTTPException(
        status_code=401,
        detail="`/metrics` needs `Authorization: Bearer <LRLAB_ADMIN_TOKEN>` "
        "(or LRLAB_METRICS_PUBLIC=true)",
        headers={"WWW-Authenticate": "Bearer"},
    )


MetricsReader = Depends(require_metrics_reader)
