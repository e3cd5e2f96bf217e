"""The experiment kind of job: claims of fused groups, resume points, notes and closing.

The lifecycle every kind shares (leases, fencing, release, requeue, give up) is
`models.jobs`; `EXPERIMENT_JOBS` tells it what an experiment adds: a closed experiment gets
its result summary and loses its checkpoints, and every change rings its live streams. What an
attempt records epoch by epoch is `models.experiments.records`.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.experiments.checkpoint_store import (
    checkpoint_epoch,
    delete_checkpoints,
    load_checkpoint,
)
from models.experiments.schemas import ExperimentCreate, ExperimentResult
from models.jobs import (
    JobKind,
    close_owned,
    end_job,
    lock_queued,
    owned_job,
    reclaimed,
    signal,
    start_attempt,
)
from models.tables import Checkpoint, Experiment, Job, JobStatus, Metric

RUN_EXPERIMENT_TASK = "lrlab.run_experiment"

log = logging.getLogger("lrlab.ledger")


class ExperimentJobs(JobKind):
    """Experiments as a kind of job: summaries and checkpoints at the end, live signals."""

    def close(
        self, session: Session, jobs: Sequence[Job], *, status: JobStatus, error: str | None
    ) -> None:
        close_experiments(
            session, experiments=[_experiment(job) for job in jobs], status=status, error=error
        )

    def requeued(self, session: Session, job: Job) -> None:
        signal(session, _experiment(job))

    def last_note(self, job: Job) -> str | None:
        notes = _experiment(job).events or []
        last = notes[-1] if notes else None
        return str(last["message"]) if last and last.get("attempt") == job.attempt else None


EXPERIMENT_JOBS = ExperimentJobs(name="experiment", table=Experiment, task=RUN_EXPERIMENT_TASK)


@dataclass(frozen=True)
class Claim:
    """A running experiment as one attempt owns it."""

    experiment_id: uuid.UUID
    attempt: int
    spec: ExperimentCreate
    epochs_done: int
    queue: str
    # Training seconds of the earlier attempts (the time limit counts across attempts).
    training_seconds: float = 0.0


def claim_group(
    session: Session,
    *,
    experiment_id: uuid.UUID,
    lease_seconds: int,
    group_size: int,
    max_attempts: int,
    claim_token: uuid.UUID | None = None,
) -> list[Claim]:
    """Claim this queued experiment and up to `group_size - 1` compatible queued ones.

    Compatible: same queue, dataset, batch size and epoch count, so they can train fused;
    those of the lead's model come first, as only they share its stack.
    An experiment already tried `max_attempts` times fails instead of starting again.
    `claim_token` names this claim: a retry whose first try committed (its acknowledgement
    lost) gets the claims that try made instead of nothing.
    """
    if claim_token is not None:
        mine = [
            _experiment(job)
            for job in reclaimed(session, kind=EXPERIMENT_JOBS, claim_token=claim_token)
        ]
        if mine:
            mine.sort(key=lambda e: e.id != experiment_id)
            return [_claim_of(e) for e in mine]
    lead = lock_queued(
        session, kind=EXPERIMENT_JOBS, job_id=experiment_id, max_attempts=max_attempts
    )
    if lead is None:
        return []
    lead = _experiment(lead)
    batch_size = lead.spec["training"]["batch_size"]
    # Companions are optional, so those locked elsewhere are skipped.
    others = session.scalars(
        select(Experiment)
        .where(
            Experiment.status == JobStatus.QUEUED,
            Experiment.id != lead.id,
            Experiment.queue == lead.queue,
            Experiment.epochs == lead.epochs,
            Experiment.attempt - Experiment.handed_back < max_attempts,
            Experiment.spec.contains(
                {"dataset": lead.spec["dataset"], "training": {"batch_size": batch_size}}
            ),
        )
        # Only members of one model share a stack: the lead's model first, then the oldest.
        .order_by(Experiment.spec.contains({"model": lead.spec.get("model")}).desc())
        .order_by(Experiment.created_at)
        .limit(group_size - 1)
        .with_for_update(skip_locked=True)
    ).all()
    claims = []
    for experiment in (lead, *others):
        start_attempt(experiment, lease_seconds=lease_seconds, claim_token=claim_token)
        _align_with_checkpoint(session, experiment)
        signal(session, experiment)
        claims.append(_claim_of(experiment))
    session.flush()
    return claims


def _claim_of(experiment: Experiment) -> Claim:
    return Claim(
        experiment_id=experiment.id,
        attempt=experiment.attempt,
        spec=ExperimentCreate.model_validate(experiment.spec),
        epochs_done=experiment.epochs_done,
        queue=experiment.queue,
        training_seconds=experiment.training_seconds or 0.0,
    )


def resume_point(session: Session, *, experiment_id: uuid.UUID) -> bytes | None:
    """The checkpoint blob a new attempt continues from, if the run has one."""
    stored = load_checkpoint(session, experiment_id=experiment_id)
    return stored[1] if stored is not None else None


def add_note(experiment: Experiment, *, kind: str, attempt: int, message: str) -> None:
    """Append a note to the experiment (shown in its read model): a lost checkpoint, a refusal."""
    note = {
        "at": datetime.now(UTC).isoformat(),
        "kind": kind,
        "attempt": attempt,
        "message": message,
    }
    # A new list: JSONB columns are not mutation-tracked in place.
    experiment.events = [*(experiment.events or []), note]


def finish_experiment(session: Session, *, experiment_id: uuid.UUID, attempt: int) -> bool:
    """Mark the attempt's run succeeded with its result summary."""
    return close_owned(session, EXPERIMENT_JOBS, experiment_id, attempt, status=JobStatus.SUCCEEDED)


def fail_experiment(
    session: Session, *, experiment_id: uuid.UUID, attempt: int, error: str
) -> bool:
    """Mark the attempt's run failed with its error message."""
    return close_owned(
        session, EXPERIMENT_JOBS, experiment_id, attempt, status=JobStatus.FAILED, error=error
    )


def close_experiment(
    session: Session, *, experiment: Experiment, status: JobStatus, error: str | None = None
) -> None:
    """End a locked experiment: stamp the end, drop its checkpoint and lease, summarise it."""
    close_experiments(session, experiments=[experiment], status=status, error=error)


def close_experiments(
    session: Session,
    *,
    experiments: Sequence[Experiment],
    status: JobStatus,
    error: str | None = None,
) -> None:
    """End locked experiments together: one checkpoint delete and one metrics read for all."""
    if not experiments:
        return
    ids = [e.id for e in experiments]
    delete_checkpoints(session, experiment_ids=ids)
    summaries = _summaries(session, ids)
    for experiment in experiments:
        experiment.result = summaries.get(experiment.id)
        end_job(experiment, status=status, error=error)
        signal(session, experiment)


def owned_experiment(session: Session, experiment_id: uuid.UUID, attempt: int) -> Experiment | None:
    """Lock the experiment if this attempt still runs it (fencing); else None."""
    job = owned_job(session, EXPERIMENT_JOBS, experiment_id, attempt)
    return None if job is None else _experiment(job)


def _experiment(job: Job) -> Experiment:
    # The kind's own table: a row of another kind here is a programming error.
    assert isinstance(job, Experiment), job
    return job


def _align_with_checkpoint(session: Session, experiment: Experiment) -> None:
    """A new attempt resumes after the newest checkpoint, or from the start without one.

    The recorded epochs stay: the ones after the checkpoint are trained again and compared with
    their rows (`record_recomputed_epoch`). A checkpoint row whose state cannot be read (a lost
    file) is logged and noted on the experiment, never silent; one newer than the record (which
    the same-transaction write rules out) is dropped.
    """
    if experiment.epochs_done == 0:
        return
    named = session.scalar(
        select(Checkpoint.epoch).where(Checkpoint.experiment_id == experiment.id)
    )
    readable = checkpoint_epoch(session, experiment_id=experiment.id)
    if named is not None and readable is None:
        message = (
            f"attempt {experiment.attempt} found no readable checkpoint for epoch {named}: "
            f"epochs 1..{experiment.epochs_done} are trained again from the start and "
            "compared with their recorded rows"
        )
        log.warning("experiment %s: %s", experiment.id, message)
        add_note(experiment, kind="checkpoint_lost", attempt=experiment.attempt, message=message)
        delete_checkpoints(session, experiment_ids=[experiment.id])
    elif readable is not None and readable > experiment.epochs_done:
        delete_checkpoints(session, experiment_ids=[experiment.id])


def _summaries(session: Session, experiment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
    rows = session.execute(
        select(Metric.experiment_id, Metric.epoch, Metric.val_accuracy, Metric.seconds)
        .where(Metric.experiment_id.in_(experiment_ids))
        .order_by(Metric.experiment_id, Metric.epoch)
    ).all()
    by_id: dict[uuid.UUID, list[Any]] = {}
    for row in rows:
        by_id.setdefault(row.experiment_id, []).append(row)
    summaries = {}
    for experiment_id, runs in by_id.items():
        best = max(runs, key=lambda r: (r.val_accuracy, -r.epoch))
        summaries[experiment_id] = ExperimentResult(
            final_val_accuracy=runs[-1].val_accuracy,
            best_val_accuracy=best.val_accuracy,
            best_epoch=best.epoch,
            train_seconds=sum(r.seconds for r in runs),
        ).model_dump()
    return summaries
