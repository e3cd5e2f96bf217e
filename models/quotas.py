"""Per-project quotas, checked before anything of a submission is stored.

Compute of one request is Σ over its members of epochs × optimizer steps per epoch, where
steps per epoch = ceil(min(train_samples, samples the dataset has) / batch_size): the worker
caps `train_samples` to what the dataset holds (60,000 for MNIST), so the cap counts here too.
"""

import math
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from models.errors import QuotaError
from models.settings import get_settings
from models.specs import ExperimentCreate
from models.tables import Experiment, Project

# Training samples each dataset has; `train_samples` beyond it trains on this many.
DATASET_TRAIN_SAMPLES = {"mnist": 60_000}


def request_steps(specs: Sequence[ExperimentCreate]) -> int:
    """Optimizer steps the request asks for: Σ epochs × ceil(capped samples / batch size)."""
    return sum(
        spec.training.epochs
        * math.ceil(
            min(spec.dataset.train_samples, DATASET_TRAIN_SAMPLES[spec.dataset.name])
            / spec.training.batch_size
        )
        for spec in specs
    )


def check_quotas(
    session: Session, *, project_id: uuid.UUID, specs: Sequence[ExperimentCreate], sweep: bool
) -> None:
    """Raise QuotaError if storing `specs` as new queued experiments would exceed a quota.

    Takes a transaction-scoped advisory lock on the project, so concurrent submissions of one
    project are checked one after the other and cannot both pass on the same count.
    """
    settings = get_settings()
    # The lock first: the one query after it then counts every submission committed before.
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"lrlab-project-{project_id}"},
    )
    active_count = (
        select(func.count())
        .select_from(Experiment)
        .where(
            Experiment.project_id == project_id,
            Experiment.status.in_(("queued", "running")),
        )
        .scalar_subquery()
    )
    row = session.execute(
        select(
            Project.max_sweep_members,
            Project.max_request_steps,
            Project.max_active_experiments,
            active_count,
        ).where(Project.id == project_id)
    ).one_or_none()
    if row is None:
        raise ValueError(f"no project {project_id}")
    max_sweep_members, max_request_steps, max_active, active = row
    if sweep:
        limit = _limit(max_sweep_members, settings.quota_sweep_members)
        if len(specs) > limit:
            _refuse("sweep_members", limit, len(specs), "members in one sweep")
    limit = _limit(max_request_steps, settings.quota_request_steps)
    steps = request_steps(specs)
    if steps > limit:
        _refuse("request_steps", limit, steps, "optimizer steps in one request")
    limit = _limit(max_active, settings.quota_active_experiments)
    if active + len(specs) > limit:
        _refuse(
            "active_experiments", limit, active, "queued and running experiments (already active)"
        )


def _limit(override: int | None, default: int) -> int:
    return default if override is None else override


def _refuse(quota: str, limit: int, current: int, what: str) -> None:
    raise QuotaError(
        quota=quota,
        limit=limit,
        current=current,
        detail=f"quota {quota} exceeded: at most {limit} {what}, this request has {current}",
    )
