"""The range test's training loop: fastai `lr_find` on the engine's stacked model and optimizers.

Every seed is one member of a stack (worker.stack's training step of the chosen model and
Keras-exact optimizer), so several seeds train fused.
Each step: every still-running seed trains one batch at its
tracker's `next_lr`, and the batch's loss (before the update, as fastai records it) goes to
its `RangeTestTracker`, which says whether that seed goes on. Batches follow each seed's data
order (a fresh permutation from its seed per pass over the data, as the engine draws them,
its partial last batch dropped as fastai's shuffled training loader does), cycling through
the data as epochs when num_iter is longer than one; there is no validation
and the weights are thrown away. A seed that stopped keeps its state (masked updates) while
the others finish.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from models.range_tests import RangeTestTracker
from models.training import CnnSpec, MlpSpec, OptimizerName, resolve
from worker.backend import compiled, prepare_process, tensor
from worker.datasets import Dataset
from worker.network import initial_weights
from worker.optimizers import KINDS, hyper_row, initial_slots, slot_count
from worker.stack import padded_batches, train_step

log = logging.getLogger("lrlab.worker")

# How often (seconds) the loop reports progress; the report also asks whether to go on.
PROGRESS_EVERY = 1.0


def _step_function(spec: MlpSpec | CnnSpec, kinds: tuple[str, ...]) -> Callable[..., Any]:
    """One compiled training step of every member (compiled once per model and optimizer)."""

    def step(state: Any, hyper: Any, x: Any, y: Any, idx: Any, weight: Any, lr: Any) -> Any:
        ops = keras.ops
        xb, yb = ops.take(x, idx, axis=0), ops.take(y, idx, axis=0)
        state, loss, _ = train_step(spec, kinds, state, hyper, xb, yb, weight, lr)
        return state, loss

    key = ("range step", keras.backend.backend(), spec.model_dump_json(), kinds)
    return compiled(key, step)


def run_range_test(
    data: Dataset,
    *,
    seeds: Sequence[int],
    batch_size: int,
    optimizer: OptimizerName,
    momentum: float,
    model: MlpSpec | CnnSpec | None = None,
    options: Mapping[str, float | bool | None] | None = None,
    start_lr: float,
    end_lr: float,
    num_iter: int,
    stop_div: bool,
    on_progress: Callable[[int], bool],
) -> list[RangeTestTracker] | None:
    """Run the test for every seed, fused; None when `on_progress` says stop (e.g. cancelled).

    `on_progress(iterations_done)` is called about every PROGRESS_EVERY seconds with the
    iterations every seed has recorded.
    """
    prepare_process()
    trackers = [
        RangeTestTracker(start_lr=start_lr, end_lr=end_lr, num_iter=num_iter, stop_div=stop_div)
        for _ in seeds
    ]
    members = len(seeds)
    n_train = int(data.x_train.shape[0])
    features = int(data.x_train.shape[1])
    spec = model or MlpSpec()
    params_of = resolve(optimizer, {**(options or {}), "momentum": momentum})
    count = slot_count(optimizer, params_of)
    weights = [initial_weights(seed=s, input_features=features, spec=spec) for s in seeds]
    slots = [initial_slots(optimizer, w, count) for w in weights]
    state: tuple[Any, ...] = (
        tuple(tensor(np.stack([w[k] for w in weights]), "float32") for k in range(len(weights[0]))),
        tuple(
            tuple(
                tensor(np.stack([s[j][k] for s in slots]), "float32")
                for k in range(len(weights[0]))
            )
            for j in range(count)
        ),
        (
            tensor(np.zeros(members, np.float32), "float32"),
            tensor(np.ones(members, np.float32), "float32"),
        ),
    )
    hyper_matrix = tensor(
        np.array([hyper_row(optimizer, params_of)] * members, np.float32), "float32"
    )
    kind = tensor(np.full(members, KINDS.index(optimizer), dtype=np.int32), "int32")
    member_seeds = tensor(np.array(seeds, dtype=np.int32), "int32")
    x, y = tensor(data.x_train, "float32"), tensor(data.y_train, "int32")
    fn = _step_function(spec, (optimizer,))
    rngs = [np.random.default_rng(s) for s in seeds]
    # fastai's training DataLoader drops the partial last batch when it shuffles
    # (`drop_last=shuffle`), so every lr_find step sees a full batch. With fewer samples than
    # one batch fastai would have no batch at all; here the one partial batch is kept.
    full_batches = n_train // batch_size
    steps_per_epoch = max(1, full_batches)
    used = steps_per_epoch * batch_size if full_batches else n_train
    active = np.ones(members, dtype=bool)
    orders = np.zeros((0,), dtype=np.int32)
    mask = np.zeros((0,), dtype=np.float32)
    reported = time.monotonic()
    step = 0
    while active.any():
        position = step % steps_per_epoch
        if position == 0:
            batches = [padded_batches(rng.permutation(n_train)[:used], batch_size) for rng in rngs]
            orders = np.stack([b[0] for b in batches], axis=1)  # [S, M, B]
            mask = batches[0][1]
        lrs = np.array(
            [t.next_lr if on else 0.0 for t, on in zip(trackers, active, strict=True)],
            dtype=np.float32,
        )
        state, loss = fn(
            state,
            (hyper_matrix, kind, tensor(active, "bool"), member_seeds),
            x,
            y,
            tensor(orders[position], "int32"),
            tensor(mask[position], "float32"),
            tensor(lrs, "float32"),
        )
        losses = keras.ops.convert_to_numpy(loss)
        for i, tracker in enumerate(trackers):
            if active[i]:
                active[i] = tracker.record(float(losses[i]))
        step += 1
        if time.monotonic() - reported >= PROGRESS_EVERY and active.any():
            reported = time.monotonic()
            if not on_progress(min(t.iterations_done for t in trackers)):
                return None
    log.info(
        "range test of %d seed(s) stopped after %s iteration(s)",
        members,
        ", ".join(str(t.iterations_done) for t in trackers),
    )
    return trackers
