"""Response helpers shared by routes."""

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Response
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
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


def mark_replay(response: Response, *, replayed: bool) -> None:
    """A repeated Idempotency-Key answers 200 with the original resource, flagged as a replay."""
    if replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"


def json_body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a route that takes its body as a dict and validates it as `model` itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }
