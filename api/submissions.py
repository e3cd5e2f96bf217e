"""How `POST /experiments` stores: by group commit, where the submissions that arrive while one
transaction commits share the next one.

Alone, each submission paid a transaction (connection check, quota lock and count, insert,
commit), a broker round trip and two hops between threads, and concurrent submissions of a
project queued on its quota lock, each waiting its turn for the GIL while holding it. Here a
request is validated on the event loop and handed to its process's committer thread, which
stores every waiting submission in one transaction, commits, publishes, and answers each
request's future. A lone submission is a batch of one, with no added wait.
"""

import asyncio
import contextlib
import logging
import queue
import threading
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from api.dispatch import commit_and_enqueue, publish_committed
from models.experiments import (
    ExperimentCreate,
    ExperimentRead,
    KeyRef,
    Submission,
    accept_experiment_spec,
    experiment_read,
    has_lr_references,
    store_submissions,
    submit_experiment,
)
from models.identity import Caller
from models.storage import Sessions, Settings, get_sessionmaker

log = logging.getLogger("lrlab.api")

# Bounds one transaction (and so the wait of the submissions in it).
MAX_BATCH = 64


@dataclass
class _Waiter:
    """One request's submission and the future its outcome goes to."""

    submission: Submission
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[ExperimentRead] = field(init=False)

    def __post_init__(self) -> None:
        self.future = self.loop.create_future()

    def answer(self, outcome: ExperimentRead | Exception) -> None:
        """Hand the outcome to the request, on its event loop (if that still runs)."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self.loop.call_soon_threadsafe(_settle, self.future, outcome)


def _settle(future: asyncio.Future[ExperimentRead], outcome: ExperimentRead | Exception) -> None:
    if future.done():  # the request was cancelled (its server is stopping)
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class Committer:
    """A thread that stores, commits and publishes the waiting submissions, batch by batch."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions
        self._waiting: queue.SimpleQueue[_Waiter | None] = queue.SimpleQueue()
        # Committed batches to publish: a second thread, so that the next batch commits
        # while this one publishes.
        self._committed: queue.SimpleQueue[_Committed | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._start = threading.Lock()

    async def submit(self, submission: Submission) -> ExperimentRead:
        """Store, commit and publish `submission` in the next batch: its experiment, or the
        QuotaError or database error that refused it."""
        waiter = _Waiter(submission, asyncio.get_running_loop())
        with self._start:
            if not self._threads:
                self._threads = [
                    threading.Thread(target=self._commit, name="lrlab-committer", daemon=True),
                    threading.Thread(target=self._publish, name="lrlab-publisher", daemon=True),
                ]
                for thread in self._threads:
                    thread.start()
        self._waiting.put(waiter)
        return await waiter.future

    def close(self) -> None:
        """Stop the threads once the submissions already handed over are done."""
        with self._start:
            threads, self._threads = self._threads, []
        if threads:
            self._waiting.put(None)
            for thread in threads:
                thread.join()

    def _commit(self) -> None:
        while True:
            first = self._waiting.get()
            if first is None:
                self._committed.put(None)
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    waiter = self._waiting.get_nowait()
                except queue.Empty:
                    break
                if waiter is None:
                    self._waiting.put(None)  # stop after this batch
                    break
                batch.append(waiter)
            try:
                with self._sessions() as session:
                    outcomes = _store(session, batch)
            except Exception as exc:  # never leave a request waiting
                log.exception("a submission batch failed")
                outcomes = [exc] * len(batch)
            self._committed.put(_Committed(batch, outcomes))

    def _publish(self) -> None:
        stopping = False
        while not stopping:
            first = self._committed.get()
            if first is None:
                return
            # Every batch committed meanwhile goes out in the same round.
            ready = [first]
            while True:
                try:
                    more = self._committed.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                ready.append(more)
            batch = [w for committed in ready for w in committed.batch]
            outcomes = [o for committed in ready for o in committed.outcomes]
            try:
                _publish(batch, outcomes)
            finally:
                # Answered once published (as alone): a 202 means the message is out too.
                for waiter, outcome in zip(batch, outcomes, strict=True):
                    waiter.answer(outcome)


@dataclass(frozen=True)
class _Committed:
    """A stored batch and its outcomes, waiting to be published and answered."""

    batch: list[_Waiter]
    outcomes: list[ExperimentRead | Exception]


def _store(session: Session, batch: Sequence[_Waiter]) -> list[ExperimentRead | Exception]:
    """Store and commit `batch`: each waiter's experiment, or the error that refused it."""
    try:
        reads: list[ExperimentRead | Exception] = list(
            store_submissions(session, submissions=[w.submission for w in batch])
        )
        session.commit()
        return reads
    except (DataError, IntegrityError) as exc:
        session.rollback()
        if len(batch) == 1:
            return [exc]
        # A row the database refused fails its own request only: each again, alone. (An
        # unreachable database fails them all at once instead of once per request.)
        return [_store(session, [waiter])[0] for waiter in batch]
    except Exception as exc:
        session.rollback()
        return [exc] * len(batch)


def _publish(batch: Sequence[_Waiter], outcomes: Sequence[ExperimentRead | Exception]) -> None:
    """Publish the committed experiments of `batch`, one round per queue."""
    by_queue: dict[str, list[uuid.UUID]] = defaultdict(list)
    for waiter, outcome in zip(batch, outcomes, strict=True):
        if isinstance(outcome, ExperimentRead):
            by_queue[waiter.submission.queue].append(outcome.id)
    for name, ids in by_queue.items():
        publish_committed(ids, queue=name)


@lru_cache
def _process_committer() -> Committer:
    return Committer(get_sessionmaker())


async def get_committer() -> Committer:
    """This process's committer (a dependency: tests bind theirs to a rolled-back session)."""
    return _process_committer()


CommitterDep = Annotated[Committer, Depends(get_committer)]


async def accept_experiment(
    session: Session,
    committer: Committer,
    *,
    caller: Caller,
    document: dict[str, Any],
    settings: Settings,
    idempotency_key: str | None,
) -> tuple[ExperimentCreate, ExperimentRead, bool]:
    """Validate, store, commit and publish one submission: (its spec, its experiment, whether
    it is new).

    Batched unless it needs a transaction of its own, run in a thread: an Idempotency-Key
    (its reservation shares the transaction of what it names) or an lr reference (resolving
    it reads the database).
    """
    if idempotency_key is not None or has_lr_references(document):
        return await run_in_threadpool(
            _accept_alone,
            session,
            caller=caller,
            document=document,
            settings=settings,
            idempotency_key=idempotency_key,
        )
    # In a thread: a per-step schedule of a million steps takes tens of milliseconds to check.
    spec = await run_in_threadpool(
        accept_experiment_spec, session, project_id=caller.project_id, document=document
    )
    submission = Submission(
        project_id=caller.project_id,
        key_id=caller.key_id,
        spec=spec,
        queue=spec.queue or settings.queue,
        submitter=KeyRef(id=caller.key_id, label=caller.key_label),
    )
    read = await committer.submit(submission)
    return spec, read, True


def _accept_alone(
    session: Session,
    *,
    caller: Caller,
    document: dict[str, Any],
    settings: Settings,
    idempotency_key: str | None,
) -> tuple[ExperimentCreate, ExperimentRead, bool]:
    spec = accept_experiment_spec(session, project_id=caller.project_id, document=document)
    queue_name = spec.queue or settings.queue
    experiment, created = submit_experiment(
        session,
        project_id=caller.project_id,
        key_id=caller.key_id,
        spec=spec,
        queue=queue_name,
        idempotency_key=idempotency_key,
        key_ttl_hours=settings.idempotency_ttl_hours,
    )
    submitter = KeyRef(id=caller.key_id, label=caller.key_label) if created else None
    # Read before the commit: loading anything after it would check a pooled connection out
    # again and hold it until the session closes.
    read = experiment_read(experiment, submitter=submitter)
    commit_and_enqueue(session, [experiment.id] if created else [], queue=queue_name)
    return spec, read, created
