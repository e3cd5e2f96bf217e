"""Commit first, then ring the broker: accepted work is on record before any message exists."""

import logging
import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from models.queue import publish

log = logging.getLogger("lrlab.api")


def commit_and_enqueue(
    session: Session, experiment_ids: Sequence[uuid.UUID], *, queue: str
) -> None:
    """Commit the caller's transaction, then publish; the reconciler covers a failed publish.

    Once committed the request has succeeded: a failure after the commit is logged, never
    turned into an error for a resource that exists (a client retry would duplicate it).
    """
    session.commit()
    try:
        publish(experiment_ids, queue=queue)
    except Exception:
        log.exception(
            "publishing %d committed experiment(s) failed; the reconciler will publish them",
            len(experiment_ids),
        )
