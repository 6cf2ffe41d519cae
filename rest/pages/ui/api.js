// What both pages (/ui and /docs) share: where the API is, the bearer token,
// a fetch wrapper that asks for the token when the node answers 401, and a
// reader of Server-Sent Events over fetch().

// -- where the API is ------------------------------------------------------------------

/// The API prefix: the page is served at `<prefix>/ui` or `<prefix>/docs`.
export function apiBase() {
  return location.pathname.replace(/\/+$/, "").replace(/\/(ui|docs)$/, "");
}

/// `path` of node `node` (every route is also served under /nodes/{id}).
export function nodePath(node, path) {
  return node ? `/nodes/${encodeURIComponent(node)}${path}` : path;
}

// -- the token -------------------------------------------------------------------------

// sessionStorage: the token lives as long as the tab, and never goes into a URL.
const tokenKey = "processpype.token";

export function storedToken() {
  return sessionStorage.getItem(tokenKey);
}

export function forgetToken() {
  sessionStorage.removeItem(tokenKey);
}

// Fired on window when a new token is stored: what was refused can retry.
export const tokenChanged = "processpype-token";

function storeToken(token) {
  sessionStorage.setItem(tokenKey, token);
  window.dispatchEvent(new Event(tokenChanged));
}

/// Asks for a token now (a "Sign in" button); resolves to whether one was given.
export async function signIn(reason = "Enter a bearer token for this node.") {
  const token = await askForToken(reason);
  if (token !== null) storeToken(token);
  return token !== null;
}

// Requests refused at the same time share one prompt.
let tokenPrompt = null;

/// Asks the person for a token; resolves to it, or to null if they cancel.
function askForToken(reason) {
  tokenPrompt ??= showTokenDialog(reason).finally(() => (tokenPrompt = null));
  return tokenPrompt;
}

function showTokenDialog(reason) {
  const dialog = document.createElement("dialog");
  dialog.className = "token-dialog";
  dialog.innerHTML = `
    <form method="dialog">
      <h2>Token required</h2>
      <p class="reason"></p>
      <label>Bearer token <input type="password" name="token" autocomplete="off" required></label>
      <div class="buttons">
        <button value="cancel" formnovalidate>Cancel</button>
        <button value="ok" class="primary">Sign in</button>
      </div>
    </form>`;
  dialog.querySelector(".reason").textContent = reason;
  document.body.append(dialog);
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const token = dialog.querySelector("input").value.trim();
      dialog.remove();
      resolve(dialog.returnValue === "ok" && token ? token : null);
    });
  });
}

// -- requests --------------------------------------------------------------------------

/// A refused request: `status` and the node's `detail`.
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

/// fetch() of `path` (relative to the API prefix) with the token. On 401 it
/// asks for a token and tries again; it resolves to the last Response (a 401
/// only if the person cancelled). `options.json` is sent as a JSON body,
/// `options.body` as it is.
export async function request(method, path, options = {}) {
  for (;;) {
    const token = storedToken();
    const response = await fetch(apiBase() + path, {
      method,
      headers: requestHeaders(token, options),
      body: options.json !== undefined ? JSON.stringify(options.json) : options.body,
      signal: options.signal,
    });
    if (response.status !== 401) return response;
    // Another request may have got a new token while this one was out.
    if (storedToken() !== token) continue;
    const detail = await detailOf(response.clone());
    const reason = token ? `The node refused the token: ${detail}` : "This node needs a bearer token.";
    const entered = await askForToken(reason);
    if (entered === null) return response;
    storeToken(entered);
  }
}

function requestHeaders(token, options) {
  const headers = { Accept: "application/json", ...options.headers };
  if (options.json !== undefined || options.body) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

/// The `detail` of an error reply, or its status line if it has none.
export async function detailOf(response) {
  const text = await response.text();
  try {
    const detail = JSON.parse(text).detail;
    if (typeof detail === "string") return detail;
  } catch {
    // not JSON: fall through
  }
  return `${response.status} ${response.statusText}`.trim();
}

/// request() whose reply must be a success: resolves to the parsed JSON,
/// throws ApiError with the node's detail otherwise.
export async function requestJson(method, path, json) {
  const response = await request(method, path, { json });
  if (!response.ok) throw new ApiError(response.status, await detailOf(response));
  return response.json();
}

// -- Server-Sent Events over fetch() ---------------------------------------------------

/// Splits a text/event-stream into events, chunk by chunk (a chunk may end
/// anywhere, even inside a line). `onEvent({event, data, id})` is called for
/// each complete event; comments (`: keep-alive`) are skipped.
export class EventStreamParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
    this.afterCarriageReturn = false;
    this.reset();
  }

  reset() {
    this.event = "";
    this.data = [];
    this.id = "";
  }

  push(chunk) {
    // A chunk that ended in "\r" may have been the first half of "\r\n".
    if (this.afterCarriageReturn && chunk.startsWith("\n")) chunk = chunk.slice(1);
    this.afterCarriageReturn = chunk.endsWith("\r");
    const lines = (this.buffer + chunk).split(/\r\n|\r|\n/);
    this.buffer = lines.pop();
    for (const line of lines) this.line(line);
  }

  line(line) {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id") this.id = value;
  }

  dispatch() {
    if (this.data.length > 0)
      this.onEvent({ event: this.event || "message", data: this.data.join("\n"), id: this.id });
    this.reset();
  }
}

// The node writes a keep-alive every 15 s: this long without a byte means
// the connection is dead even if TCP has not noticed.
const silenceLimitMs = 40_000;
const firstRetryMs = 500;
const longestRetryMs = 15_000;

/// Follows the event stream at `path` for as long as the page lives,
/// reconnecting with exponential backoff when it drops. Callbacks:
/// onOpen() each time it is connected (the stream has no replay: reload
/// what it describes), onEvent({event, data, id}), and onStatus(text, kind)
/// with kind "live", "waiting" or "refused".
export async function followEvents(path, { onOpen, onEvent, onStatus }) {
  const opened = () => (onStatus("live", "live"), onOpen());
  let delay = firstRetryMs;
  for (;;) {
    const outcome = await readStream(path, { onOpen: opened, onEvent });
    if (outcome.opened) delay = firstRetryMs;
    if (outcome.status === 401) {
      onStatus("not signed in", "refused");
      await new Promise((resume) => window.addEventListener(tokenChanged, resume, { once: true }));
      continue;
    }
    onStatus(`reconnecting in ${(delay / 1000).toFixed(1)} s (${outcome.reason})`, "waiting");
    await new Promise((wake) => setTimeout(wake, delay * (0.8 + 0.4 * Math.random())));
    delay = Math.min(delay * 2, longestRetryMs);
  }
}

/// One connection: resolves when it ends, saying why.
async function readStream(path, { onOpen, onEvent }) {
  const abort = new AbortController();
  let watchdog;
  const stillAlive = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => abort.abort(), silenceLimitMs);
  };
  let opened = false;
  try {
    const response = await request("GET", path, {
      headers: { Accept: "text/event-stream" },
      signal: abort.signal,
    });
    if (!response.ok) return { opened, status: response.status, reason: await detailOf(response) };
    opened = true;
    stillAlive();
    onOpen();
    const parser = new EventStreamParser(onEvent);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return { opened, reason: "the node closed the stream" };
      stillAlive();
      parser.push(value);
    }
  } catch (error) {
    const silent = abort.signal.aborted;
    return { opened, reason: silent ? "no keep-alive for 40 s" : `connection lost: ${error.message}` };
  } finally {
    clearTimeout(watchdog);
    abort.abort();
  }
}

// -- the OpenAPI document --------------------------------------------------------------

/// `schema` with its `$ref` (to #/components/...) followed, if it has one.
export function resolveSchema(document, schema) {
  if (!schema?.$ref) return schema ?? {};
  const path = schema.$ref.replace(/^#\//, "").split("/");
  return path.reduce((node, key) => node?.[key], document) ?? {};
}

/// The name a `$ref` points to (`#/components/schemas/Error` → `Error`).
export function refName(schema) {
  return schema?.$ref?.split("/").pop();
}
