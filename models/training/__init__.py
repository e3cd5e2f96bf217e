"""What a spec may train, described once: model families, optimizers, datasets, epoch metrics.

- `families`: the model families and datasets, for validation and the `GET /models` catalog.
- `optimizers`: Keras' optimizers with their parameters and defaults.
- `epoch_fields`: the per-epoch metric fields; the `metric` table stores exactly these.

Pure descriptions: the worker builds and trains what these describe."""

from models.training.epoch_fields import (
    METRIC_NAMES,
    EpochMetrics,
    MetricRead,
    float32_shortest,
)
from models.training.families import (
    DATASET_TRAIN_SAMPLES,
    FAMILIES,
    MODEL_ADAPTER,
    CnnSpec,
    DatasetName,
    MlpSpec,
    ModelSpec,
    catalog,
    cnn_sides,
    parameter_count,
    steps_per_epoch,
)
from models.training.optimizers import (
    OPTIMIZER_FIELDS,
    OPTIMIZERS,
    OptimizerName,
    check_applies,
    resolve,
)

__all__ = [
    "DATASET_TRAIN_SAMPLES",
    "FAMILIES",
    "METRIC_NAMES",
    "MODEL_ADAPTER",
    "OPTIMIZERS",
    "OPTIMIZER_FIELDS",
    "CnnSpec",
    "DatasetName",
    "EpochMetrics",
    "MetricRead",
    "MlpSpec",
    "ModelSpec",
    "OptimizerName",
    "catalog",
    "check_applies",
    "cnn_sides",
    "float32_shortest",
    "parameter_count",
    "resolve",
    "steps_per_epoch",
]
