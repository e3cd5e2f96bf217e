"""Model families and datasets: what a spec may train, described once for validation and catalog.

Each family is a pydantic spec (validation, JSON Schema, defaults) plus its parameter count;
the worker builds the network from the same spec (worker.network). No TensorFlow here.
"""

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from models.training.optimizers import optimizer_catalog

NUM_CLASSES = 10


class _Family(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)


Activation = Literal["relu", "tanh", "gelu", "sigmoid", "silu", "elu"]


class MlpSpec(_Family):
    """Dense layers on the flattened image, then Dense(10, softmax); the default is the seed MLP."""

    type: Literal["mlp"] = "mlp"
    hidden_units: list[Annotated[int, Field(ge=1, le=4096)]] = Field(
        default=[128], min_length=1, max_length=8, description="Units of each hidden Dense layer."
    )
    activation: Activation = Field(default="relu", description="Activation of the hidden layers.")
    dropout: float = Field(
        default=0.0, ge=0, le=0.9, description="Dropout after each hidden layer (training)."
    )


class CnnSpec(_Family):
    """Keras' "Simple MNIST convnet": [Conv2D(f, k, relu) → MaxPool(2)] per filter count →
    Flatten → Dropout → Dense(10, softmax)."""

    type: Literal["cnn"] = "cnn"
    filters: list[Annotated[int, Field(ge=1, le=256)]] = Field(
        default=[32, 64], min_length=1, max_length=3, description="Filters of each Conv2D layer."
    )
    kernel_size: int = Field(default=3, ge=1, le=7, description="Kernel size of every Conv2D.")
    dropout: float = Field(
        default=0.5, ge=0, le=0.9, description="Dropout before the classifier (training)."
    )

    @model_validator(mode="after")
    def _leaves_pixels(self) -> "CnnSpec":
        side = 28
        for layer in range(len(self.filters)):
            side = (side - self.kernel_size + 1) // 2
            if side < 1:
                raise ValueError(
                    f"`kernel_size` {self.kernel_size} with {len(self.filters)} conv layers leaves "
                    f"no pixels of a 28×28 image after layer {layer + 1}"
                )
        return self


ModelSpec = Annotated[MlpSpec | CnnSpec, Field(discriminator="type")]
MODEL_ADAPTER: TypeAdapter[MlpSpec | CnnSpec] = TypeAdapter(ModelSpec)
FAMILIES: dict[str, type[MlpSpec] | type[CnnSpec]] = {"mlp": MlpSpec, "cnn": CnnSpec}


def cnn_sides(spec: CnnSpec, side: int = 28) -> list[int]:
    """The image side after each conv+pool block: side ← floor((side − k + 1) / 2)."""
    sides = []
    for _ in spec.filters:
        side = (side - spec.kernel_size + 1) // 2
        sides.append(side)
    return sides


def parameter_count(spec: MlpSpec | CnnSpec, *, side: int = 28) -> int:
    """Trainable parameters of the family on side×side×1 images and 10 classes."""
    if isinstance(spec, MlpSpec):
        width, total = side * side, 0
        for units in spec.hidden_units:
            total += width * units + units
            width = units
        return total + width * NUM_CLASSES + NUM_CLASSES
    channels, total = 1, 0
    for filters in spec.filters:
        total += spec.kernel_size**2 * channels * filters + filters
        channels = filters
    last = cnn_sides(spec, side)[-1]
    return total + last * last * channels * NUM_CLASSES + NUM_CLASSES


DatasetName = Literal["mnist", "fashion_mnist"]

# Sizes of the standard splits: the preview's steps per epoch and the catalog come from these.
DATASETS: dict[str, dict[str, Any]] = {
    "mnist": {
        "description": "Handwritten digits (LeCun et al.), 28×28 grey.",
        "train_samples": 60_000,
        "val_samples": 10_000,
        "image_shape": [28, 28, 1],
        "classes": NUM_CLASSES,
    },
    "fashion_mnist": {
        "description": "Zalando's Fashion-MNIST clothing images (Xiao et al. 2017), 28×28 grey.",
        "train_samples": 60_000,
        "val_samples": 10_000,
        "image_shape": [28, 28, 1],
        "classes": NUM_CLASSES,
    },
}


def train_size(name: str) -> int:
    """Training images of a named dataset's standard split."""
    return int(DATASETS[name]["train_samples"])


# The published training-split sizes, by dataset name.
DATASET_TRAIN_SAMPLES = {name: train_size(name) for name in DATASETS}


def catalog() -> dict[str, Any]:
    """The `GET /models` catalog: model families, optimizers and datasets."""
    families = []
    for name, cls in FAMILIES.items():
        default = cls()
        families.append(
            {
                "type": name,
                "description": (cls.__doc__ or "").split("\n\n")[0].replace("\n   ", ""),
                "parameters": cls.model_json_schema(),
                "defaults": default.model_dump(),
                "parameter_count": parameter_count(default),
            }
        )
    return {
        "families": families,
        "optimizers": optimizer_catalog(),
        "datasets": [{"name": n, **info} for n, info in DATASETS.items()],
    }


def steps_per_epoch(*, dataset: str, train_samples: int, batch_size: int) -> int:
    """Optimizer steps per epoch: ceil(min(train_samples, the dataset's size) / batch_size)."""
    return math.ceil(min(train_samples, train_size(dataset)) / batch_size)
