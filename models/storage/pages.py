"""One page of a list, newest first: offset pages for shallow reads, keyset cursors at any depth.

Every list of the API (experiments, sweeps, range tests) answers a `Page[T]` and pages the same
way: `offset` for the first pages, `after=<next of the previous page>` for the rest. A cursor
names a row's place in the (created_at, id) order, so the next page starts on the
(project_id, created_at, id) index however deep it is. The total is counted up to `COUNT_CAP`
matches: beyond, the cap and `total_exact` false.
"""

import base64
import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select, func, literal, select, tuple_
from sqlalchemy.orm import Session

from models.errors import InvalidCursorError

T = TypeVar("T")

# Counting every match of a filter over a million rows costs more than the page itself.
COUNT_CAP = 1_000


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first."""

    items: list[T]
    total: int = Field(description=f"Matches, counted up to {COUNT_CAP}.")
    total_exact: bool = Field(default=True, description="False when `total` is the cap.")
    limit: int
    offset: int
    next: str | None = Field(
        default=None,
        description="Pass as `after` for the next page (keyset: fast at any depth); null on "
        "the last page.",
    )


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    """An opaque cursor naming a row's place in the newest-first order."""
    raw = f"{created_at.isoformat()}|{row_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Read a cursor made by `encode_cursor`; InvalidCursorError if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, row_id = raw.split("|")
        parsed = datetime.fromisoformat(created_at)
        if parsed.tzinfo is None:
            raise ValueError("naive timestamp")
        return parsed, uuid.UUID(row_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursorError(
            f"`after` is not a cursor from a previous page: {cursor!r}"
        ) from exc


def newest_first(
    session: Session,
    query: Select[Any],
    table: Any,
    *,
    limit: int,
    offset: int = 0,
    after: str | None = None,
) -> tuple[list[Any], int, bool, str | None]:
    """One page of `query`'s rows of `table`, newest first: (rows, total, exact, next cursor).

    `table` has `created_at` and `id` columns; `query` selects its rows, already filtered.
    """
    counted = (
        session.scalar(
            select(func.count()).select_from(
                query.with_only_columns(table.id).limit(COUNT_CAP + 1).subquery()
            )
        )
        or 0
    )
    if after is not None:
        created_at, row_id = decode_cursor(after)
        query = query.where(
            tuple_(table.created_at, table.id) < tuple_(literal(created_at), literal(row_id))
        )
    rows = list(
        session.scalars(
            query.order_by(table.created_at.desc(), table.id.desc()).limit(limit).offset(offset)
        )
    )
    cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if len(rows) == limit else None
    return rows, min(counted, COUNT_CAP), counted <= COUNT_CAP, cursor
