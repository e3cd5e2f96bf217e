"""ASHA pruning: Ray Tune's `AsyncHyperBandScheduler` with one bracket, as a pure rule.

This reproduces `ray.tune.schedulers.async_hyperband._Bracket` (Ray 2.x) with `brackets=1`,
`time_attr` = the epoch (from 1), `stop_last_trials` left aside (members train their epochs):

- rungs (Ray's `_rungs`): milestones `grace_period · reduction_factor^k` for k = 0, 1, ...
  below `max_t`; a rung at `max_t` itself is left out, since a decision at the last epoch
  saves no training;
- `on_result`: a member that records epoch t is judged at most once per result, at the
  highest milestone ≤ t it has not been judged at yet (Ray scans its rungs in descending
  order and stops at the first such one);
- `cutoff`: `numpy.nanpercentile(values recorded at that rung before it, (1 − 1/rf) · 100)`
  (linear interpolation, NaN ignored), or none when nothing was recorded there yet;
- the metric is made "higher is better" first (Ray's `metric_op`: `mode: min` negates it);
- the member stops iff its value is strictly below the cutoff (`cur_rew < cutoff`, so ties
  and a NaN value continue); its value is recorded at the rung either way.
"""

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictInt

# The per-epoch metrics an epoch records (models.training.epoch_fields.EpochMetrics), lr aside.
PRUNABLE_METRICS = ("val_accuracy", "val_loss", "accuracy", "loss")


class AshaSpec(BaseModel):
    """A sweep's `pruning`: Ray Tune's AsyncHyperBandScheduler with one bracket."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)

    type: Literal["asha"]
    metric: Literal["val_accuracy", "val_loss", "accuracy", "loss"] = "val_accuracy"
    mode: Literal["max", "min"] = "max"
    grace_period: StrictInt = Field(default=1, ge=1, le=100_000)
    reduction_factor: StrictInt = Field(default=4, ge=2, le=1000)
    max_t: StrictInt | None = Field(
        default=None,
        ge=1,
        description="The epoch the rungs stay below (at most the members' epochs); "
        "default: the members' epochs.",
    )

    def rule(self, epochs: int) -> "AshaRule":
        """The rule for members of `epochs` epochs."""
        return AshaRule(
            grace_period=self.grace_period,
            reduction_factor=self.reduction_factor,
            max_t=self.max_t if self.max_t is not None else epochs,
            mode=self.mode,
        )


@dataclass(frozen=True)
class Judgement:
    """One decision: the cutoff (None when the rung was empty), how many earlier values it
    was computed from, and whether the member stops."""

    cutoff: float | None
    compared: int
    prune: bool


@dataclass(frozen=True)
class AshaRule:
    """Ray's `_Bracket` rule; validated once here."""

    grace_period: int
    reduction_factor: int
    max_t: int
    mode: Literal["max", "min"] = "max"

    def __post_init__(self) -> None:
        if self.grace_period < 1:
            raise ValueError(f"`grace_period` must be >= 1, got {self.grace_period}")
        if self.reduction_factor < 2:
            raise ValueError(f"`reduction_factor` must be >= 2, got {self.reduction_factor}")
        if self.max_t < 1:
            raise ValueError(f"`max_t` must be >= 1, got {self.max_t}")
        if self.mode not in ("max", "min"):
            raise ValueError(f"`mode` must be 'max' or 'min', got {self.mode!r}")

    @property
    def milestones(self) -> list[int]:
        """Rung milestones `grace_period · reduction_factor^k < max_t`, ascending."""
        # Integers, not Ray's float log ratio, which can round a whole power down.
        out, milestone = [], self.grace_period
        while milestone < self.max_t:
            out.append(milestone)
            milestone *= self.reduction_factor
        return out

    def rung_for(self, epoch: int, judged: Collection[int]) -> int | None:
        """The highest milestone ≤ `epoch` not in `judged` (Ray: descending scan), or None."""
        for milestone in reversed(self.milestones):
            if milestone <= epoch and milestone not in judged:
                return milestone
        return None

    def score(self, value: float) -> float:
        """The metric made "higher is better" (Ray's `metric_op`)."""
        return -value if self.mode == "min" else value

    def unscore(self, score: float | None) -> float | None:
        """A score back in the metric's own units (the decision log shows those)."""
        return None if score is None else self.score(score)

    def cutoff(self, earlier: Sequence[float]) -> float | None:
        """`nanpercentile(earlier, (1 − 1/rf)·100)` of the scores recorded before, or None."""
        if not earlier:
            return None
        finite = [v for v in earlier if not math.isnan(v)]
        if not finite:
            return math.nan  # nanpercentile of all-NaN (Ray then continues every member)
        return float(np.percentile(finite, (1 - 1 / self.reduction_factor) * 100))

    def judge(self, score: float, earlier: Sequence[float]) -> Judgement:
        """Stop iff `score` < cutoff of the `earlier` scores at the rung (ties, NaN continue)."""
        cutoff = self.cutoff(earlier)
        return Judgement(
            cutoff=cutoff, compared=len(earlier), prune=cutoff is not None and score < cutoff
        )


@dataclass(frozen=True)
class Decision:
    """A judgement at a rung, as the decision log records it: `value` and `cutoff` in the
    metric's own units (with `mode: min` the member stops when its value is above it)."""

    member: str
    rung: int
    epoch: int
    value: float
    cutoff: float | None
    compared: int
    prune: bool


@dataclass
class Bracket:
    """An in-memory bracket: the rule plus each rung's recorded scores, in arrival order."""

    rule: AshaRule
    rungs: dict[int, dict[str, float]] = field(default_factory=dict)

    def on_result(self, member: str, epoch: int, value: float) -> Decision | None:
        """Judge `member` reporting `value` at `epoch`; None when no rung is due."""
        judged = [m for m, recorded in self.rungs.items() if member in recorded]
        rung = self.rule.rung_for(epoch, judged)
        if rung is None:
            return None
        recorded = self.rungs.setdefault(rung, {})
        score = self.rule.score(value)
        judgement = self.rule.judge(score, list(recorded.values()))
        recorded[member] = score
        return Decision(
            member=member,
            rung=rung,
            epoch=epoch,
            value=value,
            cutoff=self.rule.unscore(judgement.cutoff),
            compared=judgement.compared,
            prune=judgement.prune,
        )


def replay(rule: AshaRule, curves: Mapping[str, Sequence[float]]) -> list[Decision]:
    """Decisions of members training in lockstep, epoch by epoch, in the mapping's order.

    A pruned member reports nothing after its decision.
    """
    bracket, stopped, decisions = Bracket(rule), set(), []
    epochs = max((len(c) for c in curves.values()), default=0)
    for epoch in range(1, epochs + 1):
        for member, curve in curves.items():
            if member in stopped or epoch > len(curve):
                continue
            decision = bracket.on_result(member, epoch, curve[epoch - 1])
            if decision is not None:
                decisions.append(decision)
                if decision.prune:
                    stopped.add(member)
    return decisions
