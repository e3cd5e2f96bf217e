"""One valid spec per scheduler type, and helpers that turn specs or schedules into lr lists."""

from typing import Any

import numpy as np
from pydantic import TypeAdapter

from models.schedules import PreviewRequest, SchedulerSpec, preview

SPEC = TypeAdapter(SchedulerSpec)

# One valid spec per type, used where any schedule will do.
EXAMPLES: dict[str, dict[str, Any]] = {
    "constant": {"type": "constant", "factor": 0.5, "total_iters": 3},
    "step": {"type": "step", "step_size": 3, "gamma": 0.5},
    "multistep": {"type": "multistep", "milestones": [2, 5]},
    "exponential": {"type": "exponential", "gamma": 0.9},
    "cosine": {"type": "cosine", "t_max": 8},
    "cosine_warm_restarts": {"type": "cosine_warm_restarts", "t_0": 2, "t_mult": 2},
    "plateau": {"type": "plateau", "patience": 1, "factor": 0.5},
    "cyclic": {"type": "cyclic", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3},
    "one_cycle": {"type": "one_cycle", "max_lr": 0.1},
    "linear": {"type": "linear", "start_factor": 0.25, "total_iters": 4},
    "polynomial": {"type": "polynomial", "total_iters": 6, "power": 2.0},
    "keras.exponential_decay": {
        "type": "keras.exponential_decay",
        "decay_steps": 4,
        "decay_rate": 0.5,
    },
    "keras.piecewise_constant_decay": {
        "type": "keras.piecewise_constant_decay",
        "boundaries": [3, 8],
        "values": [0.1, 0.05, 0.01],
    },
    "keras.polynomial_decay": {"type": "keras.polynomial_decay", "decay_steps": 6, "cycle": True},
    "keras.inverse_time_decay": {
        "type": "keras.inverse_time_decay",
        "decay_steps": 2,
        "decay_rate": 0.5,
        "staircase": True,
    },
    "keras.cosine_decay": {
        "type": "keras.cosine_decay",
        "decay_steps": 10,
        "alpha": 0.1,
        "warmup_target": 0.2,
        "warmup_steps": 3,
    },
    "keras.cosine_decay_restarts": {"type": "keras.cosine_decay_restarts", "first_decay_steps": 3},
    "transformers.linear": {"type": "transformers.linear", "num_warmup_steps": 2},
    "transformers.cosine": {"type": "transformers.cosine", "num_warmup_steps": 2},
    "transformers.cosine_with_restarts": {
        "type": "transformers.cosine_with_restarts",
        "num_cycles": 2,
    },
    "transformers.polynomial": {"type": "transformers.polynomial", "power": 2.0, "lr_end": 1e-3},
    "transformers.constant": {"type": "transformers.constant"},
    "transformers.constant_with_warmup": {
        "type": "transformers.constant_with_warmup",
        "num_warmup_steps": 3,
    },
    "transformers.inverse_sqrt": {"type": "transformers.inverse_sqrt", "num_warmup_steps": 3},
    "transformers.cosine_with_min_lr": {"type": "transformers.cosine_with_min_lr", "min_lr": 1e-3},
    "transformers.cosine_warmup_with_min_lr": {
        "type": "transformers.cosine_warmup_with_min_lr",
        "num_warmup_steps": 2,
        "min_lr_rate": 0.1,
    },
    "transformers.warmup_stable_decay": {
        "type": "transformers.warmup_stable_decay",
        "num_warmup_steps": 2,
        "num_stable_steps": 3,
        "num_decay_steps": 4,
        "decay_type": "1-sqrt",
    },
    "sequential": {
        "type": "sequential",
        "schedulers": [{"type": "linear", "total_iters": 3}, {"type": "cosine", "t_max": 5}],
        "milestones": [3],
    },
}


def lrs(schedule: Any, n: int, base: float = 0.1) -> list[float]:
    """lr(0..n-1) of a math object."""
    return [float(v) for v in schedule.lrs(np.arange(n, dtype=np.int64), base)]


def run_lrs(spec: dict[str, Any], *, epochs: int, spe: int = 1, base: float = 0.1) -> list[float]:
    """The per-step lrs of a run of `spec`, through the preview."""
    request = PreviewRequest(
        scheduler=SPEC.validate_python(spec), learning_rate=base, epochs=epochs, steps_per_epoch=spe
    )
    return preview(request).steps
