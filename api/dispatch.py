"""Commit first, then ring the broker: accepted work is on record before any message exists."""

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from models.ledger import mark_enqueued
from models.queue import EXPERIMENTS, JobKind, publish_marked


def commit_and_enqueue(
    session: Session,
    experiment_ids: Sequence[uuid.UUID],
    *,
    queue: str,
    kind: JobKind = EXPERIMENTS,
) -> None:
    """Commit the caller's transaction (marking the experiments enqueued in it), then publish.

    A failed publish un-marks them; the reconciler re-publishes what has no message.
    """
    if experiment_ids:
        mark_enqueued(session, experiment_ids=experiment_ids, table=kind.table)
    session.commit()
    publish_marked(experiment_ids, queue=queue, kind=kind)
