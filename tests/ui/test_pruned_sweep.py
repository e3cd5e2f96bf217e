"""A pruned sweep's page: verdicts against the baseline, pruned badges, the rungs' cutoffs."""

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from devtools.processes import ApiProcess, WorkerProcess
from tests.conftest import wait_for
from tests.ui.conftest import screenshots

pytestmark = pytest.mark.e2e

# Smallest rate first: its later seeds fall behind its first at the rungs and are pruned, while
# the larger rates survive with every seed, so their verdicts rest on pairs.
PRUNED_SWEEP: dict[str, Any] = {
    "base": {
        "training": {"epochs": 4, "batch_size": 64, "optimizer": "sgd"},
        "dataset": {"name": "mnist", "train_samples": 256},
    },
    "schedulers": [{"type": "constant"}],
    "grid": {"training.learning_rate": [0.01, 0.05, 0.2]},
    "seeds": [0, 1, 2],
    "pruning": {"type": "asha", "reduction_factor": 2},
}


def test_a_pruned_sweep_shows_verdicts_pruned_badges_and_rung_cutoffs(
    page: Page, ui_api: ApiProcess, worker: WorkerProcess, artifacts: Path
) -> None:
    response = ui_api.client.post(
        "/sweeps", json={**PRUNED_SWEEP, "name": f"pruned {uuid.uuid4().hex[:8]}"}
    )
    assert response.status_code == 202, response.text
    sweep_id = response.json()["id"]
    wait_for(
        lambda: ui_api.client.get(f"/sweeps/{sweep_id}").json()["status"] == "completed",
        timeout=600,
    )
    comparison = ui_api.client.get(f"/sweeps/{sweep_id}/comparison?target=0.97").json()
    log = ui_api.client.get(f"/sweeps/{sweep_id}/pruning").json()
    pruned = [d for d in log if d["decision"] == "prune"]
    assert pruned, log
    tested = [r for r in comparison["rows"] if r["paired"] and r["paired"]["p_t_holm"] is not None]
    assert tested, comparison

    page.goto(f"/ui/sweeps/{sweep_id}")
    table = page.locator("#comparison")
    expect(table.locator("thead th").nth(3)).to_have_text(re.compile("^Final val acc"))
    expect(table.locator("thead th").nth(4)).to_have_text(f"vs {comparison['baseline']}")
    expect(table.locator("thead th").nth(5)).to_have_text("Adj. p")
    for row in comparison["rows"]:
        cells = table.locator(f'tr[data-label="{row["label"]}"]')
        verdict = cells.locator('[data-stat="verdict"]')
        paired = row["paired"]
        if paired is None:
            expect(verdict).to_have_text(
                "baseline" if row["label"] == comparison["baseline"] else "–"
            )
            continue
        shown = paired["verdict"] + (" (unpaired, Welch)" if paired["method"] == "welch" else "")
        expect(verdict).to_have_text(shown)
        expect(verdict).to_have_attribute(
            "title",
            re.compile(
                rf"^{paired['pairs']} pair\(s\) by seed; mean difference -?\d\.\d{{4}}; p \(t\) "
                if paired["method"] == "paired"
                else r"^no seed in common"
            ),
        )
        adjusted = cells.locator('[data-stat="p_adjusted"]').inner_text()
        if paired["p_t_holm"] is None:
            assert adjusted == "–"
        else:
            assert float(adjusted) == pytest.approx(paired["p_t_holm"], rel=5e-3)
        if row["pruned"]:
            expect(cells.locator("td").nth(2)).to_contain_text(f"{row['pruned']} pruned")

    for decision in pruned:
        badge = page.locator(f'#members tr[data-id="{decision["experiment"]}"] .badge')
        expect(badge).to_have_text("pruned")
        expect(badge).to_have_class(re.compile(r"\bbadge-pruned\b"))
        expect(badge).to_have_attribute(
            "title",
            re.compile(rf"^pruned at rung {decision['rung']} \(epoch {decision['epoch']}\)"),
        )
    assert (
        page.locator(".badge-pruned").first.evaluate("b => getComputedStyle(b).backgroundColor")
        == "rgb(243, 236, 250)"
    )

    # Each rung's latest cutoff, drawn on the ranking metric's band chart.
    latest = {d["rung"]: d["cutoff"] for d in log if d["cutoff"] is not None}
    chart = page.locator('figure[data-chart^="val accuracy"]')
    expect(chart).to_have_attribute(
        "data-cutoffs", " ".join(f"{r}:{c}" for r, c in sorted(latest.items()))
    )
    expect(page.locator(".swatches")).to_contain_text("pruning cutoff per rung")
    screenshots(page, artifacts, "sweep-pruned")
