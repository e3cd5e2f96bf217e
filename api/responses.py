"""Response helpers shared by routes."""

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson
from fastapi import Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel


def csv_response(
    rows: Sequence[BaseModel | Mapping[str, Any]], filename: str, *, fields: Sequence[str]
) -> Response:
    """Render models or mappings as CSV with a header row of `fields`."""
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow(row.model_dump() if isinstance(row, BaseModel) else row)
    return Response(
        content=buffer.getvalue(),
        media_type="text/csv",
        headers=_attachment(f"{filename}.csv"),
    )


def stream_csv(
    pages: Iterable[Iterable[Sequence[Any]]], filename: str, *, fields: Sequence[str]
) -> StreamingResponse:
    """CSV with a header row of `fields`, each page of rows sent as soon as it is read."""

    def chunks() -> Iterator[str]:
        yield _csv_lines([fields])
        for rows in pages:
            yield _csv_lines(rows)

    return StreamingResponse(
        chunks(),
        media_type="text/csv",
        headers=_attachment(f"{filename}.csv"),
    )


def stream_json_array(
    pages: Iterable[Iterable[Sequence[Any]]], *, fields: Sequence[str]
) -> StreamingResponse:
    """A JSON array of objects keyed by `fields`, each page of rows sent as soon as it is read."""

    def chunks() -> Iterator[bytes]:
        yield b"["
        first = True
        for rows in pages:
            body = orjson.dumps([dict(zip(fields, row, strict=True)) for row in rows])[1:-1]
            if body:
                yield body if first else b"," + body
                first = False
        yield b"]"

    return StreamingResponse(chunks(), media_type="application/json")


def _attachment(filename: str) -> dict[str, str]:
    """The header that makes a browser save the answer as `filename`."""
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def _csv_lines(rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def mark_replay(response: Response, *, replayed: bool) -> None:
    """A repeated Idempotency-Key answers 200 with the original resource, flagged as a replay."""
    if replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"


def preferred_media(accept: str | None, offered: Sequence[str]) -> str:
    """The offered media type the Accept header ranks highest; the first offered by default.

    Each offer takes the quality of its most specific matching range; ties go to the range
    named first in the header, then to the order of `offered`.
    """
    ranges = []
    for position, part in enumerate((accept or "*/*").split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges.append((media.lower(), quality, position))
    best: tuple[float, int, int] | None = None
    chosen = offered[0]
    for order, media in enumerate(offered):
        matches = [
            (specificity, quality, position)
            for range_, quality, position in ranges
            if (specificity := _specificity(range_, media)) >= 0
        ]
        if not matches:
            continue
        _, quality, position = max(matches, key=lambda m: m[0])
        if quality > 0 and (best is None or (-quality, position, order) < best):
            best, chosen = (-quality, position, order), media
    return chosen


def _specificity(range_: str, media: str) -> int:
    """2 for the exact type, 1 for `type/*`, 0 for `*/*`, -1 when the range does not match."""
    if range_ == media:
        return 2
    if range_ == media.split("/", 1)[0] + "/*":
        return 1
    return 0 if range_ == "*/*" else -1


def json_body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a route that takes its body as a dict and validates it as `model` itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }
