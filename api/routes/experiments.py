"""HTTP adapters for experiments."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api.deps import IdempotencyKeyHeader, SessionDep, SettingsDep
from api.dispatch import commit_and_enqueue, queue_warnings
from api.responses import csv_response, mark_replay
from models.experiments import (
    cancel_experiment,
    experiment_read,
    get_experiment,
    list_experiments,
    list_metrics,
    list_step_lrs,
    submit_experiment,
)
from models.metrics import MetricRead
from models.specs import (
    ExperimentAccepted,
    ExperimentCreate,
    ExperimentPage,
    ExperimentRead,
    MetricList,
    StepLrList,
)
from models.tables import STATUSES

router = APIRouter(prefix="/experiments", tags=["experiments"])

Status = Literal[STATUSES]  # type: ignore[valid-type]


@router.post("", status_code=202, summary="Submit an experiment")
def submit(
    spec: ExperimentCreate,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdempotencyKeyHeader = None,
) -> ExperimentAccepted:
    """Accept an experiment spec and queue it (a repeated Idempotency-Key returns the original).

    `warnings` lists what the preview would flag, and a queue that no live worker consumes.
    """
    experiment, created = submit_experiment(
        session,
        spec=spec,
        queue=settings.queue,
        idempotency_key=idempotency_key,
        key_ttl_hours=settings.idempotency_ttl_hours,
    )
    commit_and_enqueue(session, [experiment.id] if created else [], queue=settings.queue)
    mark_replay(response, replayed=not created)
    response.headers["Location"] = f"/experiments/{experiment.id}"
    warnings = spec.warnings() + queue_warnings(settings, experiment.queue)
    return ExperimentAccepted(**experiment_read(experiment).model_dump(), warnings=warnings)


@router.get("", summary="List experiments")
def list_all(
    session: SessionDep,
    status: Status | None = None,
    scheduler_type: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ExperimentPage:
    """List experiments, newest first."""
    items, total = list_experiments(
        session, status=status, scheduler_type=scheduler_type, limit=limit, offset=offset
    )
    return ExperimentPage(
        items=[experiment_read(e) for e in items], total=total, limit=limit, offset=offset
    )


@router.get("/{experiment_id}", summary="Get an experiment")
def read_experiment(experiment_id: uuid.UUID, session: SessionDep) -> ExperimentRead:
    """Return one experiment's status, progress, spec and result."""
    return experiment_read(get_experiment(session, experiment_id=experiment_id))


@router.get(
    "/{experiment_id}/metrics", response_model=MetricList, summary="Get an experiment's metrics"
)
def read_metrics(
    experiment_id: uuid.UUID, session: SessionDep, format: Literal["json", "csv"] = "json"
) -> MetricList | Response:
    """Return the per-epoch metrics, as JSON or CSV."""
    metrics = MetricList.model_validate(
        {"items": list_metrics(session, experiment_id=experiment_id)}
    )
    if format == "csv":
        return csv_response(
            metrics.items, f"{experiment_id}-metrics", fields=list(MetricRead.model_fields)
        )
    return metrics


@router.get("/{experiment_id}/lr", summary="Get the lr of every step")
def read_step_lrs(experiment_id: uuid.UUID, session: SessionDep) -> StepLrList:
    """Return the lr of every optimizer step actually used."""
    per_epoch = list_step_lrs(session, experiment_id=experiment_id)
    return StepLrList(epochs=per_epoch, steps=[lr for epoch in per_epoch for lr in epoch])


@router.post("/{experiment_id}/cancel", summary="Cancel an experiment")
def cancel(experiment_id: uuid.UUID, session: SessionDep) -> ExperimentRead:
    """Cancel a queued or running experiment (409 if it already finished)."""
    experiment = cancel_experiment(session, experiment_id=experiment_id)
    session.commit()
    return experiment_read(experiment)
