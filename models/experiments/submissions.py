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
from models.experiments.quotas import Usage, lock_usage
from models.experiments.schemas import ExperimentCreate, ExperimentRead, KeyRef
from models.experiments.service import (
    experiment_read,
    experiment_values,
    insert_experiments,
    new_experiment,
)
from models.tables import Experiment


@dataclass(frozen=True)
class Submission:
    """One `POST /experiments` without an Idempotency-Key, validated."""

    project_id: uuid.UUID
    key_id: uuid.UUID | None
    spec: ExperimentCreate
    queue: str
    # The key as the answer names it (`submitted_by`).
    submitter: KeyRef | None = None


def store_submissions(
    session: Session, *, submissions: Sequence[Submission]
) -> list[ExperimentRead | QuotaError]:
    """Store each admitted submission as a queued experiment (its creator publishes it after
    committing); in order, each one's experiment or the quota that refused it. The caller
    commits, then publishes.

    All are inserted first (one INSERT), then each project's quota lock is taken (in id
    order: two committers never wait on each other in a cycle) and its count read; the
    refused rows are deleted again. The locks are held until the caller's commit: for the
    count and the commit only.
    """
    rows = [
        experiment_values(project_id=s.project_id, key_id=s.key_id, spec=s.spec, queue=s.queue)
        for s in submissions
    ]
    stamps = insert_experiments(session, rows)
    usage: dict[uuid.UUID, Usage] = {}
    for project_id in sorted({s.project_id for s in submissions}):
        counted = lock_usage(session, project_id=project_id)
        # Counted with every row of this batch; each is admitted after the ones before it.
        mine = sum(1 for s in submissions if s.project_id == project_id)
        usage[project_id] = replace(counted, active=counted.active - mine)
    outcomes: list[ExperimentRead | QuotaError] = []
    refused: list[uuid.UUID] = []
    for submission, row in zip(submissions, rows, strict=True):
        project_id = submission.project_id
        refusal = usage[project_id].refusal([submission.spec], sweep=False)
        if refusal is not None:
            outcomes.append(refusal)
            refused.append(row["id"])
            continue
        usage[project_id] = replace(usage[project_id], active=usage[project_id].active + 1)
        # The row as stored, read back from what was sent and what the INSERT returned.
        stored = new_experiment(row, enqueued=True)
        stored.created_at, stored.updated_at = stamps[row["id"]]
        outcomes.append(experiment_read(stored, submitter=submission.submitter))
    if refused:
        session.execute(delete(Experiment).where(Experiment.id.in_(refused)))
    return outcomes
