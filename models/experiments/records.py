"""What a worker's attempt records, epoch by epoch: the data it trains on, each finished epoch
(fenced and idempotent), and epochs trained again after a resume, compared with their record.

Functions flush, never commit: the caller owns the transaction. Every write carries the attempt
that claimed the run and is refused for any other (`models.jobs.lifecycle` owns claims and leases).
"""

import logging
import math
import uuid
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, undefer

from models.experiments.attempts import (
    EXPERIMENT_JOBS,
    add_note,
    close_experiment,
    owned_experiment,
)
from models.experiments.checkpoint_store import save_checkpoint
from models.jobs import requeue_job, signal
from models.tables import Experiment, JobStatus, Metric
from models.training import EpochMetrics

log = logging.getLogger("lrlab.ledger")


DataCheck = Literal["ok", "not_owned", "mismatch"]


def record_dataset(
    session: Session, *, experiment_id: uuid.UUID, attempt: int, dataset: dict[str, Any]
) -> DataCheck:
    """Record which data the attempt trains on.

    "not_owned": the attempt no longer owns the run. "mismatch": the run has recorded epochs
    on other data (another sha256), so this attempt must not continue it; it is handed back
    to the queue with the reason among its events, and fails once out of attempts.
    """
    experiment = owned_experiment(session, experiment_id, attempt)
    if experiment is None:
        return "not_owned"
    recorded = experiment.dataset or {}
    if experiment.epochs_done and recorded.get("sha256") != dataset.get("sha256"):
        message = (
            f"attempt {attempt} refused: its data (sha256 {dataset.get('sha256')}, "
            f"{dataset.get('path') or dataset.get('source')}) differs from the data epochs "
            f"1..{experiment.epochs_done} were trained on (sha256 {recorded.get('sha256')}, "
            f"{recorded.get('path') or recorded.get('source')})"
        )
        log.warning("experiment %s: %s", experiment_id, message)
        add_note(experiment, kind="data_mismatch", attempt=attempt, message=message)
        requeue_job(session, EXPERIMENT_JOBS, experiment)
        session.flush()
        return "mismatch"
    experiment.dataset = dataset
    session.flush()
    return "ok"


def record_epoch(
    session: Session,
    *,
    experiment_id: uuid.UUID,
    attempt: int,
    metrics: EpochMetrics,
    lease_seconds: int,
    checkpoint: bytes | None = None,
    training_seconds: float | None = None,
) -> bool:
    """Store one finished epoch (and its checkpoint) and renew the lease; the last one
    finishes the run in the same transaction, so a finished run has no lease to lapse.

    Idempotent: recording an epoch again (a retry whose first commit went through) changes
    nothing. `training_seconds` is the run's training time over all attempts so far.
    False means stop: the run was cancelled, or another attempt owns it now (fencing).
    """
    experiment = owned_experiment(session, experiment_id, attempt)
    if experiment is None:
        return _recorded_by(session, experiment_id, attempt, metrics.epoch)
    session.execute(
        insert(Metric)
        .values(experiment_id=experiment_id, attempt=attempt, **metrics.model_dump())
        .on_conflict_do_nothing(index_elements=[Metric.experiment_id, Metric.epoch])
    )
    experiment.epochs_done = max(experiment.epochs_done, metrics.epoch)
    if training_seconds is not None:
        experiment.training_seconds = max(experiment.training_seconds or 0.0, training_seconds)
    if metrics.epoch >= experiment.epochs:
        close_experiment(session, experiment=experiment, status=JobStatus.SUCCEEDED)
    else:
        _checkpoint_and_renew(
            session, experiment, attempt, metrics.epoch, checkpoint, lease_seconds
        )
    signal(session, experiment)
    session.flush()
    return True


def _recorded_by(session: Session, experiment_id: uuid.UUID, attempt: int, epoch: int) -> bool:
    """Whether this attempt already recorded this epoch (its commit's ack was lost)."""
    return (
        session.scalar(
            select(func.count()).where(
                Metric.experiment_id == experiment_id,
                Metric.epoch == epoch,
                Metric.attempt == attempt,
            )
        )
        or 0
    ) > 0


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
    experiment = owned_experiment(session, experiment_id, attempt)
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
