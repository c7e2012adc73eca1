// A record's decoded query_data as a collapsible tree (<details>: keyboard and screen reader ready).
// Children are built when a node is first opened, and long arrays show their first items with a button
// for the rest, so a message with a million-element array does not build a million nodes.

import { h } from "./dom.js";

const SHOWN = 100;
const OPEN_DEPTH = 2;

export function queryTree(value, name = "query_data") {
  return h("div", { class: "tree" }, node(value, name, 0));
}

function node(value, name, depth) {
  if (value === null || typeof value !== "object") return leaf(value, name);
  const isArray = Array.isArray(value);
  const entries = isArray ? value.map((item, index) => [index, item]) : Object.entries(value);
  const summary = h(
    "summary",
    {},
    h("span", { class: "key" }, String(name)),
    h("span", { class: "meta" }, isArray ? ` [${entries.length}]` : ` {${entries.length}}`),
  );
  const details = h("details", { open: depth < OPEN_DEPTH, dataset: { path: String(name) } }, summary);
  let built = false;
  const build = () => {
    if (built) return;
    built = true;
    showFrom(details, entries, 0, depth);
  };
  if (depth < OPEN_DEPTH) build();
  else details.addEventListener("toggle", () => details.open && build());
  return details;
}

function showFrom(details, entries, start, depth) {
  const stop = Math.min(entries.length, start + SHOWN);
  for (let index = start; index < stop; index += 1) {
    const [key, item] = entries[index];
    details.append(node(item, key, depth + 1));
  }
  if (stop < entries.length) {
    const more = h("button", { type: "button", class: "link" }, `show ${Math.min(SHOWN, entries.length - stop)} more of ${entries.length - stop}`);
    more.addEventListener("click", () => {
      more.remove();
      showFrom(details, entries, stop, depth);
    });
    details.append(h("div", { class: "leaf" }, more));
  }
}

function leaf(value, name) {
  const kind = value === null ? "null" : typeof value;
  const text = kind === "string" ? JSON.stringify(value) : String(value);
  return h("div", { class: "leaf" }, h("span", { class: "key" }, String(name)), ": ", h("span", { class: kind }, text));
}

/** Paths of the numeric leaves of a decoded message ("linear.x", "data[0]"), at most ``limit``. */
export function numericPaths(value, limit = 200) {
  const paths = [];
  const walk = (item, path) => {
    if (paths.length >= limit) return;
    if (typeof item === "number") paths.push(path);
    else if (Array.isArray(item)) item.slice(0, 16).forEach((child, index) => walk(child, `${path}[${index}]`));
    else if (item && typeof item === "object") {
      for (const [key, child] of Object.entries(item)) walk(child, path ? `${path}.${key}` : key);
    }
  };
  walk(value, "");
  return paths;
}

/** The value at a path made by ``numericPaths``, or undefined. */
export function valueAt(value, path) {
  let current = value;
  for (const part of path.match(/[^.[\]]+/g) || []) {
    if (current === null || typeof current !== "object") return undefined;
    current = current[part];
  }
  return current;
}
