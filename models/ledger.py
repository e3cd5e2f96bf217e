"""The worker's ledger: claims, leases, fenced epoch records and the reconciler's queries.

Functions flush, never commit: the caller owns the transaction. Every write from a worker
carries the attempt number that claimed the experiment and is refused for any other attempt
(fencing).
"""

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_, update
from sqlalchemy.orm import Session, undefer

from models.checkpoints import delete_checkpoint, load_checkpoint, save_checkpoint
from models.metrics import EpochMetrics
from models.specs import ExperimentCreate, ExperimentResult
from models.tables import Experiment, Metric


def mark_enqueued(session: Session, *, experiment_ids: Sequence[uuid.UUID]) -> None:
    """Record that a message for these experiments was handed to the broker."""
    session.execute(
        update(Experiment)
        .where(Experiment.id.in_(experiment_ids), Experiment.status == "queued")
        .values(enqueued_at=func.now())
    )


@dataclass(frozen=True)
class Claim:
    """A running experiment as one attempt owns it."""

    experiment_id: uuid.UUID
    attempt: int
    spec: ExperimentCreate
    epochs_done: int
    queue: str


def claim_group(
    session: Session,
    *,
    experiment_id: uuid.UUID,
    lease_seconds: int,
    group_size: int,
    max_attempts: int,
) -> list[Claim]:
    """Claim this queued experiment and up to `group_size - 1` compatible queued ones.

    Compatible: same queue, dataset, batch size and epoch count, so they can train fused.
    An experiment already tried `max_attempts` times fails instead of starting again.
    """
    # The named experiment waits for its row lock: the holders are short transactions (a
    # publish being recorded, a cancel), and skipping would drop this delivery on the floor.
    # Companions are optional, so those locked elsewhere are skipped.
    lead = session.scalars(
        select(Experiment)
        .where(Experiment.id == experiment_id, Experiment.status == "queued")
        .with_for_update()
    ).one_or_none()
    if lead is None:
        return []
    if lead.attempt >= max_attempts:
        _give_up(session, lead, max_attempts)
        return []
    batch_size = lead.spec["training"]["batch_size"]
    others = session.scalars(
        select(Experiment)
        .where(
            Experiment.status == "queued",
            Experiment.id != lead.id,
            Experiment.queue == lead.queue,
            Experiment.epochs == lead.epochs,
            Experiment.attempt < max_attempts,
            Experiment.spec.contains(
                {"dataset": lead.spec["dataset"], "training": {"batch_size": batch_size}}
            ),
        )
        .order_by(Experiment.created_at)
        .limit(group_size - 1)
        .with_for_update(skip_locked=True)
    ).all()
    claims = []
    for experiment in (lead, *others):
        experiment.status = "running"
        experiment.attempt += 1
        experiment.lease_expires_at = func.now() + timedelta(seconds=lease_seconds)
        experiment.started_at = experiment.started_at or func.now()
        _align_with_checkpoint(session, experiment)
        claims.append(
            Claim(
                experiment_id=experiment.id,
                attempt=experiment.attempt,
                spec=ExperimentCreate.model_validate(experiment.spec),
                epochs_done=experiment.epochs_done,
                queue=experiment.queue,
            )
        )
    session.flush()
    return claims


def resume_point(session: Session, *, experiment_id: uuid.UUID) -> bytes | None:
    """The checkpoint blob a new attempt continues from, if the run has one."""
    stored = load_checkpoint(session, experiment_id=experiment_id)
    return stored[1] if stored is not None else None


def renew_leases(
    session: Session, *, claims: Sequence[tuple[uuid.UUID, int]], lease_seconds: int
) -> set[uuid.UUID]:
    """Extend the leases this worker still holds; returns the ids it still owns."""
    if not claims:
        return set()
    renewed = session.scalars(
        update(Experiment)
        .where(
            tuple_(Experiment.id, Experiment.attempt).in_(list(claims)),
            Experiment.status == "running",
        )
        .values(lease_expires_at=func.now() + timedelta(seconds=lease_seconds))
        .returning(Experiment.id)
    ).all()
    return set(renewed)


def record_dataset(
    session: Session, *, experiment_id: uuid.UUID, attempt: int, dataset: dict[str, Any]
) -> bool:
    """Record which data the attempt trains on; False if the attempt no longer owns the run."""
    experiment = _owned(session, experiment_id, attempt)
    if experiment is None:
        return False
    experiment.dataset = dataset
    session.flush()
    return True


def record_epoch(
    session: Session,
    *,
    experiment_id: uuid.UUID,
    attempt: int,
    metrics: EpochMetrics,
    lease_seconds: int,
    checkpoint: bytes | None = None,
) -> bool:
    """Store one finished epoch (and its checkpoint) and renew the lease.

    False means stop: the run was cancelled, or another attempt owns it now (fencing).
    """
    experiment = _owned(session, experiment_id, attempt)
    if experiment is None:
        return False
    session.add(Metric(experiment_id=experiment_id, attempt=attempt, **metrics.model_dump()))
    _checkpoint_and_renew(session, experiment, attempt, metrics.epoch, checkpoint, lease_seconds)
    experiment.epochs_done = metrics.epoch
    session.flush()
    return True


def finish_experiment(session: Session, *, experiment_id: uuid.UUID, attempt: int) -> bool:
    """Mark the attempt's run succeeded with its result summary."""
    return _close_owned(session, experiment_id, attempt, status="succeeded")


def fail_experiment(
    session: Session, *, experiment_id: uuid.UUID, attempt: int, error: str
) -> bool:
    """Mark the attempt's run failed with its error message."""
    return _close_owned(session, experiment_id, attempt, status="failed", error=error)


def release_experiment(session: Session, *, experiment_id: uuid.UUID, attempt: int) -> bool:
    """Hand a running experiment back to the queue (worker shutdown); its checkpoint stays."""
    experiment = _owned(session, experiment_id, attempt)
    if experiment is None:
        return False
    experiment.status = "queued"
    experiment.lease_expires_at = None
    experiment.enqueued_at = None
    session.flush()
    return True


def expire_leases(session: Session, *, max_attempts: int) -> list[tuple[uuid.UUID, str]]:
    """Requeue running experiments whose lease ran out; fail those out of attempts.

    Returns (id, queue) of the experiments put back in the queue, to be enqueued after commit.
    """
    expired = session.scalars(
        select(Experiment)
        .where(Experiment.status == "running", Experiment.lease_expires_at < func.now())
        .with_for_update(skip_locked=True)
    ).all()
    requeued = []
    for experiment in expired:
        if experiment.attempt >= max_attempts:
            _give_up(session, experiment, max_attempts)
        else:
            experiment.status = "queued"
            experiment.lease_expires_at = None
            experiment.enqueued_at = None
            requeued.append((experiment.id, experiment.queue))
    session.flush()
    return requeued


def unsignalled_queued(
    session: Session, *, stale_after_seconds: float, grace_seconds: float = 5.0
) -> dict[str, list[tuple[uuid.UUID, bool]]]:
    """Queued experiments by queue whose message may be missing.

    Each comes with whether it was never published (True) or published long ago (False).
    """
    now = func.now()
    rows = session.execute(
        select(Experiment.id, Experiment.queue, Experiment.enqueued_at)
        .where(
            Experiment.status == "queued",
            or_(
                and_(
                    Experiment.enqueued_at.is_(None),
                    Experiment.updated_at < now - timedelta(seconds=grace_seconds),
                ),
                Experiment.enqueued_at < now - timedelta(seconds=stale_after_seconds),
            ),
        )
        .order_by(Experiment.created_at)
    ).all()
    by_queue: dict[str, list[tuple[uuid.UUID, bool]]] = {}
    for experiment_id, queue, enqueued_at in rows:
        by_queue.setdefault(queue, []).append((experiment_id, enqueued_at is None))
    return by_queue


def queued_count(session: Session, *, queue: str) -> int:
    """How many experiments wait in `queue`."""
    return (
        session.scalar(
            select(func.count()).where(Experiment.status == "queued", Experiment.queue == queue)
        )
        or 0
    )


def close_experiment(
    session: Session, *, experiment: Experiment, status: str, error: str | None = None
) -> None:
    """End a locked experiment: stamp the end, drop its checkpoint and lease, summarise it."""
    experiment.status = status
    if error is not None:
        experiment.error = error[:4000]
    delete_checkpoint(session, experiment_id=experiment.id)
    experiment.result = _summarise(session, experiment.id)
    experiment.lease_expires_at = None
    experiment.finished_at = func.now()


def _close_owned(
    session: Session,
    experiment_id: uuid.UUID,
    attempt: int,
    *,
    status: str,
    error: str | None = None,
) -> bool:
    experiment = _owned(session, experiment_id, attempt)
    if experiment is None:
        return False
    close_experiment(session, experiment=experiment, status=status, error=error)
    session.flush()
    return True


def _give_up(session: Session, experiment: Experiment, max_attempts: int) -> None:
    close_experiment(
        session,
        experiment=experiment,
        status="failed",
        error=(
            f"gave up after {experiment.attempt} attempt(s) (max_attempts={max_attempts}): "
            "the worker running it stopped before finishing"
        ),
    )


def _align_with_checkpoint(session: Session, experiment: Experiment) -> None:
    """A new attempt resumes after the newest checkpoint, or from the start without one.

    The recorded epochs stay: the ones after the checkpoint are trained again and compared with
    their rows (`record_recomputed_epoch`). Only a checkpoint newer than the record (which the
    same-transaction write rules out) is dropped.
    """
    if experiment.epochs_done == 0:
        return
    stored = load_checkpoint(session, experiment_id=experiment.id)
    if stored is not None and stored[0] > experiment.epochs_done:
        delete_checkpoint(session, experiment_id=experiment.id)


def _owned(session: Session, experiment_id: uuid.UUID, attempt: int) -> Experiment | None:
    """Lock the row if this attempt still runs it; a cancelled or superseded attempt gets None."""
    return session.scalars(
        select(Experiment)
        .where(
            Experiment.id == experiment_id,
            Experiment.attempt == attempt,
            Experiment.status == "running",
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()


def _summarise(session: Session, experiment_id: uuid.UUID) -> dict[str, Any] | None:
    rows = session.execute(
        select(Metric.epoch, Metric.val_accuracy, Metric.seconds)
        .where(Metric.experiment_id == experiment_id)
        .order_by(Metric.epoch)
    ).all()
    if not rows:
        return None
    best = max(rows, key=lambda r: (r.val_accuracy, -r.epoch))
    return ExperimentResult(
        final_val_accuracy=rows[-1].val_accuracy,
        best_val_accuracy=best.val_accuracy,
        best_epoch=best.epoch,
        train_seconds=sum(r.seconds for r in rows),
    ).model_dump()


# The numbers a recomputed epoch must reproduce exactly; `seconds` is wall time and may differ.
_REPRODUCED = ("lr", "loss", "accuracy", "val_loss", "val_accuracy")


def record_recomputed_epoch(
    session: Session,
    *,
    experiment_id: uuid.UUID,
    attempt: int,
    metrics: EpochMetrics,
    lease_seconds: int,
    deterministic: bool,
    checkpoint: bytes | None = None,
) -> float | None:
    """Compare an epoch trained again after a resume with its recorded row, which stays.

    Counts the epoch in `experiment.reproducibility` and, if any number differs, records the
    epoch and the largest absolute difference there: level "error" where training is
    deterministic (a CPU), "note" where it need not be (an accelerator). Stores the checkpoint
    and renews the lease like `record_epoch`. Returns the difference (0.0 when equal), or None
    when the attempt no longer owns the run (stop).
    """
    experiment = _owned(session, experiment_id, attempt)
    if experiment is None:
        return None
    recorded = session.scalars(
        select(Metric)
        .where(Metric.experiment_id == experiment_id, Metric.epoch == metrics.epoch)
        .options(undefer(Metric.step_lrs))
    ).one()
    diffs = [abs(getattr(recorded, name) - getattr(metrics, name)) for name in _REPRODUCED]
    ours, theirs = metrics.step_lrs, list(recorded.step_lrs)
    diffs += [abs(a - b) for a, b in zip(ours, theirs, strict=False)]
    # A different step count cannot be measured as a size: it counts as infinitely off.
    difference = max(diffs) if len(ours) == len(theirs) else math.inf
    summary = dict(experiment.reproducibility or {"recomputed_epochs": 0, "mismatches": []})
    summary["recomputed_epochs"] = summary["recomputed_epochs"] + 1
    if difference != 0.0:
        summary["mismatches"] = [
            *summary["mismatches"],
            {
                "epoch": metrics.epoch,
                "attempt": attempt,
                "recorded_attempt": recorded.attempt,
                "max_abs_difference": difference if math.isfinite(difference) else None,
                "level": "error" if deterministic else "note",
            },
        ][-_MAX_MISMATCHES:]
    experiment.reproducibility = summary
    _checkpoint_and_renew(session, experiment, attempt, metrics.epoch, checkpoint, lease_seconds)
    session.flush()
    return difference


# Bounds the stored list; a run that diverges from its record diverges on every epoch after.
_MAX_MISMATCHES = 20


def _checkpoint_and_renew(
    session: Session,
    experiment: Experiment,
    attempt: int,
    epoch: int,
    checkpoint: bytes | None,
    lease_seconds: int,
) -> None:
    """Store the state after `epoch` if the policy sent one, and renew the attempt's lease."""
    if checkpoint is not None:
        save_checkpoint(
            session, experiment_id=experiment.id, attempt=attempt, epoch=epoch, blob=checkpoint
        )
    experiment.lease_expires_at = func.now() + timedelta(seconds=lease_seconds)
