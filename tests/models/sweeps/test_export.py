"""A sweep's metrics in long format: member, then epoch; the same rows however they are paged."""

import contextlib

from sqlalchemy.orm import Session

from models.experiments import record_epoch
from models.sweeps import SWEEP_METRIC_FIELDS, metric_pages, metric_rows, pages, sweep_members
from models.training import MetricRead
from tests.factories import claim, epoch_metrics, home_project_id, record_epochs, submit_test_sweep
from tests.models.sweeps.test_service import SWEEP


def test_metric_rows_name_the_member_then_copy_the_epoch(db_session: Session) -> None:
    row, members, _ = submit_test_sweep(db_session, SWEEP)
    claim(db_session, members[1])
    recorded = epoch_metrics(1, lr=0.02, seconds=1.5)
    assert record_epoch(
        db_session, experiment_id=members[1], attempt=1, metrics=recorded, lease_seconds=60
    )
    listed = sweep_members(db_session, project_id=home_project_id(db_session), sweep_id=row.id)
    assert [m.id for m in listed] == members
    (only,) = metric_rows(db_session, members=listed)
    named = dict(zip(SWEEP_METRIC_FIELDS, only, strict=True))
    assert (named["sweep"], named["experiment"], named["label"], named["seed"]) == (
        str(row.id),
        str(members[1]),
        "constant",
        7,
    )
    assert named["status"] == "running"
    assert MetricRead.model_validate({f: named[f] for f in MetricRead.model_fields}) == (
        MetricRead.model_validate(recorded.model_dump(exclude={"step_lrs"}))
    )
    assert named["lr"] == 0.02  # the float32 that trained, read out as written
    assert SWEEP_METRIC_FIELDS[:5] == ("sweep", "experiment", "label", "seed", "status")
    assert SWEEP_METRIC_FIELDS[5:] == tuple(MetricRead.model_fields)


def test_pages_group_members_by_recorded_epochs_and_read_the_same_rows(
    db_session: Session,
) -> None:
    row, members, _ = submit_test_sweep(db_session, SWEEP)
    for member in members:
        claim(db_session, member)
        record_epochs(db_session, member, (1, 2))
    listed = sweep_members(db_session, project_id=home_project_id(db_session), sweep_id=row.id)
    assert [m.epochs_done for m in listed] == [2, 2, 2, 2]
    assert [len(page) for page in pages(listed, rows=4)] == [2, 2]
    assert [len(page) for page in pages(listed, rows=5)] == [2, 2]
    # A member longer than a page is a page of its own; no page is empty.
    assert [len(page) for page in pages(listed, rows=1)] == [1, 1, 1, 1]
    assert pages([], rows=10) == []
    whole = metric_rows(db_session, members=listed)
    assert [(r[1], r[5]) for r in whole] == [(str(m), e) for m in members for e in (1, 2)]

    def sessions() -> contextlib.AbstractContextManager[Session]:
        return contextlib.nullcontext(db_session)

    for size in (1, 3, 100):
        paged = list(metric_pages(sessions, members=listed, rows_per_page=size))
        assert [r for page in paged for r in page] == whole
