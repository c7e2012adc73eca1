"""Windowed record lists over many blocks: pages and counts equal a brute-force reading of every row,
while only the blocks a page needs are decoded and the count comes from the BlockStats index."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import numpy as np
import pytest
from pydantic_core import to_json

from openlqs.api.record_pages import list_wire, to_wire, wire_json
from openlqs.domain.record_windows import RecordWindows, TopicRef, bucket_page
from openlqs.domain.records import RecordService
from openlqs.models.records import RecordListParams
from openlqs.records import codec
from openlqs.records.blocks import RecordBlock
from openlqs.records.codec import BlockColumns
from openlqs.records.rows import RecordRow, bucket_of
from openlqs.services import get_services
from tests.support.api import ApiClient
from tests.support.resources import new_topic

WIDTH = 1_000
START = 1_000_000


def _writer(writer: int) -> str:
    return str(UUID(int=writer + 1))


def _id(value: Any) -> str | None:
    return None if value is None else str(value)


def _rows(rng: random.Random, bucket: int, n: int, writer: int) -> list[RecordRow]:
    """Rows of one writer in one bucket; timestamps repeat (within and across writers) on purpose."""
    rows = []
    for _ in range(n):
        timestamp = bucket * WIDTH + rng.randrange(WIDTH)
        offset = rng.randrange(10**6)
        if writer % 3 == 2:  # compressed chunk: the position is in the chunk
            rows.append(
                RecordRow(timestamp, 4_000 + writer, 10**6, "lz4", offset, 17, ingestion_id=_writer(writer))
            )
        else:
            rows.append(RecordRow(timestamp, offset, 17, ingestion_id=_writer(writer)))
    return rows


@pytest.fixture
def stored(api: ApiClient) -> tuple[RecordService, UUID, list[tuple[RecordRow, str]]]:
    """A topic of 40 buckets: most hold one block, some two or three writers' blocks; some are empty."""
    topic = new_topic(api)
    service = get_services().records
    topic_id = UUID(topic["id"])
    rng = random.Random(4)
    blocks: list[RecordBlock] = []
    everything: list[tuple[RecordRow, str]] = []
    for bucket in range(START // WIDTH, START // WIDTH + 40):
        if bucket % 11 == 5:
            continue
        writers = 1 if bucket % 4 else rng.randrange(2, 4)
        for writer in range(writers):
            rows = _rows(rng, bucket, rng.randrange(1, 60), writer)
            segment = f"w{writer}"
            blocks.append(RecordBlock(topic_id, bucket, segment, rows, datetime.now(UTC)))
            everything.extend((row, segment) for row in rows)
    service.records.put_blocks(blocks)
    return service, topic_id, everything


def _expected(
    everything: list[tuple[RecordRow, str]], low: int | None, high: int | None, descending: bool
) -> list[RecordRow]:
    chosen = [
        (row, segment)
        for row, segment in everything
        if (low is None or row.timestamp >= low) and (high is None or row.timestamp <= high)
    ]
    chosen.sort(key=lambda pair: (pair[0].order_key(), pair[1]), reverse=descending)
    return [row for row, _ in chosen]


@pytest.fixture
def narrow_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RecordWindows, "width", lambda self, topic: WIDTH)


def _key(row: RecordRow) -> tuple[Any, ...]:
    return (row.timestamp, row.data_offset, row.chunk_offset, row.chunk_compression, row.ingestion_id)


def _page_keys(service: RecordService, topic_id: UUID, **params: Any) -> tuple[int | None, list[Any]]:
    count, records = service.list_records(topic_id, RecordListParams(**params))
    return count, [
        (r.timestamp, r.data_offset, r.chunk_offset, r.chunk_compression, _id(r.ingestion_id))
        for r in records
    ]


@pytest.mark.usefixtures("narrow_width")
def test_record_windows_pages_and_counts_equal_reading_every_row(
    stored: tuple[RecordService, UUID, list[tuple[RecordRow, str]]],
) -> None:
    service, topic_id, everything = stored
    rng = random.Random(9)
    edges = [None, *range(START - 500, START + 41 * WIDTH, 250)]
    for _ in range(150):
        low, high = rng.choice(edges), rng.choice(edges)
        if rng.random() < 0.3:  # a bound exactly on a stored timestamp
            low = rng.choice(everything)[0].timestamp
        descending = rng.random() < 0.4
        offset, limit = rng.choice([0, 0, 3, 57, 400]), rng.choice([0, 1, 25, 100, 1000])
        params: dict[str, Any] = {"offset": offset, "limit": limit, "order": "timestamp"}
        params["sort"] = "desc" if descending else "asc"
        if low is not None:
            params["timestamp_gte"] = low
        if high is not None:
            params["timestamp_lte"] = high
        expected = _expected(everything, low, high, descending)

        count, page = _page_keys(service, topic_id, **params)

        assert count == len(expected), repr(params)
        assert page == [_key(row) for row in expected[offset : offset + limit]], params
        # The API's path writes the same page as JSON text straight from the blocks' columns.
        records = service.list_records(topic_id, RecordListParams(**params))[1]
        assert list_wire(service, topic_id, RecordListParams(**params)) == (
            count,
            to_json([record.model_dump(mode="json") for record in records]).decode(),
        ), params


@pytest.mark.usefixtures("narrow_width")
def test_record_windows_a_counted_page_decodes_only_its_edge_blocks(
    stored: tuple[RecordService, UUID, list[tuple[RecordRow, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    service, topic_id, everything = stored
    decoded: list[int] = []
    real_decode = codec.decode_columns

    def counting(blob: bytes) -> codec.BlockColumns:
        columns = real_decode(blob)
        decoded.append(len(columns))
        return columns

    monkeypatch.setattr(codec, "decode_columns", counting)
    codec.decoded_blocks.clear()  # blocks of equal rows may have been decoded by an earlier test
    calls: list[str] = []

    def count_calls(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append(model.name + (f" {params['IndexName']}" if "IndexName" in params else ""))

    events = service.records.table.meta.client.meta.events  # type: ignore[attr-defined]
    events.register("provide-client-params.dynamodb.*", count_calls)
    low = START + 3 * WIDTH + 500  # inside the fourth bucket
    try:
        count, page = _page_keys(service, topic_id, timestamp_gte=low, limit=10)
    finally:
        events.unregister("provide-client-params.dynamodb.*", count_calls)

    expected = _expected(everything, low, None, False)
    assert count == len(expected)
    assert page == [_key(row) for row in expected[:10]]
    # The page's bucket (at most three writers' blocks) is decoded; the other ~45 blocks are counted
    # from the index without reading their rows.
    assert 1 <= len(decoded) <= 3, decoded
    assert calls.count("Query BlockStats") == 1, calls
    assert sum(call.startswith("Query") for call in calls) <= 3, calls
    # Another page of the same bucket finds its blocks decoded already.
    decoded.clear()
    assert _page_keys(service, topic_id, timestamp_gte=low, offset=5, limit=5)[1] == [
        _key(row) for row in expected[5:10]
    ]
    assert decoded == []


def test_record_windows_a_stored_block_keeps_its_order_and_counts(api: ApiClient) -> None:
    topic = new_topic(api)
    service = get_services().records
    topic_id = UUID(topic["id"])
    rows = [RecordRow(10, 5, 1), RecordRow(3, 9, 1), RecordRow(3, 2, 1), RecordRow(7)]
    service.records.put_block(RecordBlock(topic_id, bucket_of(3, 10**12), "x", rows, datetime.now(UTC)), None)

    (stored,) = list(_blocks(service, topic_id))

    assert (stored.n, stored.min_ts, stored.max_ts) == (4, 3, 10)
    assert [(r.timestamp, r.data_offset) for r in stored.rows] == [(3, 2), (3, 9), (7, None), (10, 5)]


def _blocks(service: RecordService, topic_id: UUID) -> Iterator[RecordBlock]:
    return service.records.blocks(topic_id, None, None)


def test_record_windows_a_deleted_topic_is_not_found_after_it_was_listed(api: ApiClient) -> None:
    topic = new_topic(api)
    path = f"/topics/{topic['id']}/records"
    api.post(path, {"timestamp": 5})
    assert api.get(path).status == 200  # the topic's log and bucket width are now cached

    assert api.delete(f"/topics/{topic['id']}").status == 204
    response = api.get(path, params={"timestamp_gte": 0})

    assert response.status == 404, response.body


@pytest.mark.parametrize(
    "row",
    [
        RecordRow(7, 100, 20, ingestion_id=_writer(0)),
        RecordRow(8, 4_000, 10**6, "lz4", 12, 17, ingestion_id=_writer(1)),
        RecordRow(9, 5, 6, source="other.bag"),
        RecordRow(10),
        RecordRow(11, 5, 6, extra={"note": "n", "created_at": "2024-01-02T03:04:05.000006+00:00"}),
    ],
)
def test_record_windows_json_records_equal_the_model_s_json(row: RecordRow) -> None:
    service = RecordService.__new__(RecordService)
    ref = TopicRef(UUID(int=1), UUID(int=2), WIDTH)
    block = RecordBlock(ref.id, 0, "s", [row], datetime(2025, 5, 6, 7, 8, 9, 123456, tzinfo=UTC))

    wire = to_wire(ref, block, row, auxiliary=False)

    expected = service.to_record(ref, block, row, auxiliary=False).model_dump(mode="json")
    assert list(wire.items()) == list(expected.items())


def test_record_windows_json_text_of_a_page_equals_the_model_s_json() -> None:
    service = RecordService.__new__(RecordService)
    ref = TopicRef(UUID(int=1), UUID(int=2), WIDTH)
    rows = [
        RecordRow(7, 100, 20, ingestion_id=_writer(0)),
        RecordRow(8, 4_000, 10**6, "lz4", 12, 17, ingestion_id=_writer(1)),
        RecordRow(9, 5, 6, source='other "100%".bag'),
        RecordRow(10),
        RecordRow(11, 5, 6, extra={"note": "n", "created_at": "2024-01-02T03:04:05.000006+00:00"}),
        RecordRow(12, 6, 7, "bz2", 1, 2, source="b.bag", ingestion_id=_writer(0)),
    ]
    block = RecordBlock(ref.id, 0, "s", rows, datetime(2025, 5, 6, 7, 8, 9, 123456, tzinfo=UTC))
    block = RecordBlock(ref.id, 0, "s", None, block.created_at, columns=block.columns)

    for indexes in ([0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], [3, 4], [1], []):
        text = wire_json(ref, [(block, np.array(indexes, dtype=np.intp))])

        records = [service.to_record(ref, block, rows[i], auxiliary=False) for i in indexes]
        assert text == to_json([record.model_dump(mode="json") for record in records]).decode(), indexes


def test_record_windows_interleaved_writers_are_written_block_by_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = RecordService.__new__(RecordService)
    ref = TopicRef(UUID(int=1), UUID(int=2), WIDTH)
    created = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)
    blocks = [
        RecordBlock(
            ref.id,
            0,
            f"w{w}",
            None,
            created,
            columns=BlockColumns.from_rows(
                [RecordRow(2 * t + w, 10 * t, 5, ingestion_id=_writer(w)) for t in range(300)]
            ),
        )
        for w in range(2)
    ]
    calls: list[int] = []
    real = BlockColumns.json_fields

    def counting(columns: BlockColumns, indexes: Any) -> list[list[Any]]:
        calls.append(len(indexes))
        return real(columns, indexes)

    monkeypatch.setattr(BlockColumns, "json_fields", counting)
    runs = bucket_page(blocks, [(0, 300), (0, 300)], 7, 400, False)
    assert len(runs) == 400  # the writers take turns: one run per row

    text = wire_json(ref, runs)

    assert calls == [200, 200]  # each block's rows at once
    rows = [(block, row) for block, indexes in runs for row in block.columns.take(indexes).rows()]
    expected = [
        service.to_record(ref, block, row, auxiliary=False).model_dump(mode="json") for block, row in rows
    ]
    assert [record["timestamp"] for record in expected] == list(range(7, 407))
    assert text == to_json(expected).decode()


def test_record_windows_a_deleted_topic_is_not_found_for_a_count_alone(api: ApiClient) -> None:
    topic = new_topic(api)
    path = f"/topics/{topic['id']}/records"
    api.post(path, {"timestamp": 5})
    assert api.get(path).status == 200

    assert api.delete(f"/topics/{topic['id']}").status == 204
    response = api.get(path, params={"limit": 0, "include_count": "true"})

    assert response.status == 404, response.body
