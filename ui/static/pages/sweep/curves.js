// A sweep's curves: mean ± one sd bands per configuration (with the pruning rungs' cutoffs on
// the pruning metric's chart), every member's curve on demand.

import { Chart, colour, swatchLegend } from "../../charts.js";

export const METRICS = {
  val_accuracy: "val accuracy",
  val_loss: "val loss",
  accuracy: "train accuracy",
  loss: "train loss",
  lr: "learning rate",
};

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

// The rung cutoffs' dots: dark, and larger than the curves' points.
export const CUTOFF_COLOUR = "#1f2933";

/** Per rung of the pruning log: its epoch and the cutoff of its latest decision that had one. */
export function rungCutoffs(log) {
  const byRung = new Map();
  for (const d of log) if (d.cutoff !== null) byRung.set(d.rung, { rung: d.rung, cutoff: d.cutoff, compared: d.compared });
  return [...byRung.values()].sort((a, b) => a.rung - b.rung);
}

/** The band chart and, when shown, the member chart, redrawn from the rows they are given. */
export class Curves {
  constructor({ bandHolder, bandLegend, memberHolder }) {
    Object.assign(this, { bandHolder, bandLegend, memberHolder, band: null, member: null, state: null });
  }

  /**
   * state: {rows, metric, log, labels (configurations in colour order), waiting (empty text),
   * pruning ({metric, log}: the sweep's pruning metric and decision log, or null)}.
   */
  draw(state) {
    this.state = state;
    const { rows, metric, log, labels, waiting, pruning } = state;
    const stats = bands(rows, metric);
    const keys = labels.filter((l) => stats.has(l));
    const cutoffs = pruning && pruning.metric === metric ? rungCutoffs(pruning.log) : [];
    const xs = [...new Set([...keys.flatMap((k) => [...stats.get(k).keys()]), ...cutoffs.map((c) => c.rung)])].sort((a, b) => a - b);
    const series = [];
    const data = [xs];
    const bandOpts = [];
    keys.forEach((label, i) => {
      const s = stats.get(label);
      const c = colour(labels.indexOf(label));
      const at = (x, f) => (s.has(x) ? f(s.get(x)) : null);
      series.push(
        { label, colour: c, stepped: metric === "lr" },
        { label: `${label} + sd`, colour: "transparent", width: 0, points: false },
        { label: `${label} − sd`, colour: "transparent", width: 0, points: false },
      );
      data.push(
        xs.map((x) => at(x, (v) => v.mean)),
        xs.map((x) => at(x, (v) => v.mean + v.std)),
        xs.map((x) => at(x, (v) => v.mean - v.std)),
      );
      bandOpts.push({ series: [3 * i + 2, 3 * i + 3], colour: c });
    });
    if (cutoffs.length) {
      // Dots only: each rung's cutoff at its epoch; a member below it (above, for a loss) stopped there.
      series.push({ label: "rung cutoff", colour: "transparent", width: 0, points: true, pointSize: 9, pointColour: CUTOFF_COLOUR });
      const at = new Map(cutoffs.map((c) => [c.rung, c.cutoff]));
      data.push(xs.map((x) => at.get(x) ?? null));
    }
    const key = `${metric}|${keys.join("|")}|${log}|${cutoffs.length > 0}`;
    if (!this.band || this.band.key !== key) {
      this.band?.destroy();
      this.band = new Chart(this.bandHolder, {
        title: `${METRICS[metric]}: mean ± sd per configuration`,
        yLabel: METRICS[metric],
        series,
        bands: bandOpts,
        legend: false,
        log: log,
        height: 300,
        empty: waiting,
      });
      this.band.key = key;
      this.band.figure.dataset.bands = String(keys.length);
      const items = keys.map((label) => ({ label, colour: colour(labels.indexOf(label)) }));
      if (cutoffs.length) items.push({ label: "pruning cutoff per rung (latest)", colour: CUTOFF_COLOUR });
      this.bandLegend.replaceChildren(swatchLegend(items));
    }
    this.band.figure.dataset.cutoffs = cutoffs.map((c) => `${c.rung}:${c.cutoff}`).join(" ");
    this.band.setEmpty(waiting);
    this.band.setData(data);
    if (this.member) this.drawMembers();
  }

  drawMembers() {
    const { rows, metric, log, labels } = this.state;
    const byMember = new Map();
    for (const r of rows) {
      if (!byMember.has(r.experiment)) byMember.set(r.experiment, { label: r.label, seed: r.seed, points: new Map() });
      byMember.get(r.experiment).points.set(r.epoch, r[metric]);
    }
    const entries = [...byMember.entries()];
    const xs = [...new Set(rows.map((r) => r.epoch))].sort((a, b) => a - b);
    const series = entries.map(([, m]) => ({
      label: `${m.label} · seed ${m.seed}`,
      colour: colour(labels.indexOf(m.label)),
      width: 1.5,
      dash: m.seed % 2 ? [6, 4] : undefined,
      stepped: metric === "lr",
    }));
    const key = `${metric}|${series.map((s) => s.label).join("|")}|${log}`;
    if (!this.member || this.member.key !== key) {
      this.member?.destroy();
      this.member = new Chart(this.memberHolder, {
        title: `${METRICS[metric]}: every member`,
        yLabel: METRICS[metric],
        series,
        log: log,
        height: 300,
      });
      this.member.key = key;
    }
    this.member.setData([xs, ...entries.map(([, m]) => xs.map((x) => m.points.get(x) ?? null))]);
  }

  /** Show or hide every member's curve; whether they are shown. */
  toggleMembers() {
    if (this.member) {
      this.member.destroy();
      this.member = null;
    } else if (this.state) this.drawMembers();
    return Boolean(this.member);
  }

  destroy() {
    this.band?.destroy();
    this.member?.destroy();
  }
}
