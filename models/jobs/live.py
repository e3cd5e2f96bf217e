"""Live events of experiments and sweeps: the change signal, and replay from the record.

Every ledger write that a watcher must see (an epoch, a status change) calls `signal` in its
own transaction: Postgres delivers `pg_notify` on commit, so a notification never announces
a row that is not there yet. The payload carries ids only; readers re-read the rows.

A stream's position is a cursor: for each watched experiment, in a fixed order, the last
epoch sent and the last status sent. It is the event id (`3r`, or `3r.0q.5s` for a sweep),
so a client reconnecting with `Last-Event-ID` gets exactly what it missed from Postgres.
Once every followed experiment's terminal status has been sent the stream's last event is
`end` (`end_event`), whose id is that final cursor: a client reconnecting with it gets `end`
again at once. A stream cut for any other reason sends no `end`, so its client reconnects.
"""

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from models.errors import NotFoundError
from models.tables import TERMINAL_STATUSES, Experiment, JobStatus, Metric
from models.training import MetricRead

CHANNEL = "lrlab_events"
# One letter per status in the cursor; "-" is "nothing sent yet".
_CODES: dict[str, str] = {status.value: status.value[0] for status in JobStatus}
_STATUS_OF = {code: status for status, code in _CODES.items()}
_MEMBER = re.compile(r"^(\d{1,5})([qrsfcp-])$")
# An epoch row per event would make a sweep's replay unbounded; members cap it (500 × 1000).
MAX_CURSOR_CHARS = 8 * 4096


def signal(session: Session, experiment: Experiment) -> None:
    """Announce a change of this experiment to every listener, on commit."""
    payload = {"experiment_id": str(experiment.id)}
    if experiment.sweep_id is not None:
        payload["sweep_id"] = str(experiment.sweep_id)
    session.execute(select(func.pg_notify(CHANNEL, json.dumps(payload))))


@dataclass(frozen=True)
class Position:
    """What a stream has sent of one experiment."""

    epoch: int = 0
    status: str | None = None


@dataclass(frozen=True)
class Event:
    """One event of a stream: its type, JSON data and the cursor after it (its id)."""

    type: str
    data: dict[str, Any]
    id: str


def parse_cursor(last_event_id: str | None, members: int) -> list[Position]:
    """Positions from a Last-Event-ID; a foreign or malformed id replays from the start."""
    fresh = [Position() for _ in range(members)]
    if not last_event_id or len(last_event_id) > MAX_CURSOR_CHARS:
        return fresh
    parts = last_event_id.split(".")
    if len(parts) != members:
        return fresh
    positions = []
    for part in parts:
        match = _MEMBER.match(part)
        if match is None:
            return fresh
        positions.append(Position(int(match[1]), _STATUS_OF.get(match[2])))
    return positions


def format_cursor(positions: list[Position]) -> str:
    """The event id of a stream at these positions."""
    return ".".join(_cursor_part(p) for p in positions)


def _cursor_part(position: Position) -> str:
    return f"{position.epoch}{_CODES.get(position.status or '', '-')}"


def watched_experiments(
    session: Session,
    *,
    project_id: uuid.UUID,
    experiment_id: uuid.UUID | None = None,
    sweep_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """The project's experiments a stream follows, in a fixed order; NotFoundError if none
    (also for another project's experiment or sweep)."""
    if experiment_id is not None:
        experiment = session.get(Experiment, experiment_id)
        if experiment is None or experiment.project_id != project_id:
            raise NotFoundError(f"experiment {experiment_id} not found")
        return [experiment_id]
    members = list(
        session.scalars(
            select(Experiment.id)
            .where(Experiment.sweep_id == sweep_id, Experiment.project_id == project_id)
            .order_by(Experiment.created_at, Experiment.id)
        )
    )
    if not members:
        raise NotFoundError(f"sweep {sweep_id} not found")
    return members


# Epoch rows read per replay page: a stream sends a page, then reads the next.
REPLAY_PAGE_ROWS = 5000


def events_since(
    session: Session,
    *,
    experiment_ids: list[uuid.UUID],
    positions: list[Position],
    page_rows: int = REPLAY_PAGE_ROWS,
) -> tuple[list[Event], list[Position], bool]:
    """The next epoch rows (at most `page_rows`) and status changes after `positions`, the
    positions after them, and whether epoch rows remain behind (read the next page at once).

    The experiments are read first and epochs bounded by their `epochs_done`: an epoch row
    and its `epochs_done` commit together, and an experiment's status is sent only once all
    its epochs have been, so a status never comes before its epochs.
    """
    rows = {
        row.id: row
        for row in session.execute(
            select(
                Experiment.id,
                Experiment.sweep_id,
                Experiment.status,
                Experiment.epochs_done,
                Experiment.epochs,
                Experiment.attempt,
                Experiment.error,
            ).where(Experiment.id.in_(experiment_ids))
        )
    }
    positions = list(positions)
    # A new attempt without a checkpoint starts over: its epochs are sent again.
    for index, experiment_id in enumerate(experiment_ids):
        row = rows.get(experiment_id)
        if row is not None and row.epochs_done < positions[index].epoch:
            positions[index] = Position(row.epochs_done, positions[index].status)
    behind = [
        (Metric.experiment_id == experiment_id)
        & (Metric.epoch > positions[index].epoch)
        & (Metric.epoch <= rows[experiment_id].epochs_done)
        for index, experiment_id in enumerate(experiment_ids)
        if experiment_id in rows and rows[experiment_id].epochs_done > positions[index].epoch
    ]
    metrics: dict[uuid.UUID, list[Metric]] = {}
    more = False
    if behind:
        page = session.scalars(
            select(Metric)
            .where(or_(*behind))
            .order_by(Metric.experiment_id, Metric.epoch)
            .limit(page_rows + 1)
        ).all()
        more = len(page) > page_rows
        for metric in page[:page_rows]:
            metrics.setdefault(metric.experiment_id, []).append(metric)
    events = []
    # Each event's id is the whole cursor, one part per member: only the part of the member
    # that moved is formatted again (formatting all of them per event was quadratic in a
    # sweep's members, most of a replay's CPU).
    parts = [_cursor_part(p) for p in positions]
    for index, experiment_id in enumerate(experiment_ids):
        row = rows.get(experiment_id)
        if row is None:  # deleted meanwhile: nothing more will come
            continue
        for metric in metrics.get(experiment_id, []):
            positions[index] = Position(metric.epoch, positions[index].status)
            parts[index] = _cursor_part(positions[index])
            data = MetricRead.model_validate(metric).model_dump(mode="json")
            data["experiment_id"] = str(experiment_id)
            events.append(Event("epoch", data, ".".join(parts)))
        if row.status != positions[index].status and positions[index].epoch >= row.epochs_done:
            positions[index] = Position(positions[index].epoch, row.status)
            parts[index] = _cursor_part(positions[index])
            data = {
                "experiment_id": str(experiment_id),
                "status": row.status,
                "epochs_done": row.epochs_done,
                "epochs": row.epochs,
                "attempt": row.attempt,
                "error": row.error,
            }
            events.append(Event("status", data, ".".join(parts)))
    return events, positions, more


def finished(positions: list[Position]) -> bool:
    """Whether every followed experiment's terminal status has been sent."""
    return all(p.status in TERMINAL_STATUSES for p in positions)


def end_event(experiment_ids: list[uuid.UUID], positions: list[Position]) -> Event:
    """The last event of a finished stream: each experiment's final status, at the cursor."""
    statuses = {str(e): p.status for e, p in zip(experiment_ids, positions, strict=True)}
    return Event("end", {"statuses": statuses}, format_cursor(positions))
