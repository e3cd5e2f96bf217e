"""Preview answers: every step when few, an envelope past the bound, exact pages on request."""

import numpy as np

from models.schedules.preview_pages import PREVIEW_MAX_POINTS, preview_answer

EPOCHS = np.array([0.1, 0.05])


def test_few_steps_come_whole() -> None:
    steps = np.linspace(0.1, 0.0, 100)
    answer = preview_answer(EPOCHS, steps, [], step_offset=None, step_limit=PREVIEW_MAX_POINTS)
    assert answer["steps"] is steps and "step_index" not in answer
    assert answer["steps_total"] == 100


def test_many_steps_come_as_an_envelope_that_keeps_every_extreme() -> None:
    steps = np.abs(np.sin(np.arange(1_000_000) / 997.0)) * 0.1
    steps[123_457] = 0.5
    answer = preview_answer(EPOCHS, steps, [], step_offset=None, step_limit=PREVIEW_MAX_POINTS)
    assert answer["steps"].size <= PREVIEW_MAX_POINTS + 2
    assert answer["step_index"][-1] == steps.size - 1
    assert answer["steps"].max() == 0.5 and answer["steps"].min() == steps.min()
    # Each value is the lr of the step it names.
    assert np.array_equal(steps[answer["step_index"]], answer["steps"])
    assert answer["steps_total"] == 1_000_000


def test_pages_give_the_exact_values() -> None:
    steps = np.arange(25_000, dtype=np.float64)
    first = preview_answer(EPOCHS, steps, [], step_offset=0, step_limit=10_000)
    last = preview_answer(EPOCHS, steps, [], step_offset=20_000, step_limit=10_000)
    assert np.array_equal(first["steps"], steps[:10_000]) and first["next_step_offset"] == 10_000
    assert np.array_equal(last["steps"], steps[20_000:]) and last["next_step_offset"] is None
    assert list(last["step_index"][:2]) == [20_000, 20_001]
