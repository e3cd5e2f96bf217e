// The dashboard's entry: the API-key form, and a router from /ui/... addresses to pages.

import { getKey, isKeyRejected, setKey } from "./api.js";
import { h, notice } from "./dom.js";
import { navigate } from "./nav.js";
import * as experiment from "./pages/experiment.js";
import * as experiments from "./pages/experiments.js";
import * as form from "./pages/form.js";
import * as sweep from "./pages/sweep.js";
import * as sweeps from "./pages/sweeps.js";

const UUID = "([0-9a-f-]{36})";
const ROUTES = [
  [/^\/ui\/?$/, experiments.render, () => ({})],
  [/^\/ui\/experiments\/?$/, experiments.render, () => ({})],
  [/^\/ui\/experiments\/new\/?$/, form.render, () => ({ kind: "experiment" })],
  [new RegExp(`^/ui/experiments/${UUID}/?$`), experiment.render, (m) => ({ id: m[1] })],
  [/^\/ui\/sweeps\/?$/, sweeps.render, () => ({})],
  [/^\/ui\/sweeps\/new\/?$/, form.render, () => ({ kind: "sweep" })],
  [new RegExp(`^/ui/sweeps/${UUID}/?$`), sweep.render, (m) => ({ id: m[1] })],
];

const main = document.getElementById("main");
let current = null; // {controller, cleanup}

async function show() {
  current?.controller.abort();
  current?.cleanup?.();
  const controller = new AbortController();
  current = { controller };
  const path = location.pathname;
  markNav(path);
  const route = ROUTES.map(([re, render, params]) => [re.exec(path), render, params]).find(([m]) => m);
  main.setAttribute("aria-busy", "true");
  main.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  try {
    if (!route) throw Object.assign(new Error(`No page at ${path}.`), { status: 404 });
    const [match, render, params] = route;
    const cleanup = await render(main, { ...params(match), signal: controller.signal });
    if (controller.signal.aborted) cleanup?.();
    else current.cleanup = cleanup;
  } catch (exc) {
    if (exc.name === "AbortError" || controller.signal.aborted) return;
    const heading = exc.status === 404 ? "Not found" : exc.status === 401 ? "An API key is needed" : "Something went wrong";
    main.replaceChildren(
      h("h1", {}, heading),
      notice(exc.message),
      h("p", {}, h("a", { href: "/ui/experiments" }, "Back to the experiments")),
    );
  } finally {
    main.removeAttribute("aria-busy");
  }
  // Move focus to the new page's heading, so keyboard and screen-reader users land there.
  const heading = main.querySelector("h1");
  if (heading && document.activeElement === document.body) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

function markNav(path) {
  for (const a of document.querySelectorAll(".nav a")) {
    const here = a.dataset.match && new RegExp(a.dataset.match).test(path);
    if (here) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

// Same-origin /ui/ links render in place; everything else (downloads, new tabs) as usual.
document.addEventListener("click", (event) => {
  const a = event.target.closest?.("a[href]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith("/ui/") || a.target || a.hasAttribute("download")) return;
  event.preventDefault();
  if (url.pathname + url.search !== location.pathname + location.search) navigate(url.pathname + url.search);
});
window.addEventListener("popstate", show);
window.addEventListener("lrlab:navigate", () => {
  document.activeElement?.blur?.();
  show();
});

// The API key: kept for this tab only (sessionStorage), sent as the bearer header.
const keyForm = document.getElementById("key-form");
const keyInput = document.getElementById("api-key");
const keyState = document.getElementById("key-state");
function showKeyState() {
  // "key set" only for a key the API has not refused.
  const state = !getKey() ? "no key" : isKeyRejected() ? "key rejected" : "key set";
  keyState.textContent = state;
  keyState.dataset.state = state.replace(" ", "-");
  keyInput.value = "";
  keyInput.placeholder = getKey() ? "saved for this tab" : "paste your key";
}
window.addEventListener("lrlab:key", showKeyState);
keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  setKey(keyInput.value.trim());
  showKeyState();
  show();
});
document.getElementById("key-clear").addEventListener("click", () => {
  setKey("");
  showKeyState();
  show();
});
showKeyState();
show();
