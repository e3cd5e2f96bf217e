"""The dashboard reads right: a live sweep page that keeps drawing, tick labels, the pager."""

import itertools
import math
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from devtools.processes import ApiProcess, WorkerProcess
from models.storage import get_engine
from tests.conftest import SessionKeys, wait_for
from tests.holds import epoch_held
from tests.ui.conftest import screenshots

pytestmark = pytest.mark.e2e

# Counts, in the page, the text of every event-stream chunk it reads (the page's own code
# untouched): the test then knows when an event has reached the page, whatever its speed.
_SEEN_EVENTS = """
window.__streamed = "";
const read = ReadableStreamDefaultReader.prototype.read;
ReadableStreamDefaultReader.prototype.read = async function () {
  const result = await read.call(this);
  if (typeof result.value === "string") window.__streamed += result.value;
  return result;
};
"""

_T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _submit_sweep(api: ApiProcess, name: str, *, epochs: int) -> dict[str, Any]:
    response = api.client.post(
        "/sweeps",
        json={
            "name": name,
            "base": {
                "training": {"epochs": epochs, "batch_size": 64, "learning_rate": 0.01},
                "dataset": {"name": "mnist", "train_samples": 256},
            },
            "schedulers": [
                {"type": "constant"},
                {"type": "step", "step_size": 1, "gamma": 0.5},
            ],
            "seeds": [0, 1],
        },
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def _epochs_shown(page: Page) -> int:
    text = page.locator(".progress-line .progress-text").inner_text()
    match = re.match(r"(\d+)/\d+", text)
    assert match, text
    return int(match.group(1))


def test_the_live_sweep_page_draws_while_events_keep_coming(
    page: Page, ui_api: ApiProcess, worker: WorkerProcess, artifacts: Path
) -> None:
    name = f"live sweep {uuid.uuid4().hex[:8]}"
    metrics_reads: list[str] = []
    page.on("request", lambda r: metrics_reads.append(r.url) if "/metrics" in r.url else None)
    page.add_init_script(_SEEN_EVENTS)
    # The page's clock stands still unless the test moves it: a redraw that waits for a pause
    # in the events (a debounce) then never comes, whatever this machine's speed.
    page.clock.install(time=_T0)
    page.clock.pause_at(_T0 + timedelta(seconds=1))
    engine = get_engine()
    with epoch_held(engine, 4, names=[name]) as later:
        with epoch_held(engine, 2, names=[name]) as first:
            sweep = _submit_sweep(ui_api, name, epochs=5)
            wait_for(first, timeout=180)
            page.goto(f"/ui/sweeps/{sweep['id']}")
            expect(page.locator(".live")).to_have_text("live: event stream")
            expect(page.locator(".progress-line .progress-text")).to_have_text(
                re.compile(r"^[1-9]\d*/20\b")
            )
            # Whatever the first load set going settles: then the page is idle, and waits.
            page.clock.run_for(5000)
            before = _epochs_shown(page)
            streamed = page.evaluate("window.__streamed.length")
            screenshots(page, artifacts, "sweep-live-1")
        # Epoch 2 of the held members commits, and they wait again at epoch 4.
        wait_for(later, timeout=180)
        wait_for(
            lambda: "event: epoch" in page.evaluate(f"window.__streamed.slice({streamed})"),
            timeout=60,
        )
        # Less time passes in the page than any debounce waits; events are still arriving.
        page.clock.run_for(400)
        expect(page.locator(".progress-line .progress-text")).not_to_have_text(
            re.compile(rf"^{before}/")
        )
        assert _epochs_shown(page) > before
        screenshots(page, artifacts, "sweep-live-2")
        assert ui_api.client.get(f"/sweeps/{sweep['id']}").json()["status"] == "running"
    # Events were appended to what was drawn: the page read the metrics once, at its load.
    assert len([u for u in metrics_reads if f"/sweeps/{sweep['id']}/metrics" in u]) == 1


# Every y-axis tick of a chart: the value and the label uPlot drew for it.
_Y_TICKS = """f => {
  const axis = f._chart.plot.axes[1];
  return axis._splits.map((v, i) => [v, axis._values[i]]).filter(([, label]) => label);
}"""


def test_lr_ticks_are_distinct_and_log_ticks_sit_at_decades(
    page: Page, ui_api: ApiProcess, artifacts: Path
) -> None:
    page.goto("/ui/experiments/new")
    page.get_by_label("Scheduler type").select_option("step")
    page.get_by_label("Step Size").fill("1")
    page.get_by_label("Gamma").fill("0.5")
    page.get_by_label("Epochs").fill("4")
    page.get_by_label("Learning Rate").fill("0.001")
    chart = page.locator('.preview figure[data-chart="learning rate"]')
    # 0.001 halved each epoch: 0.001 … 0.000125, ticks a few ten-thousandths apart.
    page.wait_for_function(
        """() => {
          const f = document.querySelector('.preview figure[data-chart="learning rate"]');
          const ys = f && f._chart.data[1];
          return ys && ys.length && Math.min(...ys) < 0.00013;
        }"""
    )
    ticks = chart.evaluate(_Y_TICKS)
    assert len(ticks) >= 2, ticks
    values = [v for v, _ in ticks]
    labels = [label for _, label in ticks]
    assert len(set(labels)) == len(labels), f"repeated tick labels: {labels}"
    spacing = min(b - a for a, b in itertools.pairwise(values))
    for value, label in ticks:
        assert float(label) == pytest.approx(value, abs=spacing / 1000), (value, label)
    screenshots(page, artifacts, "ticks-linear")

    page.get_by_label("log scale").check()
    page.wait_for_function(
        """() => document.querySelector('.preview figure[data-chart="learning rate"]')
                   ._chart.plot.scales.y.distr === 3"""
    )
    logs = chart.evaluate(_Y_TICKS)
    assert [label for _, label in logs] == ["1e-4", "0.001"], logs
    screenshots(page, artifacts, "ticks-log")


def test_no_null_in_the_pager_or_a_configuration_and_empty_charts_say_why(
    page: Page, ui_api: ApiProcess, artifacts: Path
) -> None:
    # A queue no test worker consumes: the run stays queued for the whole test.
    response = ui_api.client.post(
        "/experiments",
        json={
            "name": f"queued {uuid.uuid4().hex[:8]}",
            "scheduler": {"type": "one_cycle", "max_lr": 0.01},
            "training": {"epochs": 3},
            "queue": "lrlab",
        },
    )
    assert response.status_code == 202, response.text
    experiment_id = response.json()["id"]
    try:
        page.goto("/ui/experiments")
        expect(page.locator(".pager")).to_contain_text("of")
        expect(page.locator(".pager")).not_to_contain_text("null")
        page.goto("/ui/sweeps")
        expect(page.locator(".pager")).to_contain_text("of")
        expect(page.locator(".pager")).not_to_contain_text("null")

        page.goto(f"/ui/experiments/{experiment_id}")
        scheduler = page.locator("dt", has_text="Scheduler").locator(
            "xpath=following-sibling::dd[1]"
        )
        expect(scheduler).to_contain_text("one_cycle")
        expect(scheduler).not_to_contain_text("null")
        for title in ("Learning rate", "Loss", "Accuracy"):
            expect(page.locator(f'figure[data-chart="{title}"] .chart-empty')).to_have_text(
                re.compile(r"^Queued: .*first epoch")
            )
        # One progress text, in epochs, said once.
        expect(page.locator(".progress-line")).to_have_text("0/3 epochs")
        screenshots(page, artifacts, "experiment-queued")
    finally:
        assert ui_api.client.post(f"/experiments/{experiment_id}/cancel").status_code == 200


def test_a_rejected_key_says_so_and_where_the_key_is(page: Page, artifacts: Path) -> None:
    page.goto("/ui/experiments")
    expect(page.locator("#key-state")).to_have_text("key set")
    page.get_by_label("API key").fill("lrlab_not-a-key-of-this-database-0123456789")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#key-state")).to_have_text("key rejected")
    expect(page.locator("main .notice")).to_contain_text(".lrlab/credentials.json")
    expect(page.locator("main .notice")).to_contain_text("lrlab keys")
    expect(page.locator("main .notice")).to_contain_text("refused this key")
    expect(page.locator("h1")).to_have_text("An API key is needed")
    screenshots(page, artifacts, "key-rejected")

    page.get_by_role("button", name="Clear").click()
    expect(page.locator("#key-state")).to_have_text("no key")
    expect(page.locator("main .notice")).to_contain_text("No API key entered")
    expect(page.locator("main .notice")).to_contain_text(".lrlab/credentials.json")
    # The placeholder fits its field.
    fits = page.locator("#api-key").evaluate(
        """el => {
          const probe = document.createElement("span");
          probe.style.font = getComputedStyle(el).font;
          probe.textContent = el.placeholder;
          document.body.append(probe);
          const width = probe.getBoundingClientRect().width;
          probe.remove();
          const style = getComputedStyle(el);
          return width <= el.clientWidth - parseFloat(style.paddingLeft)
            - parseFloat(style.paddingRight);
        }"""
    )
    assert fits


def test_sweep_members_in_the_list_show_configuration_and_seed(
    page: Page, ui_api: ApiProcess, artifacts: Path
) -> None:
    name = f"listed {uuid.uuid4().hex[:8]}"
    # A queue no test worker consumes: the members stay queued for the whole test.
    response = ui_api.client.post(
        "/sweeps",
        json={
            "name": name,
            "base": {"training": {"epochs": 2}},
            "schedulers": [{"type": "step", "step_size": 1, "gamma": 0.5}],
            "seeds": [0, 7],
            "queue": "lrlab",
        },
    )
    assert response.status_code == 202, response.text
    sweep = response.json()
    try:
        page.goto(f"/ui/experiments?name={name.split()[1]}")
        for member in ui_api.client.get(f"/experiments?sweep_id={sweep['id']}").json()["items"]:
            seed = member["spec"]["training"]["seed"]
            row = page.locator(f'tr[data-id="{member["id"]}"]')
            expect(row).to_contain_text(f"{member['label']} · seed {seed}")
            expect(row.locator(f'a[href="/ui/sweeps/{sweep["id"]}"]')).to_have_count(1)
        # On a phone the table keeps its rows on one line and scrolls sideways in its frame.
        page.set_viewport_size({"width": 390, "height": 844})
        wrap = page.locator(".table-wrap")
        overflow = wrap.evaluate(
            "el => [el.scrollWidth > el.clientWidth, getComputedStyle(el).overflowX,"
            " document.documentElement.scrollWidth <= window.innerWidth]"
        )
        assert overflow == [True, "auto", True], overflow
        screenshots(page, artifacts, "experiments-members")
    finally:
        assert ui_api.client.post(f"/sweeps/{sweep['id']}/cancel").status_code == 200


def test_the_form_sizes_an_epoch_from_the_workers_data(
    page: Page, ui_api: ApiProcess, worker: WorkerProcess, keys: SessionKeys
) -> None:
    # The session's worker reports the size of the data it loaded (the offline copy is 8,000).
    def held() -> int | None:
        listing = ui_api.client.get("/workers", headers=keys.headers(keys.operator)).json()
        sizes = [w["datasets"]["mnist"]["train_samples"] for w in listing if w["datasets"]]
        return min(sizes) if sizes else None

    samples = wait_for(held, timeout=60)
    assert isinstance(samples, int)
    page.goto("/ui/experiments/new")
    page.get_by_label("Train Samples").fill("10000")
    page.get_by_label("Batch Size").fill("32")
    steps = math.ceil(min(10_000, samples) / 32)
    expect(page.locator(".preview .hint").filter(has_text="steps per epoch")).to_contain_text(
        f"× {steps} steps per epoch"
    )


def test_a_sweep_whose_members_end_while_the_page_loads_shows_its_final_status(
    page: Page, ui_api: ApiProcess, worker: WorkerProcess
) -> None:
    # The page reads the sweep, then its members. A sweep whose members all end between the
    # two reads (a fast worker, a short sweep) must still end up shown as it finished.
    name = f"ends while loading {uuid.uuid4().hex[:8]}"
    with epoch_held(get_engine(), 2, names=[name]) as waiting:
        sweep = _submit_sweep(ui_api, name, epochs=2)
        wait_for(waiting, timeout=180)
        while_running = ui_api.client.get(f"/sweeps/{sweep['id']}")
        assert while_running.json()["status"] == "running", while_running.text
    wait_for(
        lambda: ui_api.client.get(f"/sweeps/{sweep['id']}").json()["status"] == "completed",
        timeout=180,
    )
    stale: list[str] = []
    members_read: list[str] = []

    def sweep_read(route: Any) -> None:
        # Until the page has read the members, its reads of the sweep get what the server
        # answered while the sweep ran: as if each was served just before the members ended.
        if members_read:
            route.continue_()
            return
        stale.append(route.request.url)
        route.fulfill(
            status=200, headers={"content-type": "application/json"}, body=while_running.text
        )

    def members(route: Any) -> None:
        members_read.append(route.request.url)
        route.continue_()

    page.route(lambda url: urlsplit(url).path == f"/sweeps/{sweep['id']}", sweep_read)
    page.route(lambda url: urlsplit(url).path == "/experiments" and sweep["id"] in url, members)
    page.goto(f"/ui/sweeps/{sweep['id']}")
    expect(page.locator(".live")).to_have_text("finished")
    expect(page.locator(".head-status .badge")).to_have_text("completed")
    assert stale and members_read
    expect(page.locator("figure.chart").filter(has_text="mean ± sd")).to_have_attribute(
        "data-points", "2"
    )
