"""A sweep's pruning decisions: judged in the transaction that records the rung epoch, logged.

The rule is `models.sweeps.asha` (Ray Tune's one-bracket ASHA). A member's epoch at a rung is judged
in the same transaction as the epoch's row, under a per-sweep lock, so decisions follow the
order in which rung epochs commit and no two workers judge against the same stale rung; a
crash loses or doubles nothing (the epoch and its decision commit together). Functions flush,
never commit: the caller owns the transaction.
"""

import uuid
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.experiments import close_experiment
from models.sweeps.asha import AshaSpec
from models.sweeps.service import get_sweep
from models.tables import Experiment, JobStatus, PruningDecision, Sweep
from models.training import EpochMetrics


class PruningDecisionRead(BaseModel):
    """One decision of the log: `value` and `cutoff` in the metric's own units.

    `compared`: how many earlier values at the rung the cutoff came from (0: no cutoff, the
    member continues); `decision`: "continue" or "prune".
    """

    order: int
    experiment: uuid.UUID
    label: str | None
    seed: int | None
    rung: int
    epoch: int
    metric: str
    value: float
    cutoff: float | None
    compared: int
    decision: str
    at: datetime


PRUNING_FIELDS = list(PruningDecisionRead.model_fields)


def sweep_pruning(session: Session, sweep_id: uuid.UUID) -> AshaSpec | None:
    """The sweep's pruning rule, if it has one."""
    spec = session.scalar(select(Sweep.spec).where(Sweep.id == sweep_id))
    document = (spec or {}).get("pruning")
    return AshaSpec.model_validate(document, strict=False) if document else None


def judge_epoch(
    session: Session, *, experiment_id: uuid.UUID, attempt: int, metrics: EpochMetrics
) -> bool:
    """Judge the member's recorded epoch at its rung, if one is due; True if it is pruned.

    Idempotent: a decision already logged for this epoch (a retried commit) is returned as
    it was. A member that stops ends `pruned` with `pruned_at_epoch`, in this transaction.
    """
    experiment = session.get(Experiment, experiment_id)
    if experiment is None or experiment.sweep_id is None:
        return False
    pruning = sweep_pruning(session, experiment.sweep_id)
    if pruning is None:
        return False
    logged = session.scalar(
        select(PruningDecision.decision).where(
            PruningDecision.experiment_id == experiment_id,
            PruningDecision.epoch == metrics.epoch,
        )
    )
    if logged is not None:
        return logged == "prune"
    if experiment.status != JobStatus.RUNNING or experiment.attempt != attempt:
        return False
    rule = pruning.rule(experiment.epochs)
    if not rule.milestones or metrics.epoch < rule.milestones[0]:
        return False
    # One judge at a time per sweep. An advisory lock, not the sweep's row: a cancel locks
    # the sweep and then its members, the reverse of this path's order.
    session.execute(select(func.pg_advisory_xact_lock(_lock_key(experiment.sweep_id))))
    judged = session.scalars(
        select(PruningDecision.rung).where(PruningDecision.experiment_id == experiment_id)
    ).all()
    rung = rule.rung_for(metrics.epoch, judged)
    if rung is None:
        return False
    earlier = session.scalars(
        select(PruningDecision.value)
        .where(PruningDecision.sweep_id == experiment.sweep_id, PruningDecision.rung == rung)
        .order_by(PruningDecision.id)
    ).all()
    value = float(getattr(metrics, pruning.metric))
    judgement = rule.judge(rule.score(value), [rule.score(v) for v in earlier])
    session.add(
        PruningDecision(
            sweep_id=experiment.sweep_id,
            experiment_id=experiment_id,
            rung=rung,
            epoch=metrics.epoch,
            metric=pruning.metric,
            value=value,
            cutoff=rule.unscore(judgement.cutoff),
            compared=judgement.compared,
            decision="prune" if judgement.prune else "continue",
            attempt=attempt,
        )
    )
    if judgement.prune:
        experiment.pruned_at_epoch = metrics.epoch
        close_experiment(session, experiment=experiment, status=JobStatus.PRUNED)
    session.flush()
    return judgement.prune


def _lock_key(sweep_id: uuid.UUID) -> int:
    """A signed 64-bit advisory lock key from the sweep id."""
    return int.from_bytes(sweep_id.bytes[:8], "big", signed=True)


def pruning_log(
    session: Session, *, project_id: uuid.UUID, sweep_id: uuid.UUID
) -> list[PruningDecisionRead]:
    """The sweep's decisions in decision order."""
    get_sweep(session, project_id=project_id, sweep_id=sweep_id)
    rows = session.execute(
        select(PruningDecision, Experiment.label, Experiment.spec["training"]["seed"])
        .join(Experiment, Experiment.id == PruningDecision.experiment_id)
        .where(PruningDecision.sweep_id == sweep_id)
        .order_by(PruningDecision.id)
    ).all()
    return [
        PruningDecisionRead(
            order=k + 1,
            experiment=d.experiment_id,
            label=label,
            seed=int(seed) if seed is not None else None,
            rung=d.rung,
            epoch=d.epoch,
            metric=d.metric,
            value=d.value,
            cutoff=d.cutoff,
            compared=d.compared,
            decision=d.decision,
            at=d.created_at,
        )
        for k, (d, label, seed) in enumerate(rows)
    ]
