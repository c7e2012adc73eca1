// The API as the console calls it: the user's key from this tab's session storage (never a URL, never
// local storage), JSON whose large integers stay exact, and every error as the API's "[Name] message".

const TOKEN_KEY = "openlqs.console.token";

/** Where the API is (``/apps/lqs/{datastore_id}/api``, behind the same stage as this page). */
export const apiBase = document.querySelector('meta[name="openlqs-api"]').content;

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const session = {
  token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  save(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** The bearer token of a key: base64 of the UTF-8 text "{key_id}:{secret}". */
export function tokenOf(keyId, secret) {
  const bytes = new TextEncoder().encode(`${keyId}:${secret}`);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

// A string (skipped whole) or a number. Integers of 16 digits and more (nanosecond timestamps,
// uint64 fields) would lose digits as JavaScript numbers, so they are turned into strings first.
const TOKENS = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
const BIG_INTEGER = /^-?\d{16,}$/;

/** JSON.parse, with every integer of 16 digits or more kept exact, as a string. */
export function parseJson(text) {
  return JSON.parse(text.replace(TOKENS, (token) => (token[0] !== '"' && BIG_INTEGER.test(token) ? `"${token}"` : token)));
}

/** The message of an error answer: "[Name] detail", as the API words it. */
function messageOf(status, statusText, payload) {
  const message = payload && typeof payload.message === "string" ? payload.message : "";
  if (message.startsWith("[")) return message;
  const name = status === 401 ? "Unauthorized" : status === 403 ? "Forbidden" : `Http${status}`;
  return `[${name}] ${message || statusText || "The API answered with an error."}`;
}

/**
 * One API call. ``query`` values that are undefined, null or "" are left out (a list repeats its key);
 * ``token`` overrides the session's (to check a key before keeping it). Resolves to the parsed answer
 * (null for 204); rejects with an ApiError whose message is "[Name] detail".
 */
export async function call(method, path, { query, body, token } = {}) {
  const url = new URL(apiBase + path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    // A list is sent as the key repeated (tag_label_ids_includes=A&tag_label_ids_includes=B).
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null && item !== "") url.searchParams.append(name, String(item));
    }
  }
  const headers = { Authorization: `Bearer ${token ?? session.token() ?? ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (error) {
    throw new ApiError(0, `[NetworkError] The API did not answer: ${error.message}`);
  }
  const text = await response.text();
  let payload = null;
  if (text) {
    try {
      payload = parseJson(text);
    } catch {
      payload = null;
    }
  }
  if (!response.ok) throw new ApiError(response.status, messageOf(response.status, response.statusText, payload));
  return payload;
}

/** Path segment of an object key (keys may hold "/", which the API takes percent-encoded). */
export function keySegment(key) {
  return encodeURIComponent(key);
}
