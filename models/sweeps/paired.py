"""Paired comparison over seeds: paired t, sign-flip permutation, Holm, and the Welch fallback.

Reproduces `scipy.stats.ttest_rel` (two-sided), `scipy.stats.ttest_ind(equal_var=False)`
(Welch), the exact two-sided sign-flip permutation test and Holm's step-down adjustment
(`statsmodels.stats.multitest.multipletests(method="holm")`). Pure: no database, no I/O.
"""

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

ALPHA = 0.05
# Beyond this many pairs the 2^n sign patterns are sampled, not enumerated.
EXACT_MAX_PAIRS = 16
MONTE_CARLO_DRAWS = 100_000
MONTE_CARLO_SEED = 20_241_203


@dataclass(frozen=True)
class TTest:
    """Mean difference, its 95% Student-t interval and the two-sided p-value.

    `ci95` and `p` are None when undefined (fewer than 2 pairs, or every difference 0).
    """

    n: int
    mean: float | None
    ci95: tuple[float, float] | None
    p: float | None


def paired_t(differences: Sequence[float]) -> TTest:
    """The paired t-test on d = a − b, as `scipy.stats.ttest_rel(a, b)`.

    t = mean(d) / (s_d / √n) with n − 1 degrees of freedom; ci95 = mean ± t(0.975, n−1)·s_d/√n.
    """
    d = np.asarray(differences, dtype=np.float64)
    return _t_test(d.size, float(d.mean()) if d.size else None, _sd(d), d.size - 1)


def welch(a: Sequence[float], b: Sequence[float]) -> TTest:
    """Welch's unpaired t-test of mean(a) − mean(b), as `scipy.stats.ttest_ind(a, b,
    equal_var=False)`, with Welch–Satterthwaite degrees of freedom."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n = min(x.size, y.size)
    if x.size < 2 or y.size < 2:
        mean = float(x.mean() - y.mean()) if x.size and y.size else None
        return TTest(n=n, mean=mean, ci95=None, p=None)
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1)) if se > 0 else 1.0
    return _t_test(n, float(x.mean() - y.mean()), se, df)


def _sd(d: npt.NDArray[np.float64]) -> float | None:
    return float(d.std(ddof=1) / math.sqrt(d.size)) if d.size >= 2 else None


def _t_test(n: int, mean: float | None, se: float | None, df: float) -> TTest:
    from scipy import stats  # a second of import time, paid only by the comparison

    if mean is None or se is None:
        return TTest(n=n, mean=mean, ci95=None, p=None)
    if se == 0.0:
        # scipy: t = ±inf (p = 0) when the differences agree and are not all 0, NaN when 0.
        if mean == 0.0:
            return TTest(n=n, mean=mean, ci95=None, p=None)
        return TTest(n=n, mean=mean, ci95=(mean, mean), p=0.0)
    t = mean / se
    half = float(stats.t.ppf(0.975, df)) * se
    p = float(2 * stats.t.sf(abs(t), df))
    return TTest(n=n, mean=mean, ci95=(mean - half, mean + half), p=min(1.0, p))


@dataclass(frozen=True)
class SignFlip:
    """The two-sided sign-flip permutation p-value and how it was obtained."""

    p: float | None
    method: Literal["exact", "monte_carlo"]


def sign_flip(differences: Sequence[float], *, seed: int = MONTE_CARLO_SEED) -> SignFlip:
    """Two-sided sign-flip permutation test of mean(d) = 0.

    Under H0 each difference is as likely + as −; the statistic is |Σ d|. Exact for
    n ≤ 16: p = #{signs s : |Σ s·d| ≥ |Σ d|} / 2^n. Beyond, 100,000 sign patterns drawn
    with a seeded generator: p = (1 + #{≥}) / (1 + 100,000) (never 0).
    """
    d = np.asarray(differences, dtype=np.float64)
    if d.size == 0:
        return SignFlip(p=None, method="exact")
    observed = abs(float(d.sum()))
    # Sums equal in exact arithmetic can differ in the last bits: a relative tolerance.
    tolerance = 1e-9 * max(1.0, float(np.abs(d).sum()))
    if d.size <= EXACT_MAX_PAIRS:
        signs = sign_patterns(d.size)
        hits = int(np.count_nonzero(np.abs(signs @ d) >= observed - tolerance))
        return SignFlip(p=hits / signs.shape[0], method="exact")
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, MONTE_CARLO_DRAWS, 10_000):
        count = min(10_000, MONTE_CARLO_DRAWS - start)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(count, d.size))
        hits += int(np.count_nonzero(np.abs(signs @ d) >= observed - tolerance))
    return SignFlip(p=(1 + hits) / (1 + MONTE_CARLO_DRAWS), method="monte_carlo")


@functools.cache
def sign_patterns(n: int) -> npt.NDArray[np.float64]:
    """All 2^n vectors of ±1 (rows); read-only, shared between calls."""
    patterns = np.array(list(itertools.product((1.0, -1.0), repeat=n)), dtype=np.float64).reshape(
        2**n, n
    )
    patterns.flags.writeable = False
    return patterns


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment over the defined p-values (None stays None).

    With the m p-values sorted ascending p_(1) ≤ ... ≤ p_(m):
    adj_(i) = max_{j ≤ i} min(1, (m − j + 1) · p_(j)).
    """
    defined = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(defined)
    adjusted: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, index) in enumerate(defined):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted


def verdict(mean: float | None, adjusted_p: float | None, *, n: int, alpha: float = ALPHA) -> str:
    """ "better" / "worse" (than the baseline) when the adjusted p < alpha, else no difference;
    with no pair at all, that nothing could be compared."""
    if n == 0:
        return "not compared: no seed finished in both"
    if mean is not None and adjusted_p is not None and adjusted_p < alpha and mean != 0.0:
        return "better" if mean > 0 else "worse"
    return f"no detectable difference with {n} seed{'s' if n != 1 else ''}"
