// The timeline of a log: one strip per topic over the log's span, shaded where the topic has records.
// Counts come from GET /topics/{id}/coverage, which reads the record blocks' statistics only.

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

function strip(topic, coverage) {
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
  return svg(
    "svg",
    {
      class: "strip",
      viewBox: `0 0 ${bins} 1`,
      preserveAspectRatio: "none",
      role: "img",
      "aria-label": `${topic.name}: records in ${covered} of ${bins} time slices`,
      dataset: { covered: String(covered) },
    },
    rects,
  );
}

/**
 * The timeline of ``topics`` over [start, end] (nanoseconds). Rows appear as their coverage arrives;
 * a topic whose coverage fails shows its error in its row.
 */
export function timeline(topics, start, end) {
  const element = h("div", { class: "timeline", dataset: { topics: String(topics.length) } });
  const high = ns(end) + 1n;
  for (const topic of topics) {
    const row = h("div", { class: "strip-cell", dataset: { topicRow: topic.name } }, h("span", { class: "muted" }, "…"));
    element.append(h("div", { class: "name", title: topic.name }, topic.name), row);
    call("GET", `/topics/${topic.id}/coverage`, { query: { timestamp_gte: String(start), timestamp_lt: String(high), bins: BINS } })
      .then((answer) => row.replaceChildren(strip(topic, answer.data)))
      .catch((error) => row.replaceChildren(h("span", { class: "inline-error" }, error.message)));
  }
  element.append(h("div", {}), axis(start, end));
  return element;
}
