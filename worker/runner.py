"""Glue between the ledger and the training engine: claim, train, record every epoch.

A task claims its experiment plus compatible queued ones (a fused group), keeps their leases
alive from a heartbeat thread, and commits each epoch with its checkpoint. Every write names
the attempt that claimed the run, so a worker that lost its lease cannot overwrite newer work.
"""

import functools
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from models.db import session_scope
from models.ledger import (
    Claim,
    claim_group,
    fail_experiment,
    finish_experiment,
    record_dataset,
    record_epoch,
    release_experiment,
    renew_leases,
    resume_point,
)
from models.queue import publish
from models.schedules import build_run
from models.settings import Settings, get_settings
from models.specs import EpochMetrics
from worker.datasets import load_dataset
from worker.engine import EpochReport, MemberConfig, TrainingError, train_group
from worker.shutdown import stop_requested

log = logging.getLogger("lrlab.worker")
T = TypeVar("T")


@dataclass
class _Member:
    claim: Claim
    outcome: str = "running"  # running → done | stopped | released | failed
    started: float = field(default_factory=time.monotonic)


def run_experiment(experiment_id: uuid.UUID) -> None:
    """Claim the experiment (and compatible queued ones) and train them to the end."""
    settings = get_settings()

    def claim() -> list[Claim]:
        with session_scope() as session:
            return claim_group(
                session,
                experiment_id=experiment_id,
                lease_seconds=settings.lease_seconds,
                group_size=settings.group_size,
                max_attempts=settings.max_attempts,
            )

    claims = with_db_retry(claim, what="claim")
    if not claims:
        log.info("experiment %s is not waiting for a worker; nothing to do", experiment_id)
        return
    members = {c.experiment_id: _Member(c) for c in claims}
    log.info(
        "claimed %d experiment(s): %s",
        len(claims),
        ", ".join(f"{c.experiment_id}#{c.attempt}" for c in claims),
    )
    stop_heartbeat = threading.Event()
    heartbeat = threading.Thread(
        target=_heartbeat, args=(members, settings, stop_heartbeat), daemon=True
    )
    heartbeat.start()
    try:
        _train(members, settings)
    except Exception as exc:
        log.exception("training of %d experiment(s) failed", len(members))
        for member in members.values():
            if member.outcome == "running":
                _fail(member, f"{type(exc).__name__}: {exc}")
    finally:
        stop_heartbeat.set()
        # A beat stuck on a dead connection must not hold the results hostage: it is a daemon.
        heartbeat.join(timeout=max(1.0, settings.lease_seconds / 2))
    for member in members.values():
        if member.outcome in ("running", "done"):
            with_db_retry(functools.partial(_finish, member), what="finish")
    released = [m.claim.experiment_id for m in members.values() if m.outcome == "released"]
    # Ring the doorbell again so another worker resumes them without waiting for a lease.
    publish(released, queue=claims[0].queue)


def _train(members: dict[uuid.UUID, _Member], settings: Settings) -> None:
    lead = next(iter(members.values())).claim.spec
    data = load_dataset(
        lead.dataset.name, train_samples=lead.dataset.train_samples, mnist_path=settings.mnist_path
    )
    steps_per_epoch = math.ceil(data.info.train_samples / lead.training.batch_size)

    def setup() -> dict[uuid.UUID, bytes | None]:
        with session_scope() as session:
            for m in members.values():
                if not record_dataset(
                    session,
                    experiment_id=m.claim.experiment_id,
                    attempt=m.claim.attempt,
                    dataset=data.info.as_dict(),
                ):
                    m.outcome = "stopped"
            return {
                m.claim.experiment_id: resume_point(session, experiment_id=m.claim.experiment_id)
                if m.claim.epochs_done
                else None
                for m in members.values()
            }

    resumes = with_db_retry(setup, what="setup")
    configs = []
    for experiment_id, m in members.items():
        if m.outcome != "running":
            continue
        spec = m.claim.spec
        configs.append(
            MemberConfig(
                key=str(experiment_id),
                epochs=spec.training.epochs,
                batch_size=spec.training.batch_size,
                learning_rate=spec.training.learning_rate,
                optimizer=spec.training.optimizer,
                momentum=spec.training.momentum,
                seed=spec.training.seed,
                schedule=build_run(
                    spec.scheduler,
                    base_lr=spec.training.learning_rate,
                    epochs=spec.training.epochs,
                    steps_per_epoch=steps_per_epoch,
                ),
                resume=resumes.get(experiment_id),
            )
        )
        if m.claim.epochs_done:
            log.info("experiment %s resumes after epoch %d", experiment_id, m.claim.epochs_done)

    def on_epoch(report: EpochReport) -> bool:
        member = members[uuid.UUID(report.key)]
        if not with_db_retry(lambda: _record(member, report, settings), what="epoch commit"):
            member.outcome = "stopped"  # cancelled, or another attempt owns it now
            return False
        if report.epoch >= member.claim.spec.training.epochs:
            member.outcome = "done"
            return True
        if stop_requested():
            with_db_retry(lambda: _release(member), what="release")
            return False
        if time.monotonic() - member.started > settings.experiment_time_limit_seconds:
            _fail(member, f"exceeded the time limit of {settings.experiment_time_limit_seconds}s")
            return False
        return True

    def on_failure(key: str, error: TrainingError) -> None:
        _fail(members[uuid.UUID(key)], str(error))

    if configs:
        train_group(configs, data, on_epoch=on_epoch, on_failure=on_failure)


def _record(member: _Member, report: EpochReport, settings: Settings) -> bool:
    with session_scope() as session:
        return record_epoch(
            session,
            experiment_id=member.claim.experiment_id,
            attempt=member.claim.attempt,
            metrics=EpochMetrics(
                epoch=report.epoch,
                lr=report.lr,
                step_lrs=report.step_lrs,
                loss=report.loss,
                accuracy=report.accuracy,
                val_loss=report.val_loss,
                val_accuracy=report.val_accuracy,
                seconds=report.seconds,
            ),
            lease_seconds=settings.lease_seconds,
            checkpoint=report.checkpoint or None,
        )


def _release(member: _Member) -> None:
    with session_scope() as session:
        if release_experiment(
            session, experiment_id=member.claim.experiment_id, attempt=member.claim.attempt
        ):
            member.outcome = "released"
            log.info("experiment %s handed back after a checkpoint", member.claim.experiment_id)


def _fail(member: _Member, error: str) -> None:
    member.outcome = "failed"

    def write() -> None:
        with session_scope() as session:
            fail_experiment(
                session,
                experiment_id=member.claim.experiment_id,
                attempt=member.claim.attempt,
                error=error,
            )

    with_db_retry(write, what="fail")
    log.warning("experiment %s failed: %s", member.claim.experiment_id, error)


def _finish(member: _Member) -> None:
    with session_scope() as session:
        finish_experiment(
            session, experiment_id=member.claim.experiment_id, attempt=member.claim.attempt
        )
    log.info("experiment %s succeeded", member.claim.experiment_id)


def _heartbeat(
    members: dict[uuid.UUID, _Member], settings: Settings, stop: threading.Event
) -> None:
    """Renew the group's leases until training ends; a missed beat only shortens a lease."""
    interval = max(1.0, settings.lease_seconds / 4)
    while not stop.wait(interval):
        held = [
            (m.claim.experiment_id, m.claim.attempt)
            for m in members.values()
            if m.outcome == "running"
        ]
        try:
            with session_scope() as session:
                renew_leases(session, claims=held, lease_seconds=settings.lease_seconds)
        except (OperationalError, DBAPIError) as exc:
            log.warning("lease renewal failed, will retry: %s", str(exc).splitlines()[0])


def with_db_retry(action: Callable[[], T], *, what: str, patience: float = 300.0) -> T:
    """Run `action`, retrying with backoff while the database is unreachable."""
    delay, waited = 0.25, 0.0
    while True:
        try:
            return action()
        except OperationalError as exc:
            if waited >= patience:
                raise
            log.warning(
                "database unreachable during %s, retrying in %.1fs: %s",
                what,
                delay,
                str(exc).splitlines()[0],
            )
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 5.0)
