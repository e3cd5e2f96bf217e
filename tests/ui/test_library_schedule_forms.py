"""The dashboard's forms for the Keras and transformers schedules, generated from the catalog."""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from devtools.processes import ApiProcess

pytestmark = pytest.mark.e2e


def test_library_schedules_get_their_fields_and_a_preview(
    page: Page, ui_api: ApiProcess, artifacts: Path
) -> None:
    page.goto("/ui/experiments/new")
    chart = page.locator('.preview figure[data-chart="learning rate"]')
    expect(chart).to_be_visible()

    page.get_by_label("Scheduler type").select_option("transformers.warmup_stable_decay")
    decay_type = page.get_by_label("Decay Type")
    expect(decay_type.locator("option")).to_have_text(["linear", "cosine", "1-sqrt"])
    decay_type.select_option("1-sqrt")
    page.get_by_label("Num Decay Steps").fill("0.5")
    expect(page.locator('[data-field$=".num_decay_steps"] .field-error')).not_to_be_empty()
    page.get_by_label("Num Decay Steps").fill("20")
    expect(page.locator('[data-field$=".num_decay_steps"] .field-error')).to_be_empty()
    expect(chart).to_be_visible()

    page.get_by_label("Scheduler type").select_option("keras.cosine_decay")
    page.get_by_label("Decay Steps").fill("10")
    page.get_by_label("Warmup Target").fill("0.01")
    page.get_by_label("Warmup Steps").fill("3")
    expect(page.locator('[data-field$=".warmup_target"] .field-error')).to_be_empty()
    expect(chart).to_be_visible()
    # Keras' initial lr is the run's: a second, different value is refused beside the form.
    page.get_by_label("Initial Learning Rate").fill("0.5")
    expect(page.locator(".preview")).to_contain_text("`initial_learning_rate` (0.5) differs")
