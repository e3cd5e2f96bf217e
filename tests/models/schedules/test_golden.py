"""Keras and transformers schedules against the curves their own libraries computed.

The data (golden/keras.json, golden/transformers.json) comes from golden/generate.py run
against the real libraries; the versions are in each file.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.models.schedules.examples import run_lrs

GOLDEN = Path(__file__).parent / "golden"


def _cases(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((GOLDEN / name).read_text())["cases"]
    return cases


def _id(case: dict[str, Any]) -> str:
    spec = {k: v for k, v in case["spec"].items() if k != "type"}
    return f"{case['spec']['type']}-{case['learning_rate']:g}-{spec}"


KERAS = _cases("keras.json")
TRANSFORMERS = _cases("transformers.json")


@pytest.mark.parametrize("case", KERAS, ids=_id)
def test_keras_schedule_matches_keras(case: dict[str, Any]) -> None:
    got = run_lrs(case["spec"], epochs=case["steps"], base=case["learning_rate"])
    expected = case["lrs"]
    # Keras computes in float32: rtol 1e-6, and an absolute float32 ulp or two of the lr
    # scale where a cosine near its trough cancels to a few ulp (both sides round there).
    scale = max(case["learning_rate"], *case["spec"].get("values", [0.0]))
    scale = max(scale, case["spec"].get("warmup_target") or 0.0)
    np.testing.assert_allclose(
        got, expected, rtol=1e-6, atol=2 * float(np.spacing(np.float32(scale)))
    )


@pytest.mark.parametrize("case", TRANSFORMERS, ids=_id)
def test_transformers_schedule_matches_transformers(case: dict[str, Any]) -> None:
    got = run_lrs(case["spec"], epochs=case["steps"], base=case["learning_rate"])
    np.testing.assert_allclose(got, case["lrs"], rtol=1e-9, atol=1e-15 * case["learning_rate"])


def test_every_library_type_has_four_golden_cases_of_1000_steps() -> None:
    counts: dict[str, int] = {}
    for case in KERAS + TRANSFORMERS:
        assert case["steps"] >= 1000
        assert len(case["lrs"]) == case["steps"]
        counts[case["spec"]["type"]] = counts.get(case["spec"]["type"], 0) + 1
    from models.schedules import SCHEDULER_TYPES

    library_types = [t for t in SCHEDULER_TYPES if t.startswith(("keras.", "transformers."))]
    assert sorted(counts) == sorted(library_types)
    assert min(counts.values()) >= 4
