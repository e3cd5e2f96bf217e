"""Replay of a stream from the record, a page of epoch rows at a time, and its `end` event."""

import uuid

from sqlalchemy.orm import Session

from models.jobs import Position, end_event, events_since, finished, format_cursor, parse_cursor
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
