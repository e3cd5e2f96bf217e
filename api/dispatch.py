"""Commit first, then ring the broker: accepted work is on record before any message exists."""

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from models.experiments import mark_enqueued
from models.queue import enqueue_experiments


def commit_and_enqueue(
    session: Session, experiment_ids: Sequence[uuid.UUID], *, queue: str
) -> None:
    """Commit the caller's transaction, then publish; the reconciler covers a failed publish."""
    session.commit()
    if experiment_ids and enqueue_experiments(experiment_ids, queue=queue):
        mark_enqueued(session, experiment_ids=experiment_ids)
        session.commit()
