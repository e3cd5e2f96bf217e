"""The per-epoch metric fields, declared once; the `metric` table stores exactly these."""

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_serializer


def float32_shortest(values: Sequence[float]) -> list[float]:
    """The shortest decimals that round-trip to these values' float32 (the lrs that trained).

    The optimizer holds lrs in float32; widened to double, 0.01 reads 0.009999999776482582.
    numpy prints each float32 as its shortest unique decimal, in C for the whole array.
    """
    return np.asarray(values, dtype=np.float32).astype(str).astype(np.float64).tolist()  # type: ignore[no-any-return]


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

    @field_serializer("lr")
    def _lr_as_trained(self, lr: float) -> float:
        # Read out (JSON and CSV) as people write it: 0.01, still the float32 that trained.
        return float32_shortest([lr])[0]


class EpochMetrics(MetricRead):
    """What the worker reports at the end of an epoch: the metrics and every step's lr."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    step_lrs: list[float]

    @field_serializer("lr")
    def _lr_as_trained(self, lr: float) -> float:
        # Stored exactly as measured; only the read side rounds for people.
        return lr


# What a schedule can monitor: the measured values, not the epoch's number, lr or duration.
METRIC_NAMES = tuple(f for f in MetricRead.model_fields if f not in ("epoch", "lr", "seconds"))
