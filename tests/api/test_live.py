"""The process's stream bounds: per key, per project, per API process."""

import pytest
from fastapi import HTTPException

from api.live import Broadcaster
from models.storage import Settings


def test_streams_are_bounded_per_process_across_projects() -> None:
    settings = Settings(
        max_streams_per_key=10, max_streams_per_project=10, max_streams_per_process=3
    )
    streams = Broadcaster()
    for project in ("a", "b", "c"):
        streams.open_stream(key=project, project=project, settings=settings)
    with pytest.raises(HTTPException) as refused:
        streams.open_stream(key="d", project="d", settings=settings)
    assert refused.value.status_code == 429
    assert "at most 3 open event streams per API process" in str(refused.value.detail)
    # A closed stream gives its place back, and a refused one took none.
    streams.close_stream(key="a", project="a")
    streams.open_stream(key="d", project="d", settings=settings)
