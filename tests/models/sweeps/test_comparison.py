"""Statistics of sweep comparisons, checked against independent computations."""

import math

import pytest

from models.sweeps import describe, rank_key, summarise_runs


def test_describe_uses_sample_std_and_student_t() -> None:
    stat = describe([0.90, 0.92, 0.94])
    assert stat.n == 3
    assert stat.mean == pytest.approx(0.92)
    assert stat.std == pytest.approx(0.02)
    # t(0.975, df=2) = 4.302652729911275
    half = 4.302652729911275 * 0.02 / math.sqrt(3)
    assert stat.ci95 == pytest.approx((0.92 - half, 0.92 + half))


def test_describe_of_one_and_of_none() -> None:
    one = describe([0.5])
    assert (one.n, one.mean, one.std, one.ci95) == (1, 0.5, None, None)
    none = describe([])
    assert (none.n, none.mean, none.std, none.ci95) == (0, None, None, None)


def test_intervals_never_leave_the_metric_range_and_small_samples_are_flagged() -> None:
    # Two seeds far apart: Student-t's interval would be about [0.72, 1.04].
    accuracy = describe([0.82, 0.94], bounds=(0.0, 1.0))
    # t(0.975, df=1) = 12.706204736174696; std/sqrt(2) = 0.06: [0.118, 1.642] clipped to 1.
    assert accuracy.ci95 == pytest.approx((0.88 - 12.706204736174696 * 0.06, 1.0))
    assert accuracy.small_sample is True
    epochs = describe([1.0, 3.0], bounds=(1.0, 5.0))
    assert epochs.ci95 == (1.0, 5.0)
    assert describe([0.90, 0.92, 0.94], bounds=(0.0, 1.0)).small_sample is False


def test_epochs_to_target_counts_runs_that_never_reach_it_as_censored() -> None:
    # Three runs of 5 epochs; only one reaches 0.9, at epoch 2.
    reached = [[0.5, 0.91, 0.92, 0.93, 0.94]]
    never = [[0.5, 0.6, 0.7, 0.8, 0.85], [0.5, 0.6, 0.7, 0.8, 0.89]]
    fast_but_rare = summarise_runs([[(a, 0.1) for a in c] for c in reached + never], target=0.9)
    assert fast_but_rare["reached_target"] == 1
    assert fast_but_rare["reached_fraction"] == pytest.approx(1 / 3)
    assert fast_but_rare["epochs_to_target"].n == 1
    slow_but_sure = summarise_runs(
        [[(a, 0.1) for a in [0.5, 0.6, 0.7, 0.9, 0.9]] for _ in range(3)], target=0.9
    )
    assert slow_but_sure["reached_fraction"] == 1.0
    # Ranked by the fraction that reached the target first, then by epochs among them.
    assert rank_key(slow_but_sure) < rank_key(fast_but_rare)


def test_a_curve_averages_each_epoch_over_the_runs_that_recorded_it() -> None:
    """Runs of uneven length (a member still running): each epoch over those that have it."""
    from models.sweeps.comparison import _curve

    runs = [([1, 2, 3], [0.5, 0.7, 0.9]), ([1, 2], [0.6, 0.8]), ([2, 1], [0.9, 0.4])]
    curve = _curve("c", runs, runs=4)
    assert (curve.label, curve.epochs, curve.runs) == ("c", [1, 2, 3], 4)
    by_epoch = {1: [0.5, 0.6, 0.4], 2: [0.7, 0.8, 0.9], 3: [0.9]}
    means = [sum(v) / len(v) for v in by_epoch.values()]
    assert curve.mean == pytest.approx(means)
    spreads = [
        math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
        for v, m in zip(by_epoch.values(), means, strict=True)
    ]
    assert curve.high == pytest.approx([m + s for m, s in zip(means, spreads, strict=True)])
    assert curve.low == pytest.approx([m - s for m, s in zip(means, spreads, strict=True)])
    empty = _curve("none yet", [], runs=2)
    assert (empty.epochs, empty.mean, empty.low, empty.high) == ([], [], [], [])
