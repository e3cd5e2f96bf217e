"""Each configuration of a sweep against a baseline, pair by pair over seeds.

Members of one sweep that share a seed share their initial weights and data order when their
model and data are the same (docs/sweeps.md), so the difference of two configurations is
measured seed by seed: a paired t-test and an exact sign-flip test on the differences, Holm
adjustment across the request's comparisons. Where model or data differ, the seeds do not
pair and Welch's unpaired test is used instead, marked `method: "welch"`.
"""

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from models.errors import InvalidInputError
from models.sweeps.paired import ALPHA, holm, paired_t, sign_flip, verdict, welch
from models.tables import JobStatus

PAIRED_METRIC = "final_val_accuracy"
# The ranking metric when a target is set: the baseline's epochs to the target minus this
# configuration's (positive: it gets there sooner, i.e. better); seeds where either run never
# reached the target do not pair.
TARGET_METRIC = "epochs_saved_to_target"


class PairedStats(BaseModel):
    """One configuration against the baseline on `metric`, oriented so that positive is better.

    `final_val_accuracy`: this configuration's minus the baseline's. `epochs_saved_to_target`:
    the baseline's epochs to the target minus this configuration's, on the seeds where both
    reached it.

    `pairs`: seeds both finished (succeeded); members pruned or failed are left out and counted.
    `p_t`/`p_sign_flip`: two-sided p of the paired t and sign-flip tests (Welch: `p_t` only);
    `*_holm`: Holm-adjusted over this request's comparisons. `verdict` uses `p_t_holm` < alpha.
    """

    baseline: str
    metric: str
    method: Literal["paired", "welch"]
    pairs: int
    excluded_pruned: int
    excluded_failed: int
    mean_difference: float | None
    ci95: tuple[float, float] | None
    p_t: float | None
    p_sign_flip: float | None
    sign_flip_method: Literal["exact", "monte_carlo"] | None
    p_t_holm: float | None
    p_sign_flip_holm: float | None
    verdict: str


class _Member(Protocol):
    id: uuid.UUID
    status: str
    spec: dict[str, Any]


def pick_baseline(labels: Sequence[str], ranked: Sequence[str], baseline: str | None) -> str:
    """The baseline's label: `baseline` as a label or a 0-based grid index, else the best."""
    if baseline is None:
        return ranked[0]
    if baseline in labels:
        return baseline
    if baseline.isdigit() and int(baseline) < len(labels):
        return labels[int(baseline)]
    raise InvalidInputError(
        f"`baseline` must be a configuration label of the sweep or an index below "
        f"{len(labels)}, got {baseline[:100]!r}"
    )


def paired_stats(
    groups: Mapping[str, Sequence[_Member]],
    finals: Mapping[uuid.UUID, float],
    *,
    baseline: str,
    metric: str = PAIRED_METRIC,
    alpha: float = ALPHA,
) -> dict[str, PairedStats]:
    """Every configuration but the baseline against it on `metric`; `finals`: each member's
    value, higher is better (members without one do not pair). Holm over these comparisons."""
    base = groups[baseline]
    raw: dict[str, dict[str, Any]] = {}
    for label, members in groups.items():
        if label != baseline:
            raw[label] = _compare(members, base, finals)
    labels = list(raw)
    t_holm = holm([raw[k]["p_t"] for k in labels])
    flip_holm = holm([raw[k]["p_sign_flip"] for k in labels])
    out = {}
    for label, t_adj, flip_adj in zip(labels, t_holm, flip_holm, strict=True):
        figures = raw[label]
        out[label] = PairedStats(
            baseline=baseline,
            metric=metric,
            p_t_holm=t_adj,
            p_sign_flip_holm=flip_adj,
            verdict=verdict(figures["mean_difference"], t_adj, n=figures["pairs"], alpha=alpha),
            **figures,
        )
    return out


def _compare(
    members: Sequence[_Member], base: Sequence[_Member], finals: Mapping[uuid.UUID, float]
) -> dict[str, Any]:
    both = [*members, *base]
    excluded = {
        "excluded_pruned": sum(m.status == JobStatus.PRUNED for m in both),
        "excluded_failed": sum(m.status == JobStatus.FAILED for m in both),
    }
    if not _pairable(members[0], base[0]):
        ours = [finals[m.id] for m in members if m.id in finals]
        theirs = [finals[m.id] for m in base if m.id in finals]
        test = welch(ours, theirs)
        return {
            "method": "welch",
            "pairs": test.n,
            "mean_difference": test.mean,
            "ci95": test.ci95,
            "p_t": test.p,
            "p_sign_flip": None,
            "sign_flip_method": None,
            **excluded,
        }
    by_seed = {_seed(m): finals[m.id] for m in base if m.id in finals}
    differences = [
        finals[m.id] - by_seed[_seed(m)] for m in members if m.id in finals and _seed(m) in by_seed
    ]
    test = paired_t(differences)
    flip = sign_flip(differences)
    return {
        "method": "paired",
        "pairs": len(differences),
        "mean_difference": test.mean,
        "ci95": test.ci95,
        "p_t": test.p,
        "p_sign_flip": flip.p,
        "sign_flip_method": flip.method if differences else None,
        **excluded,
    }


def _seed(member: _Member) -> int:
    return int(member.spec["training"]["seed"])


def _pairable(a: _Member, b: _Member) -> bool:
    """Same seed, same start: only when the model and the data are the same."""
    return a.spec.get("dataset") == b.spec.get("dataset") and a.spec.get("model") == b.spec.get(
        "model"
    )
