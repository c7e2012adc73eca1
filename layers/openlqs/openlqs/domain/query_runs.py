"""Run a query's statement over one log's views (what QueryFunction does; DuckDB is imported here).

The views are built from the log's resources and record blocks, lazily: ``topics``, ``tags`` and
``ingestions`` are read only if the statement scans them, and ``records`` is cut per topic into spans of
buckets (at most ``MAX_SPANS_PER_TOPIC``, from the topic's start and end time, without reading
anything), each read from RecordsTable only when DuckDB scans it, so a filter on the topic or the time
(literals or parameters) reads only the blocks it needs (``queries.views``).

Only this module (and QueryFunction's entry point) imports ``openlqs.queries``: ApiFunction's layer has
no DuckDB, and reaches this through the ``QueryRunner`` port.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import partial
from typing import Any
from uuid import UUID

from openlqs.domain.labels import LABEL, TAG
from openlqs.domain.ports import RecordRepository, ResourceRepository
from openlqs.domain.record_windows import bucket_width
from openlqs.domain.resources import INGESTION, TOPIC
from openlqs.models.queries import QueryOutcome, QueryRun
from openlqs.models.resources import Topic
from openlqs.queries.engine import INT64_MAX, INT64_MIN, QueryLimits, ViewSource, run_query
from openlqs.queries.views import (
    INGESTIONS_SCHEMA,
    TAGS_SCHEMA,
    RecordSpan,
    ingestions_table,
    records_view,
    tags_table,
    topics_view,
)
from openlqs.records.codec import BlockColumns

#: Spans a topic's records are cut into (each read on its own, only when scanned).
MAX_SPANS_PER_TOPIC = 32


class LogQueryRunner:
    """``QueryRunner`` that runs the statement here, with DuckDB."""

    def __init__(
        self,
        resources: ResourceRepository,
        records: RecordRepository,
        limits: QueryLimits,
        *,
        default_bucket_width_ns: int,
    ) -> None:
        self.resources = resources
        self.records = records
        self.limits = limits
        self.default_bucket_width_ns = default_bucket_width_ns

    def run(self, run: QueryRun) -> QueryOutcome:
        limits = QueryLimits(
            max_rows=self.limits.max_rows,
            max_result_bytes=min(self.limits.max_result_bytes, run.max_result_bytes),
            timeout_s=self.limits.timeout_s,
            memory_limit=self.limits.memory_limit,
            threads=self.limits.threads,
            address_space_headroom=self.limits.address_space_headroom,
        )
        result = run_query(run.statement, run.parameters, self.views(run.log_id), limits)
        return QueryOutcome(columns=result.columns, rows=result.rows, error=result.error)

    def views(self, log_id: UUID) -> dict[str, ViewSource]:
        """The views of one log (only its topics' list is read here; the rest when scanned)."""
        topics = self.resources.list_resources(TOPIC, log_id)
        views = [
            topics_view(topics),
            records_view(span for topic in topics for span in self._spans(topic)),
            ViewSource.of(
                "ingestions",
                INGESTIONS_SCHEMA,
                lambda: [ingestions_table(self.resources.list_resources(INGESTION, log_id))],
            ),
            ViewSource.of("tags", TAGS_SCHEMA, lambda: [tags_table(self._tags(log_id))]),
        ]
        return {view.name: view for view in views}

    def _tags(self, log_id: UUID) -> list[dict[str, Any]]:
        tags = self.resources.list_resources(TAG, log_id)
        labels = {label_id: self.resources.find(LABEL, label_id) for label_id in {t.label_id for t in tags}}
        rows = []
        for tag in tags:
            label = labels.get(tag.label_id)
            row = tag.model_dump()
            row.update(label=label.value if label else None, category=label.category if label else None)
            rows.append(row)
        return rows

    def _spans(self, topic: Topic) -> list[RecordSpan]:
        """A topic's records as spans of consecutive buckets, cut evenly over its time range (from its
        statistics); the first and last are unbounded, so records outside the statistics are read too."""
        width = bucket_width(topic, self.default_bucket_width_ns)
        read = partial(self._blocks, topic.id)
        if topic.start_time is None or topic.end_time is None or topic.end_time < topic.start_time:
            return [RecordSpan(topic.id, topic.name, partial(read, None, None))]
        first, last = topic.start_time // width, topic.end_time // width
        step = max(1, math.ceil((last - first + 1) / MAX_SPANS_PER_TOPIC))
        cuts = list(range(first + step, last + 1, step))
        firsts: list[int | None] = [None, *cuts]
        lasts: list[int | None] = [cut - 1 for cut in cuts] + [None]
        return [
            RecordSpan(
                topic.id,
                topic.name,
                partial(read, low, high),
                start_time=None if low is None else _int64(low * width),
                end_time=None if high is None else _int64((high + 1) * width - 1),
            )
            for low, high in zip(firsts, lasts, strict=True)
        ]

    def _blocks(self, topic_id: UUID, first: int | None, last: int | None) -> Iterator[BlockColumns]:
        for block in self.records.blocks(topic_id, first, last):
            yield block.columns


def _int64(value: int) -> int:
    return max(INT64_MIN, min(INT64_MAX, value))
