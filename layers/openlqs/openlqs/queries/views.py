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

``records_view`` makes one view partition per topic, with topic_id and topic as the partition's
constants: a statement that filters ``topic``/``topic_id`` with literals or parameters never reads
the other topics' blocks (``engine.ViewPartition``). A filter that only reaches the records through a
join (``JOIN topics t ... WHERE t.name = '/imu'``) is not pushed down: every topic is read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

import numpy as np
import pyarrow as pa

from openlqs.models.ingestions import Ingestion
from openlqs.models.resources import Topic
from openlqs.queries.engine import ViewPartition, ViewSource
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


def records_view(
    topics: Iterable[tuple[UUID | str, str]],
    blocks_of: Callable[[UUID | str], Iterable[BlockColumns]],
) -> ViewSource:
    """The ``records`` view over ``topics`` (id, name): one partition per topic, whose blocks
    ``blocks_of(topic_id)`` gives only when a statement scans that topic (see the module)."""
    partitions = [
        ViewPartition(
            build=_blocks_reader(topic_id, blocks_of),
            constants={"topic_id": str(topic_id), "topic": name},
        )
        for topic_id, name in topics
    ]
    return ViewSource("records", RECORDS_SCHEMA, partitions)


def _blocks_reader(
    topic_id: UUID | str, blocks_of: Callable[[UUID | str], Iterable[BlockColumns]]
) -> Callable[[], pa.RecordBatchReader]:
    def build() -> pa.RecordBatchReader:
        batches = (block_batch(columns) for columns in blocks_of(topic_id) if len(columns))
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
    blocks_of: Callable[[UUID | str], Iterable[BlockColumns]],
    ingestions: Sequence[Ingestion] = (),
    tags: Sequence[Mapping[str, Any]] = (),
) -> dict[str, ViewSource]:
    """Every view of one log, keyed by name, for ``engine.run_query``. Only ``blocks_of`` reads
    storage, and only for the topics a statement scans."""
    views = [
        topics_view(topics),
        records_view([(topic.id, topic.name) for topic in topics], blocks_of),
        tags_view(tags),
        ingestions_view(ingestions),
    ]
    return {view.name: view for view in views}
