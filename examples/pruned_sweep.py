"""Run a pruned sweep and print its comparison with verdicts (needs `make up` running).

    .venv/bin/python examples/pruned_sweep.py

16 learning rates × 3 seeds × 27 epochs, ASHA with reduction factor 3 (rungs at epochs 1, 3
and 9): most members stop early, the survivors train to the end, and each configuration is
compared with the best one seed by seed.
"""

from collections import Counter

from lrlab_client.client import LrlabClient
from lrlab_client.render import comparison_table, stdout_console

SWEEP = {
    "name": "pruned-sweep",
    "base": {
        "training": {"epochs": 27, "batch_size": 64, "optimizer": "sgd"},
        "dataset": {"name": "mnist", "train_samples": 2000},
    },
    "schedulers": [{"type": "constant"}],
    "grid": {
        "training.learning_rate": [
            0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.007, 0.01,
            0.015, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2,
        ]
    },
    "seeds": [0, 1, 2],
    "pruning": {"type": "asha", "metric": "val_accuracy", "mode": "max", "reduction_factor": 3},
}  # fmt: skip


def main() -> None:
    """Submit, wait, then print the statuses, the decision log's size and the comparison."""
    with LrlabClient() as client:
        sweep_id = client.submit_sweep(SWEEP).id
        print(f"sweep {sweep_id} submitted; waiting for its members")
        finals = client.wait([sweep_id])
        print("members:", dict(Counter(run["status"] for run in finals.values())))
        decisions = client.pruning(sweep_id)
        pruned = [d for d in decisions if d["decision"] == "prune"]
        print(f"{len(decisions)} pruning decisions, {len(pruned)} members pruned")
        stdout_console().print(comparison_table(sweep_id, client.comparison(sweep_id)))


if __name__ == "__main__":
    main()
