"""PNG and SVG plots of learning-rate and metric curves (matplotlib's object API, no pyplot)."""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from models.errors import BusyError
from models.storage import get_settings

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend


@dataclass(frozen=True)
class Curve:
    """Per-epoch mean and spread over seeds of one configuration's metric."""

    label: str
    epochs: list[int]
    mean: list[float]
    low: list[float]
    high: list[float]
    runs: int


# Above this many points a line is drawn from per-bucket min/max, which looks the same at
# plot resolution and keeps rendering of a million steps fast.
_MAX_POINTS = 8000

# matplotlib's text layout (mathtext's parser above all) is not thread-safe, and FastAPI runs
# sync routes in a thread pool: one figure is built and rendered at a time.
_RENDER_LOCK = threading.Lock()
# A render that takes longer than this has hung: the caller gets an error, not a stuck thread.
_RENDER_TIMEOUT = 120.0
# The renderer yields the CPU to the API process: on a busy machine the event loop waited on
# the kernel's run queue behind it (docs/availability.md), and a figure can wait instead.
RENDERER_NICENESS = 10


def _lower_priority() -> None:
    """The renderer process's initializer: run at RENDERER_NICENESS above the API process."""
    os.nice(RENDERER_NICENESS)


class RenderGate:
    """Admits at most `LRLAB_RENDER_QUEUE_DEPTH` renders at once (one draws, the rest wait).

    A render past the depth is refused with `BusyError` at once: a queue of waiting renders
    would otherwise hold the server's threads (and any database connection their callers
    hold) until every other route starves behind it.
    """

    def __init__(self) -> None:
        self._admitted = 0
        self._count_lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._held = threading.local()

    def run(self, render: Callable[..., bytes], *args: Any) -> bytes:
        """`render(*args)` in the renderer's own process, under the held slot.

        A figure is pure CPU under the GIL: drawn in the API process it would take the
        interpreter from the event loop and every other request for its whole duration.
        """
        for attempt in (1, 2):
            if self._pool is None:
                # spawn: forking a process that runs threads can copy a held lock.
                self._pool = ProcessPoolExecutor(
                    1, mp_context=get_context("spawn"), initializer=_lower_priority
                )
            try:
                return self._pool.submit(render, *args).result(timeout=_RENDER_TIMEOUT)
            except BrokenProcessPool:
                # The renderer died (e.g. killed for memory): a fresh one takes the retry.
                self._pool = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @contextmanager
    def admission(self) -> Iterator[None]:
        """A place in the renderer's queue for the block, or `BusyError` when it is full.

        Taken before the data of a figure is read or computed, so that a refused request
        costs nothing; a render inside the block uses this place (the thread holds one).
        """
        if getattr(self._held, "admitted", False):
            yield
            return
        depth = get_settings().render_queue_depth
        with self._count_lock:
            if self._admitted >= depth:
                raise BusyError(
                    f"the plot renderer is busy ({depth} renders queued); retry shortly",
                    retry_after=1,
                )
            self._admitted += 1
        self._held.admitted = True
        try:
            yield
        finally:
            self._held.admitted = False
            with self._count_lock:
                self._admitted -= 1

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold the renderer for the block, or raise `BusyError` when its queue is full."""
        with self.admission(), _RENDER_LOCK:
            yield


RENDERER = RenderGate()


def in_renderer(work: Callable[..., bytes], *args: Any) -> bytes:
    """`work(*args)` (module-level, its arguments picklable) in the renderer's process, in turn.

    For any CPU-heavy answer, not only figures: computed in a thread of the API process it
    would hold the interpreter away from the event loop. Takes a place in the renderer's
    queue first (`BusyError` when it is full), so a refused request computes nothing.
    """
    with RENDERER.slot():
        return RENDERER.run(work, *args)


def lr_png(
    epochs: Sequence[float] | npt.NDArray[np.float64],
    steps: Sequence[float] | npt.NDArray[np.float64] | None,
    log_scale: bool,
    title: str,
) -> bytes:
    """The PNG of `draw_lr_curve`, drawn where it is called (`render_lr_curve` queues it)."""
    return _png(draw_lr_curve(epochs, steps, log_scale=log_scale, title=title))


def _curves_png(curves: list[Curve], metric: str, log_scale: bool, image_format: str) -> bytes:
    return _png(draw_metric_curves(curves, metric=metric, log_scale=log_scale), image_format)


class PlotCache:
    """Rendered images of things that can no longer change, least recently used first out."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._images: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> bytes | None:
        """The image stored under `key`, or None."""
        with self._lock:
            image = self._images.get(key)
            if image is not None:
                self._images.move_to_end(key)
            return image

    def put(self, key: Hashable, image: bytes) -> None:
        """Store `image`, dropping the least recently used images past the byte budget."""
        if len(image) > self._max_bytes:
            return
        with self._lock:
            old = self._images.pop(key, None)
            self._bytes += len(image) - (len(old) if old is not None else 0)
            self._images[key] = image
            while self._bytes > self._max_bytes:
                _, dropped = self._images.popitem(last=False)
                self._bytes -= len(dropped)


def _envelope(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], max_points: int = _MAX_POINTS
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """At most about `max_points` points of (x, y): each bucket's minimum and maximum in order."""
    if y.size <= max_points:
        return x, y
    bucket = -(-y.size // (max_points // 2))
    usable = (y.size // bucket) * bucket
    xs = x[:usable].reshape(-1, bucket)
    ys = y[:usable].reshape(-1, bucket)
    lows, highs = ys.argmin(axis=1), ys.argmax(axis=1)
    rows = np.arange(ys.shape[0])
    first = np.minimum(lows, highs)
    second = np.maximum(lows, highs)
    env_x = np.stack([xs[rows, first], xs[rows, second]], axis=1).reshape(-1)
    env_y = np.stack([ys[rows, first], ys[rows, second]], axis=1).reshape(-1)
    return np.concatenate([env_x, x[usable:]]), np.concatenate([env_y, y[usable:]])


def _figure(width: float, height: float) -> Figure:
    # matplotlib is imported on first use: it costs a second of API start-up otherwise.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


# Identical curves (e.g. two schedules that agree) must not hide each other: each line gets its
# own dash pattern as well as its colour.
_LINE_STYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))


def _integer_epochs(axes: object) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # type: ignore[attr-defined]


def _png(figure: Figure, image_format: str = "png") -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format=image_format)
    return buffer.getvalue()


def render_lr_curve(
    epochs: Sequence[float] | npt.NDArray[np.float64],
    steps: Sequence[float] | npt.NDArray[np.float64] | None,
    *,
    log_scale: bool,
    title: str,
) -> bytes:
    """PNG of lr against epoch; per-step lrs, when they vary within epochs, on fractional epochs."""
    return in_renderer(lr_png, epochs, steps, log_scale, title)


def draw_lr_curve(
    epochs: Sequence[float] | npt.NDArray[np.float64],
    steps: Sequence[float] | npt.NDArray[np.float64] | None,
    *,
    log_scale: bool,
    title: str,
) -> Figure:
    """The figure of `render_lr_curve`: an lr held for a whole epoch is drawn as a stair."""
    if len(epochs) == 0:
        raise ValueError("`epochs` must not be empty")
    per_epoch = np.asarray(epochs, dtype=np.float64)
    epoch_x = np.arange(1, per_epoch.size + 1, dtype=np.float64)

    figure = _figure(8, 4.5)
    axes = figure.add_subplot()
    stepped = False
    if steps is not None:
        per_step = np.asarray(steps, dtype=np.float64)
        if per_step.size % per_epoch.size != 0:
            raise ValueError(
                f"`steps` must hold a whole number of steps per epoch, got {per_step.size} "
                f"steps for {per_epoch.size} epochs"
            )
        spe = per_step.size // per_epoch.size
        if not np.array_equal(per_step, np.repeat(per_epoch, spe)):
            # Step k (0-based) runs during epoch 1 + k/spe on the same axis as the epochs.
            step_x = 1.0 + np.arange(per_step.size, dtype=np.float64) / spe
            line_x, line_y = _envelope(step_x, per_step)
            axes.plot(line_x, line_y, linewidth=1.0, label="per step")
            axes.plot(epoch_x, per_epoch, "o", markersize=3, label="epoch start")
            plain_legend(axes.legend())
            stepped = True
    if not stepped:
        # Epoch k's lr holds from k to k+1: a staircase, with the last stair drawn to its end.
        axes.plot(
            np.append(epoch_x, epoch_x[-1] + 1),
            np.append(per_epoch, per_epoch[-1]),
            drawstyle="steps-post",
            marker="o" if per_epoch.size <= 100 else None,
            markevery=list(range(per_epoch.size)),
            markersize=3,
        )
    if log_scale:
        axes.set_yscale("log", nonpositive="mask")
    _integer_epochs(axes)
    axes.set_xlabel("epoch")
    axes.set_ylabel("learning rate")
    axes.set_title(title, parse_math=False)
    axes.grid(True, alpha=0.3)
    return figure


# A legend of more entries does not fit the figure (and placing it costs more than the lines).
_MAX_LEGEND = 20

_METRIC_LABELS = {
    "lr": "learning rate",
    "val_loss": "validation loss",
    "val_accuracy": "validation accuracy",
    "loss": "training loss",
    "accuracy": "training accuracy",
}


def render_metric_curves(
    curves: Sequence[Curve], *, metric: str, log_scale: bool, image_format: str
) -> bytes:
    """One line per configuration (mean over seeds) with a ±1 std band, epoch on the x axis."""
    return in_renderer(_curves_png, list(curves), metric, log_scale, image_format)


def draw_metric_curves(curves: Sequence[Curve], *, metric: str, log_scale: bool) -> Figure:
    """The figure of `render_metric_curves`; lrs (held per epoch) are drawn as stairs."""
    figure = _figure(9, 5)
    axes = figure.add_subplot()
    for index, curve in enumerate(curves):
        (line,) = axes.plot(
            curve.epochs,
            curve.mean,
            linewidth=1.6,
            linestyle=_LINE_STYLES[index % len(_LINE_STYLES)],
            drawstyle="steps-post" if metric == "lr" else "default",
            label=f"{curve.label} (n={curve.runs})",
        )
        if curve.runs > 1:
            axes.fill_between(
                curve.epochs,
                curve.low,
                curve.high,
                color=line.get_color(),
                alpha=0.2,
                linewidth=0,
                step="post" if metric == "lr" else None,
            )
    if not curves:
        axes.text(
            0.5, 0.5, "no finished runs yet", ha="center", va="center", transform=axes.transAxes
        )
    if log_scale:
        axes.set_yscale("log", nonpositive="mask")
    _integer_epochs(axes)
    axes.set_xlabel("epoch")
    axes.set_ylabel(_METRIC_LABELS.get(metric, metric))
    title = f"{_METRIC_LABELS.get(metric, metric)} per epoch (mean over seeds, band ±1 std)"
    if len(curves) > _MAX_LEGEND:
        # More names than fit beside the lines: the comparison names and ranks them.
        title += f"\n{len(curves)} configurations, too many to name: see the comparison"
    axes.set_title(title, parse_math=False)
    axes.grid(True, alpha=0.3)
    if 0 < len(curves) <= _MAX_LEGEND:
        plain_legend(axes.legend(fontsize="small", loc="best"))
    return figure


def plain_legend(legend: Legend) -> None:
    """Show the legend's labels as written: a `$` in a name never starts mathtext."""
    for text in legend.get_texts():
        text.set_parse_math(False)
