"""The new-experiment and sweep forms draw model family, optimizer and dataset from GET /models."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from devtools.processes import ApiProcess
from tests.ui.conftest import screenshots

pytestmark = pytest.mark.e2e

UUID = r"[0-9a-f-]{36}"


def test_a_cnn_on_fashion_mnist_with_adamw_is_submitted_as_chosen(
    page: Page, ui_api: ApiProcess, artifacts: Path
) -> None:
    catalog = ui_api.client.get("/models").json()
    cnn = next(f for f in catalog["families"] if f["type"] == "cnn")
    page.goto("/ui/experiments/new")
    expect(page.locator('.preview figure[data-chart="learning rate"]')).to_be_visible()

    # The family's parameters come from the catalog, with its defaults.
    page.get_by_label("Model").select_option("cnn")
    expect(page.get_by_label("Filters")).to_have_value(
        ", ".join(map(str, cnn["defaults"]["filters"]))
    )
    expect(page.get_by_label("Hidden Units")).to_have_count(0)
    page.get_by_label("Kernel Size").fill("5")

    # Only the chosen optimizer's parameters are drawn, with Keras' defaults.
    expect(page.get_by_label("Momentum")).to_have_count(0)
    page.get_by_label("Optimizer").select_option("adamw")
    expect(page.get_by_label("Weight Decay")).to_have_value("0.004")
    expect(page.get_by_label("Nesterov")).to_have_count(0)
    page.get_by_label("Weight Decay").fill("0.01")

    # The steps-per-epoch hint uses the chosen dataset's size.
    page.get_by_label("Dataset").select_option("fashion_mnist")
    page.get_by_label("Epochs").fill("2")
    page.get_by_label("Batch Size").fill("128")
    page.get_by_label("Train Samples").fill("100000")
    held = next(d for d in ui_api.client.get("/datasets").json() if d["name"] == "fashion_mnist")
    steps = -(-held["train_samples"] // 128)
    expect(page.locator(".preview .hint").first).to_contain_text(
        f"2 epochs × {steps} steps per epoch (fashion_mnist holds {held['train_samples']}"
    )
    page.get_by_label("Train Samples").fill("256")
    screenshots(page, artifacts, "new-experiment-cnn")

    page.get_by_role("button", name="Submit experiment").click()
    expect(page).to_have_url(re.compile(rf"/ui/experiments/{UUID}$"))
    experiment_id = page.url.rsplit("/", 1)[1]
    spec = ui_api.client.get(f"/experiments/{experiment_id}").json()["spec"]
    assert spec["model"] == {**cnn["defaults"], "kernel_size": 5}
    assert spec["dataset"] == {"name": "fashion_mnist", "train_samples": 256}
    assert spec["training"]["optimizer"] == "adamw"
    assert spec["training"]["weight_decay"] == 0.01
    assert spec["training"]["batch_size"] == 128


def test_the_sweep_form_sends_the_chosen_model_and_optimizer(
    page: Page, ui_api: ApiProcess
) -> None:
    page.goto("/ui/sweeps/new")
    page.get_by_label("Model").select_option("cnn")
    page.get_by_label("Optimizer").select_option("sgd")
    page.get_by_label("Momentum").fill("0.9")
    page.get_by_label("Nesterov").check()
    page.get_by_label("Epochs").fill("1")
    page.get_by_label("Train Samples").fill("64")
    page.get_by_label("Seeds").fill("0")
    page.get_by_role("button", name="Submit sweep").click()
    expect(page).to_have_url(re.compile(rf"/ui/sweeps/{UUID}$"))
    base = ui_api.client.get(f"/sweeps/{page.url.rsplit('/', 1)[1]}").json()["spec"]["base"]
    assert base["model"]["type"] == "cnn"
    assert base["training"]["optimizer"] == "sgd"
    assert (base["training"]["momentum"], base["training"]["nesterov"]) == (0.9, True)
