// Line charts on uPlot (MIT, pinned in ui/package-lock.json, served from /ui/vendor/uplot/).

import uPlot from "/ui/vendor/uplot/uPlot.esm.js";
import { h } from "./dom.js";

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
 * A titled chart that keeps its data and can be redrawn (log scale on/off, resize).
 * series: [{label, colour, dash?, width?, band?: {of: [hiIndex, loIndex]}}], data: [x, ...ys].
 */
export class Chart {
  constructor(parent, { title, xLabel = "epoch", yLabel, series, log = false, bands = [], legend = true, height = 240 }) {
    this.opts = { title, xLabel, yLabel, series, log, bands, legend, height };
    this.data = [[], ...series.map(() => [])];
    this.figure = h("figure", { class: "chart", "data-chart": title });
    this.figure._chart = this;
    this.caption = h("figcaption", { class: "chart-title" }, title);
    this.canvas = h("div", { class: "chart-canvas" });
    this.figure.append(this.caption, this.canvas);
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
      scales: { x: { time: false }, y: log ? { distr: 3 } : { auto: true } },
      axes: [
        // Epochs are whole numbers: ticks on them, never at 1.1, 1.2, …
        { ...AXIS, label: xLabel, labelSize: 20, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] },
        { ...AXIS, label: yLabel, labelSize: 20, size: 64 },
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
          points: { show: s.points ?? "auto", size: 5 },
          value: (_, v) => (v === null || v === undefined ? "–" : Number(v).toPrecision(4)),
        })),
      ],
      bands: bands.map((b) => ({ series: b.series, fill: withAlpha(b.colour, 0.16) })),
    };
    this.plot = new uPlot(options, this.data, this.canvas);
    this.figure.dataset.points = String(this.data[0].length);
  }

  setData(data) {
    this.data = data;
    this.figure.dataset.points = String(data[0].length);
    this.plot.setData(data);
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
