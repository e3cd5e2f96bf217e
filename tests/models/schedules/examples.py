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
