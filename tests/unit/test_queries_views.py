"""The views of one log that queries see: records from real record blocks, topics, tags, ingestions."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import numpy as np
import pytest

from openlqs.domain.filtering import apply_filters, compile_filters
from openlqs.models.common import ProcessState
from openlqs.models.ingestions import Ingestion
from openlqs.queries.arrow import STRING, Schema, batch, table_strings
from openlqs.queries.engine import QueryLimits, QueryResult, ViewSource, run_query
from openlqs.queries.views import (
    BLOCK_SCHEMA,
    RECORDS_SCHEMA,
    TOPICS_SCHEMA,
    RecordSpan,
    block_columns,
    bucket_spans,
    log_views,
    records_batches,
    records_view,
    topics_view,
    whole_topics,
)
from openlqs.records.rows import RecordRow
from tests.support.queries import (
    CREATED_AT,
    INGESTION_ID,
    INT64_MAX,
    INT64_MIN,
    LOG_ID,
    QueryLog,
    query_log,
    stored_block,
    topic_model,
)

LIMITS = QueryLimits(timeout_s=10.0)
GROUP_BY_TOPIC = (
    "SELECT t.name, count(*), min(timestamp), max(timestamp) "
    "FROM records r JOIN topics t ON r.topic_id = t.id GROUP BY 1 ORDER BY 1"
)


def _run(log: QueryLog, statement: str, parameters: dict[str, Any] | None = None) -> QueryResult:
    views = log_views(topics=log.topics, spans=whole_topics(log.topics, log.blocks_of))
    return run_query(statement, parameters, views, LIMITS)


def _expected_by_topic(log: QueryLog) -> list[list[Any]]:
    """The issue's group-by, computed in Python from the blocks' rows."""
    found: dict[str, list[int]] = defaultdict(list)
    for topic in log.topics:
        for row in log.rows_of(topic.name):
            found[topic.name].append(row.timestamp)
    return [[name, len(ts), min(ts), max(ts)] for name, ts in sorted(found.items())]


# -- records ----------------------------------------------------------------------------------------------


def test_records_view_group_by_topic_equals_a_count_over_the_blocks() -> None:
    log = query_log()

    result = _run(log, GROUP_BY_TOPIC)

    assert result.error is None
    assert result.columns == ["name", "count_star()", 'min("timestamp")', 'max("timestamp")']
    expected = _expected_by_topic(log)
    assert result.rows == expected
    assert [name for name, *_ in expected] == ["/api's topic", "/imu", "/odom"]  # /empty has no records
    odom = next(row for row in result.rows if row[0] == "/odom")
    assert odom[2:] == [INT64_MIN, INT64_MAX]  # exact int64 extremes
    assert sum(row[1] for row in result.rows) == sum(len(b) for bs in log.blocks.values() for b in bs)


def test_records_view_counts_equal_the_topics_statistics() -> None:
    log = query_log()
    stats = {row[0]: row[1:] for row in _expected_by_topic(log)}
    log.topics = [
        topic.model_copy(
            update={
                "record_count": stats.get(topic.name, [0])[0],
                "start_time": stats.get(topic.name, [0, None])[1],
                "end_time": stats.get(topic.name, [0, None, None])[2],
            }
        )
        for topic in log.topics
    ]

    result = _run(
        log,
        "SELECT t.name FROM topics t LEFT JOIN (SELECT topic_id, count(*) AS n, min(timestamp) AS s, "
        "max(timestamp) AS e FROM records GROUP BY 1) r ON r.topic_id = t.id "
        "WHERE coalesce(r.n, 0) <> t.record_count OR r.s IS DISTINCT FROM t.start_time "
        "OR r.e IS DISTINCT FROM t.end_time",
    )

    assert (result.error, result.rows) == (None, [])


def test_records_view_counts_equal_timestamps_in_a_time_window() -> None:
    log = query_log()
    rows = log.rows_of("/imu")
    low, high = rows[40].timestamp, rows[300].timestamp
    expected = sum(1 for row in rows if low <= row.timestamp <= high)

    result = _run(
        log,
        "SELECT count(*) FROM records WHERE topic = $topic AND timestamp BETWEEN $low AND $high",
        {"topic": "/imu", "low": low, "high": high},
    )

    assert result.rows == [[expected]]
    assert expected > 261  # the window holds records with equal timestamps


def test_records_view_json_filter_selects_what_query_data_filter_selects() -> None:
    log = query_log()
    topic = log.topic("/api's topic")
    records = [
        {"timestamp": row.timestamp, "query_data": (row.extra or {}).get("query_data")}
        for row in log.rows_of(topic.name)
    ]
    wanted = apply_filters(
        records, compile_filters({"query_data_filter": '{"var": "x", "op": "gt", "val": 5}'})
    )

    result = _run(
        log,
        "SELECT timestamp FROM records WHERE json_type(query_data, '$.x') IN ('BIGINT', 'UBIGINT', 'DOUBLE') "
        "AND (query_data->>'$.x')::DOUBLE > 5 ORDER BY timestamp",
    )

    assert result.error is None
    assert [row[0] for row in result.rows] == [record["timestamp"] for record in wanted]
    assert len(result.rows) == 3  # 6, 5.5 and 12345678901234567890


def test_records_view_query_data_supports_json_operators_and_text_comparison() -> None:
    log = query_log()

    result = _run(
        log,
        "SELECT query_data->>'$.label', query_data->'$.nested.deep[1]', query_data "
        "FROM records WHERE query_data->>'$.label' = 'brake' OR (query_data->'$.nested') IS NOT NULL "
        "ORDER BY timestamp",
    )

    assert result.error is None
    assert result.rows == [
        ["brake", None, {"x": 5.5, "label": "brake"}],
        [None, {"k": "v"}, {"x": -7, "nested": {"deep": [1, {"k": "v"}]}}],
    ]


def test_records_view_query_data_is_null_where_nothing_is_stored() -> None:
    log = query_log()

    result = _run(log, "SELECT topic, count(*), count(query_data) FROM records GROUP BY 1 ORDER BY 1")

    assert result.rows == [
        ["/api's topic", 11, 10],
        ["/imu", result.rows[1][1], 0],
        ["/odom", result.rows[2][1], 0],
    ]


@pytest.mark.parametrize(
    ("where", "parameters"),
    [
        ("query_data->>'$.x' > 5", None),
        ("5 < query_data->>'$.x'", None),
        ("query_data->>'$.x' > $v", {"v": 5}),
        ("query_data->>'x' > 5.0", None),
        ("json_number(query_data, '$.x') > 5", None),
    ],
)
def test_records_view_comparing_query_data_with_a_number_selects_what_query_data_filter_selects(
    where: str, parameters: dict[str, Any] | None
) -> None:
    log = query_log()
    records = [
        {"timestamp": row.timestamp, "query_data": (row.extra or {}).get("query_data")}
        for row in log.rows_of("/api's topic")
    ]
    wanted = apply_filters(
        records, compile_filters({"query_data_filter": '{"var": "x", "op": "gt", "val": 5}'})
    )

    result = _run(log, f"SELECT timestamp FROM records WHERE {where} ORDER BY timestamp", parameters)

    assert result.error is None, result.error
    assert [row[0] for row in result.rows] == [record["timestamp"] for record in wanted]
    assert len(result.rows) == 3  # 6, 5.5 and 12345678901234567890: not "9", [9], true or null


@pytest.mark.parametrize(
    ("op", "value", "where"),
    [
        ("lte", 5, "query_data->>'$.x' <= 5"),
        ("eq", 5, "query_data->>'$.x' = 5"),
        ("lt", 0, "query_data->>'$.x' < 0"),
        ("gte", -7, "query_data->>'$.x' >= -7"),
    ],
)
def test_records_view_numeric_json_comparisons_agree_with_query_data_filter(
    op: str, value: int, where: str
) -> None:
    log = query_log()
    records = [
        {"timestamp": row.timestamp, "query_data": (row.extra or {}).get("query_data")}
        for row in log.rows_of("/api's topic")
    ]
    condition = f'{{"var": "x", "op": "{op}", "val": {value}}}'
    wanted = apply_filters(records, compile_filters({"query_data_filter": condition}))

    result = _run(log, f"SELECT timestamp FROM records WHERE {where} ORDER BY timestamp")

    assert [row[0] for row in result.rows] == [record["timestamp"] for record in wanted]


def test_records_view_text_against_a_computed_number_is_a_bad_query_naming_json_number() -> None:
    result = _run(query_log(), "SELECT count(*) FROM records WHERE query_data->>'$.x' > length('ab')")

    assert result.error is not None
    assert result.error["name"] == "BadQuery"
    assert "json_number(query_data, '$.x')" in result.error["message"]


def test_records_view_text_comparisons_of_query_data_are_left_as_written() -> None:
    result = _run(query_log(), "SELECT count(*) FROM records WHERE query_data->>'$.x' = '9'")

    assert result.rows == [[1]]


@pytest.mark.parametrize(
    ("where", "parameters", "read"),
    [
        ("topic = '/imu'", None, ["/imu"]),
        ("topic IN ('/odom', '/api''s topic')", None, ["/api's topic", "/odom"]),
        ("topic_id = $id", "/odom", ["/odom"]),
        ("topic LIKE '/i%'", None, ["/imu"]),
        ("true", None, ["/api's topic", "/empty", "/imu", "/odom"]),
    ],
)
def test_records_view_reads_only_the_topics_a_literal_filter_keeps(
    where: str, parameters: str | None, read: list[str]
) -> None:
    log = query_log()
    bound = {"id": str(log.topic(parameters).id)} if parameters else None
    names = {str(topic.id): topic.name for topic in log.topics}

    result = _run(log, f"SELECT count(*) FROM records WHERE {where}", bound)

    assert result.error is None
    assert sorted(names[topic_id] for topic_id in log.reads) == read
    assert result.rows == [[sum(len(log.rows_of(name)) for name in read)]]


def _bucketed(width: int) -> tuple[dict[int, list[Any]], list[int]]:
    """Blocks by bucket: buckets 0..19 of ``width`` ns, two blocks (writers) in bucket 7, and blocks
    at the int64 extremes."""
    by_bucket: dict[int, list[Any]] = defaultdict(list)
    for bucket in range(20):
        by_bucket[bucket].append(
            stored_block([RecordRow(bucket * width + i * 7) for i in range(width // 7 + 1)])
        )
    by_bucket[7].append(stored_block([RecordRow(7 * width), RecordRow(8 * width - 1)]))
    for timestamp in (INT64_MIN, INT64_MAX):
        by_bucket[timestamp // width].append(stored_block([RecordRow(timestamp)]))
    return by_bucket, list(range(20))


def test_bucket_spans_read_only_the_buckets_around_a_time_window() -> None:
    width = 1_000
    by_bucket, listed = _bucketed(width)
    reads: list[tuple[int | None, int | None]] = []

    def read(first: int | None, last: int | None) -> list[Any]:
        reads.append((first, last))
        return [
            block
            for bucket, blocks in sorted(by_bucket.items())
            if (first is None or bucket >= first) and (last is None or bucket <= last)
            for block in blocks
        ]

    spans = bucket_spans("t1", "/imu", bucket_width_ns=width, buckets=listed, read=read, max_spans=5)
    all_timestamps = [
        row.timestamp for blocks in by_bucket.values() for block in blocks for row in block.rows()
    ]
    views = {"records": records_view(spans)}

    window = run_query(
        "SELECT count(*) FROM records WHERE timestamp BETWEEN $low AND $high",
        {"low": 4_500, "high": 7_000},
        views,
        LIMITS,
    )

    assert window.rows == [[sum(1 for t in all_timestamps if 4_500 <= t <= 7_000)]]
    assert reads == [(4, 7)]  # spans of four buckets: [None..3], [4..7], [8..11], [12..15], [16..None]
    reads.clear()
    everything = run_query(
        "SELECT count(*), min(timestamp), max(timestamp) FROM records", None, views, LIMITS
    )
    assert everything.rows == [[len(all_timestamps), INT64_MIN, INT64_MAX]]  # buckets never listed too
    assert sorted(reads, key=str) == sorted([(None, 3), (4, 7), (8, 11), (12, 15), (16, None)], key=str)


def test_bucket_spans_of_a_topic_without_buckets_is_one_unbounded_span() -> None:
    spans = bucket_spans("t1", "/imu", bucket_width_ns=10, buckets=[], read=lambda first, last: [])

    assert [(s.start_time, s.end_time) for s in spans] == [(None, None)]


def test_records_view_is_not_read_by_a_statement_on_topics_alone() -> None:
    log = query_log()

    result = _run(log, "SELECT name FROM topics ORDER BY name")

    assert result.rows == [["/api's topic"], ["/empty"], ["/imu"], ["/odom"]]
    assert log.reads == {}


def test_records_view_columns_of_an_ingested_and_an_api_record() -> None:
    topic_id = uuid4()
    block = stored_block(
        [
            RecordRow(5, 100, 2_000, "lz4", 16, 40, None, INGESTION_ID.hex),
            RecordRow(6, None, None, None, None, None, "other.bag", None, {"query_data": {"a": 1}}),
        ]
    )
    views = {"records": records_view([RecordSpan(topic_id, "/t", lambda: [block])])}

    result = run_query("SELECT * FROM records ORDER BY timestamp", None, views, LIMITS)

    assert result.columns == RECORDS_SCHEMA.names
    assert result.rows == [
        [str(topic_id), "/t", 5, 100, 2_000, "lz4", 16, 40, None, str(INGESTION_ID), None],
        [str(topic_id), "/t", 6, None, None, None, None, None, "other.bag", None, {"a": 1}],
    ]


def test_records_view_block_goes_to_arrow_from_its_columns() -> None:
    block = stored_block(
        [
            RecordRow(t, 10 * t, 7, "lz4" if t % 2 else None, 3, 9, None, INGESTION_ID.hex)
            for t in range(1_000)
        ]
    )

    columns = block_columns(block)

    timestamps = columns["timestamp"].buffers[1]
    assert np.shares_memory(timestamps, block.timestamps)  # wrapped, not copied
    assert columns["timestamp"].buffers[0] is None  # no nulls: no bitmap
    assert columns["chunk_compression"].null_count == 500
    assert columns["source"].null_count == 1_000
    views = {"records": records_view([RecordSpan("t", "/t", lambda: [block])])}
    result = run_query(
        "SELECT chunk_compression, count(*), count(DISTINCT ingestion_id), min(ingestion_id) FROM records "
        "GROUP BY 1 ORDER BY 1 NULLS LAST",
        None,
        views,
        LIMITS,
    )
    assert result.rows == [["lz4", 500, 1, str(INGESTION_ID)], [None, 500, 1, str(INGESTION_ID)]]
    assert batch(BLOCK_SCHEMA, columns).length == 1_000


def test_records_batches_take_blocks_of_any_topics_in_one_stream() -> None:
    log = query_log()
    items = [(topic.id, topic.name, block) for topic in log.topics for block in log.blocks[str(topic.id)]]
    consumed: list[int] = []

    def lazily() -> Any:
        for item in items:
            consumed.append(1)
            yield item

    batches = records_batches(lazily())
    assert consumed == []  # nothing is read before the batches are
    views = {
        "records": _single("records", RECORDS_SCHEMA, batches),
        "topics": topics_view(log.topics),
    }

    result = run_query(GROUP_BY_TOPIC, None, views, LIMITS)

    assert result.rows == _expected_by_topic(log)
    assert len(consumed) == len(items)


def _single(name: str, schema: Schema, batches: Any) -> Any:
    return ViewSource.of(name, schema, lambda: batches)


# -- topics, tags, ingestions -------------------------------------------------------------------------------


def test_topics_view_holds_the_topic_models_fields_and_statistics() -> None:
    topic = topic_model(
        "/camera",
        note="front",
        context={"sensor": {"fps": 30}},
        type_name="sensor_msgs/Image",
        type_encoding="ros1",
        record_count=12,
        record_size=3_400,
        start_time=1_700_000_000_000_000_001,
        end_time=1_700_000_009_000_000_001,
        duration=9_000_000_000,
        type_schema={"type": "object"},
    )

    result = run_query(
        "SELECT id, log_id, name, note, context->>'$.sensor.fps', type_name, type_encoding, record_count, "
        "record_size, start_time, end_time, duration, type_schema, created_at, strict FROM topics",
        None,
        {"topics": topics_view([topic])},
        LIMITS,
    )

    assert result.error is None
    assert result.rows == [
        [
            str(topic.id),
            str(LOG_ID),
            "/camera",
            "front",
            "30",
            "sensor_msgs/Image",
            "ros1",
            12,
            3_400,
            1_700_000_000_000_000_001,
            1_700_000_009_000_000_001,
            9_000_000_000,
            {"type": "object"},
            "2024-05-01T12:00:00+00:00",
            False,
        ]
    ]


def test_topics_view_has_every_topic_model_statistic() -> None:
    statistics = {"record_count", "record_size", "start_time", "end_time", "duration", "base_timestamp"}

    assert statistics <= set(TOPICS_SCHEMA.names)


def test_tags_view_joins_records_in_a_tag_time_range() -> None:
    log = query_log()
    imu = log.topic("/imu")
    rows = log.rows_of("/imu")
    start, end = rows[10].timestamp, rows[20].timestamp
    tags = [
        {
            "id": uuid4(),
            "log_id": LOG_ID,
            "label_id": uuid4(),
            "label": "hard braking",
            "topic_id": imu.id,
            "start_time": start,
            "end_time": end,
            "note": None,
            "context": {"by": "driver"},
            "created_at": CREATED_AT,
        },
        {"id": uuid4(), "label": "whole log", "start_time": None, "end_time": None},
    ]
    views = log_views(topics=log.topics, spans=whole_topics(log.topics, log.blocks_of), tags=tags)

    result = run_query(
        "SELECT g.label, g.context->>'$.by', count(*) FROM tags g JOIN records r ON r.topic_id = g.topic_id "
        "AND r.timestamp BETWEEN g.start_time AND g.end_time GROUP BY ALL",
        None,
        views,
        LIMITS,
    )

    assert result.rows == [["hard braking", "driver", sum(1 for r in rows if start <= r.timestamp <= end)]]


def test_ingestions_view_holds_the_ingestion_models() -> None:
    ingestion = Ingestion(
        id=INGESTION_ID,
        created_at=CREATED_AT,
        log_id=LOG_ID,
        group_id=UUID("11111111-2222-3333-4444-555555555555"),
        name="drive.bag",
        state=ProcessState.completed,
        progress=1.0,
        context={"car": 7},
        transitioned_at=datetime(2024, 5, 1, 12, 5, tzinfo=UTC),
    )
    log = query_log()
    views = log_views(
        topics=log.topics, spans=whole_topics(log.topics, log.blocks_of), ingestions=[ingestion]
    )

    result = run_query(
        "SELECT i.name, i.state, i.progress, i.context, i.transitioned_at, count(r.timestamp) "
        "FROM ingestions i LEFT JOIN records r ON r.ingestion_id = i.id GROUP BY ALL",
        None,
        views,
        LIMITS,
    )

    assert result.error is None
    ingested = len(log.rows_of("/imu")) + sum(1 for r in log.rows_of("/odom") if r.ingestion_id)
    assert result.rows == [["drive.bag", "completed", 1.0, {"car": 7}, "2024-05-01T12:05:00+00:00", ingested]]


def test_log_views_are_the_four_views_by_name() -> None:
    log = query_log()

    views = log_views(topics=log.topics, spans=whole_topics(log.topics, log.blocks_of))

    assert sorted(views) == ["ingestions", "records", "tags", "topics"]
    result = run_query("SELECT count(*) FROM tags, ingestions", None, views, LIMITS)
    assert (result.error, result.rows, log.reads) == (None, [[0]], {})


def test_log_views_are_listed_by_the_catalog() -> None:
    log = query_log()
    views = log_views(topics=log.topics, spans=whole_topics(log.topics, log.blocks_of))

    result = run_query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'", None, views, LIMITS
    )

    assert {"topics", "records", "tags", "ingestions"} <= {row[0] for row in result.rows}
    assert log.reads == {}


def test_table_strings_of_one_entry_in_every_row_equal_the_gathered_column() -> None:
    # A block's topic and ingestion columns hold one entry in every row: tiled instead of gathered.
    table = ["/imu", "héllo/wörld"]
    constant = table_strings(np.ones(5, dtype=np.int32), table)
    mixed = table_strings(np.array([1, 1, 1, 1, 1, 0]), table)

    assert constant.length == 5 and constant.null_count == 0 and constant.buffers[0] is None
    assert list(constant.buffers[1]) == [i * len("héllo/wörld".encode()) for i in range(6)]
    assert bytes(constant.buffers[2]) == "héllo/wörld".encode() * 5
    assert bytes(mixed.buffers[2]) == "héllo/wörld".encode() * 5 + b"/imu"
    assert list(mixed.buffers[1])[:6] == list(constant.buffers[1])


def test_table_strings_of_one_empty_entry_in_every_row() -> None:
    column = table_strings(np.zeros(3, dtype=np.int32), [""])

    assert column.length == 3 and list(column.buffers[1]) == [0, 0, 0, 0] and bytes(column.buffers[2]) == b""


def test_table_strings_of_nulls_in_every_row_is_a_null_column_read_as_nulls() -> None:
    column = table_strings(np.full(4, -1, dtype=np.int32), ["unused"])
    schema = Schema.of([("source", STRING)])
    view = ViewSource.of("nothing", schema, lambda: [batch(schema, {"source": column})])

    result = run_query("SELECT count(*), count(source) FROM nothing", None, {"nothing": view}, QueryLimits())

    assert column.length == 4 and column.null_count == 4 and bytes(column.buffers[2]) == b""
    assert result.rows == [[4, 0]]
