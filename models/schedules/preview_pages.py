"""What a schedule preview returns: per-step lrs downsampled past a bound, or one exact page.

`preview_body` computes the whole answer (JSON or PNG) as bytes, wherever it is called."""

from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from pydantic import BaseModel, Field

from models.plots.render import _envelope, lr_png
from models.schedules.preview import PreviewRequest, preview_arrays

# Past this many step lrs the answer carries each bucket's min and max instead (their step
# indices in `step_index`); every value stays available exactly through `step_offset`.
PREVIEW_MAX_POINTS = 10_000


class PreviewAnswer(BaseModel):
    """A preview: the lr of every epoch, the per-step lrs (all, an envelope or a page)."""

    epochs: list[float]
    steps: list[float]
    warnings: list[str]
    steps_total: int = Field(description="How many step lrs the schedule has.")
    step_index: list[int] | None = Field(
        default=None,
        description="The 0-based step of each value in `steps`; absent when `steps` is "
        f"every step (at most {PREVIEW_MAX_POINTS}).",
    )
    next_step_offset: int | None = Field(
        default=None, description="The `step_offset` of the next exact page; null at the end."
    )


def preview_answer(
    epochs: npt.NDArray[np.float64],
    steps: npt.NDArray[np.float64],
    warnings: list[str],
    *,
    step_offset: int | None,
    step_limit: int,
) -> dict[str, Any]:
    """The JSON answer: all steps when few, a min/max envelope when many, or a requested page.

    `steps_total` is the number of step lrs; `step_index` the 0-based step of each value in
    `steps` (absent when `steps` holds every step from 0); `next_step_offset` where the next
    page starts (null on the last page or without paging).
    """
    answer: dict[str, Any] = {"epochs": epochs, "warnings": warnings, "steps_total": steps.size}
    if step_offset is not None:
        page = steps[step_offset : step_offset + step_limit]
        answer["steps"] = page
        answer["step_index"] = np.arange(step_offset, step_offset + page.size)
        end = step_offset + page.size
        answer["next_step_offset"] = end if end < steps.size else None
        return answer
    if steps.size <= PREVIEW_MAX_POINTS:
        answer["steps"] = steps
        return answer
    index, values = _envelope(np.arange(steps.size, dtype=np.float64), steps, PREVIEW_MAX_POINTS)
    if index[-1] != steps.size - 1:
        # The final lr is always shown as it is.
        index = np.append(index, steps.size - 1)
        values = np.append(values, steps[-1])
    answer["steps"] = values
    answer["step_index"] = index.astype(np.int64)
    answer["next_step_offset"] = None
    return answer


def preview_body(
    request: PreviewRequest,
    png: bool,
    log_scale: bool = False,
    step_offset: int | None = None,
    step_limit: int = PREVIEW_MAX_POINTS,
) -> bytes:
    """The whole preview answer as bytes: the PNG, or the JSON of `preview_answer`.

    Module-level and all CPU, from the request to the bytes: the API runs a heavy one in the
    renderer's process (`in_renderer`), which sends back only the answer.
    """
    epochs, steps, warnings = preview_arrays(request)
    if png:
        per_step = steps if request.steps_per_epoch > 1 else None
        return lr_png(epochs, per_step, log_scale, request.scheduler.type)
    body = preview_answer(epochs, steps, warnings, step_offset=step_offset, step_limit=step_limit)
    # orjson writes the numpy arrays directly, with no list of Python floats in between.
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
