"""Server-sent events read over httpx: a line parser and an event record, nothing else."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class SseEvent:
    """One dispatched event: its type, its data (lines joined) and the stream's last id."""

    type: str
    data: str
    id: str


def parse_sse(lines: Iterable[str]) -> Iterator[SseEvent]:
    """Events from `text/event-stream` lines (the WHATWG rules; comments are skipped)."""
    kind, last_id = "", ""
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield SseEvent(kind or "message", "\n".join(data), last_id)
            kind, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            kind = value
        elif field == "data":
            data.append(value)
        elif field == "id" and "\0" not in value:
            last_id = value
