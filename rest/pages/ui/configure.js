// The configure form: one input per property of a class's configuration
// schema (from /openapi.json), and the configuration object read back.
//
// Numbers are typed into text inputs and sent as typed when they are not
// numbers: the node validates the configuration and its 422 detail says
// what is wrong, in the node's words (one validator, not two).

import { el } from "./dom.js";

/// The fields of `schema` (a JSON Schema object), filled with `values` (the
/// instance's configuration), or with the defaults where it has none.
/// Required properties come first.
export function configurationFields(schema, values = {}) {
  const required = new Set(schema.required ?? []);
  const names = Object.keys(schema.properties ?? {}).sort(
    (a, b) => required.has(b) - required.has(a) || a.localeCompare(b),
  );
  return names.map((name) => {
    const property = schema.properties[name];
    return field(name, property, values[name] ?? property.default, required.has(name));
  });
}

/// The configuration the fields of `form` describe. Empty fields are left
/// out, so the node applies its default (or says the field is required).
export function readConfiguration(form, schema) {
  const configuration = {};
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    const input = form.elements.namedItem(name);
    if (!input) continue;
    const value = valueOf(input, property);
    if (value !== undefined) configuration[name] = value;
  }
  return configuration;
}

function field(name, property, value, required) {
  const id = `config-${name}`;
  const input = inputFor(property, value);
  input.id = id;
  input.name = name;
  return el(
    "div",
    { class: `field ${property.type === "boolean" ? "checkbox" : ""}` },
    el(
      "label",
      { for: id },
      name,
      required ? el("span", { class: "required", title: "required" }, "*") : null,
      el("span", { class: "type" }, typeName(property)),
    ),
    input,
    el("small", {}, hint(property)),
  );
}

function inputFor(property, value) {
  if (property.enum)
    return el("select", {}, property.enum.map((option) => el("option", { value: option, selected: option === value }, option)));
  switch (property.type) {
    case "boolean":
      return el("input", { type: "checkbox", checked: value === true });
    case "array":
      return el("input", { type: "text", value: (value ?? []).join(", "), placeholder: "comma-separated" });
    case "integer":
      return el("input", { type: "text", inputmode: "numeric", value: value ?? "" });
    case "number":
      return el("input", { type: "text", inputmode: "decimal", value: value ?? "" });
    case "string":
      return el("input", { type: "text", value: value ?? "" });
    default: // an object or a type the form does not know: JSON
      return el("input", { type: "text", value: value === undefined ? "" : JSON.stringify(value) });
  }
}

/// What an input holds, as the JSON type of its property; undefined if empty.
function valueOf(input, property) {
  if (property.type === "boolean" && !property.enum) return input.checked;
  const text = input.value.trim();
  if (text === "") return undefined;
  if (property.enum) return text;
  switch (property.type) {
    case "integer":
    case "number":
      return number(text);
    case "array":
      return text
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item !== "")
        .map((item) => (["integer", "number"].includes(property.items?.type) ? number(item) : item));
    case "string":
      return text;
    default:
      try {
        return JSON.parse(text);
      } catch {
        return text;
      }
  }
}

/// `text` as a number if it is one, else as it is (for the node to refuse).
function number(text) {
  const value = Number(text);
  return Number.isFinite(value) ? value : text;
}

function typeName(property) {
  if (property.type === "array") return `${property.items?.type ?? "any"}[]`;
  return [property.type].flat().join(" | ") || "any";
}

/// The description, the default and the bounds, in one line.
function hint(property) {
  const parts = [property.description];
  if (property.default !== undefined) parts.push(`default ${JSON.stringify(property.default)}`);
  if (property.minimum !== undefined) parts.push(`≥ ${property.minimum}`);
  if (property.exclusiveMinimum !== undefined) parts.push(`> ${property.exclusiveMinimum}`);
  if (property.maximum !== undefined) parts.push(`≤ ${property.maximum}`);
  if (property.exclusiveMaximum !== undefined) parts.push(`< ${property.exclusiveMaximum}`);
  return parts.filter(Boolean).join(" · ");
}
