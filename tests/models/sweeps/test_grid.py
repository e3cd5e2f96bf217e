"""Sweep expansion: every cell is validated before anything is stored."""

from typing import Any

import pytest
from pydantic import ValidationError

from models.storage import get_settings
from models.sweeps import SweepCreate


def _sweep(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "s",
        "base": {"training": {"epochs": 2, "batch_size": 64}, "dataset": {"train_samples": 512}},
        "schedulers": [{"type": "constant"}, {"type": "step", "step_size": 1, "gamma": 0.5}],
        "seeds": [0, 1],
    }
    doc.update(overrides)
    return doc


def test_expands_schedulers_grid_and_seeds() -> None:
    sweep = SweepCreate.model_validate(_sweep(grid={"step.gamma": [0.5, 0.1]}))
    labels = [c.label for c in sweep.cells]
    assert labels == [
        "constant", "constant",
        "step(step_size=1, gamma=0.5)", "step(step_size=1, gamma=0.5)",
        "step(step_size=1, gamma=0.1)", "step(step_size=1, gamma=0.1)",
    ]  # fmt: skip
    assert [c.spec.training.seed for c in sweep.cells] == [0, 1] * 3
    assert all(c.spec.training.epochs == 2 for c in sweep.cells)
    assert sweep.cells[4].spec.scheduler.model_dump()["gamma"] == 0.1


def test_training_grid_applies_to_every_scheduler() -> None:
    sweep = SweepCreate.model_validate(
        _sweep(seeds=[3], grid={"training.learning_rate": [0.01, 0.001]})
    )
    assert len(sweep.cells) == 4
    assert sweep.cells[0].label == "constant learning_rate=0.01"
    assert {c.spec.training.learning_rate for c in sweep.cells} == {0.01, 0.001}


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"grid": {"cosine.t_max": [5]}}, "no `cosine` scheduler"),
        ({"grid": {"step.bogus": [1]}}, "has no parameter `bogus`"),
        ({"grid": {"warp.x": [1]}}, "unknown scheduler type"),
        ({"grid": {"training.seed": [1]}}, "training.seed"),
        ({"grid": {"step.step_size": [1, 0]}}, "step_size"),
        ({"seeds": [1, 1]}, "repeat"),
        ({"schedulers": [{"type": "constant"}, {"type": "constant"}]}, "repeats a configuration"),
        ({"schedulers": []}, "at least 1"),
    ],
)
def test_one_bad_cell_rejects_the_sweep(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        SweepCreate.model_validate(_sweep(**overrides))
    assert fragment in str(info.value)


def test_size_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LRLAB_SWEEP_MAX_EXPERIMENTS", "3")
    get_settings.cache_clear()
    try:
        with pytest.raises(ValidationError) as info:
            SweepCreate.model_validate(_sweep())
        assert "expands to 4 experiments, more than the limit of 3" in str(info.value)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_duplicates_are_compared_as_specs_not_labels() -> None:
    # [1, true] named the same epochs twice before training fields were strict.
    with pytest.raises(ValidationError):
        SweepCreate.model_validate(_sweep(grid={"training.epochs": [1, True]}))
    with pytest.raises(ValidationError, match="repeats a configuration"):
        SweepCreate.model_validate(_sweep(grid={"step.gamma": [0.5, 0.5]}))
    # Alike at %g, and multistep schedules differing past the 500-character label cut.
    close = SweepCreate.model_validate(
        _sweep(
            schedulers=[{"type": "step", "step_size": 1}], grid={"step.gamma": [0.01, 0.010000001]}
        )
    )
    milestones = list(range(1, 300))
    long = SweepCreate.model_validate(
        _sweep(
            schedulers=[
                {"type": "multistep", "milestones": [*milestones, 400]},
                {"type": "multistep", "milestones": [*milestones, 401]},
            ]
        )
    )
    for sweep in (close, long):
        labels = {cell.label for cell in sweep.cells}
        assert len(sweep.cells) == 4 and len(labels) == 2, labels


def test_grid_keys_of_library_types_name_the_type_before_the_last_dot() -> None:
    sweep = SweepCreate.model_validate(
        _sweep(
            schedulers=[
                {"type": "transformers.warmup_stable_decay", "num_decay_steps": 4},
                {"type": "keras.cosine_decay", "decay_steps": 8},
            ],
            grid={
                "transformers.warmup_stable_decay.decay_type": ["cosine", "1-sqrt"],
                "keras.cosine_decay.alpha": [0.0, 0.1],
            },
            seeds=[0],
        )
    )
    assert [c.label for c in sweep.cells] == [
        "transformers.warmup_stable_decay(num_decay_steps=4, decay_type=cosine)",
        "transformers.warmup_stable_decay(num_decay_steps=4, decay_type=1-sqrt)",
        "keras.cosine_decay(decay_steps=8, alpha=0)",
        "keras.cosine_decay(decay_steps=8, alpha=0.1)",
    ]
    assert sweep.cells[1].spec.scheduler.model_dump()["decay_type"] == "1-sqrt"


def test_grid_key_without_a_scope_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"must be `<scheduler type>\.<parameter>`"):
        SweepCreate.model_validate(_sweep(grid={".gamma": [0.5]}))


def test_a_grid_over_model_families_and_optimizers() -> None:
    from models.sweeps import SweepCreate

    sweep = SweepCreate.model_validate(
        {
            "schedulers": [{"type": "constant"}],
            "grid": {
                "model.type": ["mlp", "cnn"],
                "model.kernel_size": [3, 5],
                "training.optimizer": ["adam", "adamw", "sgd"],
            },
        }
    )
    models = sorted(
        (c.spec.model.type, getattr(c.spec.model, "kernel_size", None), c.spec.training.optimizer)
        for c in sweep.cells
    )
    # The MLP has no kernel size: it trains once per optimizer, the CNN once per kernel size.
    assert len(models) == 3 + 6
    assert ("mlp", None, "adamw") in models and ("cnn", 5, "sgd") in models
    labels = [c.label for c in sweep.cells]
    assert len(set(labels)) == len(labels)
    assert any("model.type=cnn" in label for label in labels)


def test_an_unknown_model_grid_key_is_refused() -> None:
    from pydantic import ValidationError

    from models.sweeps import SweepCreate

    with pytest.raises(ValidationError, match=r"model\.width"):
        SweepCreate.model_validate(
            {"schedulers": [{"type": "constant"}], "grid": {"model.width": [1]}}
        )
