"""Paired statistics against scipy.stats, brute-force enumeration and an A/A simulation."""

import itertools

import numpy as np
import pytest
from scipy import stats

from models.sweeps import holm, paired_t, sign_flip, verdict, welch


def test_paired_t_matches_scipy_ttest_rel() -> None:
    rng = np.random.default_rng(1)
    for n in (2, 3, 5, 12):
        a = rng.normal(0.9, 0.02, n)
        b = a - rng.normal(0.01, 0.01, n)
        ours = paired_t(list(a - b))
        theirs = stats.ttest_rel(a, b)
        assert ours.p == pytest.approx(float(theirs.pvalue), rel=1e-10)
        interval = theirs.confidence_interval(0.95)
        assert ours.ci95 == pytest.approx((float(interval.low), float(interval.high)), rel=1e-10)
        assert ours.mean == pytest.approx(float(np.mean(a - b)))


def test_paired_t_is_undefined_for_one_pair_or_no_difference() -> None:
    assert paired_t([0.1]).p is None
    assert paired_t([0.0, 0.0, 0.0]).p is None
    assert paired_t([0.1, 0.1]).p == 0.0


def test_welch_matches_scipy_ttest_ind_unequal_variances() -> None:
    a, b = [0.91, 0.93, 0.92, 0.95], [0.88, 0.90, 0.80]
    ours = welch(a, b)
    theirs = stats.ttest_ind(a, b, equal_var=False)
    assert ours.p == pytest.approx(float(theirs.pvalue), rel=1e-10)
    interval = theirs.confidence_interval(0.95)
    assert ours.ci95 == pytest.approx((float(interval.low), float(interval.high)), rel=1e-10)


def brute_force_sign_flip(d: list[float]) -> float:
    observed = abs(sum(d))
    hits = total = 0
    for signs in itertools.product((1, -1), repeat=len(d)):
        total += 1
        hits += abs(sum(s * x for s, x in zip(signs, d, strict=True))) >= observed - 1e-12
    return hits / total


def test_exact_sign_flip_matches_brute_force_enumeration() -> None:
    rng = np.random.default_rng(2)
    for n in (1, 2, 3, 7, 10):
        d = list(rng.normal(0.01, 0.02, n))
        result = sign_flip(d)
        assert result.method == "exact"
        assert result.p == pytest.approx(brute_force_sign_flip(d))
    # Two equal positive differences: only ++ and -- are as extreme, p = 2/4.
    assert sign_flip([0.1, 0.1]).p == 0.5


def test_beyond_sixteen_pairs_the_sign_flip_is_a_seeded_monte_carlo() -> None:
    rng = np.random.default_rng(3)
    d = list(rng.normal(0.005, 0.02, 20))
    first, again = sign_flip(d), sign_flip(d)
    assert first.method == "monte_carlo"
    assert first.p == again.p
    exact = brute_force_sign_flip(d[:16])  # same data, a size brute force can enumerate
    sampled = sign_flip(d[:16] + [0.0] * 4)  # zeros change no sum: the same distribution
    assert sampled.p == pytest.approx(exact, abs=0.01)


def test_holm_matches_its_step_down_definition() -> None:
    # statsmodels.stats.multitest.multipletests([0.01, 0.04, 0.03, 0.2], method="holm")
    assert holm([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert holm([0.5, None, 0.6]) == [pytest.approx(1.0), None, pytest.approx(1.0)]
    assert holm([]) == []


def test_verdicts() -> None:
    assert verdict(0.02, 0.01, n=5) == "better"
    assert verdict(-0.02, 0.01, n=5) == "worse"
    assert verdict(0.02, 0.2, n=5) == "no detectable difference with 5 seeds"
    assert verdict(0.02, None, n=1) == "no detectable difference with 1 seed"
    assert verdict(None, None, n=0) == "not compared: no seed finished in both"


def test_a_a_simulation_rejects_at_the_nominal_rate() -> None:
    """10,000 paired samples with no true difference: about 5% rejected, by either test."""
    rng = np.random.default_rng(4)
    samples, n = 10_000, 10
    shared = rng.normal(0.9, 0.05, (samples, n))  # the seed's effect, common to both arms
    a = shared + rng.normal(0, 0.01, (samples, n))
    b = shared + rng.normal(0, 0.01, (samples, n))
    differences = a - b
    t_rejected = sum((p := paired_t(list(row)).p) is not None and p < 0.05 for row in differences)
    assert 0.04 <= t_rejected / samples <= 0.06
    flip_rejected = sum(
        (p := sign_flip(list(row)).p) is not None and p < 0.05 for row in differences
    )
    assert 0.04 <= flip_rejected / samples <= 0.06
