// The sweeps list, newest first, refreshed every few seconds.

import { api } from "../api.js";
import { h, notice, progressBar, statusBadge, when } from "../dom.js";
import { sleep } from "../sse.js";

const PAGE = 20;

export async function render(root, { signal }) {
  document.title = "Sweeps · lrlab";
  const offset = Math.max(0, Number(new URLSearchParams(location.search).get("offset")) || 0);
  const tbody = h("tbody", {});
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const message = h("div", { "aria-live": "polite" });
  root.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, "Sweeps"), h("a", { class: "button primary", href: "/ui/sweeps/new" }, "New sweep")),
    message,
    h(
      "div",
      { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Sweeps" },
      h(
        "table",
        { class: "data", id: "sweeps" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Name", "Status", "Members", "Progress", "Created"].map((t) => h("th", { scope: "col" }, t)),
          ),
        ),
        tbody,
      ),
    ),
    pager,
  );
  let last = "";
  async function load() {
    const page = await api(`/sweeps?limit=${PAGE}&offset=${offset}`, { signal });
    const snapshot = JSON.stringify(page);
    if (snapshot === last) return;
    last = snapshot;
    tbody.replaceChildren(
      ...page.items.map((s) =>
        h(
          "tr",
          { "data-id": s.id },
          h("td", {}, h("a", { href: `/ui/sweeps/${s.id}` }, s.name || s.id.slice(0, 8))),
          h("td", {}, statusBadge(s.status)),
          h("td", { class: "num" }, String(s.progress.experiments)),
          h("td", {}, progressBar(s.progress.epochs_done, s.progress.epochs, `epochs of ${s.name || s.id}`)),
          h("td", { class: "nowrap" }, when(s.created_at)),
        ),
      ),
    );
    message.replaceChildren(page.items.length ? "" : notice("No sweeps yet.", "info"));
    const to = Math.min(offset + PAGE, page.total);
    // replaceChildren() would write a null as the text "null": leave absent links out.
    const parts = [
      offset > 0 ? h("a", { class: "button secondary", href: `/ui/sweeps?offset=${Math.max(0, offset - PAGE)}` }, "← Newer") : null,
      h("span", { class: "muted" }, `${page.total ? offset + 1 : 0}–${to} of ${page.total}`),
      to < page.total ? h("a", { class: "button secondary", href: `/ui/sweeps?offset=${offset + PAGE}` }, "Older →") : null,
    ];
    pager.replaceChildren(...parts.filter(Boolean));
  }
  await load();
  (async () => {
    while (!signal.aborted) {
      await sleep(3000, signal);
      if (!signal.aborted && document.visibilityState === "visible") await load().catch(() => {});
    }
  })();
}
