"""Experiments: their schemas, submission, reads, attempts and what the attempts record.

- `schemas`: the API's experiment schemas (`ExperimentCreate`, `ExperimentRead`, ...).
- `service`: submit, read, list, cancel, and the read model.
- `submissions`: many single submissions stored in one transaction (the API's group commit).
- `quotas`: per-project quotas, checked before anything of a submission is stored.
- `lr_seeding`: learning rates seeded from a finished range test's suggestion.
- `attempts`: the experiment kind of job (`EXPERIMENT_JOBS`): fused group claims, resume
  points, notes, and closing with a summary.
- `records`: what an attempt records epoch by epoch (fenced by attempt).
- `checkpoint_store`: where checkpoints live (Postgres or files), never what is in them."""

from models.experiments.attempts import (
    EXPERIMENT_JOBS,
    RUN_EXPERIMENT_TASK,
    Claim,
    claim_group,
    close_experiment,
    close_experiments,
    fail_experiment,
    finish_experiment,
    resume_point,
)
from models.experiments.checkpoint_store import (
    checkpoint_epoch,
    delete_checkpoints,
    load_checkpoint,
    remove_checkpoint_files,
    remove_ended_checkpoint_files,
    save_checkpoint,
    sweep_checkpoint_files,
)
from models.experiments.lr_seeding import (
    has_lr_references,
    resolve_lr_references,
)
from models.experiments.quotas import (
    check_quotas,
    check_range_test_quota,
    request_steps,
)
from models.experiments.records import (
    record_dataset,
    record_epoch,
    record_recomputed_epoch,
)
from models.experiments.schemas import (
    DatasetSpec,
    ExperimentAccepted,
    ExperimentCreate,
    ExperimentPage,
    ExperimentRead,
    KeyRef,
    LrSources,
    MetricList,
    OptimizerChoice,
    QueueName,
    StepLrPage,
    TrainingSpec,
    allowed_queue,
)
from models.experiments.service import (
    accept_experiment_spec,
    cancel_experiment,
    create_experiment,
    experiment_counts,
    experiment_read,
    experiment_values,
    get_experiment,
    insert_experiments,
    key_ref,
    list_experiments,
    list_metrics,
    list_step_lrs,
    metric_rows,
    submit_experiment,
)
from models.experiments.submissions import (
    Submission,
    store_submissions,
)

__all__ = [
    "EXPERIMENT_JOBS",
    "RUN_EXPERIMENT_TASK",
    "Claim",
    "DatasetSpec",
    "ExperimentAccepted",
    "ExperimentCreate",
    "ExperimentPage",
    "ExperimentRead",
    "KeyRef",
    "LrSources",
    "MetricList",
    "OptimizerChoice",
    "QueueName",
    "StepLrPage",
    "Submission",
    "TrainingSpec",
    "accept_experiment_spec",
    "allowed_queue",
    "cancel_experiment",
    "check_quotas",
    "check_range_test_quota",
    "checkpoint_epoch",
    "claim_group",
    "close_experiment",
    "close_experiments",
    "create_experiment",
    "delete_checkpoints",
    "experiment_counts",
    "experiment_read",
    "experiment_values",
    "fail_experiment",
    "finish_experiment",
    "get_experiment",
    "has_lr_references",
    "insert_experiments",
    "key_ref",
    "list_experiments",
    "list_metrics",
    "list_step_lrs",
    "load_checkpoint",
    "metric_rows",
    "record_dataset",
    "record_epoch",
    "record_recomputed_epoch",
    "remove_checkpoint_files",
    "remove_ended_checkpoint_files",
    "request_steps",
    "resolve_lr_references",
    "resume_point",
    "save_checkpoint",
    "store_submissions",
    "submit_experiment",
    "sweep_checkpoint_files",
]
