"""Replay of a stream from the record, a page of epoch rows at a time, and its `end` event."""

import uuid

import pytest
from sqlalchemy.orm import Session

from models.jobs import (
    Position,
    end_event,
    events_since,
    finished,
    format_cursor,
    live,
    parse_cursor,
)
from tests.factories import claim, create_queued, record_epochs


def test_replay_comes_in_pages_and_the_status_after_the_last_epoch(db_session: Session) -> None:
    first = create_queued(db_session, training={"epochs": 5, "batch_size": 64})
    second = create_queued(db_session, training={"epochs": 5, "batch_size": 64})
    for experiment in (first, second):
        claim(db_session, experiment.id)
        record_epochs(db_session, experiment.id, range(1, 6))
    ids = sorted([first.id, second.id])
    positions = [Position(), Position()]
    pages = []
    more = True
    while more:
        events, positions, more = events_since(
            db_session, experiment_ids=ids, positions=positions, page_rows=4
        )
        pages.append([(e.type, e.data["experiment_id"], e.data.get("epoch")) for e in events])
    # 10 epoch rows, 4 a page (plus status events); each run's status only after its fifth epoch.
    assert [len(page) for page in pages] == [4, 5, 3]
    first_id, second_id = str(ids[0]), str(ids[1])
    assert pages[0] == [("epoch", first_id, epoch) for epoch in range(1, 5)]
    assert pages[1] == [
        ("epoch", first_id, 5),
        ("status", first_id, None),
        ("epoch", second_id, 1),
        ("epoch", second_id, 2),
        ("epoch", second_id, 3),
    ]
    assert pages[2] == [
        ("epoch", second_id, 4),
        ("epoch", second_id, 5),
        ("status", second_id, None),
    ]
    again, _, more = events_since(db_session, experiment_ids=ids, positions=positions)
    assert again == [] and more is False


def test_the_end_event_names_each_final_status_at_the_final_cursor() -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    positions = parse_cursor("3s.0c", len(ids))
    assert finished(positions)
    end = end_event(ids, positions)
    assert (end.type, end.id) == ("end", "3s.0c")
    assert end.data == {"statuses": {str(ids[0]): "succeeded", str(ids[1]): "cancelled"}}
    assert format_cursor(parse_cursor(end.id, len(ids))) == end.id


def test_each_event_id_resumes_after_it_and_the_cursor_is_not_formatted_whole_per_event(
    db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiments = [create_queued(db_session, training={"epochs": 3}) for _ in range(3)]
    for experiment in experiments:
        claim(db_session, experiment.id)
        record_epochs(db_session, experiment.id, range(1, 4))
    ids = sorted(e.id for e in experiments)
    formatted: list[Position] = []
    real = live._cursor_part

    def counted(position: Position) -> str:
        formatted.append(position)
        return real(position)

    monkeypatch.setattr(live, "_cursor_part", counted)
    events, positions, _ = events_since(db_session, experiment_ids=ids, positions=[Position()] * 3)
    # One part per member to start, then only the part that moved: a 100-member sweep's
    # replay formatted its whole cursor per event, most of the replay's CPU.
    assert len(events) == 12 and len(formatted) == len(ids) + len(events)
    assert events[-1].id == format_cursor(positions)
    for index, event in enumerate(events):
        rest, _, _ = events_since(
            db_session, experiment_ids=ids, positions=parse_cursor(event.id, len(ids))
        )
        assert [e.id for e in rest] == [e.id for e in events[index + 1 :]]
