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
``arrow.json`` extension type, which DuckDB reads as JSON), so ``query_data->>'$.x'`` works. Two
DuckDB rules a statement meets: ``->>`` gives text, which DuckDB will not compare with a number
without a cast (``query_data->>'$.x' > 5`` is a binder error; ``TRY_CAST(query_data->>'$.x' AS
DOUBLE) > 5`` works, and adding ``json_type(query_data, '$.x') IN ('BIGINT', 'UBIGINT', 'DOUBLE')``
selects exactly what ``query_data_filter`` ``{"var": "x", "op": "gt", "val": 5}`` selects); and ``->``
binds looser than ``IS``/comparisons, so write ``(query_data->'$.x') IS NOT NULL``.

Records go from a block's numpy columns straight into Arrow arrays, one record batch per block,
without an object per record: int64 columns are wrapped as they are (-1, the codec's null, becomes a
validity mask where present), and the string-table columns (chunk_compression, source, ingestion_id)
become dictionary arrays whose indices are the block's own ``int32`` index columns, so no string is
repeated or looked up per record (DuckDB reads them as VARCHAR). ``query_data`` is gathered from the
block's rare per-record extras with one ``take``.

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

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any
from uuid import UUID

import numpy as np
import pyarrow as pa

from openlqs.models.ingestions import Ingestion
from openlqs.models.resources import Topic
from openlqs.queries.engine import INT64_MAX, INT64_MIN, ViewPartition, ViewSource
from openlqs.records.codec import BlockColumns

#: DuckDB reads Arrow's JSON extension type as its JSON type.
JSON = pa.json_(pa.string())
#: Resource times (created_at, updated_at...).
INSTANT = pa.timestamp("us", tz="UTC")
#: A string-table column of a block: dictionary-encoded with the block's own int32 indexes.
TABLE_STRING = pa.dictionary(pa.int32(), pa.string())

TOPICS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("log_id", pa.string()),
        ("group_id", pa.string()),
        ("name", pa.string()),
        ("note", pa.string()),
        ("context", JSON),
        ("associated_topic_id", pa.string()),
        ("strict", pa.bool_()),
        ("locked", pa.bool_()),
        ("type_name", pa.string()),
        ("type_encoding", pa.string()),
        ("type_data", pa.string()),
        ("type_schema", JSON),
        ("record_count", pa.int64()),
        ("record_size", pa.int64()),
        ("object_count", pa.int64()),
        ("object_size", pa.int64()),
        ("start_time", pa.int64()),
        ("end_time", pa.int64()),
        ("duration", pa.int64()),
        ("base_timestamp", pa.int64()),
        ("created_at", INSTANT),
        ("updated_at", INSTANT),
        ("created_by", pa.string()),
        ("updated_by", pa.string()),
    ]
)

RECORDS_SCHEMA = pa.schema(
    [
        ("topic_id", pa.string()),
        ("topic", pa.string()),
        ("timestamp", pa.int64()),
        ("data_offset", pa.int64()),
        ("data_length", pa.int64()),
        ("chunk_compression", TABLE_STRING),
        ("chunk_offset", pa.int64()),
        ("chunk_length", pa.int64()),
        ("source", TABLE_STRING),
        ("ingestion_id", TABLE_STRING),
        ("query_data", JSON),
    ]
)
#: The records columns that come from a block (the rest say which topic it is).
_TOPIC_COLUMNS = ("topic_id", "topic")
BLOCK_SCHEMA = pa.schema([f for f in RECORDS_SCHEMA if f.name not in _TOPIC_COLUMNS])

TAGS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("log_id", pa.string()),
        ("label_id", pa.string()),
        ("label", pa.string()),
        ("topic_id", pa.string()),
        ("start_time", pa.int64()),
        ("end_time", pa.int64()),
        ("note", pa.string()),
        ("context", JSON),
        ("created_at", INSTANT),
        ("updated_at", INSTANT),
        ("created_by", pa.string()),
        ("updated_by", pa.string()),
    ]
)

INGESTIONS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("log_id", pa.string()),
        ("group_id", pa.string()),
        ("name", pa.string()),
        ("note", pa.string()),
        ("context", JSON),
        ("object_store_id", pa.string()),
        ("object_key", pa.string()),
        ("state", pa.string()),
        ("progress", pa.float64()),
        ("error_name", pa.string()),
        ("error_message", pa.string()),
        ("workflow_id", pa.string()),
        ("workflow_context", JSON),
        ("locked", pa.bool_()),
        ("transitioned_at", INSTANT),
        ("created_at", INSTANT),
        ("updated_at", INSTANT),
        ("created_by", pa.string()),
        ("updated_by", pa.string()),
    ]
)

_NULL = -1


# -- records ---------------------------------------------------------------------------------------


def block_arrays(columns: BlockColumns) -> list[pa.Array]:
    """A block's records as Arrow arrays in ``BLOCK_SCHEMA`` order, straight from its numpy columns."""
    return [
        pa.array(columns.timestamps, type=pa.int64()),
        _nullable(columns.data_offsets),
        _nullable(columns.data_lengths),
        _table_strings(columns.compression_ix, columns.compressions),
        _nullable(columns.chunk_offsets),
        _nullable(columns.chunk_lengths),
        _table_strings(columns.source_ix, columns.sources),
        _table_strings(columns.ingestion_ix, [str(UUID(value)) for value in columns.ingestions]),
        _query_data(columns),
    ]


def block_batch(columns: BlockColumns) -> pa.RecordBatch:
    """A block as one record batch of ``BLOCK_SCHEMA`` (the records view without its topic columns)."""
    return pa.RecordBatch.from_arrays(block_arrays(columns), schema=BLOCK_SCHEMA)


def records_batch(topic_id: UUID | str, topic: str, columns: BlockColumns) -> pa.RecordBatch:
    """A block of topic ``topic_id`` (named ``topic``) as one record batch of ``RECORDS_SCHEMA``."""
    n = len(columns)
    topic_columns = [pa.repeat(pa.scalar(str(topic_id)), n), pa.repeat(pa.scalar(topic), n)]
    return pa.RecordBatch.from_arrays(topic_columns + block_arrays(columns), schema=RECORDS_SCHEMA)


def records_reader(blocks: Iterable[tuple[UUID | str, str, BlockColumns]]) -> pa.RecordBatchReader:
    """The records of ``(topic_id, topic name, block)`` items as a reader of ``RECORDS_SCHEMA``, one
    batch per non-empty block, read from ``blocks`` only as batches are asked for."""
    batches = (records_batch(topic_id, topic, columns) for topic_id, topic, columns in blocks if len(columns))
    return pa.RecordBatchReader.from_batches(RECORDS_SCHEMA, batches)


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


def _blocks_reader(blocks: Callable[[], Iterable[BlockColumns]]) -> Callable[[], pa.RecordBatchReader]:
    def build() -> pa.RecordBatchReader:
        batches = (block_batch(columns) for columns in blocks() if len(columns))
        return pa.RecordBatchReader.from_batches(BLOCK_SCHEMA, batches)

    return build


def _nullable(values: np.ndarray[Any, Any]) -> pa.Array:
    """An int64 column whose -1 is null (no mask, and no copy, when there is none)."""
    nulls = values == _NULL
    if not nulls.any():
        return pa.array(values, type=pa.int64())
    return pa.array(values, type=pa.int64(), mask=nulls)


def _table_strings(indexes: np.ndarray[Any, Any], table: Sequence[str]) -> pa.Array:
    """A string-table column as a dictionary array over the block's own indexes (-1: null)."""
    nulls = indexes == _NULL
    arrow_indexes = pa.array(indexes, type=pa.int32(), mask=nulls if nulls.any() else None)
    return pa.DictionaryArray.from_arrays(arrow_indexes, pa.array(table, type=pa.string()))


def _query_data(columns: BlockColumns) -> pa.Array:
    """Each record's stored ``query_data`` as JSON text, null where there is none."""
    n = len(columns)
    stored = sorted(
        (row, extra["query_data"])
        for row, extra in columns.extras.items()
        if 0 <= row < n and extra.get("query_data") is not None
    )
    if not stored:
        return pa.ExtensionArray.from_storage(JSON, pa.nulls(n, type=pa.string()))
    texts = pa.array([None] + [_json_text(value) for _, value in stored], type=pa.string())
    picks = np.zeros(n, dtype=np.int32)
    picks[[row for row, _ in stored]] = np.arange(1, len(stored) + 1, dtype=np.int32)
    return pa.ExtensionArray.from_storage(JSON, texts.take(pa.array(picks)))


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# -- topics, tags, ingestions ----------------------------------------------------------------------


def topics_table(topics: Iterable[Topic]) -> pa.Table:
    """The ``topics`` view's rows."""
    return table_of(TOPICS_SCHEMA, [topic.model_dump() for topic in topics])


def ingestions_table(ingestions: Iterable[Ingestion]) -> pa.Table:
    """The ``ingestions`` view's rows."""
    return table_of(INGESTIONS_SCHEMA, [ingestion.model_dump() for ingestion in ingestions])


def tags_table(tags: Iterable[Mapping[str, Any]]) -> pa.Table:
    """The ``tags`` view's rows, from mappings with the ``TAGS_SCHEMA`` keys (``label`` is the label's
    value; a missing key is null)."""
    return table_of(TAGS_SCHEMA, tags)


def table_of(schema: pa.Schema, items: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Rows of resources (few: a log's topics, tags or ingestions) as a table of ``schema``: UUIDs and
    enums as text, JSON fields as JSON text, keys the schema does not name left out."""
    rows = list(items)
    arrays = []
    for column in schema:
        values = [_cell(row.get(column.name), column.type) for row in rows]
        if column.type == JSON:
            arrays.append(pa.ExtensionArray.from_storage(JSON, pa.array(values, type=pa.string())))
        else:
            arrays.append(pa.array(values, type=column.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _cell(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if kind == JSON:
        return _json_text(value)
    if kind == pa.string():
        return str(value)  # UUIDs; enums are their values already (StrEnum)
    return value


def topics_view(topics: Sequence[Topic]) -> ViewSource:
    return ViewSource.of("topics", TOPICS_SCHEMA, lambda: topics_table(topics))


def ingestions_view(ingestions: Sequence[Ingestion]) -> ViewSource:
    return ViewSource.of("ingestions", INGESTIONS_SCHEMA, lambda: ingestions_table(ingestions))


def tags_view(tags: Sequence[Mapping[str, Any]]) -> ViewSource:
    return ViewSource.of("tags", TAGS_SCHEMA, lambda: tags_table(tags))


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
