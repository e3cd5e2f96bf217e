"""Glue between the ledger and the training engine: claim, train, record every epoch."""

import logging
import math
import uuid

from models.db import session_scope
from models.experiments import (
    claim_experiment,
    fail_experiment,
    finish_experiment,
    record_dataset,
    record_epoch,
)
from models.schedules import build_run
from models.settings import get_settings
from models.specs import EpochMetrics, ExperimentCreate
from worker.datasets import load_dataset
from worker.engine import EpochReport, MemberConfig, train_group

log = logging.getLogger("lrlab.worker")


def run_experiment(experiment_id: uuid.UUID) -> None:
    """Claim the experiment and train it to the end, committing one metrics row per epoch."""
    settings = get_settings()
    with session_scope() as session:
        experiment = claim_experiment(
            session, experiment_id=experiment_id, lease_seconds=settings.lease_seconds
        )
        if experiment is None:
            log.info("experiment %s is not queued; nothing to do", experiment_id)
            return
        spec = ExperimentCreate.model_validate(experiment.spec)
        attempt = experiment.attempt
    log.info("experiment %s: attempt %d starts", experiment_id, attempt)
    try:
        data = load_dataset(
            spec.dataset.name,
            train_samples=spec.dataset.train_samples,
            mnist_path=settings.mnist_path,
        )
        with session_scope() as session:
            if not record_dataset(
                session, experiment_id=experiment_id, attempt=attempt, dataset=data.info.as_dict()
            ):
                return
        steps_per_epoch = math.ceil(data.info.train_samples / spec.training.batch_size)
        member = MemberConfig(
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
        )

        def on_epoch(report: EpochReport) -> bool:
            with session_scope() as session:
                return record_epoch(
                    session,
                    experiment_id=experiment_id,
                    attempt=attempt,
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
                )

        train_group([member], data, on_epoch=on_epoch)
    except Exception as exc:
        log.exception("experiment %s: attempt %d failed", experiment_id, attempt)
        with session_scope() as session:
            fail_experiment(
                session, experiment_id=experiment_id, attempt=attempt, error=_describe(exc)
            )
        return
    with session_scope() as session:
        finish_experiment(session, experiment_id=experiment_id, attempt=attempt)
    log.info("experiment %s: attempt %d finished", experiment_id, attempt)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
