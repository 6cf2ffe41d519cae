// The dashboard: the instances of every node of the cluster, kept live by
// the merged event stream (/events?scope=cluster), with start, stop,
// configure, register and deregister.

import {
  followEvents,
  forgetToken,
  nodePath,
  requestJson,
  resolveSchema,
  signIn,
  storedToken,
  tokenChanged,
} from "./api.js";
import { configurationFields, readConfiguration } from "./configure.js";
import { el } from "./dom.js";

// -- what the page knows ---------------------------------------------------------------

/// Instances by key(node, name): {node, name, state, error, restarts, health,
/// nextRestart, configuration, isConfigured, change, classKey, busy, row}.
const instances = new Map();
/// Nodes by id, as GET /nodes lists them: {id, address, state, title, version}.
let nodes = new Map();
/// Each node's OpenAPI document (a promise), for its classes and their schemas.
const documents = new Map();
/// Replies and events can arrive out of order: each request and event gets
/// the next number, and a reply older than what a row shows is dropped.
let lastChange = 0;
/// Whether the instances were loaded at least once.
let loaded = false;

const maxLoggedEvents = 50;

const $ = (selector) => document.querySelector(selector);
const key = (node, name) => `${node}/${name}`;
const servicePath = (instance, suffix = "") =>
  nodePath(instance.node, `/services/${encodeURIComponent(instance.name)}${suffix}`);

// -- loading ---------------------------------------------------------------------------

/// Loads the nodes and every instance of the nodes that are up.
async function reloadAll() {
  try {
    const list = await requestJson("GET", "/nodes");
    setNodes(list.nodes);
    await Promise.all(list.nodes.filter((node) => node.state === "up").map((node) => loadNode(node.id)));
    loaded = true;
  } catch (error) {
    showNotice(`Cannot load the nodes: ${error.message}`, "error");
  }
}

/// Loads the instances of node `id` (GET /nodes/{id}/ has every status).
async function loadNode(id) {
  const asked = ++lastChange;
  try {
    const { services } = await requestJson("GET", nodePath(id, "/"));
    for (const [name, status] of Object.entries(services)) applyStatus(id, name, status, asked);
    // Rows the node no longer has, unless an event made them since.
    for (const instance of instances.values())
      if (instance.node === id && !(instance.name in services) && instance.change < asked)
        removeInstance(instance);
  } catch (error) {
    showNotice(`Cannot load node ${id}: ${error.message}`, "error");
  }
}

/// Reads one instance again (after an event or a command).
async function refreshInstance(node, name) {
  const asked = ++lastChange;
  try {
    applyStatus(node, name, await requestJson("GET", servicePath({ node, name })), asked);
  } catch (error) {
    const instance = instances.get(key(node, name));
    if (error.status === 404 && instance && instance.change < asked) removeInstance(instance);
  }
}

// Nodes being loaded because an event came from a node the page thought down.
const nodesComingUp = new Set();

async function nodeCameUp(id) {
  if (nodesComingUp.has(id)) return;
  nodesComingUp.add(id);
  try {
    setNodes((await requestJson("GET", "/nodes")).nodes);
    await loadNode(id);
  } catch (error) {
    showNotice(`Cannot load node ${id}: ${error.message}`, "error");
  } finally {
    nodesComingUp.delete(id);
  }
}

/// The OpenAPI document of `node` ("" for this node), fetched once.
function documentOf(node) {
  if (!documents.has(node)) {
    const loading = requestJson("GET", nodePath(node, "/openapi.json"));
    loading.catch(() => documents.delete(node)); // try again next time
    documents.set(node, loading);
  }
  return documents.get(node);
}

/// The class key of `instance`: the status does not say, so ask the node
/// which class lists it (once per instance).
async function classOf(instance) {
  if (instance.classKey) return instance.classKey;
  const document = await documentOf(instance.node);
  const keys = Object.keys(document["x-processpype-classes"] ?? {});
  const lists = await Promise.all(
    keys.map((key) => requestJson("GET", nodePath(instance.node, `/services?type=${encodeURIComponent(key)}`))),
  );
  const found = lists.findIndex((list) => list.services.some((service) => service.name === instance.name));
  if (found < 0) throw new Error(`no class of node ${instance.node} lists ${instance.name}`);
  instance.classKey = keys[found];
  return instance.classKey;
}

// -- the model -------------------------------------------------------------------------

function instanceFor(node, name) {
  if (!instances.has(key(node, name))) instances.set(key(node, name), { node, name, change: 0, restarts: 0 });
  return instances.get(key(node, name));
}

/// Shows a status (GET /services/{name}) read by request number `asked`.
function applyStatus(node, name, status, asked) {
  const instance = instanceFor(node, name);
  if (asked < instance.change) return;
  Object.assign(instance, {
    change: asked,
    state: status.state,
    error: status.error,
    restarts: status.restarts ?? 0,
    health: status.health ?? null,
    nextRestart: status.next_restart_in_seconds ?? null,
    configuration: status.metadata ?? {},
    isConfigured: status.is_configured,
  });
  renderInstance(instance);
}

function removeInstance(instance) {
  instances.delete(key(instance.node, instance.name));
  instance.row?.remove();
  renderNodes();
}

function setNodes(list) {
  nodes = new Map(list.map((node) => [node.id, node]));
  renderNodes();
}

const isUp = (id) => nodes.get(id)?.state === "up";

// -- live events -----------------------------------------------------------------------

function onStreamEvent({ event, data }) {
  const payload = JSON.parse(data);
  if (event === "node_down") return nodeWentDown(payload.node);
  if (event === "gap") return reloadAll();
  if (!payload.service) return;
  logEvent(payload);
  if (!isUp(payload.node)) nodeCameUp(payload.node);
  applyEvent(payload);
}

/// Shows what the event says at once, then reads the row again for what it
/// does not say (restarts, health).
function applyEvent({ node, service, state, error }) {
  const instance = instanceFor(node, service);
  if (state === "deregistered") return removeInstance(instance);
  instance.change = ++lastChange;
  instance.state = state === "registered" ? "initialized" : state;
  instance.error = error;
  instance.nextRestart = null;
  renderInstance(instance);
  refreshInstance(node, service);
}

function nodeWentDown(id) {
  const node = nodes.get(id);
  if (node) node.state = "down";
  renderNodes();
  for (const instance of instances.values()) if (instance.node === id) renderInstance(instance);
  logEntry(new Date(), id, "", "node down", "", "");
}

function showStreamStatus(text, kind) {
  const status = $("#stream");
  status.textContent = text;
  status.className = `stream ${kind}`;
  renderTokenButton();
  if (!loaded && kind === "waiting") reloadAll(); // the table without live updates beats none
}

// -- commands --------------------------------------------------------------------------

const actions = {
  start: (instance) => command(instance, "POST", "/start", "started"),
  stop: (instance) => command(instance, "POST", "/stop", "stopped"),
  configure: (instance) => openConfigureDialog(instance),
  deregister: (instance) =>
    confirm(`Deregister ${instance.name} on node ${instance.node}?`) &&
    command(instance, "DELETE", "", "deregistered"),
};

async function command(instance, method, suffix, done) {
  setBusy(instance, true);
  try {
    await requestJson(method, servicePath(instance, suffix));
    showNotice(`${instance.name} on ${instance.node}: ${done}`);
    if (method === "DELETE") return removeInstance(instance);
  } catch (error) {
    showNotice(`${instance.name} on ${instance.node}: ${error.message}`, "error");
  }
  setBusy(instance, false);
  refreshInstance(instance.node, instance.name);
}

function setBusy(instance, busy) {
  instance.busy = busy;
  renderInstance(instance);
}

async function register(event) {
  event.preventDefault();
  const form = event.target;
  const body = { service_name: form.elements.class.value };
  const name = form.elements.instance.value.trim();
  const node = form.elements.node.value;
  if (name) body.instance_name = name;
  if (node) body.node = node;
  try {
    const reply = await requestJson("POST", "/services/register", body);
    showNotice(`Registered ${reply.service} (${reply.type}) on ${node || "this node"}`);
    form.elements.instance.value = "";
    if (node) refreshInstance(node, reply.service); // without a node the event brings it
  } catch (error) {
    showNotice(`Register refused: ${error.message}`, "error");
  }
}

// -- the configure dialog --------------------------------------------------------------

async function openConfigureDialog(instance) {
  const dialog = $("#configure");
  const form = dialog.querySelector("form");
  let schema;
  try {
    const [document, classKey] = await Promise.all([documentOf(instance.node), classOf(instance)]);
    const entry = document["x-processpype-classes"][classKey];
    schema = resolveSchema(document, entry.configuration);
    dialog.querySelector("h2").textContent = `Configure ${instance.name}`;
    dialog.querySelector(".subtitle").textContent = `class ${classKey} · node ${instance.node}`;
  } catch (error) {
    return showNotice(`Cannot configure ${instance.name}: ${error.message}`, "error");
  }
  const values = instance.isConfigured ? instance.configuration : {};
  form.querySelector(".fields").replaceChildren(...configurationFields(schema, values));
  form.querySelector(".refusal").textContent = "";
  form.onsubmit = (event) => submitConfiguration(event, instance, schema);
  dialog.showModal();
}

async function submitConfiguration(event, instance, schema) {
  event.preventDefault();
  const form = event.target;
  const route = event.submitter?.value === "start" ? "/configure_and_start" : "/configure";
  const refusal = form.querySelector(".refusal");
  refusal.textContent = "";
  try {
    await requestJson("POST", servicePath(instance, route), readConfiguration(form, schema));
    form.closest("dialog").close();
    showNotice(`${instance.name} on ${instance.node}: configured${route.includes("start") ? " and started" : ""}`);
  } catch (error) {
    refusal.textContent = `${error.status}: ${error.message}`;
  }
  refreshInstance(instance.node, instance.name);
}

// -- rendering -------------------------------------------------------------------------

const columns = ["node", "name", "state", "error", "restarts", "health", "actions"];

function renderInstance(instance) {
  instance.row ??= insertRow(instance);
  const cells = Object.fromEntries(columns.map((column, index) => [column, instance.row.cells[index]]));
  const state = instance.state ?? "unknown";
  cells.state.replaceChildren(el("span", { class: `badge ${state}` }, state));
  if (instance.nextRestart !== null && instance.nextRestart !== undefined)
    cells.state.append(el("small", {}, ` restart in ${instance.nextRestart.toFixed(1)} s`));
  cells.error.textContent = instance.error ?? "";
  cells.restarts.textContent = instance.restarts;
  renderHealth(cells.health, instance.health);
  instance.row.classList.toggle("stale", !isUp(instance.node));
  instance.row.title = isUp(instance.node) ? "" : `Node ${instance.node} is down: last known status`;
  for (const button of cells.actions.querySelectorAll("button"))
    button.disabled = instance.busy || !isUp(instance.node) || !allowed(button.dataset.action, state);
}

/// Whether the action fits the state (the node has the last word: a
/// refusal is shown; this only greys out what cannot work).
function allowed(action, state) {
  const active = ["starting", "running", "stopping"].includes(state);
  if (action === "start") return !active;
  if (action === "stop") return active || state === "error";
  if (action === "configure") return !active;
  return true;
}

function renderHealth(cell, health) {
  if (!health) return cell.replaceChildren(el("span", { class: "muted" }, "—"));
  cell.replaceChildren(
    el("span", { class: `badge ${health.ok ? "healthy" : "unhealthy"}`, title: `checked ${health.checked_at}` },
      health.ok ? "ok" : "failing"),
    health.detail ? ` ${health.detail}` : "",
  );
}

/// A new row, placed in (node, name) order.
function insertRow(instance) {
  const row = el(
    "tr",
    { "data-node": instance.node, "data-name": instance.name, "data-key": key(instance.node, instance.name) },
    el("td", { class: "node" }, instance.node),
    el("td", { class: "name" }, instance.name),
    ["state", "error", "restarts", "health"].map((column) => el("td", { class: column })),
    el("td", { class: "actions" }, Object.keys(actions).map((action) =>
      el("button", { type: "button", "data-action": action, class: action === "deregister" ? "danger" : "" }, action))),
  );
  const body = $("#instances tbody");
  const after = [...body.rows].find((other) => compareRows(other.dataset, instance) > 0);
  body.insertBefore(row, after ?? null);
  renderNodes();
  return row;
}

const plural = (count, noun) => `${count} ${noun}${count === 1 ? "" : "s"}`;
const compareRows = (a, b) => a.node.localeCompare(b.node) || a.name.localeCompare(b.name);

function renderNodes() {
  const counts = new Map();
  for (const instance of instances.values()) counts.set(instance.node, (counts.get(instance.node) ?? 0) + 1);
  $("#nodes").replaceChildren(...[...nodes.values()].map((node) =>
    el("li", { class: `node ${node.state}`, "data-node": node.id },
      el("strong", {}, node.id),
      el("span", { class: `badge ${node.state}` }, node.state),
      el("small", {}, [node.address || "not published", node.version && `v${node.version}`,
        plural(counts.get(node.id) ?? 0, "instance")].filter(Boolean).join(" · ")))));
  $("#empty").hidden = instances.size > 0;
  renderNodeChoices();
}

/// The register form's node select: this node, or any node that is up.
function renderNodeChoices() {
  const select = $("#register select[name=node]");
  const chosen = select.value;
  const up = [...nodes.values()].filter((node) => node.state === "up");
  select.replaceChildren(
    el("option", { value: "" }, "this node"),
    ...up.map((node) => el("option", { value: node.id, selected: node.id === chosen }, node.id)),
  );
}

async function renderClassChoices() {
  try {
    const classes = (await documentOf(""))["x-processpype-classes"] ?? {};
    $("#register select[name=class]").replaceChildren(...Object.entries(classes).map(([classKey, entry]) =>
      el("option", { value: classKey }, `${classKey}${entry.requires_configuration ? " (needs configuration)" : ""}`)));
  } catch (error) {
    showNotice(`Cannot read the classes: ${error.message}`, "error");
  }
}

function logEvent({ time, node, service, state, cause, error }) {
  logEntry(new Date(time), node, service, state, cause, error);
}

function logEntry(time, node, service, state, cause, error) {
  const log = $("#events");
  log.prepend(el("li", {},
    el("time", { datetime: time.toISOString() }, time.toTimeString().slice(0, 8)),
    el("span", { class: "where" }, service ? `${node}/${service}` : node),
    el("span", { class: `badge ${state.replace(" ", "-")}` }, state),
    el("small", {}, cause ?? ""),
    error ? el("span", { class: "detail" }, error) : null));
  while (log.children.length > maxLoggedEvents) log.lastElementChild.remove();
}

let noticeTimer;

/// A toast saying how the last command went (errors stay until clicked or
/// replaced).
function showNotice(text, kind = "ok") {
  const notice = $("#notice");
  notice.textContent = text;
  notice.className = `notice ${kind}`;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  if (kind === "ok") noticeTimer = setTimeout(() => (notice.hidden = true), 6000);
}

/// The token button: "Sign out" with a token, "Sign in" when refused without one.
function renderTokenButton() {
  const button = $("#token");
  const refused = $("#stream").classList.contains("refused");
  button.textContent = storedToken() ? "Sign out" : "Sign in";
  button.hidden = !storedToken() && !refused;
}

async function onTokenButton() {
  if (!storedToken()) return signIn();
  forgetToken();
  location.reload(); // start over: the page asks for a token again if the node needs one
}

// -- start -----------------------------------------------------------------------------

function main() {
  $("#instances tbody").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button) actions[button.dataset.action](instances.get(button.closest("tr").dataset.key));
  });
  $("#register").addEventListener("submit", register);
  $("#configure .cancel").addEventListener("click", () => $("#configure").close());
  $("#token").addEventListener("click", onTokenButton);
  $("#notice").addEventListener("click", () => ($("#notice").hidden = true));
  window.addEventListener(tokenChanged, () => {
    renderTokenButton();
    if (!$("#register select[name=class]").options.length) renderClassChoices();
  });
  renderTokenButton();
  renderClassChoices();
  followEvents("/events?scope=cluster", { onOpen: reloadAll, onEvent: onStreamEvent, onStatus: showStreamStatus });
}

main();
