// A small helper to build DOM without string HTML (values are never parsed
// as markup, so names and errors from the node are shown as they are).

/// el("td", {class: "state", onclick: f}, "text", child, [more children]).
/// Attributes that are null, undefined or false are left out; true sets an
/// empty attribute; names starting with "on" add event listeners.
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.flat(Infinity).filter((child) => child !== null && child !== undefined));
  return element;
}
