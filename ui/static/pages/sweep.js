// One sweep: its header and downloads, kept live from the event stream; the comparison table,
// the curves and the members table are views in ./sweep/.

import { api, download } from "../api.js";
import { debounce, h, notice, progressBar, statusBadge, TERMINAL, throttle, when } from "../dom.js";
import { follow } from "../sse.js";
import { drawComparison as renderComparison } from "./sweep/comparison.js";
import { Curves, METRICS } from "./sweep/curves.js";
import { drawMembers as renderMembers } from "./sweep/members.js";

// Redraw at most, and while events keep coming at least, this often.
const REDRAW_MS = 1000;
// The sweep's summary and comparison change when members end: reread them at most this often.
const SUMMARY_MS = 2000;
const MEMBER_PAGE = 500;
const SWEEP_ENDED = new Set(["completed", "failed", "cancelled"]);
const MODES = {
  stream: "live: event stream",
  polling: "live: polling every 2 s",
  reconnecting: "connection lost, retrying…",
  done: "finished",
};

export async function render(root, { id, signal }) {
  let sweep = await api(`/sweeps/${id}`, { signal });
  let comparison = null;
  // Every member's epochs, keyed by member and epoch: the first load, then the stream's
  // events append (a replay after a reconnect overwrites rather than duplicates).
  const epochRows = new Map();
  // Per member: label, seed, status and epochs done, from the API and then the events.
  const members = new Map();
  let rows = [];
  // The pruning rule's decisions (GET /sweeps/{id}/pruning), reread when the members' counts
  // change; the decision that pruned each pruned member.
  let pruningLog = [];
  let pruningRead = "";
  const prunedBy = new Map();
  let sort = { key: "rank", dir: 1 };

  const title = h("h1", {});
  const badge = h("span", {});
  const live = h("span", { class: "live muted", role: "status" });
  const progress = h("div", { class: "progress-line" });
  const actionMessage = h("div", { "aria-live": "polite" });
  const target = h("input", {
    id: "target",
    type: "text",
    inputmode: "decimal",
    value: "0.97",
    size: 5,
    "aria-describedby": "target-hint",
  });
  const metricSelect = h(
    "select",
    { id: "band-metric" },
    Object.entries(METRICS).map(([k, v]) => h("option", { value: k }, v)),
  );
  const logToggle = h("input", { type: "checkbox", id: "band-log" });
  const memberToggle = h("button", { type: "button", class: "secondary", "aria-expanded": "false" }, "Show member curves");
  const cancel = h("button", { type: "button", class: "danger" }, "Cancel sweep");
  const dl = (path, file, label) =>
    h(
      "button",
      {
        type: "button",
        class: "secondary small",
        onclick: () => download(path, file).catch((e) => actionMessage.replaceChildren(notice(e.message))),
      },
      label,
    );
  const compareBox = h("div", {});
  const membersBox = h("div", {});
  const bandHolder = h("div", { class: "charts-wide" });
  const bandLegend = h("div", {});
  const memberHolder = h("div", { class: "charts-wide" });

  root.replaceChildren(
    h("p", { class: "crumbs" }, h("a", { href: "/ui/sweeps" }, "Sweeps")),
    h(
      "div",
      { class: "page-head" },
      h("div", {}, title, h("p", { class: "muted mono" }, id)),
      h("div", { class: "head-status" }, badge, live),
    ),
    progress,
    h(
      "div",
      { class: "toolbar", role: "group", "aria-label": "Downloads and actions" },
      cancel,
      h("span", { class: "muted" }, "Download:"),
      dl(`/sweeps/${id}/comparison?format=csv`, `${id}-comparison.csv`, "comparison CSV"),
      dl(`/sweeps/${id}/metrics?format=csv`, `${id}-metrics.csv`, "metrics CSV"),
      ["lr", "loss", "accuracy"].flatMap((p) => [
        dl(`/sweeps/${id}/plots/${p}.png`, `${id}-${p}.png`, `${p}.png`),
        dl(`/sweeps/${id}/plots/${p}.svg`, `${id}-${p}.svg`, `${p}.svg`),
      ]),
    ),
    actionMessage,
    h(
      "section",
      { class: "card", "aria-labelledby": "cmp-title" },
      h(
        "div",
        { class: "section-head" },
        h("h2", { id: "cmp-title" }, "Comparison"),
        h(
          "div",
          { class: "field inline" },
          h("label", { for: "target" }, "Target val accuracy"),
          target,
          h("span", { class: "hint", id: "target-hint" }, "in (0, 1]; sets “epochs to target”"),
        ),
      ),
      compareBox,
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "bands-title" },
      h(
        "div",
        { class: "section-head" },
        h("h2", { id: "bands-title" }, "Curves per configuration"),
        h(
          "div",
          { class: "toolbar" },
          h("div", { class: "field inline" }, h("label", { for: "band-metric" }, "Metric"), metricSelect),
          h("label", { class: "check", for: "band-log" }, logToggle, " log scale"),
          memberToggle,
        ),
      ),
      h(
        "p",
        { class: "hint" },
        "Line: mean over seeds; band: ± one sample standard deviation (the members that reached the epoch; failed and cancelled ones left out).",
      ),
      bandHolder,
      bandLegend,
      memberHolder,
    ),
    h("section", { class: "card", "aria-labelledby": "members-title" }, h("h2", { id: "members-title" }, "Members"), membersBox),
  );

  const curves = new Curves({ bandHolder, bandLegend, memberHolder });
  const labels = () => (comparison ? comparison.rows.map((r) => r.label) : [...new Set(rows.map((r) => r.label))]);

  /** Counts and epochs over the members as the page knows them (events included). */
  function memberProgress() {
    const counts = {};
    let epochsDone = 0;
    let finished = 0;
    for (const eid of sweep.experiments) {
      const m = members.get(eid);
      const status = m?.status ?? "queued";
      counts[status] = (counts[status] ?? 0) + 1;
      epochsDone += m?.epochs_done ?? 0;
      if (TERMINAL.has(status)) finished += 1;
    }
    return { counts, epochsDone, finished, total: sweep.experiments.length };
  }

  function drawHeader() {
    document.title = `${sweep.name || `Sweep ${id.slice(0, 8)}`} · lrlab`;
    title.textContent = sweep.name || `Sweep ${id.slice(0, 8)}`;
    badge.replaceChildren(statusBadge(sweep.status));
    const p = memberProgress();
    const epochs = Math.max(sweep.progress.epochs, p.epochsDone);
    progress.replaceChildren(
      progressBar(p.epochsDone, epochs, "epochs done over all members"),
      h(
        "span",
        { class: "muted" },
        ` · members: ${p.finished}/${p.total} finished (${Object.entries(p.counts)
          .map(([s, n]) => `${n} ${s}`)
          .join(", ")}) · created ${when(sweep.created_at)}`,
      ),
    );
    cancel.hidden = p.finished === p.total;
  }

  function drawComparison() {
    if (!comparison) return;
    renderComparison(compareBox, {
      comparison,
      sort,
      labels: labels(),
      onSort: (next) => {
        sort = next;
        drawComparison();
      },
    });
  }

  function drawBands() {
    const pruning = sweep.spec.pruning ? { metric: sweep.spec.pruning.metric ?? "val_accuracy", log: pruningLog } : null;
    curves.draw({ rows, metric: metricSelect.value, log: logToggle.checked, labels: labels(), waiting: waitingText(), pruning });
  }

  function drawMembers() {
    renderMembers(membersBox, { experiments: sweep.experiments, members, rows, pruned: prunedBy });
  }

  /** What the empty curves wait for: queued members, or a first epoch. */
  function waitingText() {
    const p = memberProgress();
    if (p.counts.queued === p.total) return `Queued: ${p.total} members wait for a worker; the curves appear as their first epochs finish.`;
    if (p.finished < p.total) return "Running: the curves appear when a member finishes its first epoch.";
    return "No member recorded an epoch.";
  }

  /** Rows as the charts want them: each member's label, seed and latest status. */
  function currentRows() {
    return [...epochRows.values()].map((r) => {
      const m = members.get(r.experiment);
      return m ? { ...r, label: m.label ?? r.label, seed: m.seed ?? r.seed, status: m.status } : r;
    });
  }

  function addRow(row) {
    epochRows.set(`${row.experiment}:${row.epoch}`, row);
    const m = members.get(row.experiment);
    if (m && row.epoch > m.epochs_done) m.epochs_done = row.epoch;
  }

  /** Every member's label, seed and status: one request per 500 members. */
  async function loadMembers() {
    let after = null;
    do {
      const q = new URLSearchParams({ sweep_id: id, limit: String(MEMBER_PAGE) });
      if (after) q.set("after", after);
      const page = await api(`/experiments?${q}`, { signal });
      for (const e of page.items) {
        const old = members.get(e.id);
        members.set(e.id, {
          label: e.label,
          seed: e.spec.training?.seed,
          status: e.status,
          epochs_done: Math.max(e.progress.epochs_done, old?.epochs_done ?? 0),
        });
      }
      after = page.items.length ? page.next : null;
    } while (after);
  }

  async function readComparison() {
    const t = Number(target.value);
    if (Number.isFinite(t) && t > 0 && t <= 1) comparison = await api(`/sweeps/${id}/comparison?target=${t}`, { signal });
  }

  /** The pruning log, read again only when the members' counts have changed. */
  async function readPruning() {
    const counts = JSON.stringify(sweep.counts);
    if (!sweep.spec.pruning || counts === pruningRead) return;
    pruningLog = await api(`/sweeps/${id}/pruning`, { signal });
    pruningRead = counts;
    for (const d of pruningLog) if (d.decision === "prune") prunedBy.set(d.experiment, d);
  }

  function drawLive() {
    rows = currentRows();
    drawHeader();
    drawBands();
    drawMembers();
  }

  /** Everything from the API: the first load, the polling fallback, after a cancel. */
  async function refresh() {
    const [s, metricRows] = await Promise.all([
      api(`/sweeps/${id}`, { signal }),
      api(`/sweeps/${id}/metrics?format=json`, { signal }),
      readComparison(),
    ]);
    sweep = s;
    await Promise.all([loadMembers(), readPruning()]);
    for (const r of metricRows) addRow(r);
    drawComparison();
    drawLive();
  }

  /** The sweep's status and the comparison, which change as members end. */
  async function refreshSummary() {
    const [s] = await Promise.all([api(`/sweeps/${id}`, { signal }), readComparison()]);
    sweep = s;
    const before = pruningRead;
    await readPruning();
    drawComparison();
    drawHeader();
    if (pruningRead !== before) {
      drawBands();
      drawMembers();
    }
  }

  target.addEventListener(
    "input",
    debounce(() => {
      const t = Number(target.value);
      target.toggleAttribute("aria-invalid", !(t > 0 && t <= 1));
      if (t > 0 && t <= 1)
        readComparison()
          .then(drawComparison)
          .catch((e) => actionMessage.replaceChildren(notice(e.message)));
    }, 400),
  );
  metricSelect.addEventListener("change", drawBands);
  logToggle.addEventListener("change", drawBands);
  memberToggle.addEventListener("click", () => {
    const shown = curves.toggleMembers();
    memberToggle.textContent = shown ? "Hide member curves" : "Show member curves";
    memberToggle.setAttribute("aria-expanded", String(shown));
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
  const isDone = () => sweep.experiments.every((eid) => TERMINAL.has(members.get(eid)?.status));
  // The sweep and its metrics are read before its members: members that ended in between
  // leave them behind, and no event will come to bring them up to date. Read them again.
  if (isDone() && !SWEEP_ENDED.has(sweep.status)) await refresh();
  const redraw = throttle(drawLive, REDRAW_MS);
  const summaryLater = throttle(() => refreshSummary().catch(() => {}), SUMMARY_MS);
  if (isDone()) live.textContent = MODES.done;
  else {
    follow({
      path: `/sweeps/${id}/events`,
      signal,
      isDone,
      onMode: (mode) => {
        live.textContent = MODES[mode] || "";
        if (mode === "done") {
          redraw.cancel();
          drawLive();
          refreshSummary().catch(() => {});
        }
      },
      onEvent: (event) => {
        // Appended to what is drawn; the redraw is throttled, never starved by a busy stream.
        const data = JSON.parse(event.data);
        const { experiment_id: experiment, ...rest } = data;
        if (event.type === "epoch") {
          addRow({ ...rest, experiment });
        } else if (event.type === "status") {
          const m = members.get(experiment) ?? { epochs_done: 0 };
          members.set(experiment, { ...m, status: data.status, epochs_done: Math.max(m.epochs_done, data.epochs_done ?? 0) });
          summaryLater();
        }
        redraw();
      },
      poll: refresh,
    });
  }

  return () => {
    redraw.cancel();
    summaryLater.cancel();
    curves.destroy();
  };
}
