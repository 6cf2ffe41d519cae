// The dashboard: the instances of every node of the cluster, kept live by
// the merged event stream (/events?scope=cluster), with start, stop,
// configure, register and deregister.
//
// It scales with the number of instances (docs/operations.md, "The
// dashboard"): it holds one page of each node's instances, asked from the
// node (GET /nodes/{id}/services?limit=&after=), filtered there by name, state
// and class, with the node's counts from its counters (&counts=true). An
// event patches the row it names if that row is shown, and has the node's
// page and counts read again (at most a few times a second per node).

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

const pageSize = 50;
const states = ["initialized", "configured", "starting", "running", "stopping", "stopped", "error"];

/// Nodes by id, as GET /nodes lists them: {id, address, state, title, version}.
let nodes = new Map();
/// What the page shows of each node, by id (see viewOf).
const views = new Map();
/// The filters of the table, as GET /services takes them; "" is no filter.
const filters = { search: "", state: "", type: "" };
/// Each node's OpenAPI document (a promise), for its classes and their schemas.
const documents = new Map();
/// Replies and events can arrive out of order: each request and event gets
/// the next number, and a reply older than what a row shows is dropped.
let lastChange = 0;
/// Whether the instances were loaded at least once.
let loaded = false;

const maxLoggedEvents = 50;
/// The causes of a cluster instance's registration on its new owner (docs/cluster.md).
const movedCauses = ["failover", "handover", "rebalance"];
const clusterTitle = "A cluster instance: this node runs it; another takes it over when this node is lost";
/// The least time between two reads of a node's page caused by events.
const reloadGapMs = 250;
/// How long the search waits for the next key before asking the nodes.
const searchPauseMs = 120;

const $ = (selector) => document.querySelector(selector);
const servicePath = (instance, suffix = "") =>
  nodePath(instance.node, `/services/${encodeURIComponent(instance.name)}${suffix}`);
const isUp = (id) => nodes.get(id)?.state === "up";

/// What the page shows of node `id`: one page of its instances (`rows`, by
/// name, in the node's registration order), the `after` of the pages before
/// it (to go back), the node's `counts`, and its group in the table.
/// `generation` changes with the page or the filters: a reply asked for an
/// older one is dropped.
function viewOf(id) {
  if (!views.has(id)) {
    const view = {
      id, rows: new Map(), previous: [], after: null, next: null, counts: null,
      generation: 0, loading: false, reloadAgain: false, reloadTimer: null, lastLoad: 0,
    };
    view.group = groupOf(view);
    views.set(id, view);
  }
  return views.get(id);
}

function newInstance(node, name) {
  return { node, name, change: 0, state: undefined, error: null, restarts: null, health: null, nextRestart: null };
}

// -- loading ---------------------------------------------------------------------------

/// Loads the nodes and the page each node that is up shows.
async function reloadAll() {
  try {
    const list = await requestJson("GET", "/nodes");
    setNodes(list.nodes);
    for (const id of views.keys()) if (!nodes.has(id)) dropView(views.get(id));
    await Promise.all(list.nodes.filter((node) => node.state === "up").map((node) => loadPage(viewOf(node.id))));
    loaded = true;
  } catch (error) {
    showNotice(`Cannot load the nodes: ${error.message}`, "error");
  }
}

/// Reads the page `view` shows (with the node's counts). One read at a time
/// per node: one asked meanwhile follows when it ends.
async function loadPage(view) {
  if (!isUp(view.id)) return;
  if (view.loading) return void (view.reloadAgain = true);
  view.loading = true;
  const generation = view.generation;
  const asked = ++lastChange;
  try {
    const list = await requestJson("GET", nodePath(view.id, `/services?${pageQuery(view)}`));
    if (generation === view.generation) showPage(view, list, asked);
  } catch (error) {
    if (error.status === 400 && view.after !== null && generation === view.generation) {
      toFirstPage(view); // the instance the page started after is gone
    } else if (isUp(view.id)) {
      showNotice(`Cannot load node ${view.id}: ${error.message}`, "error");
    }
  } finally {
    view.loading = false;
    view.lastLoad = performance.now();
    const again = view.reloadAgain;
    view.reloadAgain = false;
    if (generation !== view.generation) loadPage(view);
    else if (again) scheduleReload(view);
  }
}

function pageQuery(view) {
  const query = new URLSearchParams({ limit: pageSize, counts: "true" });
  if (view.after !== null) query.set("after", view.after);
  for (const [name, value] of Object.entries(filters)) if (value) query.set(name, value);
  return query;
}

/// Reads the node's page again soon: at most once per reloadGapMs.
function scheduleReload(view) {
  if (view.loading) return void (view.reloadAgain = true);
  if (view.reloadTimer !== null) return;
  const wait = Math.max(0, view.lastLoad + reloadGapMs - performance.now());
  view.reloadTimer = setTimeout(() => {
    view.reloadTimer = null;
    loadPage(view);
  }, wait);
}

/// Shows the page a list reply (asked as request `asked`) describes.
function showPage(view, { services, next, counts }, asked) {
  if (services.length === 0 && view.previous.length > 0) return showPreviousPage(view); // emptied meanwhile
  view.counts = counts;
  view.next = next;
  const rows = new Map();
  const added = [];
  for (const entry of services) {
    let instance = view.rows.get(entry.name);
    if (!instance) added.push((instance = newInstance(view.id, entry.name)));
    if (asked >= instance.change)
      Object.assign(instance, { change: asked, state: entry.state, error: entry.error, isConfigured: entry.is_configured });
    rows.set(entry.name, instance);
  }
  view.rows = rows;
  renderGroup(view);
  renderCounts();
  // What the list does not say (restarts, health, configuration).
  for (const instance of added) refreshInstance(instance);
}

function toFirstPage(view) {
  view.previous = [];
  view.after = null;
  view.generation++;
}

function showNextPage(view) {
  if (view.next === null) return;
  view.previous.push(view.after);
  view.after = view.next;
  view.generation++;
  loadPage(view);
}

function showPreviousPage(view) {
  if (view.previous.length === 0) return;
  view.after = view.previous.pop();
  view.generation++;
  loadPage(view);
}

/// Reads one shown instance's status again (after an event or a command).
/// One read at a time per instance: one asked meanwhile follows when it ends.
async function refreshInstance(instance) {
  if (instance.refreshing) return void (instance.refreshAgain = true);
  instance.refreshing = true;
  try {
    do {
      instance.refreshAgain = false;
      const asked = ++lastChange;
      try {
        applyStatus(instance, await requestJson("GET", servicePath(instance)), asked);
      } catch (error) {
        if (error.status === 404 && instance.change < asked) removeRow(instance);
        return;
      }
    } while (instance.refreshAgain && isShown(instance));
  } finally {
    instance.refreshing = false;
  }
}

const isShown = (instance) => views.get(instance.node)?.rows.get(instance.name) === instance;

// Nodes being loaded because an event came from a node the page thought down.
const nodesComingUp = new Set();

async function nodeCameUp(id) {
  if (nodesComingUp.has(id)) return;
  nodesComingUp.add(id);
  try {
    setNodes((await requestJson("GET", "/nodes")).nodes);
    await loadPage(viewOf(id));
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
  const found = await Promise.all(keys.map((key) => classLists(instance, key)));
  const index = found.indexOf(true);
  if (index < 0) throw new Error(`no class of node ${instance.node} lists ${instance.name}`);
  instance.classKey = keys[index];
  return instance.classKey;
}

/// Whether class `key` of the instance's node lists it: the names that
/// contain its name, page by page (one page but for names that many others
/// contain).
async function classLists(instance, key) {
  const query = new URLSearchParams({ type: key, search: instance.name, limit: 1000 });
  for (;;) {
    const { services, next } = await requestJson("GET", nodePath(instance.node, `/services?${query}`));
    if (services.some((service) => service.name === instance.name)) return true;
    if (next === null) return false;
    query.set("after", next);
  }
}

// -- the model -------------------------------------------------------------------------

/// Shows a status (GET /services/{name}) read by request number `asked`.
/// Its state is shown unless an event or a list read since said newer; what
/// only a status says (restarts, health, ...) is shown in any case: status
/// reads of one instance go one at a time, so this is the newest, and one
/// asked for after an event follows (refreshInstance). A list read that
/// overtook this one must not leave the row with the restarts of before.
function applyStatus(instance, status, asked) {
  if (asked >= instance.change)
    Object.assign(instance, { change: asked, state: status.state, error: status.error, isConfigured: status.is_configured });
  // The restart countdown belongs to the state it was read with.
  if (status.state === instance.state) instance.nextRestart = status.next_restart_in_seconds ?? null;
  Object.assign(instance, {
    restarts: status.restarts ?? 0,
    health: status.health ?? null,
    configuration: status.metadata ?? {},
    placement: status.placement ?? "node",
  });
  renderRow(instance);
}

/// Takes a shown instance off its page (deregistered); the node's page is
/// read again to fill the gap.
function removeRow(instance) {
  const view = views.get(instance.node);
  if (!view || view.rows.get(instance.name) !== instance) return;
  view.rows.delete(instance.name);
  instance.row?.remove();
  renderGroup(view);
  scheduleReload(view);
}

function setNodes(list) {
  nodes = new Map(list.map((node) => [node.id, node]));
  renderNodes();
}

function dropView(view) {
  clearTimeout(view.reloadTimer);
  view.group.remove();
  views.delete(view.id);
  renderCounts();
}

// -- filters ---------------------------------------------------------------------------

let searchTimer;

/// Every node shows its first page of what the filters now match.
function applyFilters() {
  clearTimeout(searchTimer);
  const form = $("#filters");
  const chosen = { search: form.elements.search.value.trim(), state: form.elements.state.value, type: form.elements.type.value };
  if (Object.keys(filters).every((name) => filters[name] === chosen[name])) return;
  Object.assign(filters, chosen);
  for (const view of views.values()) {
    toFirstPage(view);
    loadPage(view);
  }
}

function onSearchInput() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(applyFilters, searchPauseMs);
}

const filtering = () => Object.values(filters).some((value) => value !== "");

// -- live events -----------------------------------------------------------------------

function onStreamEvent({ event, data }) {
  const payload = JSON.parse(data);
  if (event === "node_down") return nodeWentDown(payload.node);
  if (event === "gap") return reloadAll();
  if (!payload.service) return;
  logEvent(payload);
  if (!isUp(payload.node)) return nodeCameUp(payload.node);
  applyEvent(payload);
}

/// Shows what the event says at once if its instance is shown, then reads
/// the row again for what it does not say (restarts, health); the node's
/// page and counts are read again in any case.
function applyEvent({ node, service, state, error, cause }) {
  if (state === "registered" && movedCauses.includes(cause)) dropCopiesElsewhere(service, node);
  const view = viewOf(node);
  const instance = view.rows.get(service);
  if (instance && state === "deregistered") return removeRow(instance);
  if (instance) {
    instance.change = ++lastChange;
    instance.state = state === "registered" ? "initialized" : state;
    instance.error = error;
    instance.nextRestart = null;
    renderRow(instance);
    refreshInstance(instance);
  }
  scheduleReload(view);
}

/// A cluster instance that another node took over is shown under its new
/// owner only: the row its old owner showed (stale when that node died) goes.
function dropCopiesElsewhere(name, owner) {
  for (const view of views.values()) {
    const instance = view.rows.get(name);
    if (view.id !== owner && instance) removeRow(instance);
  }
}

function nodeWentDown(id) {
  const node = nodes.get(id);
  if (node) node.state = "down";
  renderNodes();
  const view = views.get(id);
  if (view) {
    clearTimeout(view.reloadTimer);
    view.reloadTimer = null;
    renderGroup(view);
  }
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
    if (method === "DELETE") return removeRow(instance);
  } catch (error) {
    showNotice(`${instance.name} on ${instance.node}: ${error.message}`, "error");
  }
  setBusy(instance, false);
  refreshInstance(instance);
}

function setBusy(instance, busy) {
  instance.busy = busy;
  renderRow(instance);
}

/// The register form. The new instance shows through its event, on its
/// node's page if it falls there.
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
  const values = instance.isConfigured ? instance.configuration ?? {} : {};
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
  refreshInstance(instance);
}

// -- rendering -------------------------------------------------------------------------

const columns = ["node", "name", "state", "error", "restarts", "health", "actions"];
const number = (count) => count.toLocaleString("en");
const plural = (count, noun) => `${number(count)} ${noun}${count === 1 ? "" : "s"}`;

/// A node's group of rows: a tbody whose first row names the node and pages.
function groupOf(view) {
  const head = el("tr", { class: "group" },
    el("th", { colspan: columns.length },
      el("span", { class: "title" }, `Node ${view.id}`),
      el("span", { class: "range muted" }),
      el("span", { class: "pager" },
        el("button", { type: "button", "data-page": "previous", title: "The previous page" }, "‹ Previous"),
        el("button", { type: "button", "data-page": "next", title: "The next page" }, "Next ›"))));
  const group = el("tbody", { "data-node": view.id, hidden: true }, head);
  const following = [...$("#instances").tBodies].find((other) => other.dataset.node.localeCompare(view.id) > 0);
  $("#instances").insertBefore(group, following ?? null);
  return group;
}

/// The node's group: its page of rows in the node's order, and its pager.
function renderGroup(view) {
  const [head] = view.group.rows;
  const rows = [...view.rows.values()].map((instance) => {
    instance.row ??= newRow(instance);
    renderRow(instance);
    return instance.row;
  });
  const current = [...view.group.rows].slice(1);
  if (rows.length !== current.length || rows.some((row, index) => row !== current[index]))
    view.group.replaceChildren(head, ...rows);
  head.querySelector(".range").textContent = rangeOf(view, rows.length);
  const [previous, next] = head.querySelectorAll("button");
  previous.disabled = view.previous.length === 0 || !isUp(view.id);
  next.disabled = view.next === null || !isUp(view.id);
  view.group.hidden = rows.length === 0 && view.previous.length === 0 && !filtering();
  renderEmpty();
}

/// "51–100 of 20,000": which rows of how many matches (when the counts say).
function rangeOf(view, shown) {
  if (shown === 0) return "no match";
  const first = view.previous.length * pageSize + 1;
  const range = `${number(first)}–${number(first + shown - 1)}`;
  const matches = filters.search || filters.type ? undefined : view.counts?.[filters.state || "total"];
  return matches === undefined ? range : `${range} of ${number(matches)}`;
}

function newRow(instance) {
  return el(
    "tr",
    { "data-node": instance.node, "data-name": instance.name },
    el("td", { class: "node" }, instance.node),
    el("td", { class: "name" }, instance.name),
    ["state", "error", "restarts", "health"].map((column) => el("td", { class: column })),
    el("td", { class: "actions" }, Object.keys(actions).map((action) =>
      el("button", { type: "button", "data-action": action, class: action === "deregister" ? "danger" : "" }, action))),
  );
}

function renderRow(instance) {
  if (!instance.row) return;
  const cells = Object.fromEntries(columns.map((column, index) => [column, instance.row.cells[index]]));
  const state = instance.state ?? "unknown";
  cells.name.replaceChildren(instance.name);
  if (instance.placement === "cluster")
    cells.name.append(" ", el("span", { class: "badge placement", title: clusterTitle }, "cluster"));
  cells.state.replaceChildren(el("span", { class: `badge ${state}` }, state));
  if (instance.nextRestart !== null && instance.nextRestart !== undefined)
    cells.state.append(el("small", {}, ` restart in ${instance.nextRestart.toFixed(1)} s`));
  cells.error.textContent = instance.error ?? "";
  cells.restarts.textContent = instance.restarts ?? "";
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

function renderNodes() {
  $("#nodes").replaceChildren(...[...nodes.values()].map((node) =>
    el("li", { class: `node ${node.state}`, "data-node": node.id },
      el("strong", {}, node.id),
      el("span", { class: `badge ${node.state}` }, node.state),
      el("small", {}, [node.address || "not published", node.version && `v${node.version}`].filter(Boolean).join(" · ")),
      countsOf(views.get(node.id)?.counts))));
  for (const view of views.values()) renderGroup(view);
  renderNodeChoices();
}

/// A node's counts: every instance, then each state that has some.
function countsOf(counts) {
  if (!counts) return null;
  const count = (key, text) => el("span", { class: `count ${key}`, "data-count": key, "data-value": counts[key] }, text);
  return el("small", { class: "counts" },
    count("total", plural(counts.total, "instance")),
    states.filter((state) => counts[state] > 0).map((state) => [" · ", count(state, `${number(counts[state])} ${state}`)]));
}

/// The counts of the nodes that are up: on each node, and beside each state
/// of the state filter.
function renderCounts() {
  for (const view of views.values()) {
    const card = $(`#nodes li[data-node="${CSS.escape(view.id)}"]`);
    if (!card) continue;
    const counts = countsOf(view.counts);
    const shown = card.querySelector(".counts");
    if (shown && counts) shown.replaceWith(counts);
    else if (counts) card.append(counts);
  }
  const upViews = [...views.values()].filter((view) => isUp(view.id) && view.counts);
  for (const option of $("#filters select[name=state]").options) {
    if (!option.value) continue;
    const total = upViews.reduce((sum, view) => sum + view.counts[option.value], 0);
    option.textContent = `${option.value} (${number(total)})`;
  }
  renderEmpty();
}

function renderEmpty() {
  const empty = $("#empty");
  const anyRows = [...views.values()].some((view) => view.rows.size > 0);
  empty.hidden = anyRows;
  empty.textContent = filtering() ? "No instance matches the filters." : "No instances yet: register one above.";
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

/// The classes of this node, in the register form and the class filter.
async function renderClassChoices() {
  try {
    const classes = (await documentOf(""))["x-processpype-classes"] ?? {};
    $("#register select[name=class]").replaceChildren(...Object.entries(classes).map(([classKey, entry]) =>
      el("option", { value: classKey }, `${classKey}${entry.requires_configuration ? " (needs configuration)" : ""}`)));
    const classOptions = Object.keys(classes).map((classKey) =>
      el("option", { value: classKey, selected: classKey === filters.type }, classKey));
    $("#filters select[name=type]").replaceChildren(el("option", { value: "" }, "every class"), ...classOptions);
  } catch (error) {
    showNotice(`Cannot read the classes: ${error.message}`, "error");
  }
}

function renderStateChoices() {
  $("#filters select[name=state]").append(...states.map((state) => el("option", { value: state }, state)));
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
  $("#instances").addEventListener("click", onTableClick);
  $("#register").addEventListener("submit", register);
  const filtersForm = $("#filters");
  filtersForm.addEventListener("submit", (event) => (event.preventDefault(), applyFilters()));
  filtersForm.elements.search.addEventListener("input", onSearchInput);
  for (const select of filtersForm.querySelectorAll("select")) select.addEventListener("change", applyFilters);
  $("#configure .cancel").addEventListener("click", () => $("#configure").close());
  $("#token").addEventListener("click", onTokenButton);
  $("#notice").addEventListener("click", () => ($("#notice").hidden = true));
  window.addEventListener(tokenChanged, () => {
    renderTokenButton();
    if (!$("#register select[name=class]").options.length) renderClassChoices();
  });
  renderTokenButton();
  renderStateChoices();
  renderClassChoices();
  followEvents("/events?scope=cluster", { onOpen: reloadAll, onEvent: onStreamEvent, onStatus: showStreamStatus });
}

/// A row's action, or a node's pager.
function onTableClick(event) {
  const button = event.target.closest("button");
  const view = views.get(button?.closest("tbody")?.dataset.node);
  if (!view) return;
  const instance = view.rows.get(button.closest("tr").dataset.name);
  if (button.dataset.action && instance) actions[button.dataset.action](instance);
  else if (button.dataset.page === "next") showNextPage(view);
  else if (button.dataset.page === "previous") showPreviousPage(view);
}

main();
