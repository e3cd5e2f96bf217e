"""The learning-rate range test, as fastai 2.x `Learner.lr_find` computes it: pure numpy math.

Mirrors fastai/callback/schedule.py (`SchedExp`, `LRFinder`, `valley`, `slide`, `minimum`,
`steep`, `lr_find`), fastai/learner.py (`AvgSmoothLoss`, `Recorder.after_batch`) and
fastai/callback/core.py (`TrainEvalCallback.after_batch`). The worker drives a
`RangeTestTracker` once per training step; the suggestions are computed from what it recorded.

One iteration i (0-based), in fastai's callback order:
  1. `LRFinder.before_batch` sets lr_i = start_lr·(end_lr/start_lr)^(i/num_iter);
  2. the batch trains;
  3. `TrainEvalCallback` (order -10) counts it: train_iter = i + 1;
  4. `Recorder` (order 50) updates the smoothed loss s_i and records (lr_i, s_i);
  5. `LRFinder` (order 60): best = min(best, s_i); stop if stop_div and s_i > 4·best;
     stop if train_iter >= num_iter.
So a full test records exactly num_iter points and never trains at end_lr itself.

fastai computes in float32 tensors; this module computes in float64 and mirrors fastai's
operation order (including torch.lerp's form), so results agree up to float32 rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

MIN_NUM_ITER = 6  # fastai's LRFinder raises smaller num_it to 6; lrlab refuses it instead
MAX_NUM_ITER = 10_000  # bounds a range test's cost and the O(n²) valley search
SMOOTHING_BETA = 0.98  # fastai Recorder(beta=0.98) -> AvgSmoothLoss(beta)
DIVERGENCE_FACTOR = 4.0  # LRFinder.after_batch: smooth_loss > 4*best_loss
SKIP_END = 5  # lr_find slices [num_it//10 : -5]
SLIDE_LR_DIFF = 15
SLIDE_THRESH = 0.005
SLIDE_ADJUST_VALUE = 1.0
# Keras keeps the lr in float32; anything above its range becomes inf during training.
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class CurveTooShortError(ValueError):
    """The trimmed curve has fewer points than a suggestion method needs."""


def _fail(message: str) -> None:
    raise ValueError(message)


def _require_lr(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(f"`{name}` must be a number, got {value!r}")
    if not math.isfinite(value):
        _fail(f"`{name}` must be finite, got {value}")
    if value <= 0:
        _fail(f"`{name}` must be > 0, got {value}")
    if value > _FLOAT32_MAX:
        _fail(f"`{name}` must be <= {_FLOAT32_MAX:g}, got {value}")


def _raw_lrs(start_lr: float, end_lr: float, num_iter: int) -> FloatArray:
    # fastai's sched_exp on Python floats, element by element, so each value is bit-for-bit
    # what fastai sets; at most MAX_NUM_ITER scalar pows.
    return np.fromiter(
        (start_lr * (end_lr / start_lr) ** (i / num_iter) for i in range(num_iter)),
        dtype=np.float64,
        count=num_iter,
    )


def check_range_test(*, start_lr: float, end_lr: float, num_iter: int) -> None:
    """Refuse a range test's parameters with a message naming the field (ValueError)."""
    _require_lr("start_lr", start_lr)
    _require_lr("end_lr", end_lr)
    if start_lr >= end_lr:
        _fail(f"`start_lr` must be < `end_lr`, got {start_lr} >= {end_lr}")
    if isinstance(num_iter, bool) or not isinstance(num_iter, int):
        _fail(f"`num_iter` must be an integer, got {num_iter!r}")
    if num_iter < MIN_NUM_ITER:
        _fail(f"`num_iter` must be >= {MIN_NUM_ITER}, got {num_iter}")
    if num_iter > MAX_NUM_ITER:
        _fail(f"`num_iter` must be <= {MAX_NUM_ITER}, got {num_iter}")
    # steep divides by log-lr steps, so every step must move the lr.
    if not bool(np.all(np.diff(_raw_lrs(start_lr, end_lr, num_iter)) > 0)):
        _fail(
            f"`end_lr` / `start_lr` is too close to 1 for {num_iter} distinct learning rates, "
            f"got {end_lr} / {start_lr}"
        )


def lr_at(i: int, *, start_lr: float, end_lr: float, num_iter: int) -> float:
    """The lr of iteration i (0-based): start_lr·(end_lr/start_lr)^(i/num_iter), 0 <= i < num_iter.

    fastai: `LRFinder.before_batch` calls `SchedExp(start_lr, end_lr)(train_iter/num_it)`,
    `sched_exp(start, end, pos) = start * (end/start) ** pos`, with train_iter = i.
    """
    check_range_test(start_lr=start_lr, end_lr=end_lr, num_iter=num_iter)
    if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < num_iter:
        _fail(f"`i` must be an integer in [0, {num_iter}), got {i!r}")
    return float(start_lr * (end_lr / start_lr) ** (i / num_iter))


def lr_sequence(*, start_lr: float, end_lr: float, num_iter: int) -> FloatArray:
    """lr_i = start_lr·(end_lr/start_lr)^(i/num_iter) for i = 0 … num_iter-1 (end_lr excluded)."""
    check_range_test(start_lr=start_lr, end_lr=end_lr, num_iter=num_iter)
    return _raw_lrs(start_lr, end_lr, num_iter)


# --------------------------------------------------------------------------------------------
# Smoothing
# --------------------------------------------------------------------------------------------


class SmoothedLoss:
    """fastai's `AvgSmoothLoss`: the debiased exponential moving average of the loss.

    v_0 = 0, v_k = β·v_{k-1} + (1-β)·loss_k, reported as s_k = v_k / (1 - β^k), so
    s_k = Σ_{j<=k} (1-β)·β^(k-j)·loss_j / (1 - β^k), and a constant loss c gives s_k = c.
    fastai updates with `torch.lerp(loss, v, β)`, which for β >= 0.5 evaluates
    v - (v - loss)·(1 - β); that form is kept, so an inf loss followed by a finite one gives NaN
    as in fastai. A NaN loss makes every later value NaN.
    """

    def __init__(self, beta: float = SMOOTHING_BETA) -> None:
        if not (isinstance(beta, int | float) and 0.5 <= beta < 1):
            _fail(f"`beta` must be in [0.5, 1), got {beta!r}")
        self.beta = float(beta)
        self.count = 0
        self._val = 0.0

    def update(self, loss: float) -> float:
        """Fold in one raw loss and return the smoothed value s_k."""
        self.count += 1
        self._val = self._val - (self._val - float(loss)) * (1.0 - self.beta)
        return self.value

    @property
    def value(self) -> float:
        """s_k = v_k / (1 - β^k); NaN before the first update (fastai divides 0 by 0)."""
        if self.count == 0:
            return math.nan
        return self._val / (1.0 - self.beta**self.count)


def smooth_losses(losses: npt.ArrayLike, *, beta: float = SMOOTHING_BETA) -> FloatArray:
    """s_k for every prefix of `losses` (the same recurrence as `SmoothedLoss`, array in/out)."""
    raw = np.asarray(losses, dtype=np.float64)
    if raw.ndim != 1:
        _fail(f"`losses` must be one-dimensional, got shape {raw.shape}")
    smoother = SmoothedLoss(beta)
    return np.fromiter((smoother.update(x) for x in raw.tolist()), np.float64, raw.size)


# --------------------------------------------------------------------------------------------
# The run: recording and stopping
# --------------------------------------------------------------------------------------------


class RangeTestTracker:
    """What `LRFinder` + `Recorder` keep during a range test; the worker calls `record` per step.

    Before step i the worker trains at `next_lr` (= lr_i), then passes the step's raw loss to
    `record`, which returns whether to go on. Stopping (fastai `LRFinder.after_batch`):
    best = min(best, s_i) first, then stop when stop_div and s_i > 4·best, then stop when
    i + 1 >= num_iter. Since best already includes s_i, a negative s_i stops at once
    (s_i > 4·s_i), and NaN never stops the test (every comparison with NaN is False), as in
    fastai.
    """

    def __init__(
        self,
        *,
        start_lr: float = 1e-7,
        end_lr: float = 10.0,
        num_iter: int = 100,
        stop_div: bool = True,
    ) -> None:
        self._lrs = lr_sequence(start_lr=start_lr, end_lr=end_lr, num_iter=num_iter)
        if not isinstance(stop_div, bool):
            _fail(f"`stop_div` must be a boolean, got {stop_div!r}")
        self.start_lr = start_lr
        self.end_lr = end_lr
        self.num_iter = num_iter
        self.stop_div = stop_div
        self._smoother = SmoothedLoss()
        self._losses: list[float] = []
        self._smoothed: list[float] = []
        self.best_loss = math.inf
        self.diverged = False

    @property
    def iterations_done(self) -> int:
        """How many steps have been recorded."""
        return len(self._losses)

    @property
    def finished(self) -> bool:
        """Whether the test has stopped (divergence or num_iter steps)."""
        return self.diverged or self.iterations_done >= self.num_iter

    @property
    def stopped_early(self) -> bool:
        """Whether divergence stopped the test before num_iter steps."""
        return self.diverged and self.iterations_done < self.num_iter

    @property
    def next_lr(self) -> float:
        """The lr to train the next step at."""
        if self.finished:
            raise RuntimeError("the range test has finished")
        return float(self._lrs[self.iterations_done])

    @property
    def lrs(self) -> FloatArray:
        """The lr of every recorded step."""
        return self._lrs[: self.iterations_done].copy()

    @property
    def losses(self) -> FloatArray:
        """The raw loss of every recorded step."""
        return np.array(self._losses, dtype=np.float64)

    @property
    def smoothed_losses(self) -> FloatArray:
        """The smoothed loss of every recorded step (what fastai records and suggests from)."""
        return np.array(self._smoothed, dtype=np.float64)

    def record(self, loss: float) -> bool:
        """Record the raw loss of the step trained at `next_lr`; True while the test goes on."""
        if self.finished:
            raise RuntimeError("the range test has finished")
        if isinstance(loss, bool) or not isinstance(loss, int | float | np.floating):
            _fail(f"`loss` must be a number, got {loss!r}")
        smoothed = self._smoother.update(float(loss))
        self._losses.append(float(loss))
        self._smoothed.append(smoothed)
        if smoothed < self.best_loss:
            self.best_loss = smoothed
        if self.stop_div and smoothed > DIVERGENCE_FACTOR * self.best_loss:
            self.diverged = True
        return not self.finished

    def suggestions(self) -> Suggestions:
        """fastai's four suggestions from the recorded curve (see `suggest`)."""
        return suggest(self.lrs, self.smoothed_losses, num_iter=self.num_iter)


# --------------------------------------------------------------------------------------------
# Suggestions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    """A suggested lr and the smoothed loss on the curve at that lr."""

    lr: float
    loss: float


@dataclass(frozen=True)
class Suggestions:
    """fastai's four suggestions; None where the trimmed curve is too short for the method."""

    valley: Suggestion | None
    slide: Suggestion | None
    minimum: Suggestion | None
    steep: Suggestion | None


def _curve(lrs: npt.ArrayLike, losses: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    x = np.asarray(lrs, dtype=np.float64)
    y = np.asarray(losses, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        _fail(f"`lrs` and `losses` must be 1-D of one length, got {x.shape} and {y.shape}")
    if not bool(np.all(np.isfinite(x) & (x > 0))):
        _fail("`lrs` must be finite and > 0")
    if not bool(np.all(np.diff(x) > 0)):
        _fail("`lrs` must be strictly increasing")
    if bool(np.any(np.isnan(y))):
        _fail("`losses` must not contain NaN (trim_curve cuts at the first NaN)")
    return x, y


def _require_points(method: str, n: int, needed: int) -> None:
    if n < needed:
        raise CurveTooShortError(
            f"`{method}` needs at least {needed} point(s) after trimming, got {n}"
        )


def _on_curve(lr: float, lrs: FloatArray, losses: FloatArray) -> float:
    # fastai's slide: np.interp(np.log10(lr), np.log10(lrs), losses); beyond either end of
    # the curve np.interp holds the end value.
    return float(np.interp(np.log10(lr), np.log10(lrs), losses))


def trim_curve(
    lrs: npt.ArrayLike, losses: npt.ArrayLike, *, num_iter: int
) -> tuple[FloatArray, FloatArray]:
    """The points fastai suggests from: [num_iter // 10 : -5] of the recorded curve, then cut
    before the first NaN loss.

    fastai `lr_find`: `lrs, losses = tensor(recorder.lrs[num_it//10:-5]), ...`, then
    `lrs[:min(nan_idxs)]`. The end skip counts from where the test stopped, so a test stopped
    after k <= num_iter // 10 + 5 steps leaves nothing.
    """
    x = np.asarray(lrs, dtype=np.float64)
    y = np.asarray(losses, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        _fail(f"`lrs` and `losses` must be 1-D of one length, got {x.shape} and {y.shape}")
    x, y = x[num_iter // 10 : -SKIP_END], y[num_iter // 10 : -SKIP_END]
    nan = np.flatnonzero(np.isnan(y))
    if nan.size:
        x, y = x[: nan[0]], y[: nan[0]]
    return x, y


def valley(lrs: npt.ArrayLike, losses: npt.ArrayLike) -> Suggestion:
    """fastai `valley`: a point about halfway along the longest valley.

    (fastai's prose says "two thirds along"; its code, mirrored here, lands near halfway.)

    lds_i = 1 + max{lds_j : j < i, loss_j > loss_i} (1 if none): the longest strictly
    decreasing subsequence ending at i (not necessarily contiguous). end = the first i with the
    largest lds; start = end - lds_end (one before the subsequence's first index; both stay 0
    when no loss ever decreases). L = end - start, idx = start + ⌊L/3⌋ + ⌊L/6⌋, used as a
    Python index, so idx = -1 (L <= 2 with start = -1) means the last point, as in fastai.
    Returns (lrs[idx], losses[idx]). Needs 1 point.
    """
    x, y = _curve(lrs, losses)
    n = y.size
    _require_points("valley", n, 1)
    # fastai's double loop, one vector comparison per i (the same lds; max_end/max_start
    # end up the first argmax and argmax - lds[argmax]).
    lds = np.ones(n, dtype=np.int64)
    for i in range(1, n):
        higher = lds[:i][y[:i] > y[i]]
        if higher.size:
            lds[i] = higher.max() + 1
    max_end = int(np.argmax(lds))
    max_start = max_end - int(lds[max_end]) if lds[max_end] > 1 else 0
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return Suggestion(lr=float(x[idx]), loss=float(y[idx]))


def slide(
    lrs: npt.ArrayLike,
    losses: npt.ArrayLike,
    *,
    lr_diff: int = SLIDE_LR_DIFF,
    thresh: float = SLIDE_THRESH,
    adjust_value: float = SLIDE_ADJUST_VALUE,
) -> Suggestion:
    """fastai `slide`: the interval slide rule.

    g = np.gradient(losses) (unit spacing: central differences inside, one-sided at the ends).
    Pair r = n-1, l = r - lr_diff and move both left while l >= 0 and |g_r - g_l| > thresh;
    the suggestion is lrs[l + 1] for the first l where the test fails (lrs[0] when l runs past
    the start), or lrs[n-1-lr_diff] when it fails at once; times adjust_value. Loss: the curve
    at that lr, np.interp(log10 lr, log10 lrs, losses), as fastai marks it. Needs lr_diff + 1
    points (fastai indexes lrs[-lr_diff-1] before the loop).
    """
    if isinstance(lr_diff, bool) or not isinstance(lr_diff, int) or lr_diff < 1:
        _fail(f"`lr_diff` must be an integer >= 1, got {lr_diff!r}")
    if not math.isfinite(thresh) or thresh < 0:
        _fail(f"`thresh` must be finite and >= 0, got {thresh}")
    if not math.isfinite(adjust_value) or adjust_value <= 0:
        _fail(f"`adjust_value` must be finite and > 0, got {adjust_value}")
    x, y = _curve(lrs, losses)
    n = y.size
    _require_points("slide", n, lr_diff + 1)
    grad = np.gradient(y)
    # fastai walks negative indices r_idx = -1, l_idx = r_idx - lr_diff; these are the same
    # positions counted from the start.
    r, left = n - 1, n - 1 - lr_diff
    local_min_lr = x[left]
    while left >= 0 and abs(grad[r] - grad[left]) > thresh:
        local_min_lr = x[left]
        r -= 1
        left -= 1
    suggestion = float(local_min_lr) * adjust_value
    return Suggestion(lr=suggestion, loss=_on_curve(suggestion, x, y))


def minimum(lrs: npt.ArrayLike, losses: npt.ArrayLike) -> Suggestion:
    """fastai `minimum`: one tenth of the lr at the lowest loss (the first one on ties).

    lr = lrs[argmin losses] / 10. fastai marks its plot at (lrs[argmin], min loss), which is not
    at the suggested lr; lrlab reports the curve at the suggested lr instead, by slide's rule:
    np.interp(log10 lr, log10 lrs, losses), which holds losses[0] when lr lies below the
    trimmed curve. Needs 1 point.
    """
    x, y = _curve(lrs, losses)
    _require_points("minimum", y.size, 1)
    suggestion = float(x[int(np.argmin(y))]) / 10
    return Suggestion(lr=suggestion, loss=_on_curve(suggestion, x, y))


def steep(lrs: npt.ArrayLike, losses: npt.ArrayLike) -> Suggestion:
    """fastai `steep`: the left end of the steepest descent of loss against ln(lr).

    grad_k = (loss_{k+1} - loss_k) / (ln lr_{k+1} - ln lr_k), k = argmin grad (first on ties);
    returns (lrs[k], losses[k]). Needs 2 points.
    """
    x, y = _curve(lrs, losses)
    _require_points("steep", y.size, 2)
    log_lr = np.log(x)
    grads = (y[1:] - y[:-1]) / (log_lr[1:] - log_lr[:-1])
    k = int(np.argmin(grads))
    return Suggestion(lr=float(x[k]), loss=float(y[k]))


def suggest(lrs: npt.ArrayLike, losses: npt.ArrayLike, *, num_iter: int) -> Suggestions:
    """All four suggestions from a recorded (lr, smoothed loss) curve, as fastai `lr_find` does.

    The curve is trimmed by `trim_curve`; a method whose trimmed curve is too short (where
    fastai would raise IndexError) gives None: valley and minimum need 1 point, steep 2,
    slide 16.
    """
    x, y = trim_curve(lrs, losses, num_iter=num_iter)
    return Suggestions(
        valley=_or_none(valley, x, y),
        slide=_or_none(slide, x, y),
        minimum=_or_none(minimum, x, y),
        steep=_or_none(steep, x, y),
    )


def _or_none(
    method: Callable[[FloatArray, FloatArray], Suggestion], x: FloatArray, y: FloatArray
) -> Suggestion | None:
    try:
        return method(x, y)
    except CurveTooShortError:
        return None
