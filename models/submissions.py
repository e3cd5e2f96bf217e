"""Single-experiment submissions stored together: one transaction for many requests.

The API's group commit hands every submission that arrived while the previous transaction
was committing to `store_submissions`; each is admitted or refused on its own, as if alone.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import delete
from sqlalchemy.orm import Session

from models.errors import QuotaError
from models.experiments import experiment_values, new_experiment
from models.quotas import Usage, lock_usage
from models.specs import ExperimentCreate
from models.tables import Experiment


@dataclass(frozen=True)
class Submission:
    """One `POST /experiments` without an Idempotency-Key, validated."""

    project_id: uuid.UUID
    key_id: uuid.UUID | None
    spec: ExperimentCreate
    queue: str


def store_submissions(
    session: Session, *, submissions: Sequence[Submission]
) -> list[Experiment | QuotaError]:
    """Store each admitted submission as a queued, `enqueued` experiment; in order, each one's
    experiment or the quota that refused it. Flushes; the caller commits, then publishes.

    All are inserted first (one multi-row INSERT), then each project's quota lock is taken
    (in id order: two committers never wait on each other in a cycle) and its count read;
    the refused rows are deleted again. The locks are held until the caller's commit: for
    the count and the commit only.
    """
    rows = [
        new_experiment(
            experiment_values(project_id=s.project_id, key_id=s.key_id, spec=s.spec, queue=s.queue),
            enqueued=True,
        )
        for s in submissions
    ]
    session.add_all(rows)
    session.flush()
    usage: dict[uuid.UUID, Usage] = {}
    for project_id in sorted({s.project_id for s in submissions}):
        counted = lock_usage(session, project_id=project_id)
        # Counted with every row of this batch; each is admitted after the ones before it.
        mine = sum(1 for s in submissions if s.project_id == project_id)
        usage[project_id] = replace(counted, active=counted.active - mine)
    outcomes: list[Experiment | QuotaError] = []
    for submission, row in zip(submissions, rows, strict=True):
        project_id = submission.project_id
        refusal = usage[project_id].refusal([submission.spec], sweep=False)
        if refusal is None:
            usage[project_id] = replace(usage[project_id], active=usage[project_id].active + 1)
        outcomes.append(row if refusal is None else refusal)
    refused = [row.id for row, o in zip(rows, outcomes, strict=True) if o is not row]
    if refused:
        session.execute(
            delete(Experiment)
            .where(Experiment.id.in_(refused))
            .execution_options(synchronize_session=False)
        )
        for row, outcome in zip(rows, outcomes, strict=True):
            if outcome is not row:
                session.expunge(row)
    return outcomes
