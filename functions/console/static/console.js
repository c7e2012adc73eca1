// The openlqs console: pages for groups, logs (ingestions, upload, objects, topics, timeline) and
// topics (records in a window, a record's data, images, plots). Routes live in the URL's fragment
// (#/logs/{id}), so links, the back button and reloads work; the key never goes into a URL.

import { ApiError, call, keySegment, session, tokenOf } from "./api.js";
import { fill, formatBytes, formatCount, formatDuration, formatTime, h, ns, parseTime, secondsBetween } from "./dom.js";
import { allLabels, labelChip, labelsOfLogs, labelText, logTags, withLabels } from "./labels.js";
import { linePlot } from "./plot.js";
import { timeline } from "./timeline.js";
import { numericPaths, queryTree, valueAt } from "./tree.js";
import { uploadAndIngest } from "./upload.js";

const main = document.getElementById("main");
const alerts = document.getElementById("alerts");
const crumbs = document.getElementById("crumbs");
const who = document.getElementById("who");
const whoName = document.getElementById("who-name");

const PAGE = 50;
const ACTIVE = new Set(["queued", "processing", "finalizing"]);
const REQUEUE = new Set(["failed", "cancelled"]);
/** Records larger than this are not decoded on the page (offered as a download instead). */
const INLINE_LIMIT = 1024 * 1024;
/** The API returns at most 4 MiB of raw bytes in one answer. */
const RAW_LIMIT = 4 * 1024 * 1024;
/** Points a plot asks for: about what a canvas 1,200 px wide can show. */
const PLOT_POINTS = 1000;
/** Topics the timeline shows (one coverage request each). */
const TIMELINE_TOPICS = 100;

/** Who is signed in: the key's name and role (from GET /apiKeys/me). */
let key = null;
/** Each render has a number; a late answer for an older page is dropped. */
let generation = 0;
let timer = null;
let digestionTimer = null;
/** An alert raised just before a route change that must outlive it (a key that stopped working). */
let keepAlerts = false;

// -- errors ------------------------------------------------------------------------------------------

function showError(error) {
  const message = error instanceof Error ? error.message : String(error);
  const close = h("button", { type: "button", "aria-label": "Dismiss" }, "Dismiss");
  const alert = h("div", { class: "alert" }, h("span", { class: "text" }, message), close);
  close.addEventListener("click", () => alert.remove());
  alerts.append(alert);
  if (error instanceof ApiError && error.status === 401 && session.token()) {
    // The key stopped working (disabled, deleted): back to signing in.
    session.clear();
    key = null;
    keepAlerts = true;
    window.location.hash = "#/signin";
  }
}

function clearErrors() {
  alerts.replaceChildren();
}

// A policy violation would be a bug of the console: say so rather than fail silently.
document.addEventListener("securitypolicyviolation", (event) => {
  showError(`[ContentSecurityPolicy] The page blocked ${event.blockedURI || "an inline script"} (${event.violatedDirective}).`);
});
window.addEventListener("unhandledrejection", (event) => showError(event.reason));

// -- helpers -----------------------------------------------------------------------------------------

const canWrite = () => key && (key.role === "write" || key.role === "admin");

/** A button for a change: disabled, saying why, for a key with the read role. */
function writeButton(label, attributes = {}) {
  const allowed = canWrite();
  return h(
    "button",
    { ...attributes, disabled: !allowed || attributes.disabled, title: allowed ? attributes.title : "Needs a key with the write role" },
    label,
  );
}

function readOnlyNotice() {
  return canWrite() ? null : h("p", { class: "notice" }, "This key has the read role: changes are disabled.");
}

function link(route, text) {
  return h("a", { href: `#${route}` }, text);
}

function setCrumbs(...parts) {
  const items = [link("/groups", "Groups")];
  for (const part of parts) items.push(h("span", { class: "sep" }, "›"), part);
  fill(crumbs, items);
}

function heading(text, ...rest) {
  const title = h("h1", { tabindex: "-1" }, text);
  return [title, ...rest];
}

function stateCell(process) {
  const state = process.state || "—";
  return h("span", { class: `state state-${state}` }, state);
}

function progressCell(process) {
  const value = process.state === "completed" ? 1 : Number(process.progress ?? 0);
  return h(
    "div",
    { class: "progress" },
    h("progress", { max: "1", value: String(value), "aria-label": "Progress" }),
    h("span", {}, `${Math.round(value * 100)}%`),
  );
}

/** A table; ``columns`` is [[header, cell(row), className?]]. */
function table(columns, rows, caption) {
  return h(
    "table",
    {},
    caption ? h("caption", { class: "muted" }, caption) : null,
    h("thead", {}, h("tr", {}, columns.map(([title, , className]) => h("th", { scope: "col", class: className }, title)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, cell, className]) => h("td", { class: className }, cell(row)))))),
  );
}

function pager(offset, count, pageSize, go) {
  const first = count === 0 ? 0 : offset + 1;
  const last = Math.min(offset + pageSize, count);
  const lastPage = Math.max(0, Math.floor((count - 1) / pageSize) * pageSize);
  return h(
    "div",
    { class: "pager" },
    h("button", { type: "button", disabled: offset === 0, onclick: () => go(0) }, "First"),
    h("button", { type: "button", disabled: offset === 0, onclick: () => go(Math.max(0, offset - pageSize)) }, "Previous"),
    h("span", { class: "page-status" }, `${formatCount(first)}–${formatCount(last)} of ${formatCount(count)}`),
    h("button", { type: "button", disabled: last >= count, onclick: () => go(offset + pageSize) }, "Next"),
    h("button", { type: "button", disabled: last >= count, onclick: () => go(lastPage) }, "Last"),
  );
}

function routeQuery() {
  const hash = window.location.hash.slice(1);
  const index = hash.indexOf("?");
  return new URLSearchParams(index >= 0 ? hash.slice(index + 1) : "");
}

function hashWith(values) {
  const path = window.location.hash.slice(1).split("?")[0];
  const query = routeQuery();
  for (const [name, value] of Object.entries(values)) {
    if (value === null || value === undefined || value === "") query.delete(name);
    else query.set(name, String(value));
  }
  const text = query.toString();
  return `#${path}${text ? `?${text}` : ""}`;
}

/** Go to the same page with other parameters (rendered again). */
function setRouteQuery(values) {
  window.location.hash = hashWith(values);
}

/** Note parameters in the URL without rendering again (a reload or a shared link shows the same). */
function replaceRouteQuery(values) {
  window.history.replaceState(null, "", hashWith(values));
}

/** Save a blob under a name (a download, from memory). */
function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const anchor = h("a", { href: url, download: name });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function base64Bytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index += 1) bytes[index] = binary.charCodeAt(index);
  return bytes;
}

// -- signing in --------------------------------------------------------------------------------------

async function loadKey() {
  const answer = await call("GET", "/apiKeys/me");
  key = answer.data;
  whoName.textContent = `${key.name || key.id} (${key.role})`;
  who.hidden = false;
}

function signInPage() {
  who.hidden = true;
  fill(crumbs);
  const keyId = h("input", { id: "key-id", name: "key-id", autocomplete: "username", required: true, spellcheck: "false" });
  const secret = h("input", { id: "key-secret", name: "key-secret", type: "password", autocomplete: "current-password", required: true });
  const status = h("p", { class: "inline-error", role: "status", id: "signin-status" });
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    { method: "post", "aria-describedby": "signin-help" },
    h("label", { for: "key-id" }, "API key id (LQS_API_KEY_ID)", keyId),
    h("label", { for: "key-secret" }, "Secret (LQS_API_KEY_SECRET)", secret),
    h("div", {}, button),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    status.textContent = "";
    const token = tokenOf(keyId.value.trim(), secret.value.trim());
    try {
      const answer = await call("GET", "/apiKeys/me", { token });
      session.save(token);
      key = answer.data;
      secret.value = "";
      whoName.textContent = `${key.name || key.id} (${key.role})`;
      who.hidden = false;
      window.location.hash = "#/groups";
    } catch (error) {
      status.textContent = error.message;
    } finally {
      button.disabled = false;
    }
  });
  fill(
    main,
    h(
      "section",
      { class: "signin" },
      heading("Sign in"),
      h(
        "p",
        { id: "signin-help", class: "muted" },
        "Sign in with an API key (make local prints the local admin key). The key is kept in this tab's session storage only: closing the tab or signing out forgets it.",
      ),
      form,
    ),
  );
  keyId.focus();
}

document.getElementById("sign-out").addEventListener("click", () => {
  session.clear();
  key = null;
  clearErrors();
  window.location.hash = "#/signin";
});

// -- groups ------------------------------------------------------------------------------------------

function searchForm(label, value, onSearch) {
  const input = h("input", { type: "search", name: "q", value: value || "", "aria-label": label, placeholder: label });
  const form = h("form", { class: "row", role: "search" }, input, h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    onSearch(input.value.trim());
  });
  return form;
}

function createForm(label, placeholder, create) {
  const input = h("input", { name: "name", placeholder, "aria-label": placeholder, required: true, disabled: !canWrite() });
  const button = writeButton(label, { type: "submit" });
  const form = h("form", { class: "row" }, input, button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      await create(input.value.trim());
      input.value = "";
    } catch (error) {
      showError(error);
    } finally {
      button.disabled = !canWrite();
    }
  });
  return form;
}

async function groupsPage(mine) {
  const query = routeQuery();
  const q = query.get("q") || "";
  const offset = Number(query.get("offset") || 0);
  setCrumbs();
  const list = h("div", {}, h("p", { class: "muted" }, "Loading groups…"));
  fill(
    main,
    heading("Groups"),
    readOnlyNotice(),
    searchForm("Group name contains", q, (text) => setRouteQuery({ q: text, offset: null })),
    list,
    h("h2", {}, "New group"),
    createForm("Create group", "Group name", async (name) => {
      const answer = await call("POST", "/groups", { body: { name } });
      window.location.hash = `#/groups/${answer.data.id}`;
    }),
  );
  main.querySelector("h1").focus();
  const answer = await call("GET", "/groups", { query: { name_like: q ? `%${q}%` : "", limit: PAGE, offset, order: "name" } });
  if (mine !== generation) return;
  fill(
    list,
    answer.data.length
      ? table(
          [
            ["Name", (group) => link(`/groups/${group.id}`, group.name)],
            ["Note", (group) => group.note || ""],
            ["Created", (group) => group.created_at?.slice(0, 19).replace("T", " ") || ""],
          ],
          answer.data,
        )
      : h("p", { class: "muted" }, q ? "No group matches." : "No group yet."),
    pager(offset, answer.count ?? answer.data.length, PAGE, (next) => setRouteQuery({ offset: next })),
  );
}

/**
 * The label filter: a checkbox per label (Space ticks one, Enter applies), the chosen ones ticked.
 * ``onFilter`` gets the ids ticked.
 */
function labelFilter(labels, chosen, onFilter) {
  if (!labels.size) return h("p", { class: "muted", id: "label-filter" }, "No label yet: tag logs to filter them by label.");
  const boxes = [...labels.values()].map((label) =>
    h("label", {}, h("input", { type: "checkbox", name: "label", value: label.id, checked: chosen.includes(label.id) }), labelText(label)),
  );
  const form = h(
    "form",
    { id: "label-filter", role: "search", "aria-label": "Filter logs by labels" },
    h("fieldset", { class: "label-filter" }, h("legend", {}, "Logs carrying every label ticked"), h("div", { class: "choices" }, boxes)),
    h(
      "div",
      { class: "row" },
      h("button", { type: "submit" }, "Filter by labels"),
      h("button", { type: "button", disabled: !chosen.length, onclick: () => onFilter([]) }, "Clear labels"),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    onFilter([...form.querySelectorAll("input[name=label]:checked")].map((box) => box.value));
  });
  return form;
}

async function groupPage(mine, groupId) {
  const query = routeQuery();
  const q = query.get("q") || "";
  const offset = Number(query.get("offset") || 0);
  const chosen = (query.get("labels") || "").split(",").filter(Boolean);
  const [group, labels] = await Promise.all([call("GET", `/groups/${groupId}`).then((answer) => answer.data), allLabels()]);
  if (mine !== generation) return;
  await withLabels(labels, chosen.filter((id) => /^[0-9a-f-]{32,36}$/i.test(id))).catch(showError);
  if (mine !== generation) return;
  setCrumbs(h("span", {}, group.name));
  const list = h("div", { id: "logs" }, h("p", { class: "muted" }, "Loading logs…"));
  fill(
    main,
    heading(group.name),
    group.note ? h("p", { class: "note" }, group.note) : null,
    readOnlyNotice(),
    h("h2", {}, "Logs"),
    searchForm("Log name contains", q, (text) => setRouteQuery({ q: text, offset: null })),
    labelFilter(labels, chosen, (ids) => setRouteQuery({ labels: ids.join(","), offset: null })),
    list,
    h("h2", {}, "New log"),
    createForm("Create log", "Log name", async (name) => {
      const answer = await call("POST", "/logs", { body: { name, group_id: groupId } });
      window.location.hash = `#/logs/${answer.data.id}`;
    }),
  );
  main.querySelector("h1").focus();
  const answer = await call("GET", "/logs", {
    query: { group_id: groupId, name_like: q ? `%${q}%` : "", tag_label_ids_includes: chosen, limit: PAGE, offset, order: "name" },
  });
  if (mine !== generation) return;
  const labelCells = new Map();
  const filtered = q || chosen.length;
  fill(
    list,
    chosen.length
      ? h("p", { class: "muted", id: "label-filter-status" }, "Carrying every one of: ", chosen.map((id) => (labels.has(id) ? labelChip(labels.get(id)) : id)))
      : null,
    answer.data.length
      ? table(
          [
            ["Name", (log) => link(`/logs/${log.id}`, log.name)],
            [
              "Labels",
              (log) => {
                const cell = h("span", { class: "labels", dataset: { logId: log.id } }, h("span", { class: "muted" }, "…"));
                labelCells.set(log.id, cell);
                return cell;
              },
            ],
            ["Records", (log) => formatCount(log.record_count), "num"],
            ["Start", (log) => formatTime(log.start_time), "time"],
            ["Duration", (log) => (log.start_time ? formatDuration(secondsBetween(log.start_time, log.end_time)) : "—")],
          ],
          answer.data,
        )
      : h("p", { class: "muted" }, filtered ? "No log matches." : "No log in this group yet."),
    pager(offset, answer.count ?? answer.data.length, PAGE, (next) => setRouteQuery({ offset: next })),
  );
  // The labels of the logs shown (their tags' labels), a few logs at a time.
  await labelsOfLogs(
    answer.data.map((log) => log.id),
    labels,
    (logId, found) => {
      const cell = labelCells.get(logId);
      cell.dataset.loaded = "true";
      fill(cell, found.length ? found.map(labelChip) : h("span", { class: "muted" }, "—"));
    },
    (logId, error) => fill(labelCells.get(logId), h("span", { class: "inline-error" }, error.message)),
    () => mine === generation,
  );
}

// -- a log -------------------------------------------------------------------------------------------

function errorDetails(ingestion) {
  if (!ingestion.error_name && !ingestion.error_message) return "";
  return h(
    "div",
    { class: "inline-error" },
    h("strong", {}, `[${ingestion.error_name || "Error"}] `),
    ingestion.error_message || "",
    ingestion.error_payload
      ? h("details", {}, h("summary", {}, "Payload"), h("pre", {}, JSON.stringify(ingestion.error_payload, null, 2)))
      : null,
  );
}

function ingestionsTable(ingestions, onRequeue) {
  if (!ingestions.length) return h("p", { class: "muted" }, "No ingestion yet.");
  return table(
    [
      ["Ingestion", (row) => h("span", { class: "mono" }, row.name || row.object_key || row.id), "name"],
      ["State", stateCell, "nowrap"],
      ["Progress", progressCell, "nowrap"],
      ["Error", errorDetails],
      ["", (row) => (REQUEUE.has(row.state) ? writeButton("Queue again", { type: "button", onclick: () => onRequeue(row) }) : ""), "nowrap"],
    ],
    ingestions,
  );
}

function relativeKey(object, logId) {
  const marker = `/logs/${logId}/`;
  const at = object.key.indexOf(marker);
  return at >= 0 ? object.key.slice(at + marker.length) : object.key;
}

/**
 * Links to a log object (``key`` relative to the log): a download and, for an MCAP file, "Open in
 * Foxglove", both by the object's presigned URL (Foxglove reads it with ranged requests).
 */
function objectLinks(logId, key) {
  const cell = h("span", { class: "object-links" });
  call("GET", `/logs/${logId}/objects/${keySegment(key)}`)
    .then((found) => {
      const url = found.data.presigned_url;
      if (!url) return;
      cell.append(h("a", { href: url, rel: "noopener noreferrer" }, "Download"));
      if (/\.mcap$/i.test(key)) {
        const foxglove = `https://app.foxglove.dev/?ds=remote-file&ds.url=${encodeURIComponent(url)}`;
        cell.append(" · ", h("a", { href: foxglove, target: "_blank", rel: "noopener noreferrer", class: "foxglove" }, "Open in Foxglove"));
      }
    })
    .catch((error) => cell.append(h("span", { class: "inline-error" }, error.message)));
  return cell;
}

/** A digestion's export: its file, size and links once completed, else what it will be. */
function exportCell(logId, digestion) {
  const context = digestion.context && typeof digestion.context === "object" ? digestion.context : {};
  const spec = context.export && typeof context.export === "object" ? context.export : null;
  if (!spec) return h("span", { class: "muted" }, "No export (parts only)");
  if (digestion.state === "completed" && typeof spec.key === "string") {
    return h(
      "div",
      { class: "export" },
      h("span", { class: "mono" }, `${spec.key.split("/").pop()} (${formatBytes(spec.size)})`),
      " ",
      objectLinks(logId, spec.key),
    );
  }
  if (REQUEUE.has(digestion.state)) return h("span", { class: "muted" }, `No ${spec.format || ""} file: the digestion ${digestion.state}`);
  return h("span", { class: "muted" }, `${spec.format || "An export"} file once completed`);
}

function digestionsTable(logId, digestions) {
  if (!digestions.length) return h("p", { class: "muted" }, "No digestion yet (the client and the CLI's export make them).");
  return table(
    [
      ["Digestion", (row) => h("span", { class: "mono" }, row.name || row.id), "name"],
      ["State", stateCell, "nowrap"],
      ["Progress", progressCell, "nowrap"],
      ["Error", errorDetails],
      ["Export", (row) => exportCell(logId, row)],
    ],
    digestions,
  );
}

const timeOrBound = (value, bound) => (value === null || value === undefined ? bound : formatTime(value));

/** The route of a tag's records: its topic's page, in the tag's window (whole-log tags have none). */
const tagRoute = (tag) => (tag.topic_id ? `/topics/${tag.topic_id}?tag=${tag.id}` : null);

function tagsTable(tags, labels, topicNames) {
  if (!tags.length) return h("p", { class: "muted" }, "No tag yet.");
  return table(
    [
      ["Label", (tag) => (labels.has(tag.label_id) ? labelChip(labels.get(tag.label_id)) : tag.label_id)],
      ["Topic", (tag) => (tag.topic_id ? topicNames.get(tag.topic_id) || tag.topic_id : h("span", { class: "muted" }, "the whole log"))],
      ["From", (tag) => timeOrBound(tag.start_time, "the log's start"), "time"],
      ["To", (tag) => timeOrBound(tag.end_time, "the log's end"), "time"],
      ["Note", (tag) => tag.note || ""],
      [
        "",
        (tag) => {
          if (!tagRoute(tag)) return "";
          const label = labels.has(tag.label_id) ? labelText(labels.get(tag.label_id)) : tag.label_id;
          return h("a", { href: `#${tagRoute(tag)}`, class: "tag-records", "aria-label": `Records of ${label} on ${topicNames.get(tag.topic_id) || tag.topic_id}` }, "Show records");
        },
        "nowrap",
      ],
    ],
    tags,
  );
}

async function objectsSection(mine, logId, container) {
  const answer = await call("GET", `/logs/${logId}/objects`, { query: { max_keys: 100 } });
  if (mine !== generation) return;
  if (!answer.data.length) {
    fill(container, h("p", { class: "muted" }, "No object yet."));
    return;
  }
  const rows = answer.data.map((object) => ({ ...object, name: relativeKey(object, logId) }));
  fill(
    container,
    table(
      [
        ["Object", (object) => h("span", { class: "mono" }, object.name)],
        ["Size", (object) => formatBytes(object.size), "num"],
        ["State", (object) => object.upload_state],
        [
          "",
          (object) => (object.upload_state === "complete" ? objectLinks(logId, object.name) : h("span", { class: "object-links" })),
        ],
      ],
      rows,
    ),
  );
}

function uploadSection(logId, onQueued) {
  const input = h("input", { type: "file", name: "file", "aria-label": "File to upload", disabled: !canWrite() });
  const button = writeButton("Upload and ingest", { type: "submit" });
  const bar = h("progress", { max: "1", value: "0", "aria-label": "Upload progress", hidden: true });
  const status = h("span", { class: "upload-status", "aria-live": "polite" });
  const form = h("form", { class: "row" }, input, button, bar, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = input.files[0];
    if (!file) {
      status.textContent = "Choose a file first.";
      return;
    }
    button.disabled = true;
    bar.hidden = false;
    try {
      const ingestion = await uploadAndIngest(logId, file, (sent, total) => {
        bar.value = total ? sent / total : 1;
        status.textContent = `${formatBytes(sent)} of ${formatBytes(total)} sent`;
      });
      bar.value = 1;
      status.textContent = `Uploaded ${file.name}; ingestion queued.`;
      onQueued(ingestion);
    } catch (error) {
      status.textContent = "";
      showError(error);
    } finally {
      button.disabled = !canWrite();
    }
  });
  return form;
}

async function logPage(mine, logId) {
  const log = (await call("GET", `/logs/${logId}`)).data;
  if (mine !== generation) return;
  const group = (await call("GET", `/groups/${log.group_id}`)).data;
  if (mine !== generation) return;
  setCrumbs(link(`/groups/${group.id}`, group.name), h("span", {}, log.name));
  const ingestions = h("div", { id: "ingestions" }, h("p", { class: "muted" }, "Loading ingestions…"));
  const objects = h("div", { id: "objects" }, h("p", { class: "muted" }, "Loading objects…"));
  const topics = h("div", { id: "topics" }, h("p", { class: "muted" }, "Loading topics…"));
  const timelineBox = h("div", { id: "timeline" });
  const tagsBox = h("div", { id: "tags" }, h("p", { class: "muted" }, "Loading tags…"));
  const digestions = h("div", { id: "digestions" }, h("p", { class: "muted" }, "Loading digestions…"));
  const summary = h("dl", { class: "facts" });
  const renderSummary = (current) =>
    fill(
      summary,
      h("dt", {}, "Records"),
      h("dd", {}, formatCount(current.record_count)),
      h("dt", {}, "Start"),
      h("dd", {}, formatTime(current.start_time)),
      h("dt", {}, "End"),
      h("dd", {}, formatTime(current.end_time)),
      h("dt", {}, "Duration"),
      h("dd", {}, current.start_time ? formatDuration(secondsBetween(current.start_time, current.end_time)) : "—"),
    );
  renderSummary(log);
  fill(
    main,
    heading(log.name),
    log.note ? h("p", { class: "note" }, log.note) : null,
    summary,
    readOnlyNotice(),
    h("h2", {}, "Ingestions"),
    ingestions,
    h("h3", {}, "Upload a file"),
    uploadSection(logId, () => refreshIngestions()),
    h("h2", {}, "Digestions"),
    h("div", { class: "row" }, h("button", { type: "button", onclick: () => refreshDigestions().catch(showError) }, "Refresh digestions")),
    digestions,
    h("h2", {}, "Objects"),
    objects,
    h("h2", {}, "Topics"),
    topics,
    h("h2", {}, "Tags"),
    tagsBox,
    h("h2", {}, "Timeline"),
    timelineBox,
  );
  main.querySelector("h1").focus();

  // The log's tags and their labels, read once: the topics' refreshes reuse them.
  const labels = new Map();
  const tagsRead = logTags(logId)
    .then(async (tags) => {
      await withLabels(labels, tags.map((tag) => tag.label_id));
      return tags;
    })
    .catch((error) => {
      if (mine === generation) fill(tagsBox, h("p", { class: "inline-error" }, error.message));
      return null;
    });

  let wasActive = false;
  const refreshTopics = async () => {
    const current = (await call("GET", `/logs/${logId}`)).data;
    const answer = await call("GET", "/topics", { query: { log_id: logId, limit: 1000, order: "name" } });
    const tags = await tagsRead;
    if (mine !== generation) return;
    renderSummary(current);
    const rows = answer.data;
    const topicNames = new Map(rows.map((topic) => [topic.id, topic.name]));
    if (tags) fill(tagsBox, tagsTable(tags, labels, topicNames));
    const marks = (tags || []).map((tag) => {
      const text = labels.has(tag.label_id) ? labelText(labels.get(tag.label_id)) : tag.label_id;
      const where = tag.topic_id ? topicNames.get(tag.topic_id) || tag.topic_id : "the whole log";
      const when = `${timeOrBound(tag.start_time, "start")} to ${timeOrBound(tag.end_time, "end")}`;
      const route = tagRoute(tag);
      return { ...tag, text, title: `${text} on ${where}, ${when}${route ? ": show its records" : ""}`, href: route ? `#${route}` : null };
    });
    fill(
      topics,
      rows.length
        ? table(
            [
              ["Topic", (topic) => link(`/topics/${topic.id}`, topic.name)],
              ["Type", (topic) => topic.type_name || "—"],
              ["Encoding", (topic) => topic.type_encoding || "—"],
              ["Records", (topic) => formatCount(topic.record_count), "num"],
              ["First", (topic) => formatTime(topic.start_time), "time"],
              ["Last", (topic) => formatTime(topic.end_time), "time"],
            ],
            rows,
          )
        : h("p", { class: "muted" }, "No topic yet: upload and ingest a file."),
    );
    if (rows.length && current.start_time !== null && current.start_time !== undefined) {
      const shown = rows.slice(0, TIMELINE_TOPICS);
      fill(
        timelineBox,
        rows.length > shown.length ? h("p", { class: "muted" }, `The first ${shown.length} topics of ${rows.length}.`) : null,
        timeline(shown, current.start_time, current.end_time, marks),
      );
    } else {
      fill(timelineBox, h("p", { class: "muted" }, "The timeline shows once the log has records."));
    }
  };
  const requeue = async (ingestion) => {
    try {
      await call("PATCH", `/ingestions/${ingestion.id}`, { body: { state: "queued" } });
      await refreshIngestions();
    } catch (error) {
      showError(error);
    }
  };
  const refreshIngestions = async () => {
    const answer = await call("GET", "/ingestions", { query: { log_id: logId, limit: 100, order: "created_at", sort: "desc" } });
    if (mine !== generation) return;
    fill(ingestions, ingestionsTable(answer.data, requeue));
    const active = answer.data.some((ingestion) => ACTIVE.has(ingestion.state));
    if (wasActive && !active) {
      refreshTopics().catch(showError);
      objectsSection(mine, logId, objects).catch(showError);
    }
    wasActive = active;
    clearTimeout(timer);
    if (active) timer = setTimeout(() => refreshIngestions().catch(showError), 1000);
  };
  let digestionsActive = false;
  const refreshDigestions = async () => {
    const answer = await call("GET", "/digestions", { query: { log_id: logId, limit: 100, order: "created_at", sort: "desc" } });
    if (mine !== generation) return;
    fill(digestions, digestionsTable(logId, answer.data));
    const active = answer.data.some((digestion) => ACTIVE.has(digestion.state));
    if (digestionsActive && !active) objectsSection(mine, logId, objects).catch(showError);
    digestionsActive = active;
    clearTimeout(digestionTimer);
    if (active) digestionTimer = setTimeout(() => refreshDigestions().catch(showError), 2000);
  };
  await Promise.all([
    refreshIngestions(),
    refreshTopics(),
    objectsSection(mine, logId, objects),
    refreshDigestions().catch((error) => fill(digestions, h("p", { class: "inline-error" }, error.message))),
  ]);
}

// -- a topic -----------------------------------------------------------------------------------------

async function downloadRecord(topic, record) {
  const name = `${topic.name.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^_+/, "")}-${record.timestamp}.bin`;
  const length = Number(record.data_length ?? 0);
  if (length <= RAW_LIMIT) {
    const answer = await call("GET", `/topics/${topic.id}/records/${record.timestamp}`, { query: { include_raw_data: true } });
    saveBlob(new Blob([base64Bytes(answer.data.raw_data || "")], { type: "application/octet-stream" }), name);
    return;
  }
  const compressed = record.chunk_compression && !["none", ""].includes(record.chunk_compression);
  if (compressed) {
    throw new Error(`[TooLarge] This record is ${formatBytes(length)} inside a compressed chunk: download it with the Python client (lqs.utils.get_record_data).`);
  }
  // Uncompressed: the bytes straight from storage, with a ranged read of the log object.
  const ingestion = (await call("GET", `/ingestions/${record.ingestion_id}`)).data;
  const object = (await call("GET", `/logs/${topic.log_id}/objects/${keySegment(ingestion.object_key)}`)).data;
  const start = Number(record.data_offset);
  const response = await fetch(object.presigned_url, { headers: { Range: `bytes=${start}-${start + length - 1}` }, credentials: "omit" });
  if (!response.ok) throw new Error(`[StorageError] Storage answered ${response.status}.`);
  saveBlob(await response.blob(), name);
}

async function recordDetail(mine, topic, record, container) {
  const length = Number(record.data_length ?? 0);
  const download = h("button", { type: "button" }, "Download raw bytes");
  download.addEventListener("click", () => downloadRecord(topic, record).catch(showError));
  const facts = h(
    "dl",
    { class: "facts" },
    h("dt", {}, "Timestamp"),
    h("dd", { class: "mono" }, `${formatTime(record.timestamp)} (${record.timestamp})`),
    h("dt", {}, "Size"),
    h("dd", {}, formatBytes(length)),
    h("dt", {}, "Offset"),
    h("dd", {}, `${record.data_offset ?? "—"}${record.chunk_compression ? ` (${record.chunk_compression} chunk)` : ""}`),
  );
  fill(container, h("h3", { tabindex: "-1" }, "Record"), facts, h("div", { class: "row" }, download));
  if (length > INLINE_LIMIT) {
    container.append(h("p", { class: "notice" }, `This record is ${formatBytes(length)}: too large to show here. Download its bytes instead.`));
    return;
  }
  container.append(h("p", { class: "muted" }, "Decoding…"));
  const answer = await call("GET", `/topics/${topic.id}/records/${record.timestamp}`, { query: { include_auxiliary_data: true } });
  if (mine !== generation) return;
  container.lastChild.remove();
  const full = answer.data;
  if (full.error) container.append(h("div", { class: "inline-error" }, h("strong", {}, "Error: "), JSON.stringify(full.error)));
  const image = full.auxiliary_data && typeof full.auxiliary_data === "object" ? full.auxiliary_data.image : null;
  if (typeof image === "string" && /^[A-Za-z0-9+/=]+$/.test(image)) {
    const format = /^[a-z]+$/.test(full.auxiliary_data.format || "") ? full.auxiliary_data.format : "webp";
    container.append(
      h("div", { class: "preview" }, h("img", { src: `data:image/${format};base64,${image}`, alt: `Preview of ${topic.name} at ${formatTime(record.timestamp)}` })),
    );
  }
  if (full.query_data !== null && full.query_data !== undefined) container.append(queryTree(full.query_data));
}

async function plotSection(mine, topic, window_, count, sample, container) {
  if (sample === undefined) {
    fill(container, h("p", { class: "muted" }, "The records of this page are too large to decode here: no field to plot."));
    return;
  }
  const fields = sample ? numericPaths(sample) : [];
  if (!fields.length) {
    fill(container, h("p", { class: "muted" }, "No numeric field to plot in this topic's messages."));
    return;
  }
  const select = h("select", { name: "field", "aria-label": "Field to plot" }, fields.map((path) => h("option", { value: path }, path)));
  const button = h("button", { type: "submit" }, "Plot");
  const area = h("div", { class: "plot-area" });
  const form = h("form", { class: "row" }, h("label", {}, "Field", select), button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const field = select.value;
    button.disabled = true;
    fill(area, h("p", { class: "muted" }, "Reading records…"));
    try {
      const seconds = Math.max(secondsBetween(window_.from, window_.to), 1e-9);
      const frequency = count > PLOT_POINTS ? PLOT_POINTS / seconds : null;
      const xs = [];
      const ys = [];
      let offset = 0;
      let limit = 500;
      for (;;) {
        let page;
        try {
          page = await call("GET", `/topics/${topic.id}/records`, {
            query: {
              timestamp_gte: String(window_.from),
              timestamp_lt: String(window_.to),
              frequency: frequency === null ? "" : frequency.toPrecision(6),
              include_auxiliary_data: true,
              include_count: false,
              limit,
              offset,
            },
          });
        } catch (error) {
          if (error instanceof ApiError && error.status === 413 && limit > 10) {
            limit = Math.floor(limit / 4);
            continue;
          }
          throw error;
        }
        if (mine !== generation) return;
        for (const record of page.data) {
          const value = valueAt(record.query_data, field);
          if (typeof value === "number" && Number.isFinite(value)) {
            xs.push(secondsBetween(window_.from, record.timestamp));
            ys.push(value);
          }
        }
        offset += page.data.length;
        if (page.data.length < limit || xs.length >= PLOT_POINTS * 2) break;
      }
      const how = frequency === null ? "every record" : `thinned with frequency=${frequency.toPrecision(3)} Hz`;
      fill(area, h("p", { class: "plot-status" }, `${formatCount(xs.length)} points of ${field} (${how}).`), linePlot(xs, ys, field));
    } catch (error) {
      fill(area, h("p", { class: "inline-error" }, error.message));
    } finally {
      button.disabled = false;
    }
  });
  fill(container, form, area);
}

async function topicPage(mine, topicId) {
  const topic = (await call("GET", `/topics/${topicId}`)).data;
  if (mine !== generation) return;
  const log = (await call("GET", `/logs/${topic.log_id}`)).data;
  const group = (await call("GET", `/groups/${log.group_id}`)).data;
  if (mine !== generation) return;
  setCrumbs(link(`/groups/${group.id}`, group.name), link(`/logs/${log.id}`, log.name), h("span", {}, topic.name));
  const query = routeQuery();
  const hasRecords = topic.start_time !== null && topic.start_time !== undefined;
  // A tag's records (#/topics/{id}?tag={tag_id}): the list asks with tag_id, in the tag's window.
  const tagId = query.get("tag");
  let tag = null;
  let tagLabel = null;
  if (tagId) {
    tag = (await call("GET", `/tags/${tagId}`)).data;
    tagLabel = (await withLabels(new Map(), [tag.label_id])).get(tag.label_id);
    if (mine !== generation) return;
  }
  const bound = (value, fallback) => (value === null || value === undefined ? fallback : ns(value));
  const topicFrom = hasRecords ? ns(topic.start_time) : 0n;
  const topicTo = hasRecords ? ns(topic.end_time) + 1n : 1n;
  const from = query.get("from") ? BigInt(query.get("from")) : tag ? bound(tag.start_time, topicFrom) : topicFrom;
  const to = query.get("to") ? BigInt(query.get("to")) : tag ? bound(tag.end_time, topicTo - 1n) + 1n : topicTo;
  const offset = Number(query.get("offset") || 0);
  const pageSize = Number(query.get("limit") || PAGE);
  const selected = query.get("record");

  const fromInput = h("input", { name: "from", value: formatTime(from), size: 32, "aria-label": "From (inclusive)" });
  const toInput = h("input", { name: "to", value: formatTime(to), size: 32, "aria-label": "To (exclusive)" });
  const sizeSelect = h("select", { name: "limit", "aria-label": "Records per page" }, [20, 50, 100].map((size) => h("option", { value: size, selected: size === pageSize }, String(size))));
  const windowForm = h(
    "form",
    { class: "row" },
    h("label", {}, "From", fromInput),
    h("label", {}, "To (exclusive)", toInput),
    h("label", {}, "Per page", sizeSelect),
    h("button", { type: "submit" }, "Show"),
  );
  windowForm.addEventListener("submit", (event) => {
    event.preventDefault();
    try {
      setRouteQuery({ from: parseTime(fromInput.value), to: parseTime(toInput.value), offset: 0, limit: sizeSelect.value, record: null, tag: null });
    } catch (error) {
      showError(error);
    }
  });
  const records = h("div", { id: "records" }, h("p", { class: "muted" }, "Loading records…"));
  const detail = h("div", { id: "record" }, h("p", { class: "muted" }, "Choose a record to see its data."));
  const plot = h("div", { id: "plot" }, h("p", { class: "muted" }, "Loading fields…"));
  fill(
    main,
    heading(topic.name),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Type"),
      h("dd", {}, `${topic.type_name || "—"} (${topic.type_encoding || "no encoding"})`),
      h("dt", {}, "Records"),
      h("dd", {}, formatCount(topic.record_count)),
      h("dt", {}, "First"),
      h("dd", {}, formatTime(topic.start_time)),
      h("dt", {}, "Last"),
      h("dd", {}, formatTime(topic.end_time)),
    ),
    h("h2", {}, "Records in a window"),
    tag
      ? h(
          "p",
          { class: "notice", id: "tag-window" },
          "The records of the tag ",
          labelChip(tagLabel),
          ` from ${timeOrBound(tag.start_time, "the topic's start")} to ${timeOrBound(tag.end_time, "the topic's end")} (inclusive). `,
          link(`/topics/${topicId}`, "All records"),
        )
      : null,
    windowForm,
    h("div", { class: "columns" }, h("div", { class: "scroll" }, records), h("div", { class: "scroll" }, detail)),
    h("h2", {}, "Plot"),
    plot,
  );
  main.querySelector("h1").focus();

  // Paging and choosing a record change the list and the record in place (the plot stays).
  const showPage = async (pageOffset, chosen) => {
    const page = await call("GET", `/topics/${topicId}/records`, {
      query: { tag_id: tag ? tag.id : "", timestamp_gte: String(from), timestamp_lt: String(to), limit: pageSize, offset: pageOffset },
    });
    if (mine !== generation) return null;
    const total = page.count ?? page.data.length;
    const choose = (record, row) => {
      replaceRouteQuery({ record: record.timestamp });
      records.querySelectorAll("tr.selected").forEach((other) => other.classList.remove("selected"));
      row.classList.add("selected");
      recordDetail(mine, topic, record, detail).catch(showError);
    };
    const list = table(
      [
        ["Timestamp", (record) => h("button", { type: "button", class: "link mono record-button" }, formatTime(record.timestamp))],
        ["Since start", (record) => `+${formatDuration(secondsBetween(from, record.timestamp))}`],
        ["Size", (record) => formatBytes(record.data_length), "num"],
      ],
      page.data,
    );
    const rows = list.querySelectorAll("tbody tr");
    page.data.forEach((record, index) => {
      rows[index].querySelector("button").addEventListener("click", () => choose(record, rows[index]));
      if (String(record.timestamp) === chosen) choose(record, rows[index]);
    });
    const go = (next) => {
      replaceRouteQuery({ offset: next, record: null });
      showPage(next, null).catch(showError);
    };
    fill(records, pager(pageOffset, total, pageSize, go), list);
    return { page, total };
  };
  const shown = await showPage(offset, selected);
  if (!shown) return;
  const { page, total: count } = shown;

  // A sample message names the fields a plot may show (the first record small enough to decode).
  const first = page.data.find((record) => Number(record.data_length ?? 0) <= INLINE_LIMIT);
  let sample = page.data.length ? undefined : null;
  if (first) {
    const answer = await call("GET", `/topics/${topicId}/records/${first.timestamp}`, { query: { include_auxiliary_data: true } });
    sample = answer.data.query_data;
  }
  if (mine !== generation) return;
  await plotSection(mine, topic, { from, to }, count, sample, plot);
}

// -- routing -----------------------------------------------------------------------------------------

const ROUTES = [
  [/^\/groups\/([0-9a-f-]{32,36})$/i, groupPage],
  [/^\/groups$/, groupsPage],
  [/^\/logs\/([0-9a-f-]{32,36})$/i, logPage],
  [/^\/topics\/([0-9a-f-]{32,36})$/i, topicPage],
];

async function render() {
  generation += 1;
  const mine = generation;
  clearTimeout(timer);
  clearTimeout(digestionTimer);
  if (keepAlerts) keepAlerts = false;
  else clearErrors();
  const path = window.location.hash.slice(1).split("?")[0] || "/";
  if (!session.token() || path === "/signin") {
    if (session.token() && path === "/signin") {
      window.location.hash = "#/groups";
      return;
    }
    signInPage();
    return;
  }
  try {
    if (!key) await loadKey();
    if (mine !== generation) return;
    const route = ROUTES.find(([pattern]) => pattern.test(path));
    if (!route) {
      window.location.hash = "#/groups";
      return;
    }
    const [pattern, page] = route;
    await page(mine, ...pattern.exec(path).slice(1));
  } catch (error) {
    if (mine !== generation) return;
    showError(error);
    if (!(error instanceof ApiError && error.status === 401)) {
      fill(main, heading("Something went wrong"), h("p", { class: "inline-error" }, error.message), h("p", {}, link("/groups", "Back to the groups")));
    }
  }
}

window.addEventListener("hashchange", () => {
  render();
});
render();
