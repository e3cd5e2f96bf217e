"""The range test's pure math: lr sequence, smoothing, stopping and fastai's four suggestions.

Every expected value is derived by hand from fastai 2.x's code (fastai/callback/schedule.py,
fastai/learner.py) in the comments beside it; nothing here runs fastai or torch.
"""

import math

import numpy as np
import pytest

from models.range_tests import (
    MAX_NUM_ITER,
    CurveTooShortError,
    RangeTestTracker,
    SmoothedLoss,
    Suggestion,
    Suggestions,
    check_range_test,
    lr_at,
    lr_sequence,
    minimum,
    slide,
    smooth_losses,
    steep,
    suggest,
    trim_curve,
    valley,
)

BETA = 0.98
NAN = math.nan
# Exact powers of ten: log10 of each is exact, so slide/minimum interpolate at grid points.
DECADES = [10.0**k for k in range(20)]


# --------------------------------------------------------------------------------------------
# lr sequence
# --------------------------------------------------------------------------------------------


def test_lr_sequence_is_geometric_from_start_and_stops_one_step_short_of_end() -> None:
    # start 1e-4, end 1e4, num_iter 8: lr_i = 1e-4·(1e8)^(i/8) = 10^(i-4); i = 0 … 7, so the
    # last lr is 1e3 and end_lr itself is never used (fastai stops once train_iter reaches 8).
    lrs = lr_sequence(start_lr=1e-4, end_lr=1e4, num_iter=8)
    assert lrs.shape == (8,)
    np.testing.assert_allclose(lrs, [10.0 ** (i - 4) for i in range(8)], rtol=1e-14)
    assert lrs[0] == 1e-4


def test_lr_at_matches_the_sequence_and_fastai_defaults() -> None:
    lrs = lr_sequence(start_lr=1e-7, end_lr=10.0, num_iter=100)
    assert [lr_at(i, start_lr=1e-7, end_lr=10.0, num_iter=100) for i in range(100)] == list(lrs)
    # fastai defaults: lr_99 = 1e-7·(1e8)^(99/100) = 10^0.92.
    assert lrs[99] == pytest.approx(10**0.92, rel=1e-13)
    with pytest.raises(ValueError, match=r"`i` must be an integer in \[0, 100\), got 100"):
        lr_at(100, start_lr=1e-7, end_lr=10.0, num_iter=100)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_iter": 3}, "`num_iter` must be >= 6, got 3"),
        ({"num_iter": MAX_NUM_ITER + 1}, f"`num_iter` must be <= {MAX_NUM_ITER}, got 10001"),
        ({"num_iter": 10.0}, "`num_iter` must be an integer, got 10.0"),
        ({"start_lr": 1.0, "end_lr": 1.0}, "`start_lr` must be < `end_lr`, got 1.0 >= 1.0"),
        ({"start_lr": 2.0, "end_lr": 1.0}, "`start_lr` must be < `end_lr`"),
        ({"start_lr": 0.0}, "`start_lr` must be > 0, got 0.0"),
        ({"start_lr": -1e-3}, "`start_lr` must be > 0"),
        ({"end_lr": math.inf}, "`end_lr` must be finite, got inf"),
        ({"start_lr": NAN}, "`start_lr` must be finite, got nan"),
        ({"end_lr": 1e39}, "`end_lr` must be <= "),
        ({"start_lr": 1.0, "end_lr": 1.0 + 1e-15}, "too close to 1 for 100 distinct"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(
    kwargs: dict[str, float], message: str
) -> None:
    args = {"start_lr": 1e-7, "end_lr": 10.0, "num_iter": 100} | kwargs
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        check_range_test(**args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        RangeTestTracker(**args)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Smoothing
# --------------------------------------------------------------------------------------------


def test_smoothing_is_fastais_debiased_moving_average() -> None:
    # v_1 = 0.02·1 -> s_1 = 0.02/0.02 = 1; v_2 = 0.98·0.02 + 0.02·0 = 0.0196,
    # s_2 = 0.0196 / (1 - 0.98²) = 0.0196 / 0.0396 = 49/99.
    smoother = SmoothedLoss()
    assert math.isnan(smoother.value)
    assert smoother.update(1.0) == pytest.approx(1.0, rel=1e-14)
    assert smoother.update(0.0) == pytest.approx(49 / 99, rel=1e-14)
    assert smoother.count == 2


def test_smoothing_matches_its_closed_form_and_the_array_version() -> None:
    # s_k = Σ_{j<=k} (1-β)·β^(k-j)·loss_j / (1 - β^k)
    raw = np.random.default_rng(14).uniform(0.1, 5.0, size=300)
    expected = [
        sum((1 - BETA) * BETA ** (k - j) * raw[j] for j in range(k + 1)) / (1 - BETA ** (k + 1))
        for k in range(raw.size)
    ]
    smoothed = smooth_losses(raw)
    np.testing.assert_allclose(smoothed, expected, rtol=1e-12)
    smoother = SmoothedLoss()
    assert [smoother.update(x) for x in raw] == list(smoothed)


def test_a_constant_loss_smooths_to_itself() -> None:
    np.testing.assert_allclose(smooth_losses([2.5] * 50), 2.5, rtol=1e-13)


def test_nan_and_inf_propagate_as_torch_lerp_does() -> None:
    # lerp(loss, v, β) = v - (v - loss)·(1-β): v = 0, loss = inf -> inf; then loss = 1:
    # inf - (inf - 1)·0.02 = inf - inf = NaN. A NaN stays NaN.
    assert list(np.isnan(smooth_losses([1.0, NAN, 1.0]))) == [False, True, True]
    smoothed = smooth_losses([math.inf, 1.0])
    assert smoothed[0] == math.inf and math.isnan(smoothed[1])


# --------------------------------------------------------------------------------------------
# Recording and stopping
# --------------------------------------------------------------------------------------------


def test_a_full_run_records_num_iter_steps_at_the_sequence_lrs() -> None:
    tracker = RangeTestTracker(start_lr=1e-4, end_lr=1e4, num_iter=6)
    seen, answers = [], []
    for _ in range(6):
        seen.append(tracker.next_lr)
        answers.append(tracker.record(1.0))
    # train_iter becomes 6 after the sixth step: `train_iter >= num_it` stops.
    assert answers == [True] * 5 + [False]
    assert seen == list(lr_sequence(start_lr=1e-4, end_lr=1e4, num_iter=6))
    assert list(tracker.lrs) == seen
    assert tracker.iterations_done == 6 and tracker.finished
    assert not tracker.stopped_early and not tracker.diverged
    with pytest.raises(RuntimeError, match="has finished"):
        tracker.record(1.0)
    with pytest.raises(RuntimeError, match="has finished"):
        _ = tracker.next_lr


def test_divergence_stops_at_the_first_smoothed_loss_above_four_times_the_best() -> None:
    # Raw losses: ten 1s, then 3, then 100.
    # s_1 … s_10 = 1 (a constant smooths to itself), so best = 1.
    # v_10 = 1 - 0.98^10 = 0.1829272; v_11 = 0.98·v_10 + 0.02·3 = 0.2392686;
    #   s_11 = v_11 / (1 - 0.98^11) = 0.2392686 / 0.1992686 = 1.2007 <= 4  -> go on.
    # v_12 = 0.98·v_11 + 0.02·100 = 2.2344833; s_12 = 2.2344833 / (1 - 0.98^12)
    #   = 2.2344833 / 0.2152833 = 10.379 > 4·1                           -> stop after step 12.
    tracker = RangeTestTracker(num_iter=100)
    raw = [1.0] * 10 + [3.0, 100.0, 100.0]
    answers = [tracker.record(x) for x in raw[:12]]
    assert answers == [True] * 11 + [False]
    assert tracker.iterations_done == 12
    assert tracker.stopped_early and tracker.diverged and tracker.finished
    assert tracker.smoothed_losses[10] == pytest.approx(1.2007, abs=1e-4)
    assert tracker.smoothed_losses[11] == pytest.approx(10.379, abs=1e-3)
    assert tracker.best_loss == pytest.approx(1.0, rel=1e-13)
    assert list(tracker.losses) == raw[:12]
    assert list(tracker.lrs) == list(lr_sequence(start_lr=1e-7, end_lr=10.0, num_iter=100)[:12])


def test_without_stop_div_the_same_losses_run_to_num_iter() -> None:
    tracker = RangeTestTracker(num_iter=14, stop_div=False)
    answers = [tracker.record(x) for x in [1.0] * 10 + [3.0, 100.0, 100.0, 100.0]]
    assert answers == [True] * 13 + [False]
    assert not tracker.diverged and not tracker.stopped_early


def test_divergence_on_the_last_step_is_not_an_early_stop() -> None:
    # s_6 = (0.98·(1 - 0.98^5) + 0.02·1000) / (1 - 0.98^6) = 20.0942 / 0.1142 = 176 > 4.
    tracker = RangeTestTracker(num_iter=6)
    assert [tracker.record(x) for x in [1.0] * 5 + [1000.0]] == [True] * 5 + [False]
    assert tracker.diverged and not tracker.stopped_early


def test_best_is_updated_before_the_divergence_check() -> None:
    # fastai updates best_loss first, so a negative smoothed loss s gives best = s and
    # s > 4·s: the test stops at once. Checking first (4·inf) would have gone on.
    tracker = RangeTestTracker(num_iter=10)
    assert tracker.record(-1.0) is False
    assert tracker.iterations_done == 1 and tracker.best_loss == pytest.approx(-1.0)


def test_nan_never_stops_the_test() -> None:
    # fastai: NaN < best and NaN > 4·best are both False, so it trains on to num_iter.
    tracker = RangeTestTracker(num_iter=8)
    answers = [tracker.record(x) for x in [2.0, 1.0, NAN, 1.0, 1.0, 1.0, 1.0, 1.0]]
    assert answers == [True] * 7 + [False]
    assert not tracker.diverged
    assert list(np.isnan(tracker.smoothed_losses)) == [False] * 2 + [True] * 6
    # s_2 = (0.98·0.04 + 0.02·1) / (1 - 0.98²) = 0.0592 / 0.0396 = 148/99.
    assert tracker.best_loss == pytest.approx(148 / 99, rel=1e-14)


def test_record_refuses_a_non_number() -> None:
    with pytest.raises(ValueError, match="`loss` must be a number, got 'x'"):
        RangeTestTracker().record("x")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# valley
# --------------------------------------------------------------------------------------------


def test_valley_is_halfway_along_the_longest_decrease() -> None:
    # losses 10, 9, …, 1, 5, 9: lds = 1 … 10 for t0 … t9, then 6 (5 < 10…6), 2 (9 < 10).
    # max_end = 9, max_start = 9 - 10 = -1, sections = 10/3 = 3.33,
    # idx = -1 + int(3.33) + int(1.67) = -1 + 3 + 1 = 3 -> loss 7.
    losses = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 5, 9]
    assert valley(DECADES[:12], losses) == Suggestion(lr=1e3, loss=7.0)


def test_valley_counts_a_decreasing_subsequence_not_a_run() -> None:
    # losses 5, 4, 6, 3, 2, 7, 1, 8: lds = 1, 2, 1, 3, 4, 1, 5, 1 (5 > 4 > 3 > 2 > 1 skips the
    # 6 and the 7). max_end = 6, max_start = 6 - 5 = 1, sections = 5/3 = 1.67,
    # idx = 1 + 1 + int(0.83) = 2 -> the bump at 6.
    assert valley(DECADES[:8], [5, 4, 6, 3, 2, 7, 1, 8]) == Suggestion(lr=100.0, loss=6.0)


def test_valley_takes_the_first_of_equally_long_valleys() -> None:
    # lds = 1, 2, 3, 1, 2, 3: fastai moves max_end only on a strictly longer valley, so
    # max_end = 2, max_start = -1, sections = 1, idx = -1 + 1 + 0 = 0 (the last one would give 3).
    assert valley(DECADES[:6], [5, 4, 3, 9, 8, 7]) == Suggestion(lr=1.0, loss=5.0)


def test_valley_index_minus_one_is_the_last_point_as_in_fastai() -> None:
    # lds = 1, 2, 1: max_end = 1, max_start = -1, sections = 2/3, idx = -1 + 0 + 0 = -1,
    # which Python reads as the last point.
    assert valley(DECADES[:3], [3, 2, 5]) == Suggestion(lr=100.0, loss=5.0)


def test_valley_without_any_decrease_is_the_first_point() -> None:
    # lds all 1: max_start = max_end = 0 stay, idx = 0.
    assert valley(DECADES[:4], [1, 2, 3, 4]) == Suggestion(lr=1.0, loss=1.0)


# --------------------------------------------------------------------------------------------
# slide
# --------------------------------------------------------------------------------------------

# 20 points, loss 30 - i up to i = 18, then 20. np.gradient: g_0 = -1 (one-sided),
# g_1 … g_17 = -1, g_18 = (20 - 13)/2 = 3.5, g_19 = 20 - 12 = 8 (one-sided).
SLIDE_CURVE = [30.0 - i for i in range(19)] + [20.0]


def test_slide_walks_left_until_the_gradients_agree() -> None:
    # r = 19, l = 4: |8 - (-1)| = 9 > 0.005 -> local = lrs[4]; r = 18, l = 3: |3.5 + 1| = 4.5
    # -> local = lrs[3]; r = 17, l = 2: |-1 + 1| = 0 -> stop. lrs[3] = 1e3, loss 27.
    assert slide(DECADES, SLIDE_CURVE) == Suggestion(lr=1e3, loss=27.0)


def test_slide_keeps_the_first_left_point_when_the_first_pair_agrees() -> None:
    # thresh 10: |8 + 1| = 9 <= 10 at once -> lrs[n-1-lr_diff] = lrs[4].
    assert slide(DECADES, SLIDE_CURVE, thresh=10.0) == Suggestion(lr=1e4, loss=26.0)


def test_slide_adjusts_and_reads_the_loss_on_the_curve() -> None:
    # 0.5·lrs[3] = 500; log10 500 = 2.69897 lies between lrs[2] (28) and lrs[3] (27):
    # loss = 28 - 0.69897 = 27.30103.
    got = slide(DECADES, SLIDE_CURVE, adjust_value=0.5)
    assert got.lr == 500.0
    assert got.loss == pytest.approx(28 - math.log10(5), rel=1e-13)


def test_slide_runs_off_the_start_to_the_first_lr() -> None:
    # losses i²: g_0 = 1, g_i = 2i inside, g_19 = 37; every pair differs by about 30, so l
    # runs past 0 and the last local is lrs[0].
    assert slide(DECADES, [float(i * i) for i in range(20)]) == Suggestion(lr=1.0, loss=0.0)


def test_slide_needs_lr_diff_plus_one_points() -> None:
    # fastai reads lrs[-16] before its loop: IndexError on 15 points.
    with pytest.raises(CurveTooShortError, match="`slide` needs at least 16 point"):
        slide(DECADES[:15], SLIDE_CURVE[:15])
    assert slide(DECADES[:4], [4.0, 3.0, 1.0, 0.0], lr_diff=3).lr == 1.0


# --------------------------------------------------------------------------------------------
# minimum and steep
# --------------------------------------------------------------------------------------------


def test_minimum_is_a_tenth_of_the_first_lowest_point() -> None:
    # argmin of 5, 3, 1, 2, 1, 4 is t2 (the first 1): lr = 100/10 = 10 = lrs[1], loss 3.
    assert minimum(DECADES[:6], [5, 3, 1, 2, 1, 4]) == Suggestion(lr=10.0, loss=3.0)


def test_steep_is_the_left_end_of_the_steepest_segment() -> None:
    # diffs -0.5, -1.5, -0.2, -0.1, 1.3 over equal log steps: steepest is t1 -> t2, so t1.
    assert steep(DECADES[:6], [5, 4.5, 3, 2.8, 2.7, 4]) == Suggestion(lr=10.0, loss=4.5)


def test_steep_divides_by_the_log_lr_step() -> None:
    # (2-3)/ln 10 = -0.434 beats (0-2)/ln 1000 = -0.290, although the second drop is larger.
    assert steep([1.0, 10.0, 1e4], [3.0, 2.0, 0.0]) == Suggestion(lr=1.0, loss=3.0)


@pytest.mark.parametrize(
    ("lrs", "losses", "message"),
    [
        ([1.0, 2.0], [1.0], "must be 1-D of one length"),
        ([2.0, 1.0], [1.0, 1.0], "`lrs` must be strictly increasing"),
        ([0.0, 1.0], [1.0, 1.0], "`lrs` must be finite and > 0"),
        ([1.0, 2.0], [1.0, NAN], "`losses` must not contain NaN"),
    ],
)
def test_suggestion_methods_refuse_a_malformed_curve(
    lrs: list[float], losses: list[float], message: str
) -> None:
    for method in (valley, minimum, steep):
        with pytest.raises(ValueError, match=message):
            method(lrs, losses)


# --------------------------------------------------------------------------------------------
# suggest: trimming as lr_find does, on whole recorded curves
# --------------------------------------------------------------------------------------------


def test_a_curve_with_nan_is_cut_before_the_first_nan() -> None:
    # num_iter 40, lr_i = 10^(-6 + i/5). Recorded: 0.5 at i = 0…3 (lower than anything after,
    # so it must be skipped: 40 // 10 = 4), T at i = 4…19, NaN from i = 20.
    # Trimmed: [4:35] then cut at the NaN at i = 20 -> T, 16 points (t = i - 4).
    lrs = lr_sequence(start_lr=1e-6, end_lr=1e2, num_iter=40)
    t = [10, 9.9, 9.7, 9.4, 9.0, 8.0, 6.0, 3.0, 2.0, 1.5, 1.2, 1.1, 1.05, 1.1, 1.3, 1.8]
    losses = [0.5] * 4 + t + [NAN] * 20
    trimmed_lrs, trimmed = trim_curve(lrs, losses, num_iter=40)
    assert list(trimmed) == t and list(trimmed_lrs) == list(lrs[4:20])
    got = suggest(lrs, losses, num_iter=40)
    # valley: t0…t12 strictly decrease (lds 13); t13 = 1.1 -> 12, t14 -> 11, t15 -> 10.
    #   max_end = 12, max_start = -1, sections = 13/3, idx = -1 + 4 + 2 = 5 -> t5 = i 9, 8.0.
    assert got.valley == Suggestion(lr=float(lrs[9]), loss=8.0)
    # slide: 16 points, r = 15, l = 0: |g15 - g0| = |0.5 - (-0.1)| > 0.005 -> local = lrs[t0],
    #   then l = -1 ends the loop -> i 4, loss 10.
    assert got.slide == Suggestion(lr=float(lrs[4]), loss=10.0)
    # minimum: lowest t12 = i 16 -> lr = 10^(-2.8)/10 = 10^(-3.8) = lr_11 -> loss T[7] = 3.0.
    assert got.minimum is not None
    assert got.minimum.lr == float(lrs[16]) / 10
    assert got.minimum.loss == pytest.approx(3.0, rel=1e-9)
    # steep: diffs of T, steepest 6.0 -> 3.0 (-3.0) at t6 = i 10.
    assert got.steep == Suggestion(lr=float(lrs[10]), loss=6.0)


def test_a_curve_that_diverged_early_is_trimmed_from_where_it_stopped() -> None:
    # num_iter 100 (lr_i = 10^(-7 + 0.08 i)) stopped after 30 steps: [10:-5] keeps i = 10…24.
    lrs = lr_sequence(start_lr=1e-7, end_lr=10.0, num_iter=100)[:30]
    d = [3.0, 2.9, 2.7, 2.4, 2.0, 1.5, 1.1, 0.8, 0.7, 0.65, 0.7, 0.9, 1.5, 3.0, 6.0]
    losses = [0.1] * 10 + d + [12.0, 24.0, 48.0, 96.0, 192.0]
    got = suggest(lrs, losses, num_iter=100)
    # valley: d0…d9 strictly decrease (lds 10); d10 -> 9, d11 -> 8, d12 -> 6, d13, d14 -> 1.
    #   max_end = 9, max_start = -1, sections = 10/3, idx = -1 + 3 + 1 = 3 -> i 13, 2.4.
    assert got.valley == Suggestion(lr=float(lrs[13]), loss=2.4)
    # slide: 15 points < 16.
    assert got.slide is None
    # minimum: lowest d9 = i 19 -> lr = 10^(-5.48)/10 = 10^(-6.48), below lr_10 = 10^(-6.2):
    #   np.interp holds the first trimmed loss, 3.0.
    assert got.minimum == Suggestion(lr=float(lrs[19]) / 10, loss=3.0)
    # steep: diffs -0.1, -0.2, -0.3, -0.4, -0.5, -0.4, … -> d4 = i 14, 2.0.
    assert got.steep == Suggestion(lr=float(lrs[14]), loss=2.0)


def test_a_flat_curve_suggests_its_first_points() -> None:
    # num_iter 30, all 2.0: trimmed [3:25] = i 3…24 (22 points).
    lrs = lr_sequence(start_lr=1e-5, end_lr=10.0, num_iter=30)
    got = suggest(lrs, [2.0] * 30, num_iter=30)
    # valley: no decrease -> idx 0 -> i 3. slide: all gradients 0, |0 - 0| <= thresh at once
    # -> lrs[22 - 16] = i 9. minimum: first argmin t0 -> lr_3/10. steep: all slopes 0 -> t0.
    assert got == Suggestions(
        valley=Suggestion(lr=float(lrs[3]), loss=2.0),
        slide=Suggestion(lr=float(lrs[9]), loss=2.0),
        minimum=Suggestion(lr=float(lrs[3]) / 10, loss=2.0),
        steep=Suggestion(lr=float(lrs[3]), loss=2.0),
    )


def test_a_curve_too_short_for_any_suggestion_gives_none() -> None:
    # Stopped after 14 of 100 steps: [10:-5] = [10:9] is empty (fastai: IndexError).
    lrs = lr_sequence(start_lr=1e-7, end_lr=10.0, num_iter=100)[:14]
    empty = Suggestions(valley=None, slide=None, minimum=None, steep=None)
    assert suggest(lrs, [1.0] * 14, num_iter=100) == empty
    # A NaN on the first trimmed point leaves nothing either.
    full = lr_sequence(start_lr=1e-7, end_lr=10.0, num_iter=100)
    assert suggest(full, [1.0] * 10 + [NAN] * 90, num_iter=100) == empty
    with pytest.raises(CurveTooShortError, match="`valley` needs at least 1 point"):
        valley([], [])


def test_the_shortest_test_has_one_point_for_valley_and_minimum() -> None:
    # num_iter 6: [6 // 10 : -5] = [0:1] keeps one point; steep needs 2, slide 16.
    lrs = lr_sequence(start_lr=1e-3, end_lr=1.0, num_iter=6)
    got = suggest(lrs, [4.0, 3.0, 2.0, 1.0, 5.0, 6.0], num_iter=6)
    assert got == Suggestions(
        valley=Suggestion(lr=1e-3, loss=4.0),
        slide=None,
        minimum=Suggestion(lr=1e-4, loss=4.0),
        steep=None,
    )


def test_the_tracker_suggests_from_its_smoothed_curve() -> None:
    tracker = RangeTestTracker(start_lr=1e-6, end_lr=1.0, num_iter=60)
    raw = [3.0 - 0.05 * i for i in range(40)] + [NAN] * 20
    for x in raw:
        tracker.record(x)
    got = tracker.suggestions()
    assert got == suggest(tracker.lrs, tracker.smoothed_losses, num_iter=60)
    # Cut at the first NaN (i = 40): the suggestions come from i = 6…39.
    assert got.valley is not None and got.steep is not None and got.slide is not None
    assert tracker.lrs[6] <= got.valley.lr <= tracker.lrs[39]
