"""Benchmark: a 27-configuration × 2-seed × 27-epoch sweep with and without ASHA (`make bench`).

Both runs train all 54 members in one `train_members` call (one worker's claim: stacks that
advance epoch by epoch together), the pruned one judging each epoch with lrlab's rule
(`models.sweeps.asha`, reduction factor 3) the way the worker does. For each order of the
configurations it prints the member-epochs trained (target ≤ 35% of the grid), the wall-time
ratio (target ≥ 2.5×) and whether the configuration the full sweep ranks best survives to the
last rung.

    python -m bench.asha [--train-samples N] [--shuffle SEED]

ASHA judges members in arrival order, and in one claim they arrive in grid order: with a grid
whose later configurations are better (ascending learning rates here), each arrival beats the
ones before it and few are pruned. So the bench runs both orders: grid order, then the
configurations in a random order seeded by `--shuffle SEED` (default 0), as a random search
would submit them.

Compilation is outside both timings: before any timed run the epoch is compiled for every
stack width from 1 to `max_stack()` (`warm_up`), the widths either run can meet as members
leave and stacks are repacked, so neither run pays for a width the other had compiled; then
one untimed pruned sweep runs them on the real data.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections import defaultdict
from pathlib import Path

from models.schedules import build_run
from models.sweeps import AshaRule, Bracket, SweepCell, SweepCreate
from worker.datasets import Dataset, load_dataset
from worker.engine import CheckpointPolicy, max_stack, train_members, warm_up
from worker.members import EpochReport, MemberConfig

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MNIST = ROOT.parent / "shared" / "datasets" / "mnist-offline"
EPOCHS, BATCH = 27, 64
RULE = AshaRule(grace_period=1, reduction_factor=3, max_t=EPOCHS)
SWEEP = {
    "name": "bench asha",
    "base": {"training": {"epochs": EPOCHS, "batch_size": BATCH, "optimizer": "adam"}},
    "schedulers": [
        {"type": "constant"},
        {"type": "exponential", "gamma": 0.9},
        {"type": "cosine", "t_max": EPOCHS},
    ],
    "grid": {"training.learning_rate": [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2]},
    "seeds": [0, 1],
}


def members(cells: list[SweepCell], data: Dataset) -> list[MemberConfig]:
    """Fresh member configs (schedules hold state) for one run of the sweep."""
    steps = -(-data.info.train_samples // BATCH)
    return [
        MemberConfig(
            key=str(index),
            epochs=cell.spec.training.epochs,
            batch_size=cell.spec.training.batch_size,
            learning_rate=cell.spec.training.learning_rate,
            optimizer=cell.spec.training.optimizer,
            momentum=cell.spec.training.momentum,
            seed=cell.spec.training.seed,
            schedule=build_run(
                cell.spec.scheduler,
                base_lr=cell.spec.training.learning_rate,
                epochs=EPOCHS,
                steps_per_epoch=steps,
            ),
        )
        for index, cell in enumerate(cells)
    ]


def run(
    cells: list[SweepCell], data: Dataset, *, prune: bool
) -> tuple[float, dict[str, list[float]], Bracket]:
    """Train the sweep; returns wall seconds, each member's val_accuracy curve, the bracket."""
    curves: dict[str, list[float]] = defaultdict(list)
    bracket = Bracket(RULE)

    def on_epoch(report: EpochReport) -> bool:
        curves[report.key].append(report.metrics.val_accuracy)
        if not prune:
            return True
        decision = bracket.on_result(report.key, report.metrics.epoch, report.metrics.val_accuracy)
        return decision is None or not decision.prune

    configs = members(cells, data)
    started = time.perf_counter()
    # No checkpoints: neither run hands back, and encoding them would cost both the same.
    train_members(configs, data, on_epoch=on_epoch, policy=CheckpointPolicy(every_seconds=1e9))
    return time.perf_counter() - started, curves, bracket


def main() -> None:
    """Compile every stack width, then run both sweeps in grid and in shuffled order."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-samples", type=int, default=1024)
    parser.add_argument("--shuffle", type=int, default=0, metavar="SEED")
    args = parser.parse_args()
    cells = SweepCreate.model_validate(SWEEP).cells
    # Configurations in a seeded random order, each one's seeds kept together.
    labels = list(dict.fromkeys(cell.label for cell in cells))
    random.Random(args.shuffle).shuffle(labels)
    shuffled = sorted(cells, key=lambda cell: labels.index(cell.label))
    mnist = os.environ.get("LRLAB_MNIST_PATH") or str(DEFAULT_MNIST)
    data = load_dataset("mnist", train_samples=args.train_samples, mnist_path=mnist)
    print(
        f"ASHA bench: {len(cells)} members × {EPOCHS} epochs, {args.train_samples} samples, "
        f"max stack {max_stack()}, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    for width in range(1, max_stack() + 1):
        warm_up(BATCH, len(data.y_train), len(data.y_val), width)
    # Compiled is not yet warm: the first timed sweep ran 8 s (35%) longer than the same work
    # timed later. One untimed pruned sweep runs every width on the real data first.
    run(cells, data, prune=True)
    for order, ordered in (("grid order", cells), (f"shuffled (seed {args.shuffle})", shuffled)):
        compare(order, ordered, data)


def compare(order: str, cells: list[SweepCell], data: Dataset) -> None:
    """Run the sweep in full and with ASHA, and print the three figures."""
    print(f"{order}, load average {os.getloadavg()[0]:.1f}:", flush=True)
    full_seconds, full, _ = run(cells, data, prune=False)
    asha_seconds, pruned, bracket = run(cells, data, prune=True)
    grid = len(cells) * EPOCHS
    trained = sum(len(c) for c in pruned.values())
    finals: dict[str, list[float]] = defaultdict(list)
    for index, cell in enumerate(cells):
        finals[cell.label].append(full[str(index)][-1])
    best = max(finals, key=lambda label: statistics.mean(finals[label]))
    last = RULE.milestones[-1]
    survivors = [
        str(i)
        for i, cell in enumerate(cells)
        if cell.label == best
        and str(i) in bracket.rungs.get(last, {})
        and len(pruned[str(i)]) > last
    ]
    print(
        f"  member-epochs trained: {trained} of {grid} ({100 * trained / grid:.1f}%, target <= 35%)"
    )
    print(
        f"  wall time: full {full_seconds:.1f}s, asha {asha_seconds:.1f}s, "
        f"{full_seconds / asha_seconds:.2f}x faster (target >= 2.5x)"
    )
    print(
        f"  best configuration of the full sweep: {best} (mean final val_accuracy "
        f"{statistics.mean(finals[best]):.4f}); survives the last rung (epoch {last}): "
        f"{'yes' if survivors else 'no'} ({len(survivors)} of 2 seeds)",
        flush=True,
    )


if __name__ == "__main__":
    main()
