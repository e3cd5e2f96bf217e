// One sweep: the comparison table (sortable, /comparison's numbers), mean ± std bands per
// configuration computed from the members' epochs, member curves on demand, downloads.

import { api, download } from "../api.js";
import { Chart, colour, swatchLegend } from "../charts.js";
import { debounce, h, notice, num, progressBar, schedulerSummary, statusBadge, when } from "../dom.js";
import { follow } from "../sse.js";

const METRICS = { val_accuracy: "val accuracy", val_loss: "val loss", accuracy: "train accuracy", loss: "train loss", lr: "learning rate" };
const STATS = [
  ["final_val_accuracy", "Final val acc", 4],
  ["best_val_accuracy", "Best val acc", 4],
  ["final_val_loss", "Final val loss", 4],
  ["epochs_to_target", "Epochs to target", 1],
  ["auc_val_accuracy", "Mean val acc (AUC)", 4],
];
const MODES = { stream: "live: event stream", polling: "live: polling every 2 s", reconnecting: "connection lost, retrying…", done: "finished" };

/** Per configuration and epoch: mean and sample std over the members that reached it. */
export function bands(rows, metric) {
  const byLabel = new Map();
  for (const r of rows) {
    if (r.status === "failed" || r.status === "cancelled") continue;
    if (!byLabel.has(r.label)) byLabel.set(r.label, new Map());
    const epochs = byLabel.get(r.label);
    if (!epochs.has(r.epoch)) epochs.set(r.epoch, []);
    epochs.get(r.epoch).push(r[metric]);
  }
  const out = new Map();
  for (const [label, epochs] of byLabel) {
    const stats = new Map();
    for (const [epoch, values] of epochs) {
      const n = values.length;
      const mean = values.reduce((a, b) => a + b, 0) / n;
      const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
      stats.set(epoch, { mean, std, n });
    }
    out.set(label, stats);
  }
  return out;
}

export async function render(root, { id, signal }) {
  let sweep = await api(`/sweeps/${id}`, { signal });
  let comparison = null;
  let rows = [];
  const members = new Map(); // id → experiment JSON for members with no epoch yet
  let sort = { key: "rank", dir: 1 };

  const title = h("h1", {});
  const badge = h("span", {});
  const live = h("span", { class: "live muted", role: "status" });
  const progress = h("div", { class: "progress-line" });
  const actionMessage = h("div", { "aria-live": "polite" });
  const target = h("input", { id: "target", type: "text", inputmode: "decimal", value: "0.97", size: 5, "aria-describedby": "target-hint" });
  const metricSelect = h("select", { id: "band-metric" }, Object.entries(METRICS).map(([k, v]) => h("option", { value: k }, v)));
  const logToggle = h("input", { type: "checkbox", id: "band-log" });
  const memberToggle = h("button", { type: "button", class: "secondary", "aria-expanded": "false" }, "Show member curves");
  const cancel = h("button", { type: "button", class: "danger" }, "Cancel sweep");
  const dl = (path, file, label) => h("button", { type: "button", class: "secondary small", onclick: () => download(path, file).catch((e) => actionMessage.replaceChildren(notice(e.message))) }, label);
  const compareBox = h("div", {});
  const membersBox = h("div", {});
  const bandHolder = h("div", { class: "charts-wide" });
  const bandLegend = h("div", {});
  const memberHolder = h("div", { class: "charts-wide" });

  root.replaceChildren(
    h("p", { class: "crumbs" }, h("a", { href: "/ui/sweeps" }, "Sweeps")),
    h("div", { class: "page-head" }, h("div", {}, title, h("p", { class: "muted mono" }, id)), h("div", { class: "head-status" }, badge, live)),
    progress,
    h(
      "div",
      { class: "toolbar", role: "group", "aria-label": "Downloads and actions" },
      cancel,
      h("span", { class: "muted" }, "Download:"),
      dl(`/sweeps/${id}/comparison?format=csv`, `${id}-comparison.csv`, "comparison CSV"),
      dl(`/sweeps/${id}/metrics?format=csv`, `${id}-metrics.csv`, "metrics CSV"),
      ["lr", "loss", "accuracy"].flatMap((p) => [dl(`/sweeps/${id}/plots/${p}.png`, `${id}-${p}.png`, `${p}.png`), dl(`/sweeps/${id}/plots/${p}.svg`, `${id}-${p}.svg`, `${p}.svg`)]),
    ),
    actionMessage,
    h(
      "section",
      { class: "card", "aria-labelledby": "cmp-title" },
      h("div", { class: "section-head" }, h("h2", { id: "cmp-title" }, "Comparison"), h("div", { class: "field inline" }, h("label", { for: "target" }, "Target val accuracy"), target, h("span", { class: "hint", id: "target-hint" }, "in (0, 1]; sets “epochs to target”"))),
      compareBox,
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "bands-title" },
      h("div", { class: "section-head" }, h("h2", { id: "bands-title" }, "Curves per configuration"), h("div", { class: "toolbar" }, h("div", { class: "field inline" }, h("label", { for: "band-metric" }, "Metric"), metricSelect), h("label", { class: "check", for: "band-log" }, logToggle, " log scale"), memberToggle)),
      h("p", { class: "hint" }, "Line: mean over seeds; band: ± one sample standard deviation (the members that reached the epoch; failed and cancelled ones left out)."),
      bandHolder,
      bandLegend,
      memberHolder,
    ),
    h("section", { class: "card", "aria-labelledby": "members-title" }, h("h2", { id: "members-title" }, "Members"), membersBox),
  );

  let bandChart = null;
  let memberChart = null;
  const labels = () => (comparison ? comparison.rows.map((r) => r.label) : [...new Set(rows.map((r) => r.label))]);

  function drawHeader() {
    document.title = `${sweep.name || `Sweep ${id.slice(0, 8)}`} · lrlab`;
    title.textContent = sweep.name || `Sweep ${id.slice(0, 8)}`;
    badge.replaceChildren(statusBadge(sweep.status));
    const p = sweep.progress;
    const c = sweep.counts;
    progress.replaceChildren(
      progressBar(p.epochs_done, p.epochs, "epochs done over all members"),
      h("span", { class: "muted" }, ` ${p.experiments_done} of ${p.experiments} members finished · ${Object.entries(c).filter(([, n]) => n).map(([s, n]) => `${n} ${s}`).join(", ")} · created ${when(sweep.created_at)}`),
    );
    cancel.hidden = p.experiments_done === p.experiments;
  }

  function stat(s, digits) {
    if (!s || s.mean === null) return h("span", { class: "muted" }, "–");
    const extra = [s.std !== null ? `± ${num(s.std, digits)} sd` : null, s.ci95 ? `95% CI ${num(s.ci95[0], digits)}–${num(s.ci95[1], digits)}` : null, `n=${s.n}`].filter(Boolean).join(" · ");
    return [h("span", { class: "mean" }, num(s.mean, digits)), h("span", { class: "sub" }, extra)];
  }

  function sortValue(row, key) {
    if (key === "rank" || key === "runs") return row[key];
    if (key === "label") return row.label;
    return row[key]?.mean ?? null;
  }

  function drawComparison() {
    if (!comparison) return;
    const sorted = [...comparison.rows].sort((a, b) => {
      const [x, y] = [sortValue(a, sort.key), sortValue(b, sort.key)];
      if (x === y) return a.rank - b.rank;
      if (x === null) return 1; // missing values last either way
      if (y === null) return -1;
      return (x < y ? -1 : 1) * sort.dir;
    });
    const header = (key, text) =>
      h(
        "th",
        { scope: "col", "aria-sort": sort.key === key ? (sort.dir > 0 ? "ascending" : "descending") : "none" },
        h("button", { type: "button", class: "sort", onclick: () => { sort = { key, dir: sort.key === key ? -sort.dir : 1 }; drawComparison(); } }, text, h("span", { "aria-hidden": "true", class: "arrow" }, sort.key === key ? (sort.dir > 0 ? " ▲" : " ▼") : " ↕")),
      );
    const labelList = labels();
    compareBox.replaceChildren(
      comparison.rows.length
        ? h(
            "div",
            { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Comparison table" },
            h(
              "table",
              { class: "data", id: "comparison" },
              h("thead", {}, h("tr", {}, header("rank", "#"), header("label", "Configuration"), header("runs", "Runs"), STATS.map(([k, t]) => header(k, t)), h("th", { scope: "col" }, `vs ${comparison.baseline ?? "baseline"}`), h("th", { scope: "col" }, "Adj. p"))),
              h(
                "tbody",
                {},
                sorted.map((r) =>
                  h(
                    "tr",
                    { "data-label": r.label },
                    h("td", { class: "num" }, String(r.rank)),
                    h("td", {}, h("span", { class: "swatch", style: `background:${colour(labelList.indexOf(r.label))}` }), h("strong", {}, r.label), h("span", { class: "sub" }, schedulerSummary(r.scheduler))),
                    h("td", { class: "num" }, String(r.runs), r.failed || r.cancelled || r.pruned || r.pending ? h("span", { class: "sub" }, [r.failed && `${r.failed} failed`, r.cancelled && `${r.cancelled} cancelled`, r.pruned && `${r.pruned} pruned`, r.pending && `${r.pending} pending`].filter(Boolean).join(", ")) : null),
                    STATS.map(([k, , digits]) => h("td", { class: "num stat", "data-stat": k }, stat(r[k], digits))),
                    ...pairedCells(r),
                  ),
                ),
              ),
            ),
          )
        : notice("No configuration has finished yet.", "info"),
    );
  }

  /** The verdict against the baseline and its Holm-adjusted p (docs/sweeps.md). */
  function pairedCells(r) {
    const p = r.paired;
    if (!p) return [h("td", { "data-stat": "verdict" }, r.runs ? "baseline" : "–"), h("td", { class: "num", "data-stat": "p_adjusted" }, "–")];
    const verdict = p.method === "welch" ? `${p.verdict} (unpaired, Welch)` : p.verdict;
    const detail = `${p.pairs} pair(s); mean difference ${num(p.mean_difference)}; p (t) ${num(p.p_t)}, p (sign flip) ${num(p.p_sign_flip)}`;
    return [h("td", { "data-stat": "verdict", title: detail }, verdict), h("td", { class: "num", "data-stat": "p_adjusted" }, p.p_t_holm == null ? "–" : String(Number(p.p_t_holm.toPrecision(3))))];
  }

  function drawBands() {
    const metric = metricSelect.value;
    const stats = bands(rows, metric);
    const keys = labels().filter((l) => stats.has(l));
    const xs = [...new Set(keys.flatMap((k) => [...stats.get(k).keys()]))].sort((a, b) => a - b);
    const series = [];
    const data = [xs];
    const bandOpts = [];
    keys.forEach((label, i) => {
      const s = stats.get(label);
      const c = colour(labels().indexOf(label));
      const at = (x, f) => (s.has(x) ? f(s.get(x)) : null);
      series.push({ label, colour: c }, { label: `${label} + sd`, colour: "transparent", width: 0, points: false }, { label: `${label} − sd`, colour: "transparent", width: 0, points: false });
      data.push(xs.map((x) => at(x, (v) => v.mean)), xs.map((x) => at(x, (v) => v.mean + v.std)), xs.map((x) => at(x, (v) => v.mean - v.std)));
      bandOpts.push({ series: [3 * i + 2, 3 * i + 3], colour: c });
    });
    const key = `${metric}|${keys.join("|")}|${logToggle.checked}`;
    if (!bandChart || bandChart.key !== key) {
      bandChart?.destroy();
      bandChart = new Chart(bandHolder, { title: `${METRICS[metric]}: mean ± sd per configuration`, yLabel: METRICS[metric], series, bands: bandOpts, legend: false, log: logToggle.checked, height: 300 });
      bandChart.key = key;
      bandChart.figure.dataset.bands = String(keys.length);
      bandLegend.replaceChildren(swatchLegend(keys.map((label) => ({ label, colour: colour(labels().indexOf(label)) }))));
    }
    bandChart.setData(data);
    if (memberChart) drawMembersChart();
  }

  function drawMembersChart() {
    const metric = metricSelect.value;
    const byMember = new Map();
    for (const r of rows) {
      if (!byMember.has(r.experiment)) byMember.set(r.experiment, { label: r.label, seed: r.seed, points: new Map() });
      byMember.get(r.experiment).points.set(r.epoch, r[metric]);
    }
    const entries = [...byMember.entries()];
    const xs = [...new Set(rows.map((r) => r.epoch))].sort((a, b) => a - b);
    const series = entries.map(([, m]) => ({ label: `${m.label} · seed ${m.seed}`, colour: colour(labels().indexOf(m.label)), width: 1.5, dash: m.seed % 2 ? [6, 4] : undefined }));
    const key = `${metric}|${series.map((s) => s.label).join("|")}|${logToggle.checked}`;
    if (!memberChart || memberChart.key !== key) {
      memberChart?.destroy();
      memberChart = new Chart(memberHolder, { title: `${METRICS[metric]}: every member`, yLabel: METRICS[metric], series, log: logToggle.checked, height: 300 });
      memberChart.key = key;
    }
    memberChart.setData([xs, ...entries.map(([, m]) => xs.map((x) => m.points.get(x) ?? null))]);
  }

  function drawMembers() {
    const last = new Map();
    for (const r of rows) last.set(r.experiment, r);
    membersBox.replaceChildren(
      h(
        "div",
        { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Members" },
        h(
          "table",
          { class: "data", id: "members" },
          h("thead", {}, h("tr", {}, ["Member", "Configuration", "Seed", "Status", "Epochs", "Last val acc"].map((t) => h("th", { scope: "col" }, t)))),
          h(
            "tbody",
            {},
            sweep.experiments.map((eid) => {
              const r = last.get(eid);
              const e = members.get(eid);
              const status = r?.status ?? e?.status ?? "queued";
              return h(
                "tr",
                { "data-id": eid },
                h("td", {}, h("a", { href: `/ui/experiments/${eid}`, class: "mono" }, eid.slice(0, 8))),
                h("td", {}, r?.label ?? (e ? schedulerSummary(e.spec.scheduler) : "–")),
                h("td", { class: "num" }, String(r?.seed ?? e?.spec.training.seed ?? "–")),
                h("td", {}, prunedTitle(statusBadge(status), eid)),
                h("td", { class: "num" }, String(r?.epoch ?? e?.progress.epochs_done ?? 0)),
                h("td", { class: "num" }, num(r?.val_accuracy)),
              );
            }),
          ),
        ),
      ),
    );
  }

  // The decision that pruned each member, shown on its badge's hover.
  const pruning = new Map();
  function prunedTitle(badgeEl, eid) {
    const d = pruning.get(eid);
    if (d) badgeEl.title = `pruned at rung ${d.rung} (epoch ${d.epoch}): ${d.metric} ${num(d.value)} vs cutoff ${num(d.cutoff)} of ${d.compared} earlier`;
    return badgeEl;
  }

  let lastCounts = "";
  async function refresh() {
    const t = Number(target.value);
    const targetOk = Number.isFinite(t) && t > 0 && t <= 1;
    const [s, metricRows, cmp] = await Promise.all([
      api(`/sweeps/${id}`, { signal }),
      api(`/sweeps/${id}/metrics?format=json`, { signal }),
      targetOk ? api(`/sweeps/${id}/comparison?target=${t}`, { signal }) : Promise.resolve(comparison),
    ]);
    sweep = s;
    rows = metricRows;
    comparison = cmp;
    // Members with no epoch yet have no row to name them: read them when the counts change.
    const counts = JSON.stringify(sweep.counts);
    const seen = new Set(rows.map((r) => r.experiment));
    const missing = sweep.experiments.filter((e) => !seen.has(e)).slice(0, 50);
    if (counts !== lastCounts && sweep.counts.pruned) {
      const log = await api(`/sweeps/${id}/pruning`, { signal });
      for (const d of log) if (d.decision === "prune") pruning.set(d.experiment, d);
    }
    if (counts !== lastCounts && missing.length) {
      const read = await Promise.all(missing.map((eid) => api(`/experiments/${eid}`, { signal })));
      read.forEach((e) => members.set(e.id, e));
    }
    lastCounts = counts;
    drawHeader();
    drawComparison();
    drawBands();
    drawMembers();
  }

  target.addEventListener("input", debounce(() => {
    const t = Number(target.value);
    target.toggleAttribute("aria-invalid", !(t > 0 && t <= 1));
    if (t > 0 && t <= 1) refresh().catch((e) => actionMessage.replaceChildren(notice(e.message)));
  }, 400));
  metricSelect.addEventListener("change", drawBands);
  logToggle.addEventListener("change", drawBands);
  memberToggle.addEventListener("click", () => {
    if (memberChart) {
      memberChart.destroy();
      memberChart = null;
    } else drawMembersChart();
    memberToggle.textContent = memberChart ? "Hide member curves" : "Show member curves";
    memberToggle.setAttribute("aria-expanded", String(Boolean(memberChart)));
  });
  cancel.addEventListener("click", async () => {
    if (!confirm("Cancel every member of this sweep that has not finished?")) return;
    try {
      sweep = await api(`/sweeps/${id}/cancel`, { method: "POST", signal });
      await refresh();
    } catch (exc) {
      actionMessage.replaceChildren(notice(exc.message));
    }
  });

  await refresh();
  const isDone = () => sweep.progress.experiments_done === sweep.progress.experiments;
  const eventRefresh = debounce(() => refresh().catch(() => {}), 500);
  if (isDone()) live.textContent = MODES.done;
  else {
    follow({
      path: `/sweeps/${id}/events`,
      signal,
      isDone,
      onMode: (mode) => {
        live.textContent = MODES[mode] || "";
        if (mode === "done") refresh().catch(() => {});
      },
      onEvent: (event) => {
        // Events name the member, not its label: redraw from the API (debounced).
        eventRefresh();
      },
      poll: refresh,
    });
  }

  return () => {
    eventRefresh.cancel();
    bandChart?.destroy();
    memberChart?.destroy();
  };
}
