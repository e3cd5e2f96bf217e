"""ASHA decisions on hand-made curves, and against a plain re-implementation of Ray's rule."""

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.sweeps import AshaRule, AshaSpec, Bracket, replay


def rule(**overrides: object) -> AshaRule:
    params: dict[str, object] = {"grace_period": 1, "reduction_factor": 3, "max_t": 27}
    return AshaRule(**(params | overrides))  # type: ignore[arg-type]


def test_milestones_are_powers_of_the_reduction_factor_below_max_t() -> None:
    assert rule().milestones == [1, 3, 9]
    assert rule(max_t=28).milestones == [1, 3, 9, 27]
    assert rule(grace_period=2, reduction_factor=4, max_t=100).milestones == [2, 8, 32]
    assert rule(grace_period=5, max_t=5).milestones == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("grace_period", 0, "`grace_period` must be >= 1, got 0"),
        ("reduction_factor", 1, "`reduction_factor` must be >= 2, got 1"),
        ("max_t", 0, "`max_t` must be >= 1, got 0"),
    ],
)
def test_the_rule_refuses_bad_parameters_naming_them(field: str, value: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rule(**{field: value})


def test_the_first_arrival_at_a_rung_continues_and_is_recorded() -> None:
    bracket = Bracket(rule())
    first = bracket.on_result("a", 1, 0.1)
    assert first is not None
    assert (first.rung, first.cutoff, first.compared, first.prune) == (1, None, 0, False)
    assert bracket.rungs == {1: {"a": 0.1}}


def test_a_member_below_the_cutoff_stops_and_its_value_is_still_recorded() -> None:
    bracket = Bracket(rule())
    for member, value in [("a", 0.5), ("b", 0.8)]:
        bracket.on_result(member, 1, value)
    # Cutoff: the 66.7th percentile of [0.5, 0.8] with linear interpolation = 0.7.
    low = bracket.on_result("c", 1, 0.6)
    assert low is not None
    assert low.cutoff == pytest.approx(0.5 + (2 / 3) * 0.3)
    assert (low.compared, low.prune) == (2, True)
    assert bracket.rungs[1]["c"] == 0.6
    high = bracket.on_result("d", 1, 0.75)
    assert high is not None
    assert high.prune is False
    assert high.cutoff == pytest.approx(float(np.percentile([0.5, 0.8, 0.6], 100 * 2 / 3)))


def test_a_value_equal_to_the_cutoff_continues() -> None:
    bracket = Bracket(rule())
    bracket.on_result("a", 1, 0.5)
    tie = bracket.on_result("b", 1, 0.5)
    assert tie is not None
    assert (tie.cutoff, tie.prune) == (0.5, False)


def test_epochs_between_milestones_are_not_judged() -> None:
    bracket = Bracket(rule())
    assert bracket.on_result("a", 1, 0.9) is not None
    assert bracket.on_result("a", 2, 0.9) is None
    assert bracket.on_result("a", 3, 0.9) is not None
    assert [bracket.on_result("a", e, 0.9) for e in range(4, 9)] == [None] * 5
    assert bracket.rungs == {1: {"a": 0.9}, 3: {"a": 0.9}}


def test_a_member_that_skipped_milestones_is_judged_once_at_the_highest() -> None:
    bracket = Bracket(rule())
    decision = bracket.on_result("a", 10, 0.9)
    assert decision is not None and decision.rung == 9
    assert bracket.rungs == {9: {"a": 0.9}}
    # Judged at most once per result: the lower rungs wait for later results.
    again = bracket.on_result("a", 11, 0.9)
    assert again is not None and again.rung == 3


def test_nan_values_are_ignored_by_the_cutoff_and_a_nan_value_continues() -> None:
    bracket = Bracket(rule())
    bracket.on_result("a", 1, math.nan)
    bracket.on_result("b", 1, 0.2)
    bracket.on_result("c", 1, 0.8)
    d = bracket.on_result("d", 1, 0.3)
    assert d is not None
    assert d.cutoff == pytest.approx(float(np.nanpercentile([math.nan, 0.2, 0.8], 100 * 2 / 3)))
    assert d.prune is True
    nan = bracket.on_result("e", 1, math.nan)
    assert nan is not None and nan.prune is False
    only_nan = Bracket(rule())
    only_nan.on_result("a", 1, math.nan)
    after = only_nan.on_result("b", 1, -1.0)
    assert after is not None and after.prune is False


def test_mode_min_judges_the_negated_metric_and_logs_the_cutoff_in_its_units() -> None:
    bracket = Bracket(rule(mode="min"))
    bracket.on_result("a", 1, 0.5)
    bracket.on_result("b", 1, 0.2)
    worse = bracket.on_result("c", 1, 0.45)
    assert worse is not None
    # Scores -0.5, -0.2: the 66.7th percentile is -0.3, so a loss above 0.3 stops.
    assert worse.cutoff == pytest.approx(0.3)
    assert worse.prune is True
    assert bracket.rungs[1]["c"] == -0.45
    better = bracket.on_result("d", 1, 0.25)
    assert better is not None and better.prune is False


def test_replay_stops_pruned_members_and_keeps_arrival_order() -> None:
    curves = {"a": [0.5] * 9, "b": [0.9] * 9, "c": [0.1] * 9}
    decisions = replay(rule(max_t=9), curves)
    assert [(d.member, d.rung, d.prune) for d in decisions] == [
        ("a", 1, False),
        ("b", 1, False),
        ("c", 1, True),
        ("a", 3, False),
        ("b", 3, False),
    ]


def test_the_spec_defaults_max_t_to_the_members_epochs() -> None:
    spec = AshaSpec.model_validate({"type": "asha", "reduction_factor": 3})
    assert spec.rule(27).milestones == [1, 3, 9]
    assert AshaSpec.model_validate({"type": "asha", "max_t": 10}).rule(27).max_t == 10


# An independent, straightforward transcription of Ray Tune's `_Bracket` (one bracket, s=0):
# rungs in descending order; the first rung <= the result's time the trial is not recorded at
# is the one; cutoff `np.nanpercentile(recorded, (1 - 1/rf) * 100)`; STOP iff cur_rew < cutoff.
class RayBracket:
    def __init__(self, min_t: int, max_t: int, rf: int, op: float) -> None:
        self.rf, self.op = rf, op
        ks = []
        k = 0
        while min_t * rf**k < max_t:
            ks.append(k)
            k += 1
        self.rungs: list[tuple[int, dict[str, float]]] = [(min_t * rf**k, {}) for k in reversed(ks)]

    def on_result(self, trial: str, cur_iter: int, metric: float) -> str | None:
        cur_rew = self.op * metric
        for milestone, recorded in self.rungs:
            if cur_iter < milestone or trial in recorded:
                continue
            action = "CONTINUE"
            if recorded:
                with np.errstate(all="ignore"), _quiet():
                    cutoff = np.nanpercentile(list(recorded.values()), (1 - 1 / self.rf) * 100)
                if cur_rew < cutoff:
                    action = "STOP"
            recorded[trial] = cur_rew
            return action
        return None


class _quiet:
    def __enter__(self) -> None:
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc: object) -> None:
        self._w.__exit__(*exc)


values = st.one_of(
    st.floats(min_value=0, max_value=1, allow_nan=False),
    st.sampled_from([0.25, 0.5, 0.75]),  # ties
    st.just(math.nan),
)


@settings(max_examples=200, deadline=None)
@given(
    members=st.integers(min_value=2, max_value=12),
    epochs=st.integers(min_value=1, max_value=30),
    grace=st.integers(min_value=1, max_value=3),
    rf=st.integers(min_value=2, max_value=5),
    mode=st.sampled_from(["max", "min"]),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    data=st.data(),
)
def test_random_curves_in_random_order_decide_as_rays_rule(
    members: int, epochs: int, grace: int, rf: int, mode: str, seed: int, data: st.DataObject
) -> None:
    curves = {
        f"m{i}": data.draw(st.lists(values, min_size=epochs, max_size=epochs))
        for i in range(members)
    }
    # Results arrive epoch by epoch per member, members interleaved at random (async workers).
    rng = random.Random(seed)
    arrivals = [(m, e) for m in curves for e in range(1, epochs + 1)]
    rng.shuffle(arrivals)
    arrivals.sort(key=lambda a: (a[0], a[1]))  # each member's own epochs stay in order...
    queues = {m: [a for a in arrivals if a[0] == m] for m in curves}
    order = []
    while any(queues.values()):  # ...interleaved across members at random
        member = rng.choice([m for m, q in queues.items() if q])
        order.append(queues[member].pop(0))
    ours = Bracket(AshaRule(grace, rf, epochs, mode))  # type: ignore[arg-type]
    ray = RayBracket(grace, epochs, rf, -1.0 if mode == "min" else 1.0)
    stopped: set[str] = set()
    for member, epoch in order:
        if member in stopped:
            continue
        value = curves[member][epoch - 1]
        decision = ours.on_result(member, epoch, value)
        expected = ray.on_result(member, epoch, value)
        assert (None if decision is None else ("STOP" if decision.prune else "CONTINUE")) == (
            expected
        )
        if expected == "STOP":
            stopped.add(member)
