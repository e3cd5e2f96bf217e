"""How `POST /experiments` stores: by group commit, where the requests that arrive while one
transaction commits share the next one.

Alone, each submission pays a transaction (connection check, quota lock and count, insert,
commit) and a broker round trip, and concurrent submissions of one project queue on its quota
lock, each waiting its turn for the GIL while holding it. Here the first request to arrive
leads: on its own session it stores every waiting submission in one transaction, commits,
publishes, and hands each request its outcome; those that arrive meanwhile wait for the next
batch, led by one of them. A lone request is a batch of one, with no added wait.
"""

import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from api.dispatch import commit_and_enqueue, publish_committed
from models.errors import QuotaError
from models.experiments import experiment_read, submit_experiment
from models.projects import Caller
from models.specs import ExperimentCreate, ExperimentRead, KeyRef
from models.submissions import Submission, store_submissions

# Bounds one transaction (and so the wait of the requests in it).
MAX_BATCH = 64


@dataclass
class _Waiter:
    """One request's submission, and its outcome once a leader has stored it."""

    submission: Submission
    submitter: KeyRef
    # In a batch: stored by its leader, never again by another.
    taken: bool = False
    outcome: ExperimentRead | Exception | None = None


class GroupCommit:
    """Submissions of this process, stored in batches by whichever waiting request leads."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._pending: list[_Waiter] = []
        self._leading = False

    def submit(self, session: Session, submission: Submission, submitter: KeyRef) -> ExperimentRead:
        """Store `submission` (in some batch), commit and publish it: its experiment, or the
        QuotaError or database error that refused it. `session` must hold no connection."""
        waiter = _Waiter(submission, submitter)
        with self._changed:
            self._pending.append(waiter)
            while waiter.outcome is None and (waiter.taken or self._leading):
                self._changed.wait()
            batch: list[_Waiter] = []
            if waiter.outcome is None:
                self._leading = True
                others = [w for w in self._pending if w is not waiter]
                batch = [waiter, *others[: MAX_BATCH - 1]]
                self._pending = others[MAX_BATCH - 1 :]
                for taken in batch:
                    taken.taken = True
        if batch:
            try:
                publish = _store(session, batch)
            finally:
                # The next batch may commit while this one publishes.
                with self._changed:
                    self._leading = False
                    self._changed.notify_all()
            publish()
            with self._changed:
                self._changed.notify_all()
        outcome = waiter.outcome
        if isinstance(outcome, Exception):
            raise outcome
        assert outcome is not None
        return outcome


def _store(session: Session, batch: list[_Waiter]) -> Callable[[], None]:
    """Store and commit `batch`; return what publishes it and then sets every waiter's outcome
    (failures set theirs at once)."""
    try:
        outcomes = store_submissions(session, submissions=[w.submission for w in batch])
        reads = [
            o if isinstance(o, QuotaError) else experiment_read(o, submitter=w.submitter)
            for w, o in zip(batch, outcomes, strict=True)
        ]
        session.commit()
    except (DataError, IntegrityError) as exc:
        session.rollback()
        if len(batch) == 1:
            batch[0].outcome = exc
            return _nothing
        # A row the database refused fails its own request only: each again, alone. (An
        # unreachable database fails them all at once instead of once per request.)
        publishes = [_store(session, [waiter]) for waiter in batch]

        def publish_each() -> None:
            for publish in publishes:
                publish()

        return publish_each
    except Exception as exc:
        session.rollback()
        for waiter in batch:
            waiter.outcome = exc
        return _nothing

    def publish() -> None:
        by_queue: dict[str, list[uuid.UUID]] = defaultdict(list)
        for waiter, read in zip(batch, reads, strict=True):
            if isinstance(read, ExperimentRead):
                by_queue[waiter.submission.queue].append(read.id)
        for queue, ids in by_queue.items():
            publish_committed(ids, queue=queue)
        for waiter, read in zip(batch, reads, strict=True):
            waiter.outcome = read

    return publish


def _nothing() -> None:
    """Nothing left to publish."""


@lru_cache
def group_commit() -> GroupCommit:
    """This process's group commit of experiment submissions."""
    return GroupCommit()


def accept_experiment(
    session: Session,
    *,
    caller: Caller,
    spec: ExperimentCreate,
    queue: str,
    idempotency_key: str | None,
    key_ttl_hours: int,
) -> tuple[ExperimentRead, bool]:
    """Store, commit and publish one submission: (its experiment, whether it is new).

    Batched unless it needs a transaction of its own: an Idempotency-Key (its reservation
    must share the transaction of what it names), or a session already holding a connection
    (spec references read; a waiting request must not hold one).
    """
    submitter = KeyRef(id=caller.key_id, label=caller.key_label)
    if idempotency_key is None and not session.in_transaction():
        submission = Submission(
            project_id=caller.project_id, key_id=caller.key_id, spec=spec, queue=queue
        )
        return group_commit().submit(session, submission, submitter), True
    experiment, created = submit_experiment(
        session,
        project_id=caller.project_id,
        key_id=caller.key_id,
        spec=spec,
        queue=queue,
        idempotency_key=idempotency_key,
        key_ttl_hours=key_ttl_hours,
    )
    # Read before the commit: loading anything after it would check a pooled connection out
    # again and hold it until the session closes, on another thread hop.
    read = experiment_read(experiment, submitter=submitter if created else None)
    commit_and_enqueue(session, [experiment.id] if created else [], queue=queue)
    return read, created
