"""The optimizers a spec may choose: Keras' names, parameters and defaults, described once.

The table feeds validation (a parameter the chosen optimizer lacks is refused by name), the
`GET /models` catalog and the worker (`resolve`), which reproduces each Keras optimizer's
arithmetic (worker.optimizers).
"""

from dataclasses import dataclass
from typing import Any, Literal

OptimizerName = Literal["adam", "adamw", "sgd", "rmsprop", "nadam", "lion", "schedule_free_adamw"]


@dataclass(frozen=True)
class Param:
    """One optimizer parameter: its JSON Schema and meaning."""

    schema: dict[str, Any]
    description: str


_UNIT = {"type": "number", "minimum": 0, "exclusiveMaximum": 1}
PARAMS: dict[str, Param] = {
    "momentum": Param(_UNIT, "Momentum factor."),
    "nesterov": Param({"type": "boolean"}, "Nesterov momentum."),
    "weight_decay": Param(
        {"type": "number", "minimum": 0, "maximum": 1},
        "Decoupled weight decay: each step w ← w − w·weight_decay·lr before the update (Keras).",
    ),
    "beta_1": Param(_UNIT, "First-moment decay."),
    "beta_2": Param(_UNIT, "Second-moment decay."),
    "epsilon": Param({"type": "number", "exclusiveMinimum": 0, "maximum": 1}, "Stability term."),
    "rho": Param(_UNIT, "Squared-gradient discount."),
    "centered": Param({"type": "boolean"}, "Normalise by the gradient's estimated variance."),
}


@dataclass(frozen=True)
class Optimizer:
    """A Keras optimizer: its class and the defaults of the parameters it takes."""

    keras_class: str
    description: str
    defaults: dict[str, float | bool]


OPTIMIZERS: dict[str, Optimizer] = {
    "adam": Optimizer(
        "Adam",
        "Adam (Kingma & Ba 2015).",
        {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "weight_decay": 0.0},
    ),
    "adamw": Optimizer(
        "AdamW",
        "Adam with decoupled weight decay (Loshchilov & Hutter 2019).",
        {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "weight_decay": 0.004},
    ),
    "sgd": Optimizer(
        "SGD",
        "Stochastic gradient descent with optional (Nesterov) momentum.",
        {"momentum": 0.0, "nesterov": False, "weight_decay": 0.0},
    ),
    "rmsprop": Optimizer(
        "RMSprop",
        "RMSprop (Hinton), optionally centered and with momentum.",
        {"rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False, "weight_decay": 0.0},
    ),
    "nadam": Optimizer(
        "Nadam",
        "Adam with Nesterov momentum (Dozat 2016).",
        {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "weight_decay": 0.0},
    ),
    "lion": Optimizer(
        "Lion",
        "Sign momentum (Chen et al. 2023); usually wants a 3-10× smaller lr than Adam.",
        {"beta_1": 0.9, "beta_2": 0.99, "weight_decay": 0.0},
    ),
    "schedule_free_adamw": Optimizer(
        "ScheduleFreeAdamW",
        "Schedule-free AdamW (Defazio et al. 2024): trains at an interpolation of its "
        "iterate and average; metrics are taken at the trained point, as in Keras.",
        {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "weight_decay": 0.0},
    ),
}

# Fields of TrainingSpec that are optimizer parameters; unset means the optimizer's default.
OPTIMIZER_FIELDS = tuple(PARAMS)


def check_applies(optimizer: str, given: dict[str, Any]) -> None:
    """Refuse a parameter the optimizer does not take (ValueError naming the field)."""
    takes = OPTIMIZERS[optimizer].defaults
    for name, value in given.items():
        if value is None or name in takes:
            continue
        # Stored specs carry momentum 0.0 and the booleans False for every optimizer.
        if value is False or (name == "momentum" and value == 0):
            continue
        users = ", ".join(f"`{o}`" for o, opt in OPTIMIZERS.items() if name in opt.defaults)
        raise ValueError(f"`{name}` applies only to optimizer {users}, got `{optimizer}`")


def resolve(optimizer: str, given: dict[str, Any]) -> dict[str, float | bool]:
    """The optimizer's parameters: the given ones over Keras' defaults (only those it takes)."""
    check_applies(optimizer, given)
    params = dict(OPTIMIZERS[optimizer].defaults)
    for name in params:
        if given.get(name) is not None:
            params[name] = given[name]
    return params


def optimizer_catalog() -> list[dict[str, Any]]:
    """Every optimizer with its Keras class, description and parameters (schema + default)."""
    return [
        {
            "name": name,
            "keras_class": opt.keras_class,
            "description": opt.description,
            "parameters": {
                p: {**PARAMS[p].schema, "default": d, "description": PARAMS[p].description}
                for p, d in opt.defaults.items()
            },
        }
        for name, opt in OPTIMIZERS.items()
    ]
