"""Commit first, then ring the broker: accepted work is on record before any message exists."""

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from models.queue import EXPERIMENTS, JobKind, publish


def commit_and_enqueue(
    session: Session,
    experiment_ids: Sequence[uuid.UUID],
    *,
    queue: str,
    kind: JobKind = EXPERIMENTS,
) -> None:
    """Commit the caller's transaction, then publish; the reconciler covers a failed publish."""
    session.commit()
    publish(experiment_ids, queue=queue, kind=kind)
