"""How many samples each dataset holds: what the live workers loaded, else the published size."""

from typing import Literal

from pydantic import BaseModel, Field

from models.jobs.presence import WorkerInfo
from models.training import DATASET_TRAIN_SAMPLES


class DatasetRead(BaseModel):
    """One dataset's size, as a client needs it to size a run (steps per epoch)."""

    name: str
    train_samples: int = Field(description="Training samples a run can use at most.")
    val_samples: int | None = Field(description="Validation samples, where a worker said.")
    source: Literal["workers", "published"] = Field(
        description="`workers`: the smallest copy a live worker loaded; `published`: the "
        "dataset's published size (no live worker has reported it)."
    )


def dataset_sizes(workers: list[WorkerInfo]) -> list[DatasetRead]:
    """Every known dataset's size; where workers disagree, the smallest (a run may land there)."""
    out = []
    for name, published in sorted(DATASET_TRAIN_SAMPLES.items()):
        loaded = [w.datasets[name] for w in workers if name in w.datasets]
        if loaded:
            smallest = min(loaded, key=lambda d: d.train_samples)
            out.append(
                DatasetRead(
                    name=name,
                    train_samples=smallest.train_samples,
                    val_samples=smallest.val_samples,
                    source="workers",
                )
            )
        else:
            out.append(
                DatasetRead(
                    name=name, train_samples=published, val_samples=None, source="published"
                )
            )
    return out
