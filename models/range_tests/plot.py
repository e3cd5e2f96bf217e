"""The range-test plot, like fastai's `plot_lr_find`: smoothed loss against lr on a log axis.

fastai draws the recorded curve without its last 5 points (`skip_end=5`) and marks each
suggestion; with several seeds lrlab draws every seed thin, their mean curve thick, the mean
curve's suggestions as large markers, each seed's as small ones, and the span of each
suggestion over the seeds as a shaded band.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from models.plots.render import _figure, plain_legend
from models.range_tests.lr_finder import SKIP_END
from models.range_tests.schemas import (
    SUGGESTION_NAMES,
    RangeTestResult,
    SuggestionsRead,
    mean_curve,
)

_COLORS = {
    "valley": "tab:red",
    "slide": "tab:green",
    "minimum": "tab:purple",
    "steep": "tab:orange",
}


def render_range_test(
    *,
    seeds: Sequence[int],
    lrs: Sequence[Sequence[float]],
    smoothed: Sequence[Sequence[float]],
    result: RangeTestResult | None,
    title: str,
    image_format: str,
) -> bytes:
    """PNG or SVG of the test's curves and suggestions (a note instead while there is none)."""
    figure = _figure(8, 5)
    axes = figure.add_subplot()
    if lrs:
        several = len(seeds) > 1
        for seed, x, y in zip(seeds, lrs, smoothed, strict=True):
            end = max(1, len(x) - SKIP_END)
            axes.plot(
                x[:end],
                y[:end],
                linewidth=0.8 if several else 1.6,
                alpha=0.5 if several else 1.0,
                label=f"seed {seed}" if several else None,
            )
        if several:
            mean_x, mean_y = mean_curve(lrs, smoothed)
            end = max(1, mean_x.size - SKIP_END)
            axes.plot(mean_x[:end], mean_y[:end], color="black", linewidth=2.0, label="mean")
        if result is not None:
            _mark(axes, result.suggestions, size=60, label=True)
            if several:
                for seed_result in result.seeds:
                    _mark(axes, seed_result.suggestions, size=12, label=False)
                for name, spread in (result.spread or {}).items():
                    if spread is not None and spread.max_lr > spread.min_lr:
                        axes.axvspan(spread.min_lr, spread.max_lr, color=_COLORS[name], alpha=0.08)
        axes.set_xscale("log")
        plain_legend(axes.legend(fontsize="small", loc="best"))
    else:
        axes.text(
            0.5, 0.5, "no curve recorded yet", ha="center", va="center", transform=axes.transAxes
        )
    axes.set_xlabel("learning rate")
    axes.set_ylabel("loss (smoothed)")
    # The title holds the test's name: a `$` in it is text, never mathtext.
    axes.set_title(title, parse_math=False)
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format=image_format)
    return buffer.getvalue()


def _mark(axes: object, suggestions: SuggestionsRead, *, size: float, label: bool) -> None:
    for name in SUGGESTION_NAMES:
        found = getattr(suggestions, name)
        if found is None or not np.isfinite(found.loss):
            continue
        axes.scatter(  # type: ignore[attr-defined]
            [found.lr],
            [found.loss],
            s=size,
            color=_COLORS[name],
            zorder=3,
            label=f"{name}: {found.lr:.2e}" if label else None,
        )
