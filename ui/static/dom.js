// Small DOM and formatting helpers; text always goes in as text, never as HTML.

/** h("a", {href, class: "x", onclick}, child, "text", …) → an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export const TERMINAL = new Set(["succeeded", "failed", "cancelled", "pruned"]);

export function statusBadge(status) {
  return h("span", { class: `badge badge-${status}`, "data-status": status }, status);
}

/** A progress bar with its one text, e.g. "81/1000 epochs" (the unit says what is counted). */
export function progressBar(done, total, label, unit = "epochs") {
  return h(
    "span",
    { class: "progress" },
    h("progress", { max: total || 1, value: done, "aria-label": label }),
    h("span", { class: "progress-text" }, `${done}/${total} ${unit}`),
  );
}

/** A number for a table: fixed decimals, or an en dash when missing. */
export function num(value, digits = 4) {
  return value === null || value === undefined || Number.isNaN(value) ? "–" : Number(value).toFixed(digits);
}

/** A compact number for an lr or a parameter: 0.001 → "1e-3" only when that is shorter. */
export function short(value) {
  if (typeof value !== "number") return String(value);
  const plain = String(value);
  const magnitude = Math.abs(value);
  if (magnitude === 0 || (magnitude >= 1e-3 && magnitude < 1e6)) return plain;
  const exp = value.toExponential().replace("e+", "e");
  return exp.length < plain.length ? exp : plain;
}

export function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - 60 * m)} s`;
}

/** A definition list from [term, value] pairs (value: text or a node). */
export function defs(pairs, attrs = {}) {
  return h(
    "dl",
    { class: "defs", ...attrs },
    pairs.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value ?? "–")]),
  );
}

/** A message box: role=alert for errors so screen readers announce it. */
export function notice(text, kind = "error") {
  return h("div", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

export function schedulerSummary(scheduler) {
  const params = Object.entries(scheduler)
    // An unset optional parameter (null) takes the scheduler's default: nothing to show.
    .filter(([k, v]) => k !== "type" && v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${Array.isArray(v) || typeof v === "object" ? JSON.stringify(v) : short(v)}`);
  return params.length ? `${scheduler.type} (${params.join(", ")})` : scheduler.type;
}

/**
 * Throttle: call fn at most once every `ms`, and at least once every `ms` while calls keep
 * coming: the first call of a quiet spell runs at once, later ones are folded into one call
 * at the end of the interval (a debounce would wait for a pause that a busy stream never has).
 */
export function throttle(fn, ms) {
  let timer = null;
  let last = -Infinity;
  let pending = false;
  const run = () => {
    timer = null;
    pending = false;
    last = Date.now();
    fn();
  };
  const wrapped = () => {
    const wait = last + ms - Date.now();
    if (wait <= 0 && timer === null) return run();
    pending = true;
    if (timer === null) timer = setTimeout(() => pending && run(), Math.max(0, wait));
  };
  wrapped.cancel = () => {
    clearTimeout(timer);
    timer = null;
    pending = false;
  };
  return wrapped;
}

/** Debounce: call fn once, `ms` after the last of a burst of calls. */
export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}
