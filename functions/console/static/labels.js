// Labels and tags as the console shows them: a label's text, the labels of the logs on a page, and the
// tags of a log. The API lists tags one log at a time (GET /logs/{id}/tags), so the labels of a page of
// logs take one call per log shown, a few at a time, never one per log of the group.

import { call } from "./api.js";
import { h } from "./dom.js";

/** Calls for the logs of a page running at once (the local stack and Lambda both prefer few). */
const CONCURRENT = 4;
/** Labels are listed once per page, up to the API's largest page; others are fetched by id. */
const LABEL_PAGE = 1000;

/** "category: value", or the value of a label without a category. */
export function labelText(label) {
  return label.category ? `${label.category}: ${label.value}` : label.value;
}

/** A label as a chip (text only: a label's value is never HTML). */
export function labelChip(label) {
  return h("span", { class: "label", dataset: { labelId: label.id } }, labelText(label));
}

/** Every label (the first 1,000, by category and value), as a Map from id to label. */
export async function allLabels() {
  const answer = await call("GET", "/labels", { query: { limit: LABEL_PAGE, order: "value" } });
  const labels = [...answer.data].sort((a, b) => labelText(a).localeCompare(labelText(b)));
  return new Map(labels.map((label) => [label.id, label]));
}

/** ``labels`` with the ones of ``ids`` it lacks fetched by id (a datastore of more than 1,000). */
export async function withLabels(labels, ids) {
  const missing = [...new Set(ids)].filter((id) => !labels.has(id));
  await Promise.all(missing.map(async (id) => labels.set(id, (await call("GET", `/labels/${id}`)).data)));
  return labels;
}

/** A log's tags (up to 1,000), in time order, whole-log tags first. */
export async function logTags(logId) {
  const answer = await call("GET", `/logs/${logId}/tags`, { query: { limit: 1000, order: "created_at" } });
  const at = (tag) => (tag.start_time === null || tag.start_time === undefined ? -1n : BigInt(tag.start_time));
  return [...answer.data].sort((a, b) => (at(a) < at(b) ? -1 : at(a) > at(b) ? 1 : 0));
}

/**
 * Calls ``show(log, labels)`` for each log of ``logIds`` with the distinct labels of its tags, as they
 * arrive (``onError(log, error)`` for a log whose tags cannot be read). At most ``CONCURRENT`` calls
 * run at once; ``stillWanted()`` false stops asking (the user left the page).
 */
export async function labelsOfLogs(logIds, labels, show, onError, stillWanted) {
  const queue = [...logIds];
  const worker = async () => {
    while (queue.length && stillWanted()) {
      const logId = queue.shift();
      try {
        const tags = await logTags(logId);
        const ids = [...new Set(tags.map((tag) => tag.label_id))];
        await withLabels(labels, ids);
        if (!stillWanted()) return;
        show(
          logId,
          ids.map((id) => labels.get(id)).sort((a, b) => labelText(a).localeCompare(labelText(b))),
        );
      } catch (error) {
        if (stillWanted()) onError(logId, error);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENT }, worker));
}
