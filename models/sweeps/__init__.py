"""Sweeps: the grid, the members it creates, their comparison, pruning and plots.

- `grid`: the sweep grammar: grid keys, expansion into experiment specs, labels.
- `service`: sweeps stored and read, their status and progress, cancel.
- `export`: every member's epochs in long format (`GET /sweeps/{id}/metrics`).
- `comparison`, `paired`, `paired_comparison`: statistics over seeds, and each configuration
  against a baseline pair by pair (paired t, sign-flip permutation, Holm).
- `asha`, `pruning`: Ray Tune's ASHA rule, and the decisions it makes as rung epochs commit.
- `plots`: a sweep's plots, drawn by the shared renderer (`models.plots`)."""

from models.sweeps.asha import (
    AshaRule,
    AshaSpec,
    Bracket,
    replay,
)
from models.sweeps.comparison import (
    Comparison,
    ComparisonRow,
    compare_sweep,
    comparison_csv_rows,
    describe,
    rank_key,
    summarise_runs,
    sweep_curves,
)
from models.sweeps.export import (
    SWEEP_METRIC_FIELDS,
    SweepMetricRow,
    metric_pages,
    metric_rows,
    pages,
    sweep_members,
)
from models.sweeps.grid import (
    SweepCell,
)
from models.sweeps.paired import (
    holm,
    paired_t,
    sign_flip,
    verdict,
    welch,
)
from models.sweeps.paired_comparison import PairedStats
from models.sweeps.plots import (
    plot_sweep,
)
from models.sweeps.pruning import (
    PRUNING_FIELDS,
    PruningDecisionRead,
    judge_epoch,
    pruning_log,
)
from models.sweeps.schemas import (
    SweepAccepted,
    SweepCounts,
    SweepCreate,
    SweepPage,
    SweepRead,
)
from models.sweeps.service import (
    accept_sweep_spec,
    cancel_sweep,
    get_sweep,
    list_sweeps,
    member_warnings,
    submit_sweep,
    sweep_read,
    sweep_reads,
)

__all__ = [
    "PRUNING_FIELDS",
    "SWEEP_METRIC_FIELDS",
    "AshaRule",
    "AshaSpec",
    "Bracket",
    "Comparison",
    "ComparisonRow",
    "PairedStats",
    "PruningDecisionRead",
    "SweepAccepted",
    "SweepCell",
    "SweepCounts",
    "SweepCreate",
    "SweepMetricRow",
    "SweepPage",
    "SweepRead",
    "accept_sweep_spec",
    "cancel_sweep",
    "compare_sweep",
    "comparison_csv_rows",
    "describe",
    "get_sweep",
    "holm",
    "judge_epoch",
    "list_sweeps",
    "member_warnings",
    "metric_pages",
    "metric_rows",
    "pages",
    "paired_t",
    "plot_sweep",
    "pruning_log",
    "rank_key",
    "replay",
    "sign_flip",
    "submit_sweep",
    "summarise_runs",
    "sweep_curves",
    "sweep_members",
    "sweep_read",
    "sweep_reads",
    "verdict",
    "welch",
]
