"""PNG rendering of lr curves."""

import io
import os

import pytest

from models.plots import in_renderer, render_lr_curve
from models.plots.render import RENDERER_NICENESS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_renders_png_for_epochs_and_log_scale_with_zero() -> None:
    png = render_lr_curve([0.1, 0.01, 0.0], None, log_scale=True, title="step")
    assert png.startswith(PNG_MAGIC) and len(png) > 1000


def test_renders_million_steps_on_fractional_epochs() -> None:
    steps = [0.1 * (1 + (k % 1000) / 1000) for k in range(1_000_000)]
    png = render_lr_curve(steps[::1000], steps, log_scale=False, title="cyclic")
    assert png.startswith(PNG_MAGIC)


def test_steps_equal_to_epochs_render_like_epochs() -> None:
    epochs = [0.1, 0.05]
    with_steps = render_lr_curve(epochs, [0.1, 0.1, 0.05, 0.05], log_scale=False, title="t")
    assert with_steps == render_lr_curve(epochs, None, log_scale=False, title="t")


def test_rejects_ragged_steps() -> None:
    with pytest.raises(ValueError, match="whole number of steps per epoch"):
        render_lr_curve([0.1, 0.1], [0.1, 0.1, 0.1], log_scale=False, title="t")


def test_twenty_parallel_log_scale_renders_all_succeed(monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from models.plots import Curve, render_metric_curves
    from models.storage import get_settings

    # A queue deep enough for all twenty: what is checked here is that they don't interfere.
    monkeypatch.setattr(get_settings(), "render_queue_depth", 20)

    def render(k: int) -> bytes:
        if k % 2:
            return render_lr_curve(
                [0.1 * 0.5**e for e in range(30)], None, log_scale=True, title="t"
            )
        curve = Curve(label="c", runs=1, epochs=[1, 2, 3], mean=[0.1, 0.01, 0.001],
                      low=[0.1, 0.01, 0.001], high=[0.1, 0.01, 0.001])  # fmt: skip
        return render_metric_curves([curve], metric="lr", log_scale=True, image_format="png")

    with ThreadPoolExecutor(20) as pool:
        assert all(png.startswith(PNG_MAGIC) for png in pool.map(render, range(20)))


def test_epoch_lrs_are_stairs_on_integer_epoch_ticks() -> None:
    from models.plots import draw_lr_curve

    figure = draw_lr_curve([0.1, 0.1, 0.05], None, log_scale=False, title="step")
    axes = figure.axes[0]
    (line,) = axes.lines
    assert line.get_drawstyle() == "steps-post"
    # The last epoch's lr is drawn over its whole epoch, up to epoch 4.
    assert list(line.get_xdata()) == [1, 2, 3, 4]
    figure.canvas.draw()
    ticks = [t for t in axes.get_xticks() if axes.get_xlim()[0] <= t <= axes.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_sweep_curves_vary_line_styles_and_draw_lrs_as_stairs() -> None:
    from models.plots import Curve, draw_metric_curves

    same = {"epochs": [1, 2], "mean": [0.1, 0.05], "low": [0.1, 0.05], "high": [0.1, 0.05]}
    curves = [Curve(label=f"c{i}", runs=1, **same) for i in range(3)]  # type: ignore[arg-type]
    figure = draw_metric_curves(curves, metric="lr", log_scale=False)
    lines = figure.axes[0].lines
    assert len({str(line.get_linestyle()) for line in lines}) == 3
    assert {line.get_drawstyle() for line in lines} == {"steps-post"}
    accuracy = draw_metric_curves(curves, metric="val_accuracy", log_scale=False)
    assert {line.get_drawstyle() for line in accuracy.axes[0].lines} == {"default"}


def test_a_legend_names_up_to_twenty_configurations_and_the_title_says_when_it_cannot() -> None:
    from models.plots import Curve, draw_metric_curves

    def curves(n: int) -> list[Curve]:
        return [
            Curve(
                label=f"c{i}",
                epochs=[1, 2],
                mean=[0.5, 0.6],
                low=[0.4, 0.5],
                high=[0.6, 0.7],
                runs=2,
            )
            for i in range(n)
        ]

    named = draw_metric_curves(curves(20), metric="val_accuracy", log_scale=False).axes[0]
    assert len(named.get_legend().get_texts()) == 20
    assert "see the comparison" not in named.get_title()
    many = draw_metric_curves(curves(21), metric="val_accuracy", log_scale=False).axes[0]
    assert many.get_legend() is None
    assert len(many.lines) == 21
    assert "21 configurations, too many to name: see the comparison" in many.get_title()


def test_names_with_dollars_are_drawn_as_written() -> None:
    from models.plots import Curve, draw_metric_curves

    curve = Curve(label="a $\\frac{$ b", epochs=[1, 2], mean=[0.5, 0.6], low=[0.5, 0.6],
                  high=[0.5, 0.6], runs=1)  # fmt: skip
    figure = draw_metric_curves([curve], metric="val_accuracy", log_scale=False)
    legend = figure.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["a $\\frac{$ b (n=1)"]
    figure.savefig(io.BytesIO(), format="png")  # mathtext would raise here


def _niceness() -> bytes:
    return str(os.nice(0)).encode()


def test_the_renderer_runs_at_a_lower_cpu_priority_than_the_api() -> None:
    # On a busy machine the event loop must not wait on the run queue behind a figure.
    assert int(in_renderer(_niceness)) == os.nice(0) + RENDERER_NICENESS
