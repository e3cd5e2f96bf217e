"""Experiments as the API sees them: submit, read, list, cancel, and the read model.

Functions flush, never commit: the caller owns the transaction. The worker's side of the
lifecycle is the ledger: claims and leases in `models.jobs.lifecycle`, epoch records in
`models.experiments.records`.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    String,
    bindparam,
    cast,
    column,
    func,
    insert,
    null,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import Table

from models.errors import NotFoundError, already_finished
from models.experiments.attempts import close_experiment
from models.experiments.lr_seeding import resolve_lr_references
from models.experiments.quotas import check_quotas
from models.experiments.schemas import (
    EpochStepLrs,
    ExperimentCreate,
    ExperimentRead,
    ExperimentResult,
    KeyRef,
    Progress,
)
from models.jobs import request_hash, reserve_key
from models.storage import newest_first
from models.tables import TERMINAL_STATUSES, ApiKey, Experiment, JobStatus, Metric, finished_phrase
from models.training import MetricRead, float32_shortest


def accept_experiment_spec(
    session: Session, *, project_id: uuid.UUID, document: dict[str, Any]
) -> ExperimentCreate:
    """Validate a request body, its range-test lr references resolved first (provenance kept)."""
    resolved, sources = resolve_lr_references(
        session, project_id=project_id, document=document, title="ExperimentCreate"
    )
    return ExperimentCreate.model_validate({**resolved, "lr_from": sources})


def submit_experiment(
    session: Session,
    *,
    project_id: uuid.UUID,
    key_id: uuid.UUID | None,
    spec: ExperimentCreate,
    queue: str,
    idempotency_key: str | None,
    key_ttl_hours: int,
) -> tuple[Experiment, bool]:
    """Create a queued experiment, or return the one this idempotency key already made.

    The boolean says whether a new experiment was created (and so needs enqueuing).
    """
    experiment_id = uuid.uuid4()
    if idempotency_key is not None:
        original = reserve_key(
            session,
            project_id=project_id,
            scope="experiment",
            key=idempotency_key,
            body_hash=request_hash(spec.model_dump(mode="json")),
            resource_id=experiment_id,
            ttl_hours=key_ttl_hours,
        )
        if original is not None:
            return get_experiment(session, project_id=project_id, experiment_id=original), False
    check_quotas(session, project_id=project_id, specs=[spec], sweep=False)
    experiment = create_experiment(
        session,
        project_id=project_id,
        key_id=key_id,
        spec=spec,
        queue=queue,
        experiment_id=experiment_id,
        enqueued=True,
    )
    return experiment, True


def create_experiment(
    session: Session,
    *,
    project_id: uuid.UUID,
    key_id: uuid.UUID | None = None,
    spec: ExperimentCreate,
    queue: str,
    experiment_id: uuid.UUID | None = None,
    sweep_id: uuid.UUID | None = None,
    label: str | None = None,
    enqueued: bool = False,
) -> Experiment:
    """Store a validated spec as a queued experiment (quotas are the caller's check).

    `enqueued`: the caller publishes its message right after committing (`enqueued_at` is set
    in the INSERT rather than by a second statement; a failed publish clears it again).
    """
    values = experiment_values(
        project_id=project_id,
        key_id=key_id,
        spec=spec,
        queue=queue,
        experiment_id=experiment_id,
        sweep_id=sweep_id,
        label=label,
    )
    experiment = new_experiment(values, enqueued=enqueued)
    # No change signal: nobody can be following an experiment that does not exist yet.
    session.add(experiment)
    session.flush()
    return experiment


def new_experiment(values: dict[str, Any], *, enqueued: bool = False) -> Experiment:
    """The row of `experiment_values`, not yet added to a session (see `create_experiment`)."""
    return Experiment(**values, **({} if enqueued else {"enqueued_at": null()}))


# The columns `experiment_values` sets; the INSERT's defaults set the others.
_VALUE_COLUMNS = (
    "id",
    "project_id",
    "submitted_by_key_id",
    "sweep_id",
    "label",
    "name",
    "status",
    "scheduler_type",
    "spec",
    "queue",
    "epochs",
    "epochs_done",
    "attempt",
)
_TABLE = Experiment.__table__
assert isinstance(_TABLE, Table)
# The rows as one JSON array read back as typed records, in order: one statement text
# whatever the number of rows (the driver parses it once, Postgres prepares it once; a VALUES
# row per experiment did neither) and one JSON document to send (arrays of values were
# escaped element by element).
_ROWS = (
    func.jsonb_to_recordset(bindparam("rows", type_=JSONB))
    .table_valued(*(column(name, _TABLE.c[name].type) for name in _VALUE_COLUMNS))
    .render_derived(name="new_rows", with_types=True)
)
_INSERT_MANY = (
    insert(_TABLE)
    .from_select(_VALUE_COLUMNS, select(*(_ROWS.c[name] for name in _VALUE_COLUMNS)))
    .returning(_TABLE.c.id, _TABLE.c.created_at, _TABLE.c.updated_at)
)


def insert_experiments(
    session: Session, rows: Sequence[dict[str, Any]]
) -> dict[uuid.UUID, tuple[datetime, datetime]]:
    """Insert `experiment_values` rows in one statement, in order (created_at follows it);
    each id's (created_at, updated_at)."""
    if not rows:
        return {}
    document = [{name: _jsonable(row[name]) for name in _VALUE_COLUMNS} for row in rows]
    inserted = session.connection().execute(_INSERT_MANY, {"rows": document})
    return {experiment_id: (created, updated) for experiment_id, created, updated in inserted}


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


def experiment_values(
    *,
    project_id: uuid.UUID,
    key_id: uuid.UUID | None,
    spec: ExperimentCreate,
    queue: str,
    experiment_id: uuid.UUID | None = None,
    sweep_id: uuid.UUID | None = None,
    label: str | None = None,
) -> dict[str, Any]:
    """The column values of a new queued experiment; the INSERT's defaults set the rest
    (`enqueued_at` among them: its creator publishes right after committing)."""
    return {
        "id": experiment_id or uuid.uuid4(),
        "project_id": project_id,
        "submitted_by_key_id": key_id,
        "sweep_id": sweep_id,
        "label": label,
        "name": spec.name,
        "status": JobStatus.QUEUED,
        "scheduler_type": spec.scheduler.type,
        # The queue is the row's, not the training spec's.
        "spec": spec.model_dump(mode="json", exclude={"queue"}),
        "queue": queue,
        "epochs": spec.training.epochs,
        "epochs_done": 0,
        "attempt": 0,
    }


def get_experiment(
    session: Session, *, project_id: uuid.UUID, experiment_id: uuid.UUID
) -> Experiment:
    """Return the project's experiment, or NotFoundError (also when another project owns it)."""
    experiment = session.get(Experiment, experiment_id)
    if experiment is None or experiment.project_id != project_id:
        raise NotFoundError(f"experiment {experiment_id} not found")
    return experiment


def list_experiments(
    session: Session,
    *,
    project_id: uuid.UUID,
    status: str | None = None,
    scheduler_type: str | None = None,
    name: str | None = None,
    sweep_id: uuid.UUID | None = None,
    limit: int = 50,
    offset: int = 0,
    after: str | None = None,
) -> tuple[list[Experiment], int, bool, str | None]:
    """One page of the project's experiments, newest first: (items, total, total is exact,
    next cursor).

    `name` matches part of the name (case-insensitive) or the start of the id; `sweep_id`
    keeps a sweep's members (one request watches a whole sweep). `after` (a
    cursor from the previous page) continues after that page's last row on the
    (project_id, created_at, id) index, as fast on the millionth row as on the first; `offset`
    pages are kept for shallow pages (`models.storage.newest_first`).
    """
    query = select(Experiment).where(Experiment.project_id == project_id)
    if name:
        needle = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(
            or_(
                Experiment.name.ilike(f"%{needle}%", escape="\\"),
                cast(Experiment.id, String).like(f"{needle.lower()}%", escape="\\"),
            )
        )
    if sweep_id is not None:
        query = query.where(Experiment.sweep_id == sweep_id)
    if status is not None:
        query = query.where(Experiment.status == status)
    if scheduler_type is not None:
        query = query.where(Experiment.scheduler_type == scheduler_type)
    return newest_first(session, query, Experiment, limit=limit, offset=offset, after=after)


def cancel_experiment(
    session: Session, *, project_id: uuid.UUID, key_id: uuid.UUID | None, experiment_id: uuid.UUID
) -> Experiment:
    """Cancel a queued or running experiment; a running one stops at its next epoch end."""
    experiment = _locked(session, project_id, experiment_id)
    if experiment.status in TERMINAL_STATUSES:
        raise already_finished(f"experiment {experiment_id}", finished_phrase(experiment.status))
    close_experiment(session, experiment=experiment, status=JobStatus.CANCELLED)
    experiment.cancelled_by_key_id = key_id
    session.flush()
    return experiment


def metric_rows(
    session: Session, *, project_id: uuid.UUID, experiment_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The experiment's metrics ordered by epoch, as plain dicts of `MetricRead`'s fields."""
    get_experiment(session, project_id=project_id, experiment_id=experiment_id)
    names = list(MetricRead.model_fields)
    # Plain tuples, not ORM objects or row mappings: a 1,000-epoch run reads in a few ms.
    rows = session.execute(
        select(*(getattr(Metric, name) for name in names))
        .where(Metric.experiment_id == experiment_id)
        .order_by(Metric.epoch)
    ).all()
    dicts = [dict(zip(names, row, strict=True)) for row in rows]
    # Read out as people write them (0.01), each still the float32 that trained.
    for row, lr in zip(dicts, float32_shortest([d["lr"] for d in dicts]), strict=True):
        row["lr"] = lr
    return dicts


def list_metrics(
    session: Session, *, project_id: uuid.UUID, experiment_id: uuid.UUID
) -> list[MetricRead]:
    """Return the experiment's metrics ordered by epoch."""
    rows = metric_rows(session, project_id=project_id, experiment_id=experiment_id)
    return [MetricRead.model_construct(**row) for row in rows]


# A page of step lrs ends after the epoch that brings it to this many steps.
MAX_PAGE_STEPS = 100_000


def list_step_lrs(
    session: Session,
    *,
    project_id: uuid.UUID,
    experiment_id: uuid.UUID,
    epoch_from: int,
    limit: int,
) -> tuple[list[EpochStepLrs], int | None]:
    """One page of per-step lrs: up to `limit` epochs from `epoch_from`, at most about
    MAX_PAGE_STEPS steps (always one epoch); and the epoch the next page starts at, if any.

    The lrs read out as the shortest decimals of the float32 values that trained.
    """
    get_experiment(session, project_id=project_id, experiment_id=experiment_id)
    sizes = session.execute(
        select(Metric.epoch, func.cardinality(Metric.step_lrs))
        .where(Metric.experiment_id == experiment_id, Metric.epoch >= epoch_from)
        .order_by(Metric.epoch)
        .limit(limit + 1)
    ).all()
    epochs: list[int] = []
    steps = 0
    for epoch, size in sizes[:limit]:
        if epochs and steps + (size or 0) > MAX_PAGE_STEPS:
            break
        epochs.append(epoch)
        steps += size or 0
    rows = session.execute(
        select(Metric.epoch, Metric.step_lrs)
        .where(Metric.experiment_id == experiment_id, Metric.epoch.in_(epochs))
        .order_by(Metric.epoch)
    ).all()
    following = sizes[len(epochs)].epoch if len(sizes) > len(epochs) else None
    return [EpochStepLrs(epoch=e, lrs=float32_shortest(lrs)) for e, lrs in rows], following


def experiment_read(experiment: Experiment, *, submitter: KeyRef | None = None) -> ExperimentRead:
    """Build the API view of an experiment row (`submitter`, when known, spares loading it)."""
    return ExperimentRead(
        id=experiment.id,
        name=experiment.name,
        status=experiment.status,
        scheduler_type=experiment.scheduler_type,
        spec=experiment.spec,
        sweep_id=experiment.sweep_id,
        label=experiment.label,
        progress=Progress(epochs_done=experiment.epochs_done, epochs=experiment.epochs),
        attempt=experiment.attempt,
        dataset=experiment.dataset,
        device=(experiment.dataset or {}).get("runtime", {}).get("device"),
        versions=(experiment.dataset or {}).get("runtime", {}).get("versions"),
        result=ExperimentResult.model_validate(experiment.result) if experiment.result else None,
        error=experiment.error,
        events=experiment.events or [],
        reproducibility=experiment.reproducibility,
        pruned_at_epoch=experiment.pruned_at_epoch,
        created_at=experiment.created_at,
        updated_at=experiment.updated_at,
        started_at=experiment.started_at,
        finished_at=experiment.finished_at,
        submitted_by=submitter or key_ref(experiment.submitted_by),
        cancelled_by=key_ref(experiment.cancelled_by),
    )


def key_ref(key: ApiKey | None) -> KeyRef | None:
    """The public view of the key that did something."""
    return None if key is None else KeyRef(id=key.id, label=key.label)


def _locked(session: Session, project_id: uuid.UUID, experiment_id: uuid.UUID) -> Experiment:
    experiment = session.scalars(
        select(Experiment)
        .where(Experiment.id == experiment_id, Experiment.project_id == project_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if experiment is None:
        raise NotFoundError(f"experiment {experiment_id} not found")
    return experiment


def experiment_counts(session: Session) -> list[tuple[str, str, int]]:
    """(status, queue, count) over all experiments: one GROUP BY, cheap enough per scrape."""
    rows = session.execute(
        select(Experiment.status, Experiment.queue, func.count()).group_by(
            Experiment.status, Experiment.queue
        )
    ).all()
    return [(status, queue, int(count)) for status, queue, count in rows]
