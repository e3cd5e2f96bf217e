// A sweep's comparison table: /comparison's numbers (mean, sd, 95% interval, n), sortable, and
// each configuration's verdict against the baseline (docs/sweeps.md).

import { colour } from "../../charts.js";
import { h, notice, num, schedulerSummary } from "../../dom.js";

export const STATS = [
  ["final_val_accuracy", "Final val acc", 4],
  ["best_val_accuracy", "Best val acc", 4],
  ["final_val_loss", "Final val loss", 4],
  ["epochs_to_target", "Epochs to target", 1],
  ["auc_val_accuracy", "Mean val acc (AUC)", 4],
];

// The statistic the verdict compares (models/sweeps/paired_comparison.py): its columns follow it.
const PAIRED_STAT = "final_val_accuracy";

function stat(s, digits) {
  if (!s || s.mean === null) return h("span", { class: "muted" }, "–");
  const extra = [
    s.std !== null ? `± ${num(s.std, digits)} sd` : null,
    s.ci95 ? `95% CI ${num(s.ci95[0], digits)}–${num(s.ci95[1], digits)}` : null,
    `n=${s.n}`,
  ]
    .filter(Boolean)
    .join(" · ");
  return [h("span", { class: "mean" }, num(s.mean, digits)), h("span", { class: "sub" }, extra)];
}

function sortValue(row, key) {
  if (key === "rank" || key === "runs") return row[key];
  if (key === "label") return row.label;
  return row[key]?.mean ?? null;
}

/** A p value to 3 significant digits: 0.000123, never 0.0000. */
function pValue(p) {
  return p === null || p === undefined ? "–" : String(Number(p.toPrecision(3)));
}

/** The verdict against the baseline (its pairs, difference and p values on hover) and its Holm-adjusted p. */
function pairedCells(r, baseline) {
  const p = r.paired;
  if (!p)
    return [
      h("td", { "data-stat": "verdict" }, r.label === baseline ? "baseline" : "–"),
      h("td", { class: "num", "data-stat": "p_adjusted" }, "–"),
    ];
  const verdict = p.method === "welch" ? `${p.verdict} (unpaired, Welch)` : p.verdict;
  const detail = [
    p.method === "welch" ? "no seed in common: Welch's t on the two groups" : `${p.pairs} pair(s) by seed`,
    `mean difference ${num(p.mean_difference)}`,
    `p (t) ${pValue(p.p_t)}`,
    `p (sign flip) ${pValue(p.p_sign_flip)}`,
    p.excluded_pruned || p.excluded_failed ? `left out: ${p.excluded_pruned} pruned, ${p.excluded_failed} failed` : null,
  ]
    .filter(Boolean)
    .join("; ");
  return [
    h("td", { "data-stat": "verdict", "data-verdict": p.verdict, title: detail }, verdict),
    h("td", { class: "num", "data-stat": "p_adjusted" }, pValue(p.p_t_holm)),
  ];
}

/** The table of `comparison`, sorted by `sort` ({key, dir}); a header click calls onSort(next). */
export function drawComparison(box, { comparison, sort, labels, onSort }) {
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
      h(
        "button",
        {
          type: "button",
          class: "sort",
          onclick: () => onSort({ key, dir: sort.key === key ? -sort.dir : 1 }),
        },
        text,
        h("span", { "aria-hidden": "true", class: "arrow" }, sort.key === key ? (sort.dir > 0 ? " ▲" : " ▼") : " ↕"),
      ),
    );
  const labelList = labels;
  box.replaceChildren(
    comparison.rows.length
      ? h(
          "div",
          { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Comparison table" },
          h(
            "table",
            { class: "data", id: "comparison" },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                header("rank", "#"),
                header("label", "Configuration"),
                header("runs", "Runs"),
                STATS.flatMap(([k, t]) =>
                  k === PAIRED_STAT
                    ? [
                        header(k, t),
                        h("th", { scope: "col" }, `vs ${comparison.baseline ?? "baseline"}`),
                        h("th", { scope: "col" }, "Adj. p"),
                      ]
                    : [header(k, t)],
                ),
              ),
            ),
            h(
              "tbody",
              {},
              sorted.map((r) =>
                h(
                  "tr",
                  { "data-label": r.label },
                  h("td", { class: "num" }, String(r.rank)),
                  h(
                    "td",
                    {},
                    h("span", { class: "swatch", style: `background:${colour(labelList.indexOf(r.label))}` }),
                    h("strong", {}, r.label),
                    h("span", { class: "sub" }, schedulerSummary(r.scheduler)),
                  ),
                  h(
                    "td",
                    { class: "num" },
                    String(r.runs),
                    r.failed || r.cancelled || r.pruned || r.pending
                      ? h(
                          "span",
                          { class: "sub" },
                          [
                            r.failed && `${r.failed} failed`,
                            r.cancelled && `${r.cancelled} cancelled`,
                            r.pruned && `${r.pruned} pruned`,
                            r.pending && `${r.pending} pending`,
                          ]
                            .filter(Boolean)
                            .join(", "),
                        )
                      : null,
                  ),
                  STATS.flatMap(([k, , digits]) => [
                    h("td", { class: "num stat", "data-stat": k }, stat(r[k], digits)),
                    ...(k === PAIRED_STAT ? pairedCells(r, comparison.baseline) : []),
                  ]),
                ),
              ),
            ),
          ),
        )
      : notice("No configuration has finished yet.", "info"),
  );
}
