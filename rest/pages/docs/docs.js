// The docs page: /openapi.json rendered as a list of operations, each with
// its parameters, request body, responses and a form that sends it.

import {
  apiBase,
  detailOf,
  forgetToken,
  nodePath,
  refName,
  request,
  requestJson,
  resolveSchema,
  signIn,
  storedToken,
  tokenChanged,
} from "../ui/api.js";
import { el } from "../ui/dom.js";

/// The OpenAPI document of this node.
let spec;

const $ = (selector) => document.querySelector(selector);

// -- schemas ---------------------------------------------------------------------------

/// A schema's type in one line: `ServiceStatus`, `string[]`, `"a" | "b"`.
function typeOf(schema) {
  if (!schema) return "";
  if (schema.$ref) return refName(schema);
  if (schema.enum) return schema.enum.map((value) => JSON.stringify(value)).join(" | ");
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return alternatives.map(typeOf).join(" | ");
  if (schema.type === "array") return `${typeOf(schema.items) || "any"}[]`;
  return [schema.type].flat().filter(Boolean).join(" | ") || "any";
}

/// A schema shown in full: the table of its properties, one collapsible
/// part per alternative, or just its type.
function schemaView(schema) {
  const resolved = resolveSchema(spec, schema);
  const alternatives = resolved.anyOf ?? resolved.oneOf;
  if (alternatives)
    return alternatives.map((alternative) =>
      el("details", { class: "schema" },
        el("summary", {}, resolveSchema(spec, alternative).title ?? typeOf(alternative)),
        schemaView(alternative)));
  if (resolved.properties) return propertiesTable(resolved);
  return el("code", {}, typeOf(schema));
}

function propertiesTable(schema) {
  const required = new Set(schema.required ?? []);
  return el("table", {},
    el("thead", {}, el("tr", {}, ["property", "type", "default", "constraints", "description"].map((name) => el("th", {}, name)))),
    el("tbody", {}, Object.entries(schema.properties).map(([name, property]) =>
      el("tr", {},
        el("td", {}, name, required.has(name) ? el("span", { class: "required", title: "required" }, " *") : null),
        el("td", {}, el("code", {}, typeOf(property))),
        el("td", {}, property.default === undefined ? "" : el("code", {}, JSON.stringify(property.default))),
        el("td", {}, constraints(property)),
        el("td", {}, property.description ?? "")))));
}

function constraints(schema) {
  const bounds = [
    ["minimum", "≥"], ["exclusiveMinimum", ">"], ["maximum", "≤"], ["exclusiveMaximum", "<"], ["pattern", "matches"],
  ];
  return bounds.filter(([key]) => schema[key] !== undefined).map(([key, sign]) => `${sign} ${schema[key]}`).join(", ");
}

/// A JSON value for a body: the schema's defaults, and a placeholder of the
/// right type for each required property without one.
function exampleOf(schema) {
  const resolved = resolveSchema(spec, schema);
  if (resolved.default !== undefined) return resolved.default;
  const alternatives = resolved.anyOf ?? resolved.oneOf;
  if (alternatives) return exampleOf(alternatives[0]);
  if (resolved.enum) return resolved.enum[0];
  if (resolved.properties) {
    const required = new Set(resolved.required ?? []);
    return Object.fromEntries(Object.entries(resolved.properties)
      .filter(([name, property]) => property.default !== undefined || required.has(name))
      .map(([name, property]) => [name, exampleOf(property)]));
  }
  const placeholders = { string: "", integer: 0, number: 0, boolean: false, array: [], object: {} };
  return placeholders[[resolved.type].flat()[0]] ?? {};
}

// -- one operation ---------------------------------------------------------------------

/// Its parameters, plus any `{name}` of the path the document does not list.
function parametersOf(path, operation) {
  const parameters = [...(operation.parameters ?? [])];
  for (const [, name] of path.matchAll(/\{([^}]+)\}/g))
    if (!parameters.some((parameter) => parameter.in === "path" && parameter.name === name))
      parameters.push({ name, in: "path", required: true, schema: { type: "string" } });
  return parameters;
}

function operationView(path, method, operation) {
  const parameters = parametersOf(path, operation);
  const body = operation.requestBody;
  return el("details", { class: "operation", "data-method": method.toUpperCase(), "data-path": path },
    el("summary", {},
      el("span", { class: `method ${method}` }, method.toUpperCase()),
      el("code", {}, path),
      el("span", { class: "summary" }, operation.summary ?? "")),
    el("div", { class: "body" },
      operation.description ? el("p", {}, operation.description) : null,
      parameters.length ? [el("h4", {}, "Parameters"), parametersTable(parameters)] : null,
      body ? [el("h4", {}, `Request body${body.required ? " (required)" : ""}`), requestBodyView(body)] : null,
      el("h4", {}, "Responses"),
      responsesTable(operation.responses ?? {}),
      el("h4", {}, "Try it"),
      tryForm(path, method, parameters, body)));
}

function parametersTable(parameters) {
  return el("table", {},
    el("thead", {}, el("tr", {}, ["name", "in", "type", "description"].map((name) => el("th", {}, name)))),
    el("tbody", {}, parameters.map((parameter) =>
      el("tr", {},
        el("td", {}, parameter.name, parameter.required ? el("span", { class: "required", title: "required" }, " *") : null),
        el("td", {}, parameter.in),
        el("td", {}, el("code", {}, typeOf(parameter.schema))),
        el("td", {}, parameter.description ?? "")))));
}

function requestBodyView(body) {
  return Object.entries(body.content ?? {}).map(([type, media]) => [
    el("p", {}, body.description ? `${body.description} · ` : "", el("code", {}, type)),
    schemaView(media.schema),
  ]);
}

function responsesTable(responses) {
  return el("table", {},
    el("thead", {}, el("tr", {}, ["status", "description", "content"].map((name) => el("th", {}, name)))),
    el("tbody", {}, Object.entries(responses).map(([status, response]) =>
      el("tr", {},
        el("td", {}, status),
        el("td", {}, response.description ?? ""),
        el("td", {}, Object.entries(response.content ?? {}).map(([type, media]) => contentView(type, media.schema)))))));
}

/// One content type of a response: its schema's type, opened on demand
/// when it has properties.
function contentView(type, schema) {
  const resolved = resolveSchema(spec, schema);
  const label = [el("code", {}, type), schema ? ` ${typeOf(schema)}` : ""];
  if (!resolved.properties) return el("div", {}, label);
  return el("details", { class: "schema" }, el("summary", {}, label), propertiesTable(resolved));
}

// -- sending ---------------------------------------------------------------------------

function tryForm(path, method, parameters, body) {
  const result = el("div", { class: "result", "aria-live": "polite" });
  const form = el("form", { class: "try", novalidate: true },
    parameters.length ? el("div", { class: "inputs" }, parameters.map(parameterInput)) : null,
    body ? bodyInput(body) : null,
    el("div", { class: "send" }, el("button", { class: "primary" }, "Send"), el("code", { class: "muted" }, `${method.toUpperCase()} ${path}`)),
    result);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(form, path, method.toUpperCase(), parameters, result);
  });
  return form;
}

function parameterInput(parameter) {
  const name = `${parameter.in}:${parameter.name}`;
  const schema = resolveSchema(spec, parameter.schema);
  const input = schema.enum
    ? el("select", { name }, el("option", { value: "" }, ""), schema.enum.map((value) => el("option", { value }, value)))
    : el("input", { name, placeholder: typeOf(parameter.schema), size: 14 });
  return el("label", {}, parameter.name, parameter.required ? el("span", { class: "required" }, "*") : null, input);
}

/// The JSON body, prefilled from the schema; with several possible
/// schemas (configure: one per class), a select picks whose defaults.
function bodyInput(body) {
  const schema = body.content?.["application/json"]?.schema ?? {};
  const text = (value) => JSON.stringify(value, null, 2);
  const textarea = el("textarea", { name: "body", rows: 6, spellcheck: "false" }, text(exampleOf(schema)));
  textarea.rows = Math.min(16, textarea.value.split("\n").length + 1);
  const alternatives = resolveSchema(spec, schema).anyOf ?? resolveSchema(spec, schema).oneOf;
  if (!alternatives) return textarea;
  const pick = el("select", { name: "example" }, alternatives.map((alternative, index) =>
    el("option", { value: index }, resolveSchema(spec, alternative).title ?? typeOf(alternative))));
  pick.addEventListener("change", () => (textarea.value = text(exampleOf(alternatives[pick.value]))));
  return [el("label", {}, "Defaults of", pick), textarea];
}

async function send(form, path, method, parameters, result) {
  const value = (parameter) => form.elements.namedItem(`${parameter.in}:${parameter.name}`).value.trim();
  const target = path.replace(/\{([^}]+)\}/g, (_, name) =>
    encodeURIComponent(value(parameters.find((parameter) => parameter.in === "path" && parameter.name === name))));
  const query = new URLSearchParams();
  for (const parameter of parameters.filter((parameter) => parameter.in === "query"))
    if (value(parameter) !== "") query.append(parameter.name, value(parameter));
  const url = nodePath($("#node").value, target) + (query.toString() ? `?${query}` : "");
  const body = form.elements.namedItem("body")?.value.trim() || undefined;
  const sent = `${method} ${apiBase()}${url}`; // as it goes out, with the API prefix
  result.replaceChildren(el("p", { class: "muted" }, `${sent} …`));
  const started = performance.now();
  try {
    const response = await request(method, url, { body });
    const elapsed = Math.round(performance.now() - started);
    showResponse(result, sent, response, await response.text(), elapsed);
  } catch (error) {
    result.replaceChildren(el("p", { class: "status error" }, `${sent}: ${error.message}`));
  }
}

function showResponse(result, sent, response, text, elapsed) {
  let shown = text;
  try {
    shown = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    // not JSON: shown as it came
  }
  result.replaceChildren(
    el("p", { class: `status ${response.ok ? "ok" : "error"}` },
      `${response.status} ${response.statusText}`,
      el("span", { class: "muted" }, ` · ${sent} · ${elapsed} ms · ${response.headers.get("Content-Type") ?? ""}`)),
    el("pre", {}, shown));
}

// -- the page --------------------------------------------------------------------------

function renderIntro() {
  $("#info").replaceChildren(
    el("strong", {}, `${spec.info?.title ?? "ProcessPype"} ${spec.info?.version ?? ""}`),
    ` · OpenAPI ${spec.openapi} at `,
    el("code", {}, location.origin + apiBase()),
    el("br"),
    spec.info?.description ?? "");
}

async function renderNodeChoices() {
  try {
    const { nodes } = await requestJson("GET", "/nodes");
    $("#node").append(...nodes.filter((node) => node.state === "up").map((node) =>
      el("option", { value: node.id }, `node ${node.id}`)));
  } catch {
    // without the list, requests go to this node only
  }
}

/// "Sign out" with a token; "Sign in" when the node refused the page without one.
function renderTokenButton(refused = false) {
  const button = $("#token");
  button.textContent = storedToken() ? "Sign out" : "Sign in";
  button.hidden = !storedToken() && !refused;
}

async function load() {
  const response = await request("GET", "/openapi.json");
  if (!response.ok) {
    renderTokenButton(response.status === 401);
    $("#info").textContent = `Cannot load /openapi.json: ${await detailOf(response)}`;
    $("#info").className = "refusal";
    return;
  }
  $("#info").className = "";
  spec = await response.json();
  renderIntro();
  $("#operations").replaceChildren(...Object.entries(spec.paths).flatMap(([path, operations]) =>
    Object.entries(operations).map(([method, operation]) => operationView(path, method, operation))));
  renderNodeChoices();
}

function main() {
  $("#token").addEventListener("click", () => {
    if (!storedToken()) return signIn();
    forgetToken();
    location.reload();
  });
  window.addEventListener(tokenChanged, () => {
    renderTokenButton();
    if (!spec) load();
  });
  renderTokenButton();
  load();
}

main();
