"""The read-only views a LogQS query sees of ONE log, as Arrow: their schemas and builders.

=============  ==============================================================================
``topics``     the log's topics and their statistics (``Topic`` models)
``records``    the topics' records, from record blocks: topic_id, topic (name), timestamp (int64
               ns), data_offset, data_length, chunk_compression, chunk_offset, chunk_length,
               source, ingestion_id, and query_data (JSON where stored, else NULL)
``tags``       the log's tags with their label's value (plain mappings from the caller)
``ingestions`` the log's ingestions (``Ingestion`` models)
=============  ==============================================================================

Ids are text (canonical UUIDs), times of records and statistics int64 nanoseconds as in the API,
``created_at``/``updated_at`` timestamps with time zone, JSON fields DuckDB ``JSON`` (the Arrow
``arrow.json`` extension type, which DuckDB reads as JSON), so ``query_data->>'$.x'`` works, and
``query_data->>'$.x' > 5`` compares numbers, selecting exactly what ``query_data_filter``
``{"var": "x", "op": "gt", "val": 5}`` selects (``json_numbers``). ``->`` binds looser than
``IS``/comparisons, so write ``(query_data->'$.x') IS NOT NULL``.

Records go from a block's numpy columns straight into Arrow buffers (``queries.arrow``), one record
batch per block, without an object per record: int64 columns are wrapped as they are (-1, the codec's
null, becomes a validity bitmap where present), and the string-table columns (chunk_compression,
source, ingestion_id) are gathered from the block's table by its ``int32`` index columns with numpy.
``query_data`` is gathered from the block's rare per-record extras. Only the columns a statement can
read are built (the engine says which); ``count(*) ... GROUP BY topic`` builds none but the
timestamps its parts are bounded by.

``records_view`` makes one view partition per ``RecordSpan`` (a topic's records within a time range,
read lazily), with topic_id and topic as the partition's constants and the range as bounds of
``timestamp``: a statement that filters ``topic``/``topic_id`` or ``timestamp`` with literals or
parameters never reads the spans it excludes (``engine.ViewPartition``). ``whole_topics`` gives one
span per topic; ``bucket_spans`` cuts a topic along its record buckets, whose time ranges are fixed by
the bucket width, so a time window reads only the buckets around it. A filter that reaches the records
only through a join (``JOIN topics t ... WHERE t.name = '/imu'``) or an expression
(``timestamp / 1e9 > ...``) is not pushed down: every span is read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any
from uuid import UUID

import numpy as np

from openlqs.models.ingestions import Ingestion
from openlqs.models.resources import Topic
from openlqs.queries.arrow import (
    BOOL,
    FLOAT64,
    INSTANT,
    INT64,
    JSON,
    STRING,
    Batch,
    Column,
    Schema,
    batch,
    int64s,
    json_text,
    null_column,
    nulls,
    rows_batch,
    strings,
    table_strings,
)
from openlqs.queries.engine import INT64_MAX, INT64_MIN, ViewPartition, ViewSource
from openlqs.records.codec import BlockColumns

TOPICS_SCHEMA = Schema.of(
    [
        ("id", STRING),
        ("log_id", STRING),
        ("group_id", STRING),
        ("name", STRING),
        ("note", STRING),
        ("context", JSON),
        ("associated_topic_id", STRING),
        ("strict", BOOL),
        ("locked", BOOL),
        ("type_name", STRING),
        ("type_encoding", STRING),
        ("type_data", STRING),
        ("type_schema", JSON),
        ("record_count", INT64),
        ("record_size", INT64),
        ("object_count", INT64),
        ("object_size", INT64),
        ("start_time", INT64),
        ("end_time", INT64),
        ("duration", INT64),
        ("base_timestamp", INT64),
        ("created_at", INSTANT),
        ("updated_at", INSTANT),
        ("created_by", STRING),
        ("updated_by", STRING),
    ]
)

RECORDS_SCHEMA = Schema.of(
    [
        ("topic_id", STRING),
        ("topic", STRING),
        ("timestamp", INT64),
        ("data_offset", INT64),
        ("data_length", INT64),
        ("chunk_compression", STRING),
        ("chunk_offset", INT64),
        ("chunk_length", INT64),
        ("source", STRING),
        ("ingestion_id", STRING),
        ("query_data", JSON),
    ]
)
#: The records columns that come from a block (the rest say which topic it is).
_TOPIC_COLUMNS = ("topic_id", "topic")
BLOCK_SCHEMA = RECORDS_SCHEMA.without(_TOPIC_COLUMNS)
_BLOCK_TYPES = dict(BLOCK_SCHEMA.columns)

TAGS_SCHEMA = Schema.of(
    [
        ("id", STRING),
        ("log_id", STRING),
        ("label_id", STRING),
        ("label", STRING),
        ("category", STRING),
        ("topic_id", STRING),
        ("start_time", INT64),
        ("end_time", INT64),
        ("note", STRING),
        ("context", JSON),
        ("created_at", INSTANT),
        ("updated_at", INSTANT),
        ("created_by", STRING),
        ("updated_by", STRING),
    ]
)

INGESTIONS_SCHEMA = Schema.of(
    [
        ("id", STRING),
        ("log_id", STRING),
        ("group_id", STRING),
        ("name", STRING),
        ("note", STRING),
        ("context", JSON),
        ("object_store_id", STRING),
        ("object_key", STRING),
        ("state", STRING),
        ("progress", FLOAT64),
        ("error_name", STRING),
        ("error_message", STRING),
        ("workflow_id", STRING),
        ("workflow_context", JSON),
        ("locked", BOOL),
        ("transitioned_at", INSTANT),
        ("created_at", INSTANT),
        ("updated_at", INSTANT),
        ("created_by", STRING),
        ("updated_by", STRING),
    ]
)

_NULL = -1


# -- records ---------------------------------------------------------------------------------------


def block_columns(columns: BlockColumns, wanted: Collection[str] | None = None) -> dict[str, Column]:
    """A block's records as Arrow columns by name (``BLOCK_SCHEMA``), straight from its numpy columns;
    only those ``wanted`` (None: all) hold the block's values, the others are null."""
    builders: dict[str, Callable[[], Column]] = {
        "timestamp": lambda: int64s(columns.timestamps),
        "data_offset": lambda: _nullable(columns.data_offsets),
        "data_length": lambda: _nullable(columns.data_lengths),
        "chunk_compression": lambda: table_strings(columns.compression_ix, columns.compressions),
        "chunk_offset": lambda: _nullable(columns.chunk_offsets),
        "chunk_length": lambda: _nullable(columns.chunk_lengths),
        "source": lambda: table_strings(columns.source_ix, columns.sources),
        "ingestion_id": lambda: table_strings(
            columns.ingestion_ix, [str(UUID(value)) for value in columns.ingestions]
        ),
        "query_data": lambda: _query_data(columns),
    }
    return {
        name: build() if wanted is None or name in wanted else null_column(_BLOCK_TYPES[name], len(columns))
        for name, build in builders.items()
    }


def block_batch(columns: BlockColumns, wanted: Collection[str] | None = None) -> Batch:
    """A block as one record batch of ``BLOCK_SCHEMA`` (the records view without its topic columns),
    with only the ``wanted`` columns (None: all) filled."""
    return batch(BLOCK_SCHEMA, block_columns(columns, wanted))


def records_batch(topic_id: UUID | str, topic: str, columns: BlockColumns) -> Batch:
    """A block of topic ``topic_id`` (named ``topic``) as one record batch of ``RECORDS_SCHEMA``."""
    same = np.zeros(len(columns), dtype=np.int32)
    topic_columns = {"topic_id": table_strings(same, [str(topic_id)]), "topic": table_strings(same, [topic])}
    return batch(RECORDS_SCHEMA, {**topic_columns, **block_columns(columns)})


def records_batches(blocks: Iterable[tuple[UUID | str, str, BlockColumns]]) -> Iterator[Batch]:
    """The records of ``(topic_id, topic name, block)`` items as batches of ``RECORDS_SCHEMA``, one per
    non-empty block, read from ``blocks`` as they are taken."""
    return (records_batch(topic_id, topic, columns) for topic_id, topic, columns in blocks if len(columns))


@dataclass(frozen=True)
class RecordSpan:
    """Records of one topic whose timestamps all lie in [start_time, end_time] (None: unbounded),
    which ``blocks`` reads only when a statement scans them."""

    topic_id: UUID | str
    topic: str
    blocks: Callable[[], Iterable[BlockColumns]]
    start_time: int | None = None
    end_time: int | None = None


def records_view(spans: Iterable[RecordSpan]) -> ViewSource:
    """The ``records`` view: one partition per span, with the topic as constants and the time range as
    bounds, so a statement's literal or parameter filters on topic_id, topic and timestamp decide which
    spans are read at all (see ``engine.ViewPartition``)."""
    partitions = [
        ViewPartition(
            build=_blocks_reader(span.blocks),
            constants={"topic_id": str(span.topic_id), "topic": span.topic},
            bounds={"timestamp": (span.start_time, span.end_time)}
            if span.start_time is not None or span.end_time is not None
            else {},
        )
        for span in spans
    ]
    return ViewSource("records", RECORDS_SCHEMA, partitions)


def whole_topics(
    topics: Iterable[Topic], blocks_of: Callable[[UUID], Iterable[BlockColumns]]
) -> list[RecordSpan]:
    """One unbounded span per topic, read by ``blocks_of(topic.id)``: push-down by topic only."""
    return [RecordSpan(topic.id, topic.name, partial(blocks_of, topic.id)) for topic in topics]


def bucket_spans(
    topic_id: UUID | str,
    topic: str,
    *,
    bucket_width_ns: int,
    buckets: Iterable[int],
    read: Callable[[int | None, int | None], Iterable[BlockColumns]],
    max_spans: int = 32,
) -> list[RecordSpan]:
    """A topic's records as at most ``max_spans`` spans of consecutive buckets, cut so that each holds
    about as many of ``buckets`` (the buckets that hold blocks, e.g. from ``block_stats``) as the next;
    ``read(first_bucket, last_bucket)`` (None: unbounded, as ``RecordRepository.blocks`` takes them)
    reads a span's blocks. The spans cover every bucket, the first and last unbounded, so a block the
    listing missed (the BlockStats index may lag) is still read; a block of bucket b holds only
    timestamps in [b * width, (b + 1) * width - 1], which are the span's bounds."""
    if bucket_width_ns <= 0 or max_spans < 1:
        raise ValueError("bucket_width_ns and max_spans must be positive")
    ordered = sorted(set(buckets))
    per_span = max(1, math.ceil(len(ordered) / max_spans))
    cuts = ordered[per_span::per_span]
    firsts: list[int | None] = [None, *cuts]
    lasts: list[int | None] = [cut - 1 for cut in cuts] + [None]
    return [
        RecordSpan(
            topic_id,
            topic,
            partial(read, first, last),
            start_time=None if first is None else _int64(first * bucket_width_ns),
            end_time=None if last is None else _int64((last + 1) * bucket_width_ns - 1),
        )
        for first, last in zip(firsts, lasts, strict=True)
    ]


def _int64(value: int) -> int:
    return max(INT64_MIN, min(INT64_MAX, value))


def _blocks_reader(
    blocks: Callable[[], Iterable[BlockColumns]],
) -> Callable[[frozenset[str]], Iterator[Batch]]:
    def build(wanted: frozenset[str]) -> Iterator[Batch]:
        return (block_batch(columns, wanted) for columns in blocks() if len(columns))

    return build


def _nullable(values: np.ndarray[Any, Any]) -> Column:
    """An int64 column whose -1 is null (no bitmap, and no copy, when there is none)."""
    return int64s(values, values == _NULL)


def _query_data(columns: BlockColumns) -> Column:
    """Each record's stored ``query_data`` as JSON text, null where there is none."""
    n = len(columns)
    stored = sorted(
        (row, extra["query_data"])
        for row, extra in columns.extras.items()
        if 0 <= row < n and extra.get("query_data") is not None
    )
    if not stored:
        return nulls(n)
    texts: list[str | None] = [None] * n
    for row, value in stored:
        texts[row] = json_text(value)
    return strings(texts)


# -- topics, tags, ingestions ----------------------------------------------------------------------


def topics_table(topics: Iterable[Topic]) -> Batch:
    """The ``topics`` view's rows."""
    return table_of(TOPICS_SCHEMA, [topic.model_dump() for topic in topics])


def ingestions_table(ingestions: Iterable[Ingestion]) -> Batch:
    """The ``ingestions`` view's rows."""
    return table_of(INGESTIONS_SCHEMA, [ingestion.model_dump() for ingestion in ingestions])


def tags_table(tags: Iterable[Mapping[str, Any]]) -> Batch:
    """The ``tags`` view's rows, from mappings with the ``TAGS_SCHEMA`` keys (``label`` is the label's
    value, ``category`` its category; a missing key is null)."""
    return table_of(TAGS_SCHEMA, tags)


def table_of(schema: Schema, items: Iterable[Mapping[str, Any]]) -> Batch:
    """Rows of resources (few: a log's topics, tags or ingestions) as a batch of ``schema``: UUIDs and
    enums as text, JSON fields as JSON text, keys the schema does not name left out."""
    return rows_batch(schema, list(items))


def topics_view(topics: Sequence[Topic]) -> ViewSource:
    return ViewSource.of("topics", TOPICS_SCHEMA, lambda: [topics_table(topics)])


def ingestions_view(ingestions: Sequence[Ingestion]) -> ViewSource:
    return ViewSource.of("ingestions", INGESTIONS_SCHEMA, lambda: [ingestions_table(ingestions)])


def tags_view(tags: Sequence[Mapping[str, Any]]) -> ViewSource:
    return ViewSource.of("tags", TAGS_SCHEMA, lambda: [tags_table(tags)])


def log_views(
    *,
    topics: Sequence[Topic],
    spans: Iterable[RecordSpan],
    ingestions: Sequence[Ingestion] = (),
    tags: Sequence[Mapping[str, Any]] = (),
) -> dict[str, ViewSource]:
    """Every view of one log, keyed by name, for ``engine.run_query``. Only the spans' ``blocks`` read
    storage, and only for the spans a statement scans (``whole_topics`` or ``bucket_spans`` make
    them)."""
    views = [
        topics_view(topics),
        records_view(spans),
        tags_view(tags),
        ingestions_view(ingestions),
    ]
    return {view.name: view for view in views}
