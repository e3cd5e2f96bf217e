"""Statistics of sweep comparisons, checked against independent computations."""

import math

import pytest

from models.comparison import describe


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
