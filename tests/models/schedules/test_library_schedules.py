"""Keras and transformers schedules: the base lr given once, their refusals and warnings.

Their values are checked against the libraries themselves in test_golden.py.
"""

from typing import Any

import pytest
from pydantic import ValidationError

from models.schedules import PreviewRequest, preview
from tests.models.schedules.examples import run_lrs


def _request(scheduler: dict[str, Any], lr: float = 0.1, epochs: int = 10) -> PreviewRequest:
    return PreviewRequest.model_validate(
        {"scheduler": scheduler, "learning_rate": lr, "epochs": epochs}
    )


def warnings_for(scheduler: dict[str, Any], lr: float = 0.1, epochs: int = 10) -> list[str]:
    return preview(_request(scheduler, lr, epochs)).warnings


KERAS_EXP = {"type": "keras.exponential_decay", "decay_steps": 2, "decay_rate": 0.5}


def test_keras_initial_lr_defaults_to_the_run_lr_and_may_repeat_it() -> None:
    implicit = run_lrs(KERAS_EXP, epochs=3, base=0.2)
    explicit = run_lrs(KERAS_EXP | {"initial_learning_rate": 0.2}, epochs=3, base=0.2)
    assert implicit == explicit
    assert implicit[0] == pytest.approx(0.2, rel=1e-7)


def test_keras_initial_lr_that_differs_from_the_run_lr_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"`initial_learning_rate` \(0.5\) differs"):
        _request(KERAS_EXP | {"initial_learning_rate": 0.5})


def test_keras_initial_lr_inside_sequential_is_checked_and_located() -> None:
    spec = {
        "type": "sequential",
        "schedulers": [
            {"type": "transformers.constant"},
            KERAS_EXP | {"initial_learning_rate": 0.5},
        ],
        "milestones": [3],
    }
    with pytest.raises(ValidationError, match=r"`schedulers\[1\]`: `initial_learning_rate`"):
        _request(spec)


def test_keras_piecewise_values_are_absolute() -> None:
    spec = {"type": "keras.piecewise_constant_decay", "boundaries": [1], "values": [0.5, 0.25]}
    got = run_lrs(spec, epochs=4, base=0.001)
    assert got == [0.5, 0.5, 0.25, 0.25]


@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        (
            {"type": "keras.cosine_decay", "decay_steps": 5, "warmup_steps": 3},
            "`warmup_steps` needs `warmup_target`",
        ),
        (
            {"type": "keras.piecewise_constant_decay", "boundaries": [3, 2], "values": [1, 2, 3]},
            "`boundaries` must be strictly increasing",
        ),
        (
            {"type": "keras.piecewise_constant_decay", "boundaries": [3], "values": [1.0]},
            "`values` must have at least 2 values",
        ),
        (
            {"type": "keras.cosine_decay_restarts", "first_decay_steps": 5, "t_mul": 0.5},
            "`t_mul` must be >= 1",
        ),
        ({"type": "transformers.polynomial", "lr_end": 0.1}, "`lr_end` (0.1) must be below"),
        (
            {"type": "transformers.polynomial", "num_warmup_steps": 10, "num_training_steps": 10},
            "`num_warmup_steps` must differ from `num_training_steps`",
        ),
        (
            {"type": "transformers.cosine_with_min_lr"},
            "exactly one of `min_lr` and `min_lr_rate` must be set",
        ),
        (
            {"type": "transformers.cosine_with_min_lr", "min_lr": 0.01, "min_lr_rate": 0.1},
            "exactly one of `min_lr` and `min_lr_rate` must be set",
        ),
        (
            {
                "type": "transformers.warmup_stable_decay",
                "num_decay_steps": 2,
                "num_stable_steps": 2,
                "num_training_steps": 10,
            },
            "give `num_stable_steps` or `num_training_steps`, not both",
        ),
        (
            {
                "type": "transformers.warmup_stable_decay",
                "num_warmup_steps": 6,
                "num_decay_steps": 6,
            },
            "`num_warmup_steps` + `num_decay_steps` must be <= `num_training_steps`",
        ),
        (
            {"type": "transformers.warmup_stable_decay", "num_decay_steps": 2, "decay_type": "exp"},
            "decay_type",
        ),
    ],
)
def test_refused_library_specs_name_the_rule(scheduler: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as error:
        _request(scheduler)
    assert message in str(error.value)


def test_transformers_num_training_steps_defaults_to_the_run_length() -> None:
    got = run_lrs({"type": "transformers.linear"}, epochs=4, spe=1, base=1.0)
    assert got == [1.0, 0.75, 0.5, 0.25]
    per_step = run_lrs({"type": "transformers.linear"}, epochs=2, spe=2, base=1.0)
    assert per_step == got


def test_library_types_may_run_on_an_epoch_clock() -> None:
    spec = {"type": "transformers.linear", "interval": "epoch"}
    assert run_lrs(spec, epochs=2, spe=3, base=1.0) == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5]


@pytest.mark.parametrize(
    ("scheduler", "expected"),
    [
        (
            {
                "type": "transformers.warmup_stable_decay",
                "num_stable_steps": 20,
                "num_decay_steps": 5,
            },
            "The decay starts at step 21 (warm-up + stable), after the run (10 steps) ends: the "
            "lr never decays.",
        ),
        (
            {
                "type": "transformers.warmup_stable_decay",
                "num_stable_steps": 8,
                "num_decay_steps": 5,
            },
            "The decay ends at step 13, after the run (10 steps): it never reaches its minimum.",
        ),
        (
            {"type": "transformers.cosine", "num_warmup_steps": 12},
            "`num_warmup_steps` (12) is not shorter than the run (10 steps): the warm-up never "
            "reaches the learning rate.",
        ),
        (
            {"type": "transformers.linear", "num_training_steps": 6},
            "`num_training_steps` (6) is shorter than the run (10 steps): the schedule ends at "
            "step 7 and the run goes on past it.",
        ),
        (
            {
                "type": "transformers.cosine_with_restarts",
                "num_cycles": 3,
                "num_training_steps": 40,
            },
            "The restart period (14 steps) is not shorter than the run (10 steps), so the lr "
            "never restarts.",
        ),
        (
            {"type": "keras.cosine_decay_restarts", "first_decay_steps": 10},
            "`first_decay_steps` (10) is not shorter than the run (10 steps), so the lr never "
            "restarts.",
        ),
        (
            {
                "type": "keras.cosine_decay",
                "decay_steps": 5,
                "warmup_target": 0.2,
                "warmup_steps": 6,
            },
            "The cosine ends at step 12 (warm-up + decay_steps), after the run (10 steps): the lr "
            "never reaches alpha times its peak.",
        ),
        (
            {"type": "keras.piecewise_constant_decay", "boundaries": [3, 9], "values": [1, 2, 3]},
            "`boundaries` [9] are never passed within the run (10 steps).",
        ),
        (
            {"type": "keras.exponential_decay", "decay_steps": 3, "decay_rate": 1.0},
            "`decay_rate` is 1",
        ),
        (
            {"type": "transformers.cosine_with_min_lr", "min_lr": 0.2},
            "the minimum lr (0.2) is not below the learning rate (0.1): the cosine climbs.",
        ),
    ],
)
def test_library_warnings(scheduler: dict[str, Any], expected: str) -> None:
    got = warnings_for(scheduler)
    assert any(w.startswith(expected) for w in got), got


def test_a_fitting_library_schedule_has_no_warnings() -> None:
    wsd = {"type": "transformers.warmup_stable_decay", "num_decay_steps": 3}
    assert warnings_for(wsd) == []
    assert warnings_for({"type": "keras.cosine_decay", "decay_steps": 5, "alpha": 0.1}) == []


def test_a_transformers_warm_up_starts_at_lr_zero_and_says_so() -> None:
    # transformers trains its first warm-up step at lr 0; the low-lr warning reports it.
    wsd = {"type": "transformers.warmup_stable_decay", "num_warmup_steps": 2, "num_decay_steps": 3}
    assert run_lrs(wsd, epochs=10)[:3] == [0.0, 0.05, 0.1]
    assert warnings_for(wsd) == ["The learning rate falls below 1e-8 at epoch 1."]


def test_the_wsd_example_sweep_is_valid_and_fits_its_run() -> None:
    from devtools.processes import ROOT
    from lrlab_client import load_document
    from models.sweeps import SweepCreate

    sweep = SweepCreate.model_validate(load_document(ROOT / "examples" / "wsd-vs-cosine.yaml"))
    assert [c.spec.scheduler.type for c in sweep.cells][::2] == [
        "transformers.warmup_stable_decay",
        "transformers.cosine",
        "one_cycle",
    ]
    for cell in sweep.cells:
        # Only the warm-ups' first step, at lr 0, is flagged: the schedules fit the run.
        assert set(cell.spec.warnings()) <= {
            "The learning rate falls below 1e-8 at epoch 1 (step 1)."
        }
    wsd = sweep.cells[0].spec
    lrs = run_lrs(wsd.scheduler.model_dump(), epochs=5, spe=wsd.steps_per_epoch, base=0.003)
    assert len(lrs) == 785 and max(lrs) == pytest.approx(0.003)
    assert lrs[785 - 160 - 1] == pytest.approx(0.003) and lrs[-1] < 0.003 * 0.1


def test_library_children_of_sequential_span_their_own_segment() -> None:
    spec = {
        "type": "sequential",
        "interval": "step",
        "schedulers": [
            {"type": "transformers.constant_with_warmup", "num_warmup_steps": 2},
            {"type": "transformers.linear"},
        ],
        "milestones": [4],
    }
    got = run_lrs(spec, epochs=10, base=1.0)
    # The linear child's num_training_steps defaults to its 6-step segment.
    expected = [0.0, 0.5, 1.0, 1.0] + [(6 - t) / 6 for t in range(6)]
    assert got == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(
    "scheduler",
    [
        {"type": "keras.exponential_decay", "decay_steps": 1, "decay_rate": 2.0},
        {
            "type": "keras.cosine_decay_restarts",
            "first_decay_steps": 1,
            "t_mul": 1.0,
            "m_mul": 1000,
        },
    ],
)
def test_a_keras_lr_growing_past_float32_is_refused(scheduler: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="grows past the float32 range"):
        _request(scheduler, epochs=1000)
