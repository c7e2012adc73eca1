"""Topics that opt in (``context.store_query_data: true``) get small messages' query_data at ingestion."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from openlqs.errors import BadLogFile
from openlqs.formats.ros1.bag import MAGIC, index_chunk_columns
from openlqs.ingestion.part_blocks import (
    MAX_BLOCK_BLOB_BYTES,
    MAX_BLOCK_EXTRA_BYTES,
    MAX_BLOCK_RECORDS,
    fit_block,
    part_columns,
    split_block_rows,
)
from openlqs.records.codec import BlockColumns, decode_rows
from openlqs.records.rows import RecordRow
from tests.support.api import ApiClient
from tests.support.bags import write_string_bag
from tests.support.ingestion import ingest, put_log_object
from tests.support.paths import DATASTORE_ID
from tests.support.resources import create_group, create_log


def _ingest_example(api: ApiClient, aws: dict[str, str], fixture_bags: Path, opt_in: list[str]) -> str:
    group = create_group(api, "Stored")
    log = create_log(api, group["id"], "Stored")
    for name in opt_in:
        response = api.post(
            "/topics", {"log_id": log["id"], "name": name, "context": {"store_query_data": True}}
        )
        assert response.status == 200, response.body
    put_log_object(aws, DATASTORE_ID, log["id"], "example.bag", (fixture_bags / "example.bag").read_bytes())
    ingest(api, log["id"], "example.bag")
    return str(log["id"])


def _topic(api: ApiClient, log_id: str, name: str) -> dict[str, Any]:
    (topic,) = api.get("/topics", params={"log_id": log_id, "name": name}).json()["data"]
    return dict(topic)


def _records(api: ApiClient, topic: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    response = api.get(f"/topics/{topic['id']}/records", params={"limit": 1000, **params})
    assert response.status == 200, response.body
    return list(response.json()["data"])


def test_stored_query_data_is_returned_without_reading_the_bag(
    api: ApiClient, aws: dict[str, str], fixture_bags: Path
) -> None:
    log_id = _ingest_example(api, aws, fixture_bags, ["/turtle1/pose"])
    pose = _topic(api, log_id, "/turtle1/pose")
    twist = _topic(api, log_id, "/turtle1/cmd_vel")

    stored = _records(api, pose)
    decoded = _records(api, pose, include_raw_data="true")
    other = _records(api, twist)

    assert (len(stored), pose["record_count"]) == (1000, 1344)
    assert all(record["query_data"] is not None for record in stored)
    # What was stored is what decoding on read gives.
    assert [r["query_data"] for r in stored] == [r["query_data"] for r in decoded]
    assert set(stored[0]["query_data"]) >= {"x", "y", "theta", "linear_velocity", "angular_velocity"}
    assert all(record["query_data"] is None for record in other)
    # The ingestion kept the type from the bag on the topic made beforehand.
    assert pose["type_name"] == "turtlesim/Pose"


def test_stored_query_data_can_be_filtered(api: ApiClient, aws: dict[str, str], fixture_bags: Path) -> None:
    log_id = _ingest_example(api, aws, fixture_bags, ["/turtle1/pose"])
    pose = _topic(api, log_id, "/turtle1/pose")
    everything = _records(api, pose)

    right = _records(api, pose, query_data_filter=json.dumps({"var": "x", "op": "gt", "val": 5.5}))

    expected = [r["timestamp"] for r in everything if r["query_data"]["x"] > 5.5]
    assert expected and len(expected) < len(everything)
    assert [r["timestamp"] for r in right] == expected


def test_split_block_rows_cuts_by_count_and_by_stored_json() -> None:
    small = [RecordRow(timestamp=i, data_offset=i, data_length=1) for i in range(MAX_BLOCK_RECORDS + 1)]
    payload = {"query_data": {"text": "x" * 10_000}}
    heavy = [RecordRow(timestamp=i, data_offset=i, data_length=1, extra=payload) for i in range(100)]

    by_count = split_block_rows(small)
    by_size = split_block_rows(heavy)

    assert [len(block) for block in by_count] == [MAX_BLOCK_RECORDS, 1]
    assert len(by_size) > 1
    assert sum(len(block) for block in by_size) == 100
    assert all(
        sum(len(json.dumps(row.extra, separators=(",", ":"))) for row in block) <= MAX_BLOCK_EXTRA_BYTES
        for block in by_size
    )


def test_fit_block_cuts_a_block_that_would_not_fit_an_item_in_halves() -> None:
    rng = random.Random(1)
    # Random times, offsets and lengths do not compress: ~40 bytes a row, ~400 KB for a full block.
    times = sorted(rng.randrange(2**62) for _ in range(MAX_BLOCK_RECORDS))
    big = 2**62
    rows = [RecordRow(t, rng.randrange(big), rng.randrange(big), "lz4", rng.randrange(big), 9) for t in times]

    pieces = fit_block(BlockColumns.from_rows(rows))

    assert len(pieces) > 1
    assert all(len(blob) <= MAX_BLOCK_BLOB_BYTES for _, blob in pieces)
    assert [row for piece, _ in pieces for row in piece.rows()] == rows
    assert all(decode_rows(blob) == piece.rows() for piece, blob in pieces)


def test_part_columns_look_up_connection_ids_of_any_size_without_an_array_that_large(tmp_path: Path) -> None:
    bag = write_string_bag(tmp_path / "a.bag", [("/a", 1, "x")])
    data = bag.read_bytes()

    # The plan knows only connection 4,000,000,000; the bag's message uses connection 0.
    with pytest.raises(BadLogFile, match="unknown connection 0"):
        part_columns(index_chunk_columns(data[len(MAGIC) :], len(MAGIC)), {4_000_000_000: 0})
