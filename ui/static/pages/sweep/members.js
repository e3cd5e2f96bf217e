// A sweep's members table.

import { h, num, statusBadge } from "../../dom.js";

/** One row per member: configuration, seed, status, epochs, last val accuracy. */
export function drawMembers(box, { experiments, members, rows }) {
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
              h("td", {}, statusBadge(m?.status ?? "queued")),
              h("td", { class: "num" }, String(m?.epochs_done ?? 0)),
              h("td", { class: "num" }, num(r?.val_accuracy)),
            );
          }),
        ),
      ),
    ),
  );
}
