// The experiments list: filters and paging in the query string, rows refreshed every few seconds.

import { api } from "../api.js";
import { h, notice, num, progressBar, statusBadge, when } from "../dom.js";
import { navigate } from "../nav.js";
import { sleep } from "../sse.js";

const STATUSES = ["queued", "running", "succeeded", "failed", "cancelled", "pruned"];
const PAGE = 20;
const REFRESH_MS = 3000;

export async function render(root, { signal }) {
  document.title = "Experiments · lrlab";
  const query = new URLSearchParams(location.search);
  const filters = {
    status: query.get("status") || "",
    scheduler_type: query.get("scheduler_type") || "",
    name: query.get("name") || "",
    offset: Math.max(0, Number(query.get("offset")) || 0),
  };
  const catalog = await api("/schedulers", { signal });

  const status = h(
    "select",
    { id: "filter-status", name: "status" },
    h("option", { value: "" }, "any status"),
    STATUSES.map((s) => h("option", { value: s, selected: s === filters.status }, s)),
  );
  const type = h(
    "select",
    { id: "filter-type", name: "scheduler_type" },
    h("option", { value: "" }, "any scheduler"),
    catalog.map((c) => h("option", { value: c.type, selected: c.type === filters.scheduler_type }, c.type)),
  );
  const name = h("input", {
    id: "filter-name",
    name: "name",
    type: "search",
    value: filters.name,
    autocomplete: "off",
    placeholder: "part of a name or id",
  });
  const form = h(
    "form",
    { class: "filters card", role: "search", "aria-label": "Filter experiments" },
    h("div", { class: "field" }, h("label", { for: "filter-status" }, "Status"), status),
    h("div", { class: "field" }, h("label", { for: "filter-type" }, "Scheduler"), type),
    h("div", { class: "field grow" }, h("label", { for: "filter-name" }, "Name"), name),
    h(
      "div",
      { class: "field actions" },
      h("button", { type: "submit", class: "primary" }, "Filter"),
      h("a", { class: "button secondary", href: "/ui/experiments" }, "Clear"),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of [
      ["status", status.value],
      ["scheduler_type", type.value],
      ["name", name.value.trim()],
    ])
      if (value) next.set(key, value);
    navigate(`/ui/experiments${next.size ? `?${next}` : ""}`);
  });
  // Selects apply at once; the name applies on Enter or the button.
  for (const select of [status, type]) select.addEventListener("change", () => form.requestSubmit());

  const tbody = h("tbody", {});
  const table = h(
    "div",
    { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Experiments" },
    h(
      "table",
      { class: "data", id: "experiments" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Name", "Status", "Scheduler", "Progress", "Final val acc", "Best val acc", "Created"].map((t) => h("th", { scope: "col" }, t)),
        ),
      ),
      tbody,
    ),
  );
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const message = h("div", { "aria-live": "polite" });
  root.replaceChildren(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Experiments"),
      h("a", { class: "button primary", href: "/ui/experiments/new" }, "New experiment"),
    ),
    form,
    message,
    table,
    pager,
  );

  let last = "";
  async function load() {
    // Every filter is the API's: part of the name (any case) or the start of the id.
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(filters.offset) });
    for (const key of ["status", "scheduler_type", "name"]) if (filters[key]) params.set(key, filters[key].slice(0, 200));
    const { items, total } = await api(`/experiments?${params}`, { signal });
    const snapshot = JSON.stringify([items, total]);
    if (snapshot === last) return;
    last = snapshot;
    // Keep keyboard focus on the same row's link across a refresh.
    const focusedId = document.activeElement?.closest?.("tr")?.dataset.id;
    tbody.replaceChildren(...items.map(row));
    if (focusedId) tbody.querySelector(`tr[data-id="${focusedId}"] a`)?.focus();
    message.replaceChildren(
      items.length
        ? ""
        : notice(
            filters.status || filters.scheduler_type || filters.name ? "No experiment matches these filters." : "No experiments yet.",
            "info",
          ),
    );
    renderPager(total);
  }

  function row(e) {
    const r = e.result;
    return h(
      "tr",
      { "data-id": e.id, "data-status": e.status },
      h(
        "td",
        {},
        h("a", { href: `/ui/experiments/${e.id}` }, e.name || e.id.slice(0, 8)),
        e.name ? null : h("span", { class: "muted" }, " (no name)"),
        // A sweep's members share its name: their configuration and seed tell them apart.
        e.sweep_id
          ? h(
              "span",
              { class: "sub member-of" },
              h("a", { href: `/ui/sweeps/${e.sweep_id}` }, "sweep"),
              ` member · ${e.label ?? e.scheduler_type} · seed ${e.spec.training?.seed ?? "–"}`,
            )
          : null,
      ),
      h("td", {}, statusBadge(e.status)),
      h("td", {}, e.scheduler_type),
      h("td", {}, progressBar(e.progress.epochs_done, e.progress.epochs, `epochs of ${e.name || e.id}`)),
      h("td", { class: "num" }, num(r?.final_val_accuracy)),
      h("td", { class: "num" }, num(r?.best_val_accuracy)),
      h("td", { class: "nowrap" }, when(e.created_at)),
    );
  }

  function renderPager(total) {
    const from = total ? filters.offset + 1 : 0;
    const to = Math.min(filters.offset + PAGE, total);
    const link = (offset, label, rel) => {
      const q = new URLSearchParams(location.search);
      if (offset) q.set("offset", String(offset));
      else q.delete("offset");
      return h("a", { class: "button secondary", href: `/ui/experiments${q.size ? `?${q}` : ""}`, rel }, label);
    };
    // replaceChildren() would write a null as the text "null": leave absent links out.
    const parts = [
      filters.offset > 0 ? link(Math.max(0, filters.offset - PAGE), "← Newer", "prev") : null,
      h("span", { class: "muted" }, `${from}–${to} of ${total}`),
      to < total ? link(filters.offset + PAGE, "Older →", "next") : null,
    ];
    pager.replaceChildren(...parts.filter(Boolean));
  }

  await load();
  (async () => {
    while (!signal.aborted) {
      await sleep(REFRESH_MS, signal);
      if (signal.aborted) return;
      if (document.visibilityState === "visible") await load().catch(() => {});
    }
  })();
}
