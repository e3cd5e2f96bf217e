// One experiment: spec, provenance, live charts (stream, else polling), per-step lr, cancel, CSV.

import { api, download } from "../api.js";
import { Chart, colour } from "../charts.js";
import { defs, duration, h, notice, num, progressBar, schedulerSummary, statusBadge, TERMINAL, when } from "../dom.js";
import { follow } from "../sse.js";

const MODES = {
  stream: "live: event stream",
  polling: "live: polling every 2 s",
  reconnecting: "connection lost, retrying…",
  done: "finished",
};

export async function render(root, { id, signal }) {
  let experiment = await api(`/experiments/${id}`, { signal });
  const rows = new Map(); // epoch → metrics row; events and polls merge by epoch
  for (const m of (await api(`/experiments/${id}/metrics`, { signal })).items) rows.set(m.epoch, m);

  const title = h("h1", {});
  const badge = h("span", {});
  const live = h("span", { class: "live muted", role: "status" });
  const progress = h("div", { class: "progress-line" });
  const summary = h("div", {});
  const provenance = h("div", {});
  const errorBox = h("div", {});
  const actionMessage = h("div", { "aria-live": "polite" });
  const cancel = h("button", { type: "button", class: "danger", onclick: onCancel }, "Cancel run");
  const csv = h(
    "button",
    {
      type: "button",
      class: "secondary",
      onclick: () => download(`/experiments/${id}/metrics?format=csv`, `${id}-metrics.csv`).catch(showActionError),
    },
    "Download CSV",
  );
  const stepButton = h(
    "button",
    { type: "button", class: "secondary", "aria-expanded": "false", onclick: toggleSteps },
    "Show per-step lr",
  );
  const logToggle = h("input", { type: "checkbox", id: "lr-log" });

  const charts = h("div", { class: "charts" });
  const stepsHolder = h("div", { class: "charts-wide" });
  root.replaceChildren(
    h("p", { class: "crumbs" }, h("a", { href: "/ui/experiments" }, "Experiments")),
    h(
      "div",
      { class: "page-head" },
      h("div", {}, title, h("p", { class: "muted mono" }, id)),
      h("div", { class: "head-status" }, badge, live),
    ),
    progress,
    h(
      "div",
      { class: "toolbar", role: "group", "aria-label": "Actions" },
      cancel,
      csv,
      stepButton,
      h("label", { class: "check", for: "lr-log" }, logToggle, " lr on a log scale"),
    ),
    actionMessage,
    errorBox,
    charts,
    stepsHolder,
    h(
      "div",
      { class: "two-col" },
      h("section", { class: "card", "aria-labelledby": "spec-title" }, h("h2", { id: "spec-title" }, "Spec"), summary),
      h("section", { class: "card", "aria-labelledby": "prov-title" }, h("h2", { id: "prov-title" }, "Provenance and result"), provenance),
    ),
  );

  const lrChart = new Chart(charts, { title: "Learning rate", yLabel: "lr", series: [{ label: "lr", colour: colour(0), stepped: true }] });
  const lossChart = new Chart(charts, {
    title: "Loss",
    yLabel: "loss",
    series: [
      { label: "train", colour: colour(0) },
      { label: "validation", colour: colour(1) },
    ],
  });
  const accChart = new Chart(charts, {
    title: "Accuracy",
    yLabel: "accuracy",
    series: [
      { label: "train", colour: colour(0) },
      { label: "validation", colour: colour(1) },
    ],
  });
  logToggle.addEventListener("change", () => lrChart.setLog(logToggle.checked));
  let stepChart = null;

  function showActionError(exc) {
    actionMessage.replaceChildren(notice(exc.message));
  }

  function drawCharts() {
    const sorted = [...rows.values()].sort((a, b) => a.epoch - b.epoch);
    const xs = sorted.map((m) => m.epoch);
    lrChart.setData([xs, sorted.map((m) => m.lr)]);
    lossChart.setData([xs, sorted.map((m) => m.loss), sorted.map((m) => m.val_loss)]);
    accChart.setData([xs, sorted.map((m) => m.accuracy), sorted.map((m) => m.val_accuracy)]);
  }

  /** What an empty chart waits for, in this run's state. */
  function waitingText(e, done) {
    if (done > 0) return "";
    if (e.status === "queued") return "Queued: the curves appear when a worker starts the run and finishes its first epoch.";
    if (e.status === "running") return "Running: the curves appear when the first epoch finishes.";
    return `No epoch was recorded (${e.status}).`;
  }

  function drawHeader() {
    const e = experiment;
    document.title = `${e.name || e.id.slice(0, 8)} · lrlab`;
    title.textContent = e.name || `Experiment ${e.id.slice(0, 8)}`;
    badge.replaceChildren(statusBadge(e.status));
    const done = Math.max(e.progress.epochs_done, rows.size);
    progress.replaceChildren(progressBar(done, e.progress.epochs, "epochs done"));
    const waiting = waitingText(e, done);
    for (const chart of [lrChart, lossChart, accChart]) chart.setEmpty(waiting);
    cancel.hidden = TERMINAL.has(e.status);
    const s = e.spec;
    summary.replaceChildren(
      defs([
        ["Scheduler", schedulerSummary(s.scheduler)],
        ["Epochs", String(s.training.epochs)],
        ["Batch size", String(s.training.batch_size)],
        ["Learning rate", String(s.training.learning_rate)],
        ["Optimizer", s.training.optimizer + (s.training.optimizer === "sgd" ? ` (momentum ${s.training.momentum})` : "")],
        ["Seed", String(s.training.seed)],
        ["Dataset", `${s.dataset.name}, ${s.dataset.train_samples} training samples requested`],
      ]),
    );
    const r = e.result;
    const data = e.dataset || {};
    provenance.replaceChildren(
      defs([
        ["Final val accuracy", num(r?.final_val_accuracy)],
        ["Best val accuracy", r?.best_val_accuracy != null ? `${num(r.best_val_accuracy)} (epoch ${r.best_epoch})` : "–"],
        ["Training time", duration(r?.train_seconds)],
        ["Attempt", String(e.attempt)],
        ["Created", when(e.created_at)],
        ["Started", when(e.started_at)],
        ["Finished", when(e.finished_at)],
        ["Device", e.device || "–"],
        [
          "Libraries",
          e.versions
            ? Object.entries(e.versions)
                .map(([k, v]) => `${k} ${v}`)
                .join(", ")
            : "–",
        ],
        // Whatever the worker recorded about the data (source, counts, sha256, …), as given.
        ...Object.entries(data)
          .filter(([k]) => k !== "runtime")
          .map(([k, v]) => [
            `Data ${k.replaceAll("_", " ")}`,
            h("span", { class: k === "sha256" ? "mono wrap" : "" }, typeof v === "object" ? JSON.stringify(v) : String(v)),
          ]),
      ]),
    );
    errorBox.replaceChildren(e.error ? notice(`The run failed: ${e.error}`) : "");
  }

  async function onCancel() {
    if (!confirm("Cancel this run? Epochs already trained are kept.")) return;
    cancel.disabled = true;
    try {
      experiment = await api(`/experiments/${id}/cancel`, { method: "POST", signal });
      drawHeader();
      actionMessage.replaceChildren(notice("Cancelled.", "info"));
    } catch (exc) {
      showActionError(exc);
    } finally {
      cancel.disabled = false;
    }
  }

  async function toggleSteps() {
    if (stepChart) {
      stepChart.destroy();
      stepChart = null;
      stepButton.textContent = "Show per-step lr";
      stepButton.setAttribute("aria-expanded", "false");
      return;
    }
    try {
      // The API pages the step lrs by epoch (`next_epoch_from`); read every page.
      const xs = [];
      const ys = [];
      let from = 1;
      while (from !== null && from !== undefined) {
        const page = await api(`/experiments/${id}/lr?epoch_from=${from}`, { signal });
        for (const { epoch, lrs } of page.items) {
          lrs.forEach((value, i) => {
            xs.push(epoch + i / lrs.length);
            ys.push(value);
          });
        }
        from = page.next_epoch_from;
      }
      stepChart = new Chart(stepsHolder, {
        title: `Learning rate of every optimizer step (${ys.length} steps)`,
        yLabel: "lr",
        series: [{ label: "lr", colour: colour(2), points: false }],
        log: logToggle.checked,
      });
      stepChart.setData([xs, ys]);
      stepButton.textContent = "Hide per-step lr";
      stepButton.setAttribute("aria-expanded", "true");
    } catch (exc) {
      showActionError(exc);
    }
  }

  drawHeader();
  drawCharts();

  const isDone = () => TERMINAL.has(experiment.status);
  const setMode = (mode) => (live.textContent = MODES[mode] || "");
  if (isDone()) setMode("done");
  else {
    follow({
      path: `/experiments/${id}/events`,
      signal,
      isDone,
      onMode: async (mode) => {
        setMode(mode);
        // The stream's `end` carries no result: the result comes with the experiment.
        if (mode === "done") {
          experiment = await api(`/experiments/${id}`, { signal });
          drawHeader();
        }
      },
      onEvent: (event) => {
        const data = JSON.parse(event.data);
        if (event.type === "epoch") {
          rows.set(data.epoch, data);
          drawCharts();
          drawHeader();
        } else if (event.type === "status") {
          experiment = { ...experiment, status: data.status };
          drawHeader();
        }
      },
      poll: async () => {
        const [e, metrics] = await Promise.all([api(`/experiments/${id}`, { signal }), api(`/experiments/${id}/metrics`, { signal })]);
        experiment = e;
        for (const m of metrics.items) rows.set(m.epoch, m);
        drawCharts();
        drawHeader();
      },
    });
  }

  return () => {
    for (const c of [lrChart, lossChart, accChart, stepChart]) c?.destroy();
  };
}
