// Building the page: elements and text nodes only. Nothing the API returns ever reaches the HTML
// parser, so a name like <img src=x onerror=alert(1)> is shown as the text it is.

/** An element with attributes ("on*" functions become listeners) and children (strings become text). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  setAttributes(element, attributes);
  append(element, children);
  return element;
}

const SVG = "http://www.w3.org/2000/svg";

/** An SVG element, as ``h``. */
export function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  setAttributes(element, attributes);
  append(element, children);
  return element;
}

function setAttributes(element, attributes) {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
}

export function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Replace an element's children. */
export function fill(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

// -- formats -----------------------------------------------------------------------------------------

/** A nanosecond timestamp (number or exact string) as a BigInt. */
export function ns(value) {
  if (typeof value === "bigint") return value;
  return BigInt(typeof value === "string" ? value : Math.round(Number(value)));
}

/** ISO 8601 with nanoseconds: 2014-03-31T19:24:48.123456789Z. */
export function formatTime(value) {
  if (value === null || value === undefined) return "—";
  const total = ns(value);
  const seconds = total / 1_000_000_000n - (total < 0n && total % 1_000_000_000n !== 0n ? 1n : 0n);
  const fraction = total - seconds * 1_000_000_000n;
  const date = new Date(Number(seconds) * 1000);
  if (Number.isNaN(date.getTime())) return String(value);
  return `${date.toISOString().slice(0, 19)}.${fraction.toString().padStart(9, "0")}Z`;
}

/** Seconds between two nanosecond timestamps, as a Number. */
export function secondsBetween(start, end) {
  return Number(ns(end) - ns(start)) / 1e9;
}

export function formatDuration(seconds) {
  if (!Number.isFinite(seconds)) return "—";
  if (Math.abs(seconds) < 1) return `${(seconds * 1000).toFixed(1)} ms`;
  if (Math.abs(seconds) < 120) return `${seconds.toFixed(2)} s`;
  if (Math.abs(seconds) < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export function formatCount(value) {
  return value === null || value === undefined ? "—" : Number(value).toLocaleString("en-US");
}

export function formatBytes(value) {
  if (value === null || value === undefined) return "—";
  const bytes = Number(value);
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let size = bytes / 1024;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${size.toFixed(size < 10 ? 1 : 0)} ${units[unit]}`;
}

/**
 * A time the user typed: nanoseconds ("1396293888123456789"), seconds with a dot or an "s"
 * ("1396293888.5", "1396293888s"), or ISO 8601 ("2014-03-31T19:24:48.5Z"), as the CLI takes them.
 * Returns a BigInt, or throws an Error saying what is accepted.
 */
export function parseTime(text) {
  const value = text.trim();
  if (/^\d+$/.test(value)) return BigInt(value);
  const seconds = /^(\d+)(?:\.(\d{0,9})\d*)?s?$/.exec(value);
  if (seconds && (value.includes(".") || value.endsWith("s"))) {
    return BigInt(seconds[1]) * 1_000_000_000n + BigInt((seconds[2] || "").padEnd(9, "0"));
  }
  const iso = /^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d)?)(?:\.(\d{1,9})\d*)?(Z|[+-]\d\d:?\d\d)?$/i.exec(value);
  if (iso) {
    const millis = Date.parse(`${iso[1].replace(" ", "T")}${iso[3] || "Z"}`);
    if (!Number.isNaN(millis)) {
      return BigInt(millis) * 1_000_000n + BigInt((iso[2] || "").padEnd(9, "0"));
    }
  }
  throw new Error(`[BadTime] "${value}" is not a time: give nanoseconds, seconds with a dot, or ISO 8601.`);
}
