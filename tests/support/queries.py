"""A small log for query tests: topics whose records are real record blocks (encoded and decoded by
``records.codec``), and a ``blocks_of`` that counts which topics were read."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from openlqs.models.resources import Topic
from openlqs.records.codec import BlockColumns, decode_columns, encode_rows
from openlqs.records.rows import RecordRow

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INGESTION_ID = UUID("5b0b1d6e-8a7e-4f0c-9a55-0f4f4a8a7d21")
LOG_ID = UUID("0e7f5b8c-1d2a-4c3b-9e8f-7a6b5c4d3e2f")
CREATED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def stored_block(rows: list[RecordRow]) -> BlockColumns:
    """``rows`` (sorted here) as the codec stores and reads them back."""
    return decode_columns(encode_rows(sorted(rows, key=RecordRow.order_key)))


def topic_model(name: str, **fields: Any) -> Topic:
    return Topic(id=uuid4(), created_at=CREATED_AT, log_id=LOG_ID, name=name, **fields)


@dataclass
class QueryLog:
    """Topics and their blocks; ``reads`` counts ``blocks_of`` calls per topic id."""

    topics: list[Topic]
    blocks: dict[str, list[BlockColumns]]
    reads: Counter[str] = field(default_factory=Counter)

    def blocks_of(self, topic_id: UUID | str) -> list[BlockColumns]:
        self.reads[str(topic_id)] += 1
        return self.blocks[str(topic_id)]

    def topic(self, name: str) -> Topic:
        return next(topic for topic in self.topics if topic.name == name)

    def rows_of(self, name: str) -> list[RecordRow]:
        return [row for block in self.blocks[str(self.topic(name).id)] for row in block.rows()]


def query_log(seed: int = 3) -> QueryLog:
    """Four topics over several blocks each: ingested-looking records (lz4 chunks, one ingestion),
    records made through the API (no offsets, per-record query_data), equal timestamps within and
    across blocks, and the int64 extremes; one topic has no records at all."""
    rng = random.Random(seed)
    imu, odom, api, empty = (topic_model(n) for n in ("/imu", "/odom", "/api's topic", "/empty"))
    blocks: dict[str, list[BlockColumns]] = {str(t.id): [] for t in (imu, odom, api, empty)}

    timestamp = 1_700_000_000_000_000_000
    for topic, count in ((imu, 5), (odom, 3)):
        for _ in range(count):
            rows: list[RecordRow] = []
            offset = 4_096
            for _ in range(rng.randrange(50, 400)):
                timestamp += rng.choice((0, 0, 1, 2_500_000))  # equal timestamps are common
                length = rng.randrange(8, 300)
                rows.append(
                    RecordRow(
                        timestamp=timestamp,
                        data_offset=1_000 + 7 * len(rows),
                        data_length=250_000,
                        chunk_compression="lz4",
                        chunk_offset=offset,
                        chunk_length=length,
                        ingestion_id=INGESTION_ID.hex,
                    )
                )
                offset += length
            blocks[str(topic.id)].append(stored_block(rows))
    # Two blocks holding the same timestamps (two writers), with the int64 extremes.
    extreme = [RecordRow(timestamp=INT64_MIN, source="a.bag"), RecordRow(timestamp=INT64_MAX, source="a.bag")]
    blocks[str(odom.id)].append(stored_block(extreme))
    blocks[str(odom.id)].append(stored_block([RecordRow(timestamp=INT64_MAX), RecordRow(timestamp=0)]))

    api_rows = [
        RecordRow(timestamp=1_000 + i, extra={"query_data": value} if value is not None else None)
        for i, value in enumerate(
            [
                {"x": 6},
                {"x": 5},
                {"x": 4.5},
                {"x": 5.5, "label": "brake"},
                {"x": "9"},
                {"y": 1},
                None,
                {"x": None},
                {"x": 12345678901234567890},
                {"x": [9]},
                {"x": -7, "nested": {"deep": [1, {"k": "v"}]}},
            ]
        )
    ]
    blocks[str(api.id)] = [stored_block(api_rows[:6]), stored_block(api_rows[6:])]
    return QueryLog([imu, odom, api, empty], blocks)
