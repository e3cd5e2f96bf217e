"""PNG and SVG rendering shared by every plot: matplotlib's object API, one renderer queue.

- `render`: the renderer (`RENDERER`, bounded by `LRLAB_RENDER_QUEUE_DEPTH`; `in_renderer` runs
  any CPU-heavy answer there), the plot cache, and the learning-rate and metric curve drawings."""

from models.plots.render import (
    RENDERER,
    Curve,
    PlotCache,
    draw_lr_curve,
    draw_metric_curves,
    in_renderer,
    lr_png,
    render_lr_curve,
    render_metric_curves,
)

__all__ = [
    "RENDERER",
    "Curve",
    "PlotCache",
    "draw_lr_curve",
    "draw_metric_curves",
    "in_renderer",
    "lr_png",
    "render_lr_curve",
    "render_metric_curves",
]
