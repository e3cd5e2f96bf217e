"""The member checkpoint codec: weights, optimizer slots and count, schedule and data-order RNG.

A checkpoint is an uncompressed npz of float32 arrays plus a JSON `meta` entry; it resumes one
member after an epoch, in any stack and any process.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from worker.members import MemberConfig, MemberState, TrainingError
from worker.network import HIDDEN_UNITS, NUM_CLASSES

CHECKPOINT_FORMAT = "lrlab-member-checkpoint"
CHECKPOINT_VERSION = 1
PARAM_NAMES = ("kernel1", "bias1", "kernel2", "bias2")


@dataclass(frozen=True)
class Checkpoint:
    """A member's state read from a checkpoint."""

    epochs_done: int
    params: list[npt.NDArray[np.float32]]
    m: list[npt.NDArray[np.float32]]
    v: list[npt.NDArray[np.float32]]
    iterations: int
    schedule: dict[str, Any]
    rng: dict[str, Any]


def encode_checkpoint(
    member: MemberState, arrays: Sequence[npt.NDArray[np.float32]], iterations: float
) -> bytes:
    """Serialise one member; arrays are its params, m slots and v slots (4 each, in order)."""
    cfg = member.config
    meta = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "key": cfg.key,
        "epoch": member.epochs_done,
        "optimizer": cfg.optimizer,
        "iterations": int(iterations),
        "schedule": cfg.schedule.state_dict(),
        "rng": member.rng.bit_generator.state,
    }
    blobs: dict[str, Any] = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
    for i, name in enumerate(PARAM_NAMES):
        blobs[name] = arrays[i]
        blobs[f"m_{name}"] = arrays[4 + i]
        if cfg.optimizer == "adam":  # SGD never touches v: it stays zero, so it is not stored
            blobs[f"v_{name}"] = arrays[8 + i]
    buffer = io.BytesIO()
    np.savez(buffer, **blobs)
    return buffer.getvalue()


def decode_checkpoint(config: MemberConfig, blob: bytes, features: int) -> Checkpoint:
    """Read and check a checkpoint for this member's configuration."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            meta = json.loads(npz["meta"].tobytes().decode())
            arrays = {
                name: np.asarray(npz[name], dtype=np.float32)
                for name in npz.files
                if name != "meta"
            }
    except Exception as exc:
        raise TrainingError(
            f"unreadable checkpoint ({type(exc).__name__}: {exc})", key=config.key
        ) from exc
    if meta.get("format") != CHECKPOINT_FORMAT or meta.get("version") != CHECKPOINT_VERSION:
        raise TrainingError("not an lrlab checkpoint of a supported version", key=config.key)
    if meta["optimizer"] != config.optimizer:
        raise TrainingError(
            f"checkpoint is for optimizer {meta['optimizer']!r}, not {config.optimizer!r}",
            key=config.key,
        )
    epochs_done = int(meta["epoch"])
    if not 0 <= epochs_done <= config.epochs:
        raise TrainingError(
            f"checkpoint is after epoch {epochs_done}; the run has {config.epochs}", key=config.key
        )
    shapes = [
        (features, HIDDEN_UNITS),
        (HIDDEN_UNITS,),
        (HIDDEN_UNITS, NUM_CLASSES),
        (NUM_CLASSES,),
    ]
    params, m, v = [], [], []
    for name, shape in zip(PARAM_NAMES, shapes, strict=True):
        if arrays.get(name) is None or arrays[name].shape != shape:
            raise TrainingError(f"checkpoint lacks {name} of shape {shape}", key=config.key)
        params.append(arrays[name])
        m.append(arrays[f"m_{name}"])
        v.append(arrays.get(f"v_{name}", np.zeros(shape, dtype=np.float32)))
    return Checkpoint(
        epochs_done=epochs_done,
        params=params,
        m=m,
        v=v,
        iterations=int(meta["iterations"]),
        schedule=meta["schedule"],
        rng=meta["rng"],
    )
