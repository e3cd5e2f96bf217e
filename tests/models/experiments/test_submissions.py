"""Many submissions in one transaction: each admitted or refused as if alone."""

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.errors import QuotaError
from models.experiments import ExperimentCreate, ExperimentRead, Submission, store_submissions
from models.identity import ProjectCreate, create_project
from models.tables import Experiment
from tests.factories import experiment_payload

SPEC = ExperimentCreate.model_validate(experiment_payload())


def _project(session: Session, *, max_active: int) -> uuid.UUID:
    project = create_project(session, project=ProjectCreate(name=f"p-{uuid.uuid4().hex[:12]}"))
    project.max_active_experiments = max_active
    session.flush()
    return project.id


def _stored(session: Session, project_id: uuid.UUID) -> int:
    return session.scalar(
        select(func.count()).select_from(Experiment).where(Experiment.project_id == project_id)
    )


def test_a_batch_admits_in_order_up_to_each_projects_quota_and_stores_nothing_else(
    db_session: Session,
) -> None:
    tight, roomy = _project(db_session, max_active=2), _project(db_session, max_active=10)
    order = [tight, roomy, tight, tight, roomy, tight]
    outcomes = store_submissions(
        db_session,
        submissions=[
            Submission(project_id=p, key_id=None, spec=SPEC, queue="lrlab-test-unused")
            for p in order
        ],
    )
    kinds = ["refused" if isinstance(o, QuotaError) else "stored" for o in outcomes]
    assert kinds == ["stored", "stored", "stored", "refused", "stored", "refused"]
    refused = outcomes[3]
    assert isinstance(refused, QuotaError)
    assert (refused.quota, refused.limit, refused.current) == ("active_experiments", 2, 2)
    assert _stored(db_session, tight) == 2 and _stored(db_session, roomy) == 2
    answered = [o for o in outcomes if isinstance(o, ExperimentRead)]
    assert len({e.id for e in answered}) == 4
    rows = {
        e.id: e
        for e in db_session.scalars(
            select(Experiment).where(Experiment.id.in_([a.id for a in answered]))
        )
    }
    for read in answered:
        row = rows[read.id]
        # What was answered is what was stored; enqueued_at is set: the caller publishes next.
        assert (read.created_at, read.updated_at, read.status) == (
            row.created_at,
            row.updated_at,
            "queued",
        )
        assert read.spec == row.spec and row.enqueued_at is not None and row.events == []


def test_a_batch_counts_what_is_already_active(db_session: Session) -> None:
    project = _project(db_session, max_active=3)
    submission = Submission(project_id=project, key_id=None, spec=SPEC, queue="lrlab-test-unused")
    first = store_submissions(db_session, submissions=[submission, submission])
    assert all(isinstance(o, ExperimentRead) for o in first)
    second = store_submissions(db_session, submissions=[submission, submission])
    assert isinstance(second[0], ExperimentRead) and isinstance(second[1], QuotaError)
    assert _stored(db_session, project) == 3
