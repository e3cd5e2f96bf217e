// A sweep's members table.

import { h, num, statusBadge } from "../../dom.js";

/** The decision that pruned a member, on its badge's hover. */
function prunedTitle(badge, decision) {
  if (decision) {
    badge.title = `pruned at rung ${decision.rung} (epoch ${decision.epoch}): ${decision.metric} ${num(decision.value)} vs cutoff ${num(decision.cutoff)} of ${decision.compared} earlier`;
  }
  return badge;
}

/**
 * One row per member: configuration, seed, status, epochs, last val accuracy; `pruned` maps a
 * pruned member to its decision in the pruning log.
 */
export function drawMembers(box, { experiments, members, rows, pruned = new Map() }) {
  const last = new Map();
  for (const r of rows) last.set(r.experiment, r);
  box.replaceChildren(
    h(
      "div",
      { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Members" },
      h(
        "table",
        { class: "data", id: "members" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Member", "Configuration", "Seed", "Status", "Epochs", "Last val acc"].map((t) => h("th", { scope: "col" }, t)),
          ),
        ),
        h(
          "tbody",
          {},
          experiments.map((eid) => {
            const r = last.get(eid);
            const m = members.get(eid);
            return h(
              "tr",
              { "data-id": eid },
              h("td", {}, h("a", { href: `/ui/experiments/${eid}`, class: "mono" }, eid.slice(0, 8))),
              h("td", {}, m?.label ?? r?.label ?? "–"),
              h("td", { class: "num" }, String(m?.seed ?? r?.seed ?? "–")),
              h("td", {}, prunedTitle(statusBadge(m?.status ?? "queued"), pruned.get(eid))),
              h("td", { class: "num" }, String(m?.epochs_done ?? 0)),
              h("td", { class: "num" }, num(r?.val_accuracy)),
            );
          }),
        ),
      ),
    ),
  );
}
