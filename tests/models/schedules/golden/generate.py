"""Golden lr curves from the real libraries: Keras 3 and Hugging Face transformers (with torch).

Run by hand, not in CI (torch and transformers are not lrlab dependencies); writes
`keras.json` and `transformers.json` beside this file, with the library versions:

    .venv/bin/pip install torch==2.13.0 'transformers>=5,<6'   # CPU torch, from a local wheel
    PYTHONPATH=. .venv/bin/python tests/models/schedules/golden/generate.py

Each case is an lrlab spec, the run's learning rate and length (steps, interval `step`), and
the lr the library gives at every step t = 0..steps-1: Keras' `schedule(step)` as the
optimizer calls it (an int64 step tensor, float32 result); transformers' `get_scheduler`
stepped like a training loop, reading the optimizer's lr before each `scheduler.step()`. The
library call is built here from the case's own arguments, not from lrlab's code.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

HERE = Path(__file__).parent
STEPS = 1200

# (lrlab spec, learning rate, steps). Keras specs omit `initial_learning_rate`: lrlab takes it
# from the run's learning rate, and the library call gets that value.
KERAS_CASES: list[tuple[dict[str, Any], float, int]] = [
    ({"type": "keras.exponential_decay", "decay_steps": 100, "decay_rate": 0.5}, 0.1, STEPS),
    (
        {
            "type": "keras.exponential_decay",
            "decay_steps": 100,
            "decay_rate": 0.5,
            "staircase": True,
        },
        0.1,
        STEPS,
    ),
    ({"type": "keras.exponential_decay", "decay_steps": 1, "decay_rate": 0.999}, 0.01, STEPS),
    (
        {
            "type": "keras.exponential_decay",
            "decay_steps": 7,
            "decay_rate": 0.96,
            "staircase": True,
        },
        0.003,
        STEPS,
    ),
    ({"type": "keras.exponential_decay", "decay_steps": 250, "decay_rate": 1.5}, 1e-4, STEPS),
    (
        {
            "type": "keras.piecewise_constant_decay",
            "boundaries": [100, 500],
            "values": [0.1, 0.01, 0.001],
        },
        0.1,
        STEPS,
    ),
    (
        {"type": "keras.piecewise_constant_decay", "boundaries": [0], "values": [1.0, 0.5]},
        1.0,
        STEPS,
    ),
    (
        {
            "type": "keras.piecewise_constant_decay",
            "boundaries": [300, 600, 900, 1100],
            "values": [0.05, 0.04, 0.03, 0.02, 0.01],
        },
        0.05,
        STEPS,
    ),
    (
        {"type": "keras.piecewise_constant_decay", "boundaries": [5000], "values": [0.01, 0.001]},
        0.01,
        STEPS,
    ),
    ({"type": "keras.polynomial_decay", "decay_steps": 1000}, 0.1, STEPS),
    (
        {"type": "keras.polynomial_decay", "decay_steps": 300, "power": 2.0, "cycle": True},
        0.1,
        STEPS,
    ),
    (
        {
            "type": "keras.polynomial_decay",
            "decay_steps": 1500,
            "power": 0.5,
            "end_learning_rate": 0.01,
        },
        0.3,
        STEPS,
    ),
    (
        {
            "type": "keras.polynomial_decay",
            "decay_steps": 1,
            "cycle": True,
            "end_learning_rate": 0.0,
        },
        0.02,
        STEPS,
    ),
    (
        {"type": "keras.polynomial_decay", "decay_steps": 77, "power": 3.0, "cycle": True},
        0.001,
        STEPS,
    ),
    ({"type": "keras.inverse_time_decay", "decay_steps": 100, "decay_rate": 0.5}, 0.1, STEPS),
    (
        {
            "type": "keras.inverse_time_decay",
            "decay_steps": 100,
            "decay_rate": 0.5,
            "staircase": True,
        },
        0.1,
        STEPS,
    ),
    ({"type": "keras.inverse_time_decay", "decay_steps": 1, "decay_rate": 0.01}, 0.007, STEPS),
    ({"type": "keras.inverse_time_decay", "decay_steps": 10, "decay_rate": 0.0}, 0.05, STEPS),
    ({"type": "keras.cosine_decay", "decay_steps": 1000}, 0.1, STEPS),
    ({"type": "keras.cosine_decay", "decay_steps": 1500, "alpha": 0.1}, 0.01, STEPS),
    (
        {
            "type": "keras.cosine_decay",
            "decay_steps": 900,
            "warmup_target": 0.01,
            "warmup_steps": 100,
        },
        1e-4,
        STEPS,
    ),
    ({"type": "keras.cosine_decay", "decay_steps": 1200, "warmup_target": 0.05}, 0.001, STEPS),
    (
        {
            "type": "keras.cosine_decay",
            "decay_steps": 500,
            "alpha": 0.2,
            "warmup_target": 0.1,
            "warmup_steps": 2000,
        },
        0.001,
        STEPS,
    ),
    ({"type": "keras.cosine_decay_restarts", "first_decay_steps": 100}, 0.1, STEPS),
    (
        {
            "type": "keras.cosine_decay_restarts",
            "first_decay_steps": 100,
            "t_mul": 1.0,
            "m_mul": 0.5,
            "alpha": 0.1,
        },
        0.1,
        STEPS,
    ),
    (
        {
            "type": "keras.cosine_decay_restarts",
            "first_decay_steps": 50,
            "t_mul": 1.5,
            "m_mul": 0.9,
        },
        0.02,
        STEPS,
    ),
    (
        {
            "type": "keras.cosine_decay_restarts",
            "first_decay_steps": 10,
            "t_mul": 3.0,
            "alpha": 0.01,
        },
        0.05,
        STEPS,
    ),
    ({"type": "keras.cosine_decay_restarts", "first_decay_steps": 2000}, 0.01, STEPS),
]

HF_CASES: list[tuple[dict[str, Any], float, int]] = [
    ({"type": "transformers.linear"}, 0.1, STEPS),
    ({"type": "transformers.linear", "num_warmup_steps": 100}, 5e-5, STEPS),
    (
        {"type": "transformers.linear", "num_warmup_steps": 100, "num_training_steps": 1000},
        0.01,
        STEPS,
    ),
    ({"type": "transformers.linear", "num_warmup_steps": 2000}, 0.01, STEPS),
    ({"type": "transformers.cosine"}, 0.1, STEPS),
    ({"type": "transformers.cosine", "num_warmup_steps": 100}, 3e-4, STEPS),
    ({"type": "transformers.cosine", "num_warmup_steps": 50, "num_cycles": 1.5}, 0.01, STEPS),
    ({"type": "transformers.cosine", "num_training_steps": 1000}, 0.01, STEPS),
    ({"type": "transformers.cosine_with_restarts"}, 0.1, STEPS),
    (
        {"type": "transformers.cosine_with_restarts", "num_warmup_steps": 100, "num_cycles": 3},
        0.01,
        STEPS,
    ),
    (
        {"type": "transformers.cosine_with_restarts", "num_cycles": 5, "num_training_steps": 1000},
        0.01,
        STEPS,
    ),
    (
        {"type": "transformers.cosine_with_restarts", "num_warmup_steps": 1, "num_cycles": 2},
        0.003,
        STEPS,
    ),
    ({"type": "transformers.polynomial"}, 0.1, STEPS),
    (
        {"type": "transformers.polynomial", "num_warmup_steps": 100, "power": 2.0, "lr_end": 1e-4},
        0.01,
        STEPS,
    ),
    (
        {
            "type": "transformers.polynomial",
            "num_training_steps": 1000,
            "power": 0.5,
            "lr_end": 1e-3,
        },
        0.1,
        STEPS,
    ),
    ({"type": "transformers.polynomial", "power": 3.0, "lr_end": 0.0}, 0.05, STEPS),
    ({"type": "transformers.constant"}, 0.1, STEPS),
    ({"type": "transformers.constant"}, 3e-4, STEPS),
    ({"type": "transformers.constant"}, 0.7, STEPS),
    ({"type": "transformers.constant"}, 1e-6, STEPS),
    ({"type": "transformers.constant_with_warmup"}, 0.1, STEPS),
    ({"type": "transformers.constant_with_warmup", "num_warmup_steps": 1}, 0.1, STEPS),
    ({"type": "transformers.constant_with_warmup", "num_warmup_steps": 100}, 0.01, STEPS),
    ({"type": "transformers.constant_with_warmup", "num_warmup_steps": 2000}, 0.01, STEPS),
    ({"type": "transformers.inverse_sqrt"}, 0.1, STEPS),
    ({"type": "transformers.inverse_sqrt", "num_warmup_steps": 100}, 0.01, STEPS),
    ({"type": "transformers.inverse_sqrt", "num_warmup_steps": 100, "timescale": 500}, 0.01, STEPS),
    ({"type": "transformers.inverse_sqrt", "timescale": 10}, 0.01, STEPS),
    ({"type": "transformers.cosine_with_min_lr", "min_lr": 1e-5}, 0.01, STEPS),
    (
        {"type": "transformers.cosine_with_min_lr", "num_warmup_steps": 100, "min_lr_rate": 0.1},
        0.01,
        STEPS,
    ),
    (
        {"type": "transformers.cosine_with_min_lr", "num_cycles": 1.0, "min_lr_rate": 0.2},
        0.1,
        STEPS,
    ),
    (
        {"type": "transformers.cosine_with_min_lr", "num_training_steps": 1000, "min_lr": 1e-4},
        0.003,
        STEPS,
    ),
    (
        {
            "type": "transformers.cosine_warmup_with_min_lr",
            "num_warmup_steps": 100,
            "min_lr_rate": 0.1,
        },
        0.01,
        STEPS,
    ),
    ({"type": "transformers.cosine_warmup_with_min_lr", "min_lr": 1e-5}, 0.01, STEPS),
    (
        {
            "type": "transformers.cosine_warmup_with_min_lr",
            "num_warmup_steps": 100,
            "min_lr_rate": 0.05,
            "warmup_lr_rate": 0.01,
        },
        0.1,
        STEPS,
    ),
    (
        {
            "type": "transformers.cosine_warmup_with_min_lr",
            "num_warmup_steps": 1,
            "num_training_steps": 1000,
            "min_lr": 1e-4,
        },
        0.003,
        STEPS,
    ),
    (
        {
            "type": "transformers.warmup_stable_decay",
            "num_warmup_steps": 100,
            "num_decay_steps": 200,
        },
        0.01,
        STEPS,
    ),
    (
        {
            "type": "transformers.warmup_stable_decay",
            "num_warmup_steps": 100,
            "num_decay_steps": 300,
            "warmup_type": "cosine",
            "decay_type": "1-sqrt",
        },
        0.01,
        STEPS,
    ),
    (
        {
            "type": "transformers.warmup_stable_decay",
            "num_warmup_steps": 50,
            "num_decay_steps": 400,
            "warmup_type": "1-sqrt",
            "decay_type": "linear",
            "min_lr_ratio": 0.1,
        },
        0.1,
        STEPS,
    ),
    (
        {
            "type": "transformers.warmup_stable_decay",
            "num_decay_steps": 500,
            "decay_type": "1-sqrt",
            "min_lr_ratio": 0.05,
        },
        0.003,
        STEPS,
    ),
    (
        {
            "type": "transformers.warmup_stable_decay",
            "num_warmup_steps": 100,
            "num_stable_steps": 300,
            "num_decay_steps": 300,
            "decay_type": "cosine",
            "num_cycles": 1.0,
            "min_lr_ratio": 0.2,
        },
        0.01,
        STEPS,
    ),
    (
        {
            "type": "transformers.warmup_stable_decay",
            "num_warmup_steps": 100,
            "num_stable_steps": 2000,
            "num_decay_steps": 100,
            "warmup_type": "1-sqrt",
        },
        0.01,
        STEPS,
    ),
]


def keras_lrs(spec: dict[str, Any], lr: float, steps: int) -> list[float]:
    """Keras' lr at each step, as its optimizer asks for it (an int64 step tensor)."""
    import keras

    kwargs = {k: v for k, v in spec.items() if k not in ("type", "interval")}
    name = "".join(part.capitalize() for part in spec["type"].removeprefix("keras.").split("_"))
    cls = getattr(keras.optimizers.schedules, name)
    if name != "PiecewiseConstantDecay":
        kwargs["initial_learning_rate"] = lr
    schedule = cls(**kwargs)
    out = []
    for step in range(steps):
        value = keras.ops.convert_to_numpy(schedule(keras.ops.convert_to_tensor(np.int64(step))))
        assert value.dtype == np.float32, value.dtype
        out.append(float(value))
    return out


def transformers_lrs(spec: dict[str, Any], lr: float, steps: int) -> list[float]:
    """transformers' lr at each step of a training loop of `steps` optimizer steps."""
    import torch
    from transformers import get_scheduler

    kwargs = {k: v for k, v in spec.items() if k not in ("type", "interval")}
    name = spec["type"].removeprefix("transformers.")
    warmup = kwargs.pop("num_warmup_steps", 0)
    training = kwargs.pop("num_training_steps", None)
    if training is None and not (name == "warmup_stable_decay" and "num_stable_steps" in kwargs):
        training = steps  # lrlab's default: the run's length
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = get_scheduler(
        name,
        optimizer,
        num_warmup_steps=warmup,
        num_training_steps=training,
        scheduler_specific_kwargs=kwargs,
    )
    out = []
    for _ in range(steps):
        out.append(float(optimizer.param_groups[0]["lr"]))
        optimizer.step()
        scheduler.step()
    return out


def _write(path: Path, versions: dict[str, str], cases: list[dict[str, Any]]) -> None:
    # One case per line: reviewable diffs, and repr() keeps every bit of each float.
    lines = [json.dumps(c, separators=(",", ":")) for c in cases]
    text = '{"versions": ' + json.dumps(versions) + ',\n "cases": [\n'
    text += ",\n".join(lines) + "\n]}\n"
    path.write_text(text)


def main() -> None:
    import keras
    import tensorflow as tf
    import torch
    import transformers

    base = {"python": platform.python_version(), "numpy": np.__version__}
    keras_versions = base | {
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "tensorflow": tf.__version__,
    }
    hf_versions = base | {"transformers": transformers.__version__, "torch": torch.__version__}
    keras_cases = [
        {"spec": s, "learning_rate": lr, "steps": n, "lrs": keras_lrs(s, lr, n)}
        for s, lr, n in KERAS_CASES
    ]
    hf_cases = [
        {"spec": s, "learning_rate": lr, "steps": n, "lrs": transformers_lrs(s, lr, n)}
        for s, lr, n in HF_CASES
    ]
    _write(HERE / "keras.json", keras_versions, keras_cases)
    _write(HERE / "transformers.json", hf_versions, hf_cases)
    print(f"{len(keras_cases)} Keras and {len(hf_cases)} transformers cases", file=sys.stderr)


if __name__ == "__main__":
    main()
