"""A sweep's plots: read in a short session, drawn by the shared renderer, kept once final."""

import uuid

from sqlalchemy import exists, select

from models.plots import RENDERER, PlotCache, render_metric_curves
from models.storage import Sessions
from models.sweeps.comparison import sweep_curves
from models.tables import TERMINAL_STATUSES, Experiment

# A finished sweep's plots cannot change: kept per process, up to this many bytes.
PLOT_CACHE_BYTES = 64 * 1024 * 1024
_FINAL_PLOTS = PlotCache(PLOT_CACHE_BYTES)


def plot_sweep(
    sessions: Sessions,
    *,
    project_id: uuid.UUID,
    sweep_id: uuid.UUID,
    metric: str,
    log_scale: bool,
    image_format: str,
) -> bytes:
    """The sweep's `metric` plot; the session is closed before the render queues.

    Once every member has ended the image is cached by (project, sweep, metric, options).
    """
    key = (project_id, sweep_id, metric, log_scale, image_format)
    image = _FINAL_PLOTS.get(key)
    if image is not None:
        return image
    # A place in the renderer's queue first: a refused request reads nothing.
    with RENDERER.admission():
        with sessions() as session:
            # Read before the curves: a sweep seen ended here has final curves below.
            ended = not session.scalar(
                select(
                    exists().where(
                        Experiment.sweep_id == sweep_id,
                        Experiment.status.not_in(TERMINAL_STATUSES),
                    )
                )
            )
            curves = sweep_curves(session, project_id=project_id, sweep_id=sweep_id, metric=metric)
        image = render_metric_curves(
            curves, metric=metric, log_scale=log_scale, image_format=image_format
        )
    if ended:
        _FINAL_PLOTS.put(key, image)
    return image
