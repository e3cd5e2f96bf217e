"""The dashboard in a real browser: list, live experiment page, cancel, sweep form, errors."""

import math
import re
import statistics
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Dialog, Page, expect

from devtools.processes import ApiProcess, WorkerProcess
from models.storage import get_engine
from tests.conftest import wait_for
from tests.factories import experiment_payload
from tests.holds import epoch_held
from tests.ui.conftest import screenshots

pytestmark = pytest.mark.e2e

UUID = r"[0-9a-f-]{36}"
# Slow enough per epoch (~1 s here) that a cancel from the page lands mid-run.
SLOW = {"dataset": {"name": "mnist", "train_samples": 8000}}


def _submit(api: ApiProcess, **overrides: Any) -> str:
    response = api.client.post("/experiments", json=experiment_payload(**overrides))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _experiment(api: ApiProcess, experiment_id: str) -> dict[str, Any]:
    body: dict[str, Any] = api.client.get(f"/experiments/{experiment_id}").json()
    return body


def _running(api: ApiProcess, experiment_id: str, *, before: int) -> bool:
    body = _experiment(api, experiment_id)
    assert body["status"] in ("queued", "running"), body
    return body["status"] == "running" and 1 <= body["progress"]["epochs_done"] < before


def test_the_list_loads_and_filters_from_the_query_string(
    page: Page, ui_api: ApiProcess, artifacts: Path
) -> None:
    token = uuid.uuid4().hex[:8]
    cosine = _submit(ui_api, name=f"{token}-cos", scheduler={"type": "cosine", "t_max": 2})
    exponential = _submit(
        ui_api, name=f"{token}-exp", scheduler={"type": "exponential", "gamma": 0.9}
    )

    page.goto(f"/ui/experiments?name={token}")
    expect(page.locator(f'tr[data-id="{cosine}"]')).to_contain_text("cosine")
    expect(page.locator(f'tr[data-id="{exponential}"]')).to_contain_text("exponential")

    page.get_by_label("Scheduler").select_option("exponential")
    expect(page).to_have_url(re.compile(r"scheduler_type=exponential"))
    expect(page.locator(f'tr[data-id="{cosine}"]')).to_have_count(0)
    expect(page.locator(f'tr[data-id="{exponential}"]')).to_have_count(1)

    # The address alone restores the filters (bookmarks, shared links).
    page.goto(f"/ui/experiments?name={token}-cos")
    expect(page.get_by_label("Name")).to_have_value(f"{token}-cos")
    expect(page.locator("#experiments tbody tr")).to_have_count(1)
    expect(page.locator(f'tr[data-id="{cosine}"]')).to_have_count(1)

    page.goto(f"/ui/experiments?status=failed&name={token}")
    expect(page.get_by_label("Status")).to_have_value("failed")
    expect(page.get_by_text("No experiment matches these filters.")).to_be_visible()

    page.goto("/ui/experiments")
    expect(page.locator(f'tr[data-id="{exponential}"]')).to_be_visible()
    screenshots(page, artifacts, "experiments")


def test_an_open_experiment_page_grows_as_epochs_arrive(
    page: Page, ui_api: ApiProcess, worker: WorkerProcess, artifacts: Path
) -> None:
    epochs = 12
    name = f"live page {uuid.uuid4().hex[:8]}"
    metrics_reads: list[str] = []
    page.on(
        "request",
        lambda r: metrics_reads.append(r.url) if r.url.endswith("/metrics") else None,
    )
    loss = page.locator('figure[data-chart="Loss"]')
    # The page opens while epoch 4 waits at its commit: three points, then the rest arrive.
    # Held by name from before the submission, since the session's worker may be waiting.
    with epoch_held(get_engine(), 4, names=[name]) as waiting:
        experiment_id = _submit(
            ui_api,
            name=name,
            scheduler={"type": "cosine", "t_max": epochs, "eta_min": 0.0001},
            training={"epochs": epochs, "batch_size": 32, "learning_rate": 0.01},
            dataset={"name": "mnist", "train_samples": 2000},
        )
        wait_for(waiting, timeout=180)
        with page.expect_response(re.compile(rf"/experiments/{experiment_id}/events$")) as opened:
            page.goto(f"/ui/experiments/{experiment_id}")
        stream = opened.value
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        expect(loss).to_have_attribute("data-points", "3")
        expect(page.locator(".live")).to_have_text("live: event stream")
        # Every text the live indicator shows from now on, the current one included.
        page.evaluate(
            """() => {
              window.__sameDocument = true;
              const live = document.querySelector(".live");
              window.__modes = [live.textContent];
              new MutationObserver(() => window.__modes.push(live.textContent))
                .observe(live, { childList: true, characterData: true, subtree: true });
            }"""
        )

    # More than the three points it opened with (expect polls from Playwright's side: the
    # page's CSP forbids the eval a wait_for_function predicate needs while it polls).
    expect(loss).to_have_attribute("data-points", re.compile(r"^(?:[4-9]|[1-9]\d+)$"))
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"

    expect(page.locator(".head-status .badge")).to_have_text("succeeded", timeout=120_000)
    expect(loss).to_have_attribute("data-points", str(epochs))
    expect(page.locator('figure[data-chart="Accuracy"]')).to_have_attribute(
        "data-points", str(epochs)
    )
    expect(page.get_by_text("Final val accuracy")).to_be_visible()
    # The points came over the event stream: the page never fell back to polling.
    modes = page.evaluate("window.__modes")
    assert "live: event stream" in modes and "live: polling every 2 s" not in modes, modes
    assert modes[-1] == "finished", modes
    assert len(metrics_reads) == 1, metrics_reads  # the first load only, no polls
    expect(page.get_by_text("Device")).to_be_visible()
    expect(page.locator("dd").filter(has_text="keras")).to_be_visible()

    page.get_by_role("button", name="Show per-step lr").click()
    steps = epochs * math.ceil(2000 / 32)
    expect(page.locator("figure.chart").filter(has_text="every optimizer step")).to_have_attribute(
        "data-points", str(steps)
    )
    screenshots(page, artifacts, "experiment")


def test_the_list_rows_update_while_runs_progress(
    page: Page, ui_api: ApiProcess, worker: WorkerProcess
) -> None:
    token = uuid.uuid4().hex[:8]
    # The page first shows the run mid-training, however fast this machine trains.
    with epoch_held(get_engine(), 1, names=[f"{token}-row"]) as waiting:
        experiment_id = _submit(ui_api, name=f"{token}-row", scheduler={"type": "constant"})
        row = page.locator(f'tr[data-id="{experiment_id}"]')
        wait_for(waiting, timeout=180)
        page.goto(f"/ui/experiments?name={token}")
        expect(row).to_have_attribute("data-status", "running")
        page.evaluate("window.__sameDocument = true")
    expect(row).to_have_attribute("data-status", "succeeded", timeout=180_000)
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"


def test_cancel_on_the_page_stops_the_run(
    page: Page, ui_api: ApiProcess, worker: WorkerProcess
) -> None:
    experiment_id = _submit(
        ui_api,
        name="to cancel",
        scheduler={"type": "constant"},
        training={"epochs": 300, "batch_size": 32, "learning_rate": 0.01},
        **SLOW,
    )
    wait_for(lambda: _running(ui_api, experiment_id, before=300), timeout=180)
    page.goto(f"/ui/experiments/{experiment_id}")

    def accept(dialog: Dialog) -> None:
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator(".head-status .badge")).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Cancel run")).to_be_hidden()
    assert _experiment(ui_api, experiment_id)["status"] == "cancelled"

    # The worker stops at the end of its epoch: the count settles well short of the total.
    def settled() -> int | None:
        first = _experiment(ui_api, experiment_id)["progress"]["epochs_done"]
        page.wait_for_timeout(2500)
        later = _experiment(ui_api, experiment_id)["progress"]["epochs_done"]
        return first if later == first else None

    done = wait_for(settled, timeout=60)
    assert isinstance(done, int) and done < 300


def test_a_sweep_from_the_form_trains_and_its_page_compares(
    page: Page, ui_api: ApiProcess, worker: WorkerProcess, artifacts: Path
) -> None:
    page.goto("/ui/sweeps/new")
    page.get_by_label("Name", exact=True).fill("ui sweep")
    page.get_by_label("Epochs").fill("3")
    page.get_by_label("Batch Size").fill("64")
    page.get_by_label("Train Samples").fill("256")
    page.get_by_label("Seeds").fill("0, 1")
    first, second = page.locator("fieldset[data-block]").all()
    first.get_by_label("Scheduler type").select_option("constant")
    second.get_by_label("Scheduler type").select_option("step")
    second.get_by_label("Step Size").fill("1")
    second.get_by_label("Gamma").fill("0.5")
    expect(page.locator('.preview figure[data-chart="learning rate"]')).to_have_attribute(
        "data-points", re.compile(r"^[1-9]\d*$")
    )
    screenshots(page, artifacts, "new-sweep")

    page.get_by_role("button", name="Submit sweep").click()
    expect(page).to_have_url(re.compile(rf"/ui/sweeps/{UUID}$"))
    sweep_id = page.url.rsplit("/", 1)[1]
    expect(page.locator(".head-status .badge")).to_have_text("completed", timeout=180_000)

    comparison = ui_api.client.get(f"/sweeps/{sweep_id}/comparison").json()
    assert len(comparison["rows"]) == 2
    for row in comparison["rows"]:
        cells = page.locator(f'#comparison tr[data-label="{row["label"]}"]')
        for stat in ("final_val_accuracy", "best_val_accuracy", "auc_val_accuracy"):
            expect(cells.locator(f'td[data-stat="{stat}"] .mean')).to_have_text(
                f"{row[stat]['mean']:.4f}"
            )
        # Each row's verdict against the baseline and its Holm-adjusted p, as /comparison says.
        paired = row["paired"]
        expect(cells.locator('td[data-stat="verdict"]')).to_have_text(
            paired["verdict"] if paired else "baseline"
        )
        shown = cells.locator('td[data-stat="p_adjusted"]').inner_text()
        if paired is None or paired["p_t_holm"] is None:
            assert shown == "–"
        else:
            assert float(shown) == pytest.approx(paired["p_t_holm"], rel=5e-3)

    # Bands: mean ± sample std over seeds, per configuration and epoch, from the members' rows.
    figure = page.locator("figure.chart").filter(has_text="mean ± sd")
    expect(figure).to_have_attribute("data-bands", "2")
    expect(figure).to_have_attribute("data-points", "3")
    drawn = figure.evaluate("f => f._chart.data")
    rows = ui_api.client.get(f"/sweeps/{sweep_id}/metrics?format=json").json()
    labels = [r["label"] for r in comparison["rows"]]
    for i, label in enumerate(labels):
        for epoch in (1, 2, 3):
            values = [
                r["val_accuracy"] for r in rows if r["label"] == label and r["epoch"] == epoch
            ]
            mean, sd = statistics.mean(values), statistics.stdev(values)
            assert drawn[1 + 3 * i][epoch - 1] == pytest.approx(mean)
            assert drawn[2 + 3 * i][epoch - 1] == pytest.approx(mean + sd)
            assert drawn[3 + 3 * i][epoch - 1] == pytest.approx(mean - sd)

    members = ui_api.client.get(f"/sweeps/{sweep_id}").json()["experiments"]
    for member in members:
        expect(page.locator(f'#members a[href="/ui/experiments/{member}"]')).to_have_count(1)
    page.get_by_role("button", name="Show member curves").click()
    expect(page.locator("figure.chart").filter(has_text="every member")).to_have_attribute(
        "data-points", "3"
    )

    # Sorting by a column reorders the rows; the numbers stay /comparison's.
    page.get_by_role("button", name=re.compile("^Configuration")).click()
    expect(page.locator("#comparison tbody tr").first).to_have_attribute(
        "data-label", sorted(labels)[0]
    )
    screenshots(page, artifacts, "sweep")


def test_a_bad_value_shows_the_api_message_and_submits_nothing(
    page: Page, ui_api: ApiProcess, artifacts: Path
) -> None:
    before = ui_api.client.get("/experiments?limit=1").json()["total"]
    page.goto("/ui/experiments/new")
    expect(page.locator('.preview figure[data-chart="learning rate"]')).to_be_visible()
    screenshots(page, artifacts, "new-experiment")

    # As you type: the preview's 422 message appears beside the parameter.
    page.get_by_label("Scheduler type").select_option("step")
    page.get_by_label("Step Size").fill("0")
    preview = ui_api.client.post(
        "/schedulers/preview",
        json={"scheduler": {"type": "step", "step_size": 0}, "learning_rate": 0.001, "epochs": 2},
    )
    assert preview.status_code == 422
    expected = preview.json()["detail"][0]["msg"]
    expect(page.locator('[data-field$=".step_size"] .field-error')).to_have_text(expected)

    # On submit: the API's message beside the field and in the summary; nothing created.
    page.get_by_label("Step Size").fill("5")
    page.get_by_label("Epochs").fill("0")
    page.get_by_role("button", name="Submit experiment").click()
    refused = ui_api.client.post(
        "/experiments", json=experiment_payload(training={"epochs": 0})
    ).json()["detail"][0]["msg"]
    expect(page.locator('[data-field="training.epochs"] .field-error')).to_have_text(refused)
    expect(page.locator(".error-summary")).to_contain_text("nothing was created")
    expect(page.get_by_label("Epochs")).to_have_attribute("aria-invalid", "true")
    expect(page).to_have_url(re.compile(r"/ui/experiments/new$"))
    assert ui_api.client.get("/experiments?limit=1").json()["total"] == before
    screenshots(page, artifacts, "new-experiment-error")


@pytest.mark.parametrize("path", ["/ui/experiments", "/ui/experiments/new", "/ui/sweeps/new"])
def test_every_control_is_labelled_and_reachable_by_keyboard(page: Page, path: str) -> None:
    page.goto(path)
    expect(page.locator("h1")).to_be_visible()
    page.wait_for_load_state("networkidle")
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter(el => el.offsetParent !== null)
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !el.textContent.trim())
            .map(el => el.outerHTML)"""
    )
    assert unlabelled == []
    # Tab walks the controls; the focused one always shows an outline.
    reached = set()
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.tagName"))
        focused = page.evaluate(
            "[getComputedStyle(document.activeElement).outlineStyle,"
            " document.activeElement.outerHTML.slice(0, 120)]"
        )
        # Past the last control focus leaves the document (body) and comes round again.
        assert focused[0] != "none" or focused[1].startswith("<body"), focused[1]
    assert reached & {"INPUT", "SELECT"}
