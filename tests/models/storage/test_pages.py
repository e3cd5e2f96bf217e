"""Keyset cursors: a row's place in the newest-first order, and nothing else reads as one."""

import uuid
from datetime import UTC, datetime

import pytest

from models.errors import InvalidCursorError
from models.storage import decode_cursor, encode_cursor


def test_a_cursor_names_its_row_exactly() -> None:
    at, row = datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=UTC), uuid.uuid4()
    assert decode_cursor(encode_cursor(at, row)) == (at, row)


@pytest.mark.parametrize("cursor", ["garbage!", "", "MjAyNg", encode_cursor.__name__])
def test_anything_else_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursorError, match="not a cursor from a previous page"):
        decode_cursor(cursor)


def test_a_naive_timestamp_is_refused() -> None:
    import base64

    raw = f"{datetime(2026, 1, 1).isoformat()}|{uuid.uuid4()}"
    cursor = base64.urlsafe_b64encode(raw.encode()).decode()
    with pytest.raises(InvalidCursorError):
        decode_cursor(cursor)
