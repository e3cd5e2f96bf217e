// Line charts on uPlot (MIT, pinned in ui/package-lock.json, served from /ui/vendor/uplot/).

import uPlot from "/ui/vendor/uplot/uPlot.esm.js";
import { h, short } from "./dom.js";

// Okabe–Ito: distinguishable with the common colour-vision deficiencies.
export const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#5f5f5f", "#F0E442"];

export function colour(i) {
  return PALETTE[i % PALETTE.length];
}

function withAlpha(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

const AXIS = { stroke: "#44505c", grid: { stroke: "#e6e9ee", width: 1 }, ticks: { stroke: "#d0d5dc" } };

/**
 * Tick labels with as many significant digits as their spacing needs, and no more: the fewest
 * decimals (or, below 1e-3 and from 1e6, exponent digits) at which every label is distinct and
 * within a thousandth of the spacing of its value. 0.0025-spaced ticks read 0.0025, 0.0050, …
 */
export function tickLabels(values, incr) {
  const finite = [...new Set(values.filter((v) => v !== null && v !== undefined && Number.isFinite(v)))].sort((a, b) => a - b);
  if (!finite.length) return values.map(() => "");
  const big = Math.max(...finite.map(Math.abs));
  const gaps = finite.slice(1).map((v, i) => v - finite[i]);
  const step = incr > 0 ? incr : gaps.length ? Math.min(...gaps) : big || 1;
  const sci = big !== 0 && (big < 1e-3 || big >= 1e6);
  const format = (v, digits) => (v === 0 ? "0" : sci ? v.toExponential(digits).replace("e+", "e") : v.toFixed(digits));
  for (let digits = 0; digits <= 15; digits++) {
    const labels = finite.map((v) => format(v, digits));
    const distinct = new Set(labels).size === labels.length;
    if (distinct && finite.every((v, i) => Math.abs(Number(labels[i]) - v) <= step / 1000)) {
      return values.map((v) => (v === null || v === undefined || !Number.isFinite(v) ? "" : format(v, digits)));
    }
  }
  return values.map((v) => (v === null || v === undefined ? "" : String(v)));
}

/** Log-scale ticks: the decades in [min, max] (thinned to about `most`); 1-2-5 within one decade. */
export function logTicks(min, max, most = 8) {
  if (!(min > 0) || !(max >= min)) return [];
  const lo = Math.ceil(Math.log10(min) - 1e-9);
  const hi = Math.floor(Math.log10(max) + 1e-9);
  const inRange = (v) => v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9);
  if (hi - lo >= 1) {
    const every = Math.ceil((hi - lo + 1) / most);
    const out = [];
    for (let k = lo; k <= hi; k++) if ((k - lo) % every === 0) out.push(Number(`1e${k}`));
    return out;
  }
  // Less than two decades drawn: 1, 2 and 5 times the powers of ten around them.
  const out = [];
  for (let k = Math.floor(Math.log10(min)); k <= Math.ceil(Math.log10(max)); k++) {
    for (const m of [1, 2, 5]) if (inRange(Number(`${m}e${k}`))) out.push(Number(`${m}e${k}`));
  }
  return out.length >= 2 ? out : [min, max];
}

/**
 * A titled chart that keeps its data and can be redrawn (log scale on/off, resize).
 * series: [{label, colour, dash?, width?, points?, pointSize?, pointColour?}], data: [x, ...ys].
 */
export class Chart {
  constructor(
    parent,
    { title, xLabel = "epoch", yLabel, series, log = false, bands = [], legend = true, height = 240, empty = "No points yet." },
  ) {
    this.opts = { title, xLabel, yLabel, series, log, bands, legend, height };
    this.data = [[], ...series.map(() => [])];
    this.figure = h("figure", { class: "chart", "data-chart": title });
    this.figure._chart = this;
    this.caption = h("figcaption", { class: "chart-title" }, title);
    this.canvas = h("div", { class: "chart-canvas" });
    // Said over an empty chart: what it waits for (a queued run, a first epoch).
    this.emptyText = h("p", { class: "chart-empty muted" }, empty);
    this.figure.append(this.caption, this.canvas, this.emptyText);
    parent.append(this.figure);
    this.plot = null;
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(this.canvas);
    this.draw();
  }

  size() {
    const width = Math.max(240, this.canvas.clientWidth || this.figure.clientWidth || 600);
    return { width, height: width < 500 ? Math.round(this.opts.height * 0.8) : this.opts.height };
  }

  draw() {
    this.plot?.destroy();
    const { xLabel, yLabel, series, log, bands, legend } = this.opts;
    const options = {
      ...this.size(),
      // A log axis spans whole decades, so its ticks (at decades) always bracket the data.
      scales: {
        x: { time: false },
        y: log
          ? { distr: 3, range: (u, min, max) => (min > 0 && max > 0 ? uPlot.rangeLog(min, max, 10, true) : [1e-4, 1e-2]) }
          : { auto: true },
      },
      axes: [
        // Epochs are whole numbers: ticks on them, never at 1.1, 1.2, …
        {
          ...AXIS,
          label: xLabel,
          labelSize: 20,
          incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
          values: (u, splits, i, space, incr) => tickLabels(splits, incr),
        },
        log
          ? {
              ...AXIS,
              label: yLabel,
              labelSize: 20,
              size: 64,
              splits: (u, i, min, max) => logTicks(min, max),
              values: (u, splits) => splits.map((v) => (v === null ? "" : short(v))),
            }
          : { ...AXIS, label: yLabel, labelSize: 20, size: 64, values: (u, splits, i, space, incr) => tickLabels(splits, incr) },
      ],
      legend: { show: legend, live: true },
      cursor: { drag: { x: true, y: false } },
      series: [
        { label: xLabel, value: (_, v) => (v === null || v === undefined ? "–" : +v.toFixed(3)) },
        ...series.map((s) => ({
          label: s.label,
          stroke: s.colour,
          width: s.width ?? 2,
          dash: s.dash,
          spanGaps: true,
          // An lr that changes per epoch holds for the whole epoch: a staircase, as in the PNGs.
          paths: s.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined,
          points: {
            show: s.points ?? "auto",
            size: s.pointSize ?? 5,
            ...(s.pointColour ? { stroke: s.pointColour, fill: s.pointColour } : {}),
          },
          value: (_, v) => (v === null || v === undefined ? "–" : Number(v).toPrecision(4)),
        })),
      ],
      bands: bands.map((b) => ({ series: b.series, fill: withAlpha(b.colour, 0.16) })),
    };
    this.plot = new uPlot(options, this.drawable(this.data), this.canvas);
    this.showCount();
  }

  /** What uPlot draws: on a log axis, values <= 0 (an lr annealed to 0) have no place. */
  drawable(data) {
    if (!this.opts.log) return data;
    return [data[0], ...data.slice(1).map((ys) => ys.map((v) => (v > 0 ? v : null)))];
  }

  showCount() {
    this.figure.dataset.points = String(this.data[0].length);
    this.emptyText.hidden = this.data[0].length > 0;
  }

  /** Say what an empty chart waits for. */
  setEmpty(text) {
    this.emptyText.textContent = text;
  }

  setData(data) {
    this.data = data;
    this.showCount();
    this.plot.setData(this.drawable(data));
  }

  setLog(log) {
    this.opts.log = log;
    this.draw();
  }

  resize() {
    if (this.plot) this.plot.setSize(this.size());
  }

  destroy() {
    this.observer.disconnect();
    this.plot?.destroy();
    this.figure.remove();
  }
}

/** A legend of swatches, for charts whose uPlot legend would list every band edge. */
export function swatchLegend(items) {
  return h(
    "ul",
    { class: "swatches" },
    items.map(({ label, colour: c }) => h("li", {}, h("span", { class: "swatch", style: `background:${c}` }), label)),
  );
}

/** Rows keyed by x (epochs) → uPlot's aligned columns: [xs, ...one column per key]. */
export function align(seriesByKey, keys) {
  const xs = [...new Set(keys.flatMap((k) => [...(seriesByKey.get(k)?.keys() ?? [])]))].sort((a, b) => a - b);
  return [xs, ...keys.map((k) => xs.map((x) => seriesByKey.get(k)?.get(x) ?? null))];
}
