"""Per-project quotas, checked before anything of a submission is stored.

Compute of one request is Σ over its members of epochs × optimizer steps per epoch, where
steps per epoch = ceil(min(train_samples, samples the dataset has) / batch_size): the worker
caps `train_samples` to what the dataset holds (60,000 for MNIST), so the cap counts here too.
"""

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from models.errors import QuotaError
from models.experiments.schemas import ExperimentCreate
from models.storage import get_settings
from models.training import DATASET_TRAIN_SAMPLES

# Training samples each dataset has; `train_samples` beyond it trains on this many.


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


@dataclass(frozen=True)
class Usage:
    """A project's quota limits (overrides applied) and its queued and running experiments."""

    sweep_members: int
    request_steps: int
    active_experiments: int
    active: int

    def refusal(self, specs: Sequence[ExperimentCreate], *, sweep: bool) -> QuotaError | None:
        """Why storing `specs` as new queued experiments would exceed a quota, or None."""
        if sweep and len(specs) > self.sweep_members:
            return _refusal("sweep_members", self.sweep_members, len(specs), "members in one sweep")
        steps = request_steps(specs)
        if steps > self.request_steps:
            return _refusal(
                "request_steps", self.request_steps, steps, "optimizer steps in one request"
            )
        if self.active + len(specs) > self.active_experiments:
            return _refusal(
                "active_experiments",
                self.active_experiments,
                self.active,
                "queued and running experiments",
                counted=f"the project has {self.active} and this request adds {len(specs)}",
            )
        return None


_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")
# Fixed SQL, so that the driver and Postgres prepare it once: built with `in_()`, the status
# list was expanded into new SQL text on every execution.
_USAGE = text(
    "SELECT p.max_sweep_members, p.max_request_steps, p.max_active_experiments,"
    " (SELECT count(*) FROM experiment e"
    "  WHERE e.project_id = p.id AND e.status IN ('queued', 'running'))"
    " FROM project p WHERE p.id = :project_id"
)


_RANGE_TEST_USAGE = text(
    "SELECT p.max_active_range_tests,"
    " (SELECT count(*) FROM range_test r"
    "  WHERE r.project_id = p.id AND r.status IN ('queued', 'running'))"
    " FROM project p WHERE p.id = :project_id"
)


def _lock(session: Session, project_id: uuid.UUID) -> None:
    session.connection().execute(_LOCK, {"key": f"lrlab-project-{project_id}"})


def lock_usage(session: Session, *, project_id: uuid.UUID) -> Usage:
    """Take the project's quota lock (until the transaction ends), then read its usage.

    Concurrent submissions of one project are counted one after the other and cannot both
    pass on the same count. Whoever holds several project locks takes them in id order.
    """
    settings = get_settings()
    # The lock first: the query after it then counts every submission committed before
    # (and this transaction's own rows).
    # On the session's connection: plain SQL needs none of the ORM's statement handling.
    _lock(session, project_id)
    row = session.connection().execute(_USAGE, {"project_id": project_id}).one_or_none()
    if row is None:
        raise ValueError(f"no project {project_id}")
    max_sweep_members, max_request_steps, max_active, active = row
    return Usage(
        sweep_members=_limit(max_sweep_members, settings.quota_sweep_members),
        request_steps=_limit(max_request_steps, settings.quota_request_steps),
        active_experiments=_limit(max_active, settings.quota_active_experiments),
        active=active,
    )


def check_quotas(
    session: Session, *, project_id: uuid.UUID, specs: Sequence[ExperimentCreate], sweep: bool
) -> None:
    """Raise QuotaError if storing `specs` as new queued experiments would exceed a quota.

    The project's lock is held from here to the caller's commit (see `lock_usage`).
    """
    refusal = lock_usage(session, project_id=project_id).refusal(specs, sweep=sweep)
    if refusal is not None:
        raise refusal


def check_range_test_quota(session: Session, *, project_id: uuid.UUID) -> None:
    """Raise QuotaError if one more queued range test would exceed the project's quota.

    Under the project's quota lock, held to the caller's commit, like `check_quotas`.
    """
    _lock(session, project_id)
    row = session.connection().execute(_RANGE_TEST_USAGE, {"project_id": project_id}).one()
    limit = _limit(row[0], get_settings().quota_active_range_tests)
    if row[1] + 1 > limit:
        raise _refusal(
            "active_range_tests",
            limit,
            row[1],
            "queued and running range tests",
            counted=f"the project has {row[1]}",
        )


def _limit(override: int | None, default: int) -> int:
    return default if override is None else override


def _refusal(
    quota: str, limit: int, current: int, what: str, *, counted: str | None = None
) -> QuotaError:
    counted = counted or f"this request has {current}"
    return QuotaError(
        quota=quota,
        limit=limit,
        current=current,
        detail=f"quota {quota} exceeded: at most {limit} {what}, {counted}",
    )
