"""The per-epoch metric fields, declared once; the `metric` table stores exactly these."""

from pydantic import BaseModel, ConfigDict, Field


class MetricRead(BaseModel):
    """One epoch's metrics."""

    model_config = ConfigDict(from_attributes=True)

    epoch: int = Field(ge=1)
    lr: float
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float = Field(ge=0)


class EpochMetrics(MetricRead):
    """What the worker reports at the end of an epoch: the metrics and every step's lr."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    step_lrs: list[float]


# What a schedule can monitor: the measured values, not the epoch's number, lr or duration.
METRIC_NAMES = tuple(f for f in MetricRead.model_fields if f not in ("epoch", "lr", "seconds"))
