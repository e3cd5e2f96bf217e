// Live updates: a server-sent-events reader over fetch() (EventSource cannot send the bearer
// header), with Last-Event-ID on reconnect, and a polling fallback where no stream exists.

import { ApiError, request } from "./api.js";

/** Incremental text/event-stream parser (the WHATWG rules): push() chunks, get events. */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
    this.lastEventId = "";
    this.retry = null;
    this.resetEvent();
  }

  resetEvent() {
    this.type = "";
    this.data = [];
  }

  push(chunk) {
    this.buffer += chunk;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      // A lone trailing \r may be the first half of \r\n: wait for the next chunk.
      if (!match || (match[0] === "\r" && match.index === this.buffer.length - 1)) return;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.line(line);
    }
  }

  line(line) {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return; // a comment: the heartbeat
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.type = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.lastEventId = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
  }

  dispatch() {
    if (this.data.length) {
      this.onEvent({
        type: this.type || "message",
        data: this.data.join("\n"),
        id: this.lastEventId,
      });
    }
    this.resetEvent();
  }
}

/** Read one stream to its end; 4xx/5xx throw ApiError (404: no stream endpoint here). */
export async function readStream(path, { lastEventId = "", signal, onEvent, onOpen }) {
  const headers = { Accept: "text/event-stream", "Cache-Control": "no-cache" };
  if (lastEventId) headers["Last-Event-ID"] = lastEventId;
  const response = await request(path, { headers, signal });
  if (!(response.headers.get("content-type") || "").startsWith("text/event-stream")) {
    throw new ApiError(response.status, "the events endpoint did not answer an event stream");
  }
  onOpen?.();
  const parser = new SseParser(onEvent);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.push(value);
  }
  return parser;
}

export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Follow a run to its end: the event stream when the API has one (reconnecting with
 * Last-Event-ID after a drop, until its `end` event), else `poll()` every `interval` ms until
 * `isDone()`. `end` is not passed to `onEvent`. `onMode` reports
 * "stream" | "polling" | "reconnecting" | "done" for the page's live indicator.
 */
export async function follow({ path, onEvent, poll, isDone, signal, onMode, interval = 2000 }) {
  let lastEventId = "";
  let delay = 1000;
  let ended = false;
  while (!signal.aborted && !ended) {
    try {
      const parser = await readStream(path, {
        lastEventId,
        signal,
        onOpen: () => onMode("stream"),
        onEvent: (event) => {
          lastEventId = event.id || lastEventId;
          if (event.type === "end") ended = true;
          else onEvent(event);
        },
      });
      delay = parser.retry ?? 1000;
      // Only `end` says the run is over; a stream that closed without it was cut: reconnect.
      if (ended) break;
    } catch (exc) {
      if (signal.aborted) return;
      if (exc instanceof ApiError && [404, 405, 501].includes(exc.status)) {
        return pollUntilDone({ poll, isDone, signal, onMode, interval });
      }
    }
    onMode("reconnecting");
    await sleep(delay, signal);
    delay = Math.min(delay * 2, 15_000);
  }
  if (!signal.aborted) onMode("done");
}

async function pollUntilDone({ poll, isDone, signal, onMode, interval }) {
  while (!signal.aborted) {
    try {
      await poll();
      onMode("polling");
    } catch (exc) {
      if (exc.name === "AbortError") return;
      onMode("reconnecting");
    }
    if (isDone()) break;
    await sleep(interval, signal);
  }
  if (!signal.aborted) onMode("done");
}
