"""Glue between the ledger and the training engine: claim, train, record every epoch.

A task claims its experiment plus compatible queued ones (its claims, trained fused), keeps
their leases alive from a heartbeat thread, and commits each epoch, with a checkpoint when the
policy (LRLAB_CHECKPOINT_EVERY_SECONDS, SIGTERM) asks for one. A resumed attempt trains the
epochs after its checkpoint again and compares them with the recorded rows instead of writing
them. Every write names the attempt that claimed the run, so a worker that lost its lease
cannot overwrite newer work.
"""

import functools
import logging
import math
import threading
import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select

from models.experiments import (
    EXPERIMENT_JOBS,
    Claim,
    claim_group,
    fail_experiment,
    finish_experiment,
    record_dataset,
    record_epoch,
    record_recomputed_epoch,
    remove_ended_checkpoint_files,
    resume_point,
)
from models.jobs import publish, release_job
from models.schedules import build_run
from models.storage import Settings, get_settings, session_scope
from models.sweeps import judge_epoch
from models.tables import Experiment
from worker import presence
from worker.backend import describe_device, runtime_info
from worker.datasets import load_dataset
from worker.engine import CheckpointPolicy, train_members
from worker.leases import heartbeat, with_db_retry
from worker.members import EpochReport, MemberConfig, TrainingError
from worker.prometheus import EPOCH_SECONDS, MEMBER_EPOCHS, PRUNED
from worker.shutdown import stop_requested

log = logging.getLogger("lrlab.worker")


class Outcome(StrEnum):
    """How this attempt's training of one claimed experiment went (not the job's status)."""

    RUNNING = "running"
    DONE = "done"  # the last epoch's commit finished the run
    STOPPED = "stopped"  # cancelled, or another attempt owns the run now
    RELEASED = "released"  # handed back to the queue after a checkpoint
    FAILED = "failed"
    PRUNED = "pruned"


@dataclass
class _Claimed:
    """One claimed experiment and how its training ended."""

    claim: Claim
    outcome: Outcome = Outcome.RUNNING
    # Seconds this attempt spent training the member: its stack's epochs, nothing else.
    trained: float = 0.0


def claim(experiment_id: uuid.UUID, *, token: uuid.UUID, settings: Settings) -> list[Claim]:
    """Claim the experiment and compatible ones in one transaction, naming the claim `token`."""
    with session_scope() as session:
        return claim_group(
            session,
            experiment_id=experiment_id,
            lease_seconds=settings.lease_seconds,
            group_size=settings.group_size,
            max_attempts=settings.max_attempts,
            claim_token=token,
        )


def claim_and_train(experiment_id: uuid.UUID) -> None:
    """Claim the experiment (and compatible queued ones) and train them to the end."""
    settings = get_settings()
    # Made before the first try: a retry after a lost COMMIT acknowledgement finds its claim.
    token = uuid.uuid4()
    claims = with_db_retry(
        lambda: claim(experiment_id, token=token, settings=settings), what="claim"
    )
    if not claims:
        log.info("experiment %s is not waiting for a worker; nothing to do", experiment_id)
        return
    claimed = {c.experiment_id: _Claimed(c) for c in claims}
    log.info(
        "claimed %d experiment(s): %s",
        len(claims),
        ", ".join(f"{c.experiment_id}#{c.attempt}" for c in claims),
    )
    stop_heartbeat = threading.Event()
    beat = threading.Thread(
        target=_heartbeat, args=(claimed, settings, stop_heartbeat), daemon=True
    )
    beat.start()
    presence.training([str(key) for key in claimed])
    try:
        _train(claimed, settings)
    except Exception as exc:
        log.exception("training of %d experiment(s) failed", len(claimed))
        for run in claimed.values():
            if run.outcome == Outcome.RUNNING:
                _record_failure(run, f"{type(exc).__name__}: {exc}")
    finally:
        stop_heartbeat.set()
        presence.finished([str(key) for key in claimed])
        # A beat stuck on a dead connection must not hold the results hostage: it is a daemon.
        beat.join(timeout=max(1.0, settings.lease_seconds / 2))
    for run in claimed.values():
        if run.outcome == Outcome.RUNNING:
            with_db_retry(functools.partial(_finish, run), what="finish")
        if run.outcome != Outcome.RELEASED:
            # Workers own checkpoint files: once the run has ended, its files go.
            with_db_retry(
                functools.partial(_remove_files, run.claim.experiment_id), what="checkpoint files"
            )
    released = [r.claim.experiment_id for r in claimed.values() if r.outcome == Outcome.RELEASED]
    # Ring the doorbell again so another worker resumes them without waiting for a lease.
    publish(released, queue=claims[0].queue, kind=EXPERIMENT_JOBS)


def _remove_files(experiment_id: uuid.UUID) -> None:
    with session_scope() as session:
        remove_ended_checkpoint_files(session, experiment_id=experiment_id)


def _train(claimed: dict[uuid.UUID, _Claimed], settings: Settings) -> None:
    lead = next(iter(claimed.values())).claim.spec
    data = load_dataset(
        lead.dataset.name,
        train_samples=lead.dataset.train_samples,
        mnist_path=settings.mnist_path,
        fashion_mnist_path=settings.fashion_mnist_path,
    )
    steps_per_epoch = math.ceil(data.info.train_samples / lead.training.batch_size)

    def setup() -> list[tuple[uuid.UUID, bytes | None]]:
        with session_scope() as session:
            for m in claimed.values():
                check = record_dataset(
                    session,
                    experiment_id=m.claim.experiment_id,
                    attempt=m.claim.attempt,
                    # Provenance: the data, and the device and libraries it trains with.
                    dataset={**data.info.as_dict(), "runtime": runtime_info()},
                )
                # Another worker with the run's data may resume a refused one.
                m.outcome = {
                    "ok": Outcome.RUNNING,
                    "not_owned": Outcome.STOPPED,
                    "mismatch": Outcome.RELEASED,
                }[check]
            # Grid order: members of a stack reaching a rung together are judged in it.
            order = session.scalars(
                select(Experiment.id)
                .where(Experiment.id.in_(list(claimed)))
                .order_by(Experiment.created_at, Experiment.id)
            ).all()
            return [
                (
                    experiment_id,
                    resume_point(session, experiment_id=experiment_id)
                    if claimed[experiment_id].claim.epochs_done
                    and claimed[experiment_id].outcome == Outcome.RUNNING
                    else None,
                )
                for experiment_id in order
            ]

    ordered = with_db_retry(setup, what="setup")
    resumes = dict(ordered)
    configs = []
    for experiment_id, _ in ordered:
        m = claimed[experiment_id]
        if m.outcome != Outcome.RUNNING:
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
                options=spec.training.optimizer_given(),
                model=spec.model,
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

    deterministic = describe_device() == "CPU"
    logged_epochs: set[int] = set()

    def on_epoch(report: EpochReport) -> bool:
        run = claimed[uuid.UUID(report.key)]
        run.trained += report.metrics.seconds
        epoch = report.metrics.epoch
        if epoch not in logged_epochs:
            # The first report of an epoch: every member still training trained it.
            logged_epochs.add(epoch)
            active = sum(r.outcome == Outcome.RUNNING for r in claimed.values())
            log.info("epoch %d trained %d member(s) of this claim", epoch, active)
        MEMBER_EPOCHS.inc()
        if report.metrics.epoch <= run.claim.epochs_done:
            owned = with_db_retry(
                lambda: _verify(run, report, settings, deterministic), what="epoch check"
            )
        else:
            owned = with_db_retry(lambda: _record(run, report, settings), what="epoch commit")
        if run.outcome == Outcome.PRUNED:
            PRUNED.inc()
            log.info(
                "experiment %s pruned at epoch %d: below its rung's cutoff",
                run.claim.experiment_id,
                report.metrics.epoch,
            )
            return False
        if not owned:
            run.outcome = Outcome.STOPPED
            log.info(
                "experiment %s: attempt %d stops, the run was cancelled or another attempt "
                "owns it now",
                run.claim.experiment_id,
                run.claim.attempt,
            )
            return False
        if report.metrics.epoch >= run.claim.spec.training.epochs:
            run.outcome = Outcome.DONE  # the ledger finished it with this epoch's commit
            log.info("experiment %s succeeded", run.claim.experiment_id)
            return True
        # Hand back only after a checkpoint: the policy makes the next epoch end one.
        if stop_requested() and report.checkpoint:
            with_db_retry(lambda: _release(run), what="release")
            return False
        if over_time_limit(run, settings):
            limit = settings.experiment_time_limit_seconds
            _record_failure(run, f"exceeded the time limit of {limit}s (over all attempts)")
            return False
        return True

    def on_failure(key: str, error: TrainingError) -> None:
        _record_failure(claimed[uuid.UUID(key)], str(error))

    policy = CheckpointPolicy(every_seconds=settings.checkpoint_every_seconds, stop=stop_requested)
    if configs:
        train_members(configs, data, on_epoch=on_epoch, on_failure=on_failure, policy=policy)


def _verify(run: _Claimed, report: EpochReport, settings: Settings, deterministic: bool) -> bool:
    with session_scope() as session:
        difference = record_recomputed_epoch(
            session,
            experiment_id=run.claim.experiment_id,
            attempt=run.claim.attempt,
            metrics=report.metrics,
            lease_seconds=settings.lease_seconds,
            deterministic=deterministic,
            checkpoint=report.checkpoint or None,
        )
    if difference:
        log.log(
            logging.ERROR if deterministic else logging.WARNING,
            "experiment %s: recomputed epoch %d differs from its record by %g (record kept)",
            run.claim.experiment_id,
            report.metrics.epoch,
            difference,
        )
    return difference is not None


def _training_seconds(run: _Claimed) -> float:
    return run.claim.training_seconds + run.trained


def over_time_limit(run: _Claimed, settings: Settings) -> bool:
    """Whether the run trained longer than the limit, counting its earlier attempts.

    Training is the member's stack's epochs: not data loading, compilation, commits or the
    epochs of other stacks and members trained by the same claim.
    """
    return _training_seconds(run) > settings.experiment_time_limit_seconds


def _record(run: _Claimed, report: EpochReport, settings: Settings) -> bool:
    EPOCH_SECONDS.observe(report.metrics.seconds)
    with session_scope() as session:
        owned = record_epoch(
            session,
            experiment_id=run.claim.experiment_id,
            attempt=run.claim.attempt,
            metrics=report.metrics,
            lease_seconds=settings.lease_seconds,
            checkpoint=report.checkpoint or None,
            training_seconds=_training_seconds(run),
        )
        # Judged in the epoch's own transaction: a crash loses or doubles no decision.
        if owned and judge_epoch(
            session,
            experiment_id=run.claim.experiment_id,
            attempt=run.claim.attempt,
            metrics=report.metrics,
        ):
            run.outcome = Outcome.PRUNED
        return owned


def _release(run: _Claimed) -> None:
    with session_scope() as session:
        if release_job(
            session,
            kind=EXPERIMENT_JOBS,
            job_id=run.claim.experiment_id,
            attempt=run.claim.attempt,
        ):
            run.outcome = Outcome.RELEASED
            log.info("experiment %s handed back after a checkpoint", run.claim.experiment_id)


def _record_failure(run: _Claimed, error: str) -> None:
    run.outcome = Outcome.FAILED

    def write() -> bool:
        with session_scope() as session:
            return fail_experiment(
                session,
                experiment_id=run.claim.experiment_id,
                attempt=run.claim.attempt,
                error=error,
            )

    if with_db_retry(write, what="fail"):
        log.warning("experiment %s failed: %s", run.claim.experiment_id, error)
    else:
        log.warning(
            "experiment %s: attempt %d could not record its failure (%s): it was cancelled "
            "or another attempt owns it now",
            run.claim.experiment_id,
            run.claim.attempt,
            error,
        )


def _finish(run: _Claimed) -> None:
    with session_scope() as session:
        finished = finish_experiment(
            session, experiment_id=run.claim.experiment_id, attempt=run.claim.attempt
        )
    if finished:
        run.outcome = Outcome.DONE
        log.info("experiment %s succeeded", run.claim.experiment_id)
    else:
        run.outcome = Outcome.STOPPED
        log.warning(
            "experiment %s was not finished by attempt %d: it was cancelled or another "
            "attempt owns it now",
            run.claim.experiment_id,
            run.claim.attempt,
        )


def _heartbeat(
    claimed: dict[uuid.UUID, _Claimed], settings: Settings, stop: threading.Event
) -> None:
    """Renew the claims' leases until training ends."""
    heartbeat(
        lambda: [
            (r.claim.experiment_id, r.claim.attempt)
            for r in claimed.values()
            if r.outcome == Outcome.RUNNING
        ],
        settings=settings,
        stop=stop,
        kind=EXPERIMENT_JOBS,
    )
