// The one way the dashboard talks to lrlab: fetch with the bearer key, errors as readable text.

const KEY = "lrlab.apiKey";
// Whether the API refused the key entered (or its absence); the header reads this.
let keyRejected = false;

export function getKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setKey(value) {
  keyRejected = false;
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

/** Headers every request carries: the bearer key when one was entered. */
export function authHeaders(extra = {}) {
  const key = getKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : { ...extra };
}

/** An API answer other than 2xx; `fields` maps a dotted field path to its messages (422). */
export class ApiError extends Error {
  constructor(status, message, errors = []) {
    super(message);
    this.status = status;
    this.errors = errors;
  }
}

/** One line per validation error, e.g. "training.epochs: Input should be ≥ 1". */
export function describeErrors(detail) {
  if (typeof detail === "string") return [{ loc: [], msg: detail }];
  if (!Array.isArray(detail)) return [];
  return detail.map((e) => ({
    // "body" and the discriminator tag (the scheduler type) say nothing to the reader.
    loc: (e.loc || []).filter((part, i) => !(i === 0 && part === "body")),
    msg: String(e.msg || "").replace(/^Value error, /, ""),
  }));
}

// Where a user finds a key: `make up` writes it, the CLI reads and makes them.
export const KEY_HELP =
  "Your API key is in .lrlab/credentials.json (field api_key, written by `make up`); `lrlab keys create <label>` makes another.";

export function isKeyRejected() {
  return keyRejected;
}

function noteKey(status) {
  const rejected = status === 401;
  if (rejected === keyRejected) return;
  keyRejected = rejected;
  window.dispatchEvent(new Event("lrlab:key"));
}

async function toError(response) {
  let detail = null;
  try {
    detail = (await response.json()).detail;
  } catch {
    // Not JSON (a proxy's page, an empty body): the status line is all there is.
  }
  const errors = describeErrors(detail);
  let message = errors.length
    ? errors.map((e) => (e.loc.length ? `${e.loc.join(".")}: ${e.msg}` : e.msg)).join("\n")
    : `${response.status} ${response.statusText || "error"}`;
  if (response.status === 401) {
    message = getKey()
      ? `The API refused this key (${message}). Paste a valid key in the API key field above.\n${KEY_HELP}`
      : `No API key entered: paste yours in the API key field above.\n${KEY_HELP}`;
  }
  return new ApiError(response.status, message, errors);
}

/** fetch() against the API; resolves to the raw Response of a 2xx, throws ApiError otherwise. */
export async function request(path, { method = "GET", body, headers = {}, signal } = {}) {
  const init = { method, signal, headers: authHeaders(headers) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (exc) {
    if (exc.name === "AbortError") throw exc;
    throw new ApiError(0, "The API cannot be reached; is it running?");
  }
  // Any answer but a 401 means the key (if any) was accepted as far as authentication goes.
  noteKey(response.status);
  if (!response.ok) throw await toError(response);
  return response;
}

/** The JSON body of a successful request. */
export async function api(path, options) {
  return (await request(path, options)).json();
}

/** Download a file with the bearer header (a plain link could not send it): fetch → Blob. */
export async function download(path, filename) {
  const blob = await (await request(path)).blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
