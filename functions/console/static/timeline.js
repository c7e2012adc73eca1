// The timeline of a log: one strip per topic over the log's span, shaded where the topic has records.
// Counts come from GET /topics/{id}/coverage, which reads the record blocks' statistics only. Tagged
// time ranges are marked on their topic's strip and, as links to their records, on a "Tags" lane.

import { call } from "./api.js";
import { formatDuration, h, ns, secondsBetween, svg } from "./dom.js";

export const BINS = 200;

function axis(start, end) {
  const span = secondsBetween(start, end);
  const marks = [0, 0.25, 0.5, 0.75, 1];
  return h(
    "div",
    { class: "axis", "aria-hidden": "true" },
    marks.map((fraction, index) => {
      const mark = h("span", { class: index === 0 ? "first" : index === marks.length - 1 ? "last" : "" }, `+${formatDuration(span * fraction)}`);
      mark.style.left = `${fraction * 100}%`;
      return mark;
    }),
  );
}

/** Where [from, to] (nanoseconds, null: the log's bound) falls in [start, high), as fractions. */
function span(start, high, from, to) {
  const low = ns(start);
  const width = Number(ns(high) - low);
  const at = (value, fallback) => (value === null || value === undefined ? fallback : Number(ns(value) - low) / width);
  const left = Math.min(1, Math.max(0, at(from, 0)));
  const right = Math.min(1, Math.max(left, at(to, 1)));
  return [left, right];
}

function strip(topic, coverage, ranges) {
  const counts = coverage.counts || [];
  const peak = Math.max(0, ...counts);
  const bins = counts.length || 1;
  const covered = counts.filter((count) => count > 0).length;
  const binSeconds = coverage.bin_width ? Number(ns(coverage.bin_width)) / 1e9 : 0;
  const rects = [];
  counts.forEach((count, index) => {
    if (count <= 0) return;
    const rect = svg("rect", { x: index, y: 0, width: 1.05, height: 1, "fill-opacity": (0.25 + 0.75 * (count / peak)).toFixed(3) });
    rect.append(svg("title", {}, `~${Math.round(count).toLocaleString("en-US")} records from +${formatDuration(index * binSeconds)}`));
    rects.push(rect);
  });
  for (const [left, right, title] of ranges) {
    const rect = svg("rect", { class: "tag-range", x: left * bins, y: 0, width: Math.max((right - left) * bins, 0.6), height: 1 });
    rect.append(svg("title", {}, title));
    rects.push(rect);
  }
  return svg(
    "svg",
    {
      class: "strip",
      viewBox: `0 0 ${bins} 1`,
      preserveAspectRatio: "none",
      role: "img",
      "aria-label": `${topic.name}: records in ${covered} of ${bins} time slices`,
      dataset: { covered: String(covered), tagged: String(ranges.length) },
    },
    rects,
  );
}

/**
 * The "Tags" lane: each tagged range a link (``tag.href``) placed over its time, overlapping ranges on
 * lanes of their own. Links are in the tab order, in time order.
 */
function tagLane(tags, start, high) {
  const ends = [];
  const marks = tags.map((tag) => {
    const [left, right] = span(start, high, tag.start_time, tag.end_time);
    let lane = ends.findIndex((end) => end < left);
    if (lane < 0) lane = ends.length;
    ends[lane] = right + 0.002;
    const attributes = { class: "tag-mark", title: tag.title, "aria-label": tag.title, dataset: { tagId: tag.id } };
    const mark = tag.href ? h("a", { ...attributes, href: tag.href }, tag.text) : h("span", attributes, tag.text);
    mark.style.left = `${left * 100}%`;
    mark.style.width = `max(6px, ${(right - left) * 100}%)`;
    mark.style.top = `${lane * 1.35}rem`;
    return mark;
  });
  const lane = h("div", { class: "tag-lane" }, marks);
  lane.style.height = `${Math.max(1, ends.length) * 1.35}rem`;
  return lane;
}

/**
 * The timeline of ``topics`` over [start, end] (nanoseconds). Rows appear as their coverage arrives;
 * a topic whose coverage fails shows its error in its row. ``tags`` ({id, topic_id, start_time,
 * end_time, text, title, href}) are marked on a lane of their own and on their topic's strip.
 */
export function timeline(topics, start, end, tags = []) {
  const element = h("div", { class: "timeline", dataset: { topics: String(topics.length) } });
  const high = ns(end) + 1n;
  if (tags.length) element.append(h("div", { class: "name" }, "Tags"), tagLane(tags, start, high));
  for (const topic of topics) {
    const ranges = tags
      .filter((tag) => tag.topic_id === topic.id)
      .map((tag) => [...span(start, high, tag.start_time, tag.end_time), tag.title]);
    const row = h("div", { class: "strip-cell", dataset: { topicRow: topic.name } }, h("span", { class: "muted" }, "…"));
    element.append(h("div", { class: "name", title: topic.name }, topic.name), row);
    call("GET", `/topics/${topic.id}/coverage`, { query: { timestamp_gte: String(start), timestamp_lt: String(high), bins: BINS } })
      .then((answer) => row.replaceChildren(strip(topic, answer.data, ranges)))
      .catch((error) => row.replaceChildren(h("span", { class: "inline-error" }, error.message)));
  }
  element.append(h("div", {}), axis(start, end));
  return element;
}
