// In-page navigation: push the address, let app.js render the page it names.

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState({}, "", url);
  else history.pushState({}, "", url);
  window.dispatchEvent(new Event("lrlab:navigate"));
}
