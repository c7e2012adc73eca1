"""The ingestion tasks (plan, process parts, finalize, fail) on real bags, against moto."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import boto3
import pytest
from rosbags.rosbag1 import Reader

from openlqs.errors import StaleAttempt
from openlqs.formats.base import MessagePosition
from openlqs.ingestion.payloads import IngestionPlan
from openlqs.models.common import ProcessState
from openlqs.services import get_services
from openlqs.settings import get_settings
from tests.support import tasks
from tests.support.api import ApiClient
from tests.support.bags import EXAMPLE_BAG_TOPIC_COUNTS, FileSource, inflate_chunk_counts, write_string_bag
from tests.support.paths import DATASTORE_ID
from tests.support.resources import create_group, create_log

EXPECTED_COUNTS = EXAMPLE_BAG_TOPIC_COUNTS


@pytest.fixture
def log(api: ApiClient) -> dict[str, Any]:
    return create_log(api, create_group(api, "Pipeline")["id"], "Run")


def _put(aws: dict[str, str], log: dict[str, Any], key: str, data: bytes) -> None:
    boto3.client("s3").put_object(
        Bucket=aws["OBJECTS_BUCKET_NAME"], Key=f"lqs/{DATASTORE_ID}/logs/{log['id']}/{key}", Body=data
    )


def _queue(api: ApiClient, log: dict[str, Any], key: str) -> dict[str, Any]:
    response = api.post("/ingestions", {"log_id": log["id"], "object_key": key, "state": "queued"})
    assert response.status == 200, response.body
    return dict(response.data)


def _run(ingestion: dict[str, Any], attempt: int = 1) -> dict[str, Any]:
    """What the state machine does, task by task (the Map runs parts in any order)."""
    payload = {"ingestion_id": ingestion["id"], "attempt": attempt}
    try:
        plan = tasks.plan(payload)
        for part in reversed(tasks.parts_of(plan)):
            tasks.process_part(part)
        return tasks.finalize(payload)
    except Exception as error:  # the Catch → "Fail ingestion" path
        cause = {"errorType": type(error).__name__, "errorMessage": str(error)}
        import json

        return tasks.fail({**payload, "error": {"Error": type(error).__name__, "Cause": json.dumps(cause)}})


@pytest.mark.parametrize("name", ["example.bag", "example-lz4.bag", "example-bz2.bag"])
def test_pipeline_indexes_real_bags_like_rosbags(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_bags: Path, name: str
) -> None:
    _put(aws, log, name, (fixture_bags / name).read_bytes())
    ingestion = _queue(api, log, name)

    assert _run(ingestion)["state"] == "completed"

    done = api.get(f"/ingestions/{ingestion['id']}").data
    assert (done["state"], done["progress"], done["previous_state"]) == ("completed", 1.0, "finalizing")
    topics = {
        t["name"]: t for t in api.get("/topics", params={"log_id": log["id"], "limit": 100}).json()["data"]
    }
    assert {n: t["record_count"] for n, t in topics.items()} == EXPECTED_COUNTS
    assert topics["/turtle1/pose"]["type_name"] == "turtlesim/Pose"
    assert topics["/turtle1/pose"]["type_encoding"] == "ros1"
    assert "float32 theta" in topics["/turtle1/pose"]["type_data"]
    with Reader(fixture_bags / name) as reader:
        expected: dict[str, list[int]] = {}
        for connection, timestamp, _ in reader.messages():
            expected.setdefault(connection.topic, []).append(timestamp)
    for topic_name, timestamps in expected.items():
        topic = topics[topic_name]
        assert (topic["start_time"], topic["end_time"]) == (min(timestamps), max(timestamps))
    fetched_log = api.get(f"/logs/{log['id']}").data
    assert fetched_log["record_count"] == 8647
    # The last message is at ...199; the fixtures README quotes rosbags' exclusive end_time (last + 1 ns).
    assert (fetched_log["start_time"], fetched_log["end_time"]) == (1396293887844783943, 1396293909544870199)


def _all_records(api: ApiClient, topic_id: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    while True:
        page = api.get(f"/topics/{topic_id}/records", params={"limit": 1000, "offset": len(records)}).json()
        records += page["data"]
        if len(records) >= page["count"]:
            return records


def _bytes_of(source: FileSource, record: dict[str, Any]) -> bytes:
    return source.message_bytes(
        MessagePosition(
            0,
            record["timestamp"],
            record["data_offset"],
            record["data_length"],
            record["chunk_compression"],
            record["chunk_offset"],
            record["chunk_length"],
        )
    )


@pytest.mark.parametrize("name", ["example.bag", "example-lz4.bag", "example-bz2.bag"])
def test_pipeline_every_record_points_at_its_message_bytes(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_bags: Path, name: str
) -> None:
    source = FileSource(fixture_bags / name)
    _put(aws, log, name, source.data)
    _run(_queue(api, log, name))
    topics = api.get("/topics", params={"log_id": log["id"], "limit": 100}).json()["data"]

    got = {
        t["name"]: [(r["timestamp"], _bytes_of(source, r)) for r in _all_records(api, t["id"])]
        for t in topics
    }

    expected: dict[str, list[tuple[int, bytes]]] = {}
    with Reader(fixture_bags / name) as reader:
        for connection, timestamp, raw in reader.messages():
            expected.setdefault(connection.topic, []).append((timestamp, bytes(raw)))
    assert {topic: sorted(pairs) for topic, pairs in got.items()} == {
        topic: sorted(pairs) for topic, pairs in expected.items()
    }
    assert all([ts for ts, _ in pairs] == sorted(ts for ts, _ in pairs) for pairs in got.values())


def test_pipeline_keeps_equal_timestamps_in_file_order(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], tmp_path: Path
) -> None:
    bag = write_string_bag(
        tmp_path / "same.bag", [("/a", 7, "first"), ("/a", 7, "second"), ("/a", 8, "third")]
    )
    source = FileSource(bag)
    _put(aws, log, "same.bag", source.data)
    _run(_queue(api, log, "same.bag"))
    topic = api.get("/topics", params={"log_id": log["id"]}).json()["data"][0]

    records = _all_records(api, topic["id"])

    assert [_bytes_of(source, r)[4:] for r in records] == [b"first", b"second", b"third"]
    assert api.get(f"/topics/{topic['id']}/records/7").data["data_offset"] == records[0]["data_offset"]


def test_pipeline_orders_records_of_chunks_stored_out_of_time_order(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_bags: Path
) -> None:
    _put(aws, log, "unsorted.bag", (fixture_bags / "example-unsorted-chunks.bag").read_bytes())
    _run(_queue(api, log, "unsorted.bag"))
    topic = api.get("/topics", params={"log_id": log["id"]}).json()["data"][0]

    records = _all_records(api, topic["id"])

    assert [r["timestamp"] for r in records] == [1_000_000_000, 2_000_000_000, 3_000_000_000]
    assert (topic["name"], topic["type_name"], topic["start_time"]) == (
        "foo",
        "std_msgs/String",
        1_000_000_000,
    )


def test_pipeline_splits_into_parts_and_a_rerun_leaves_one_copy(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PART_TARGET_BYTES", "20000")
    get_settings.cache_clear()
    get_services.cache_clear()
    messages = [
        ("/a" if i % 3 else "/b", 1_000_000_000 + i * 1_000_000, f"msg {i}" * 10) for i in range(3000)
    ]
    bag = write_string_bag(tmp_path / "multi.bag", messages, chunk_threshold=8 * 1024)
    _put(aws, log, "multi.bag", bag.read_bytes())
    ingestion = _queue(api, log, "multi.bag")

    assert _run(ingestion)["state"] == "completed"
    parts = api.get(f"/ingestions/{ingestion['id']}/parts", params={"limit": 100}).json()
    assert parts["count"] > 3

    # When a part runs again (a Lambda retry after its response was lost), and when its blocks are
    # written again (a retry after a crash between writing and completing), nothing changes
    first = api.get(f"/ingestions/{ingestion['id']}/parts/{parts['data'][0]['id']}").data
    tasks.process_part({"ingestion_id": ingestion["id"], "part_id": first["id"], "sequence": 0, "attempt": 1})
    pipeline = tasks.get_pipeline()
    stored = pipeline.ingestions.get(UUID(ingestion["id"]))
    plan = IngestionPlan.model_validate(stored._internal["plan"])
    start, end = first["context"]["start"], first["context"]["end"]
    data = bag.read_bytes()[start:end]
    built = pipeline._blocks(stored, plan, first["sequence"], data, start)
    pipeline.records.put_blocks(built.blocks)
    topics = api.get("/topics", params={"log_id": log["id"]}).json()["data"]
    counts = {
        t["name"]: api.get(f"/topics/{t['id']}/records", params={"limit": 0}).json()["count"] for t in topics
    }
    assert counts == {"/a": 2000, "/b": 1000}


def test_pipeline_failed_ingestion_requeued_ends_with_one_copy(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_bags: Path
) -> None:
    _put(aws, log, "run.bag", b"not a bag at all")
    ingestion = _queue(api, log, "run.bag")
    assert _run(ingestion)["state"] == "failed"
    failed = api.get(f"/ingestions/{ingestion['id']}").data
    assert failed["error_name"] == "BadLogFile"
    assert "not a ROS 1 bag" in failed["error_message"]
    assert "rosbag2 sqlite3 file" in failed["error_message"]  # every kind the ingestion takes is named
    assert api.get("/topics", params={"log_id": log["id"]}).json()["count"] == 0

    # When the file is replaced and the ingestion queued again
    _put(aws, log, "run.bag", (fixture_bags / "example.bag").read_bytes())
    assert api.patch(f"/ingestions/{ingestion['id']}", {"state": "queued"}).status == 200
    assert _run(ingestion, attempt=2)["state"] == "completed"
    # and once more (a re-queue after completion is refused; delete and re-create is the way)
    assert api.get(f"/logs/{log['id']}").data["record_count"] == 8647


@pytest.mark.parametrize(
    ("name", "error"), [("empty-file.bag", "empty"), ("asci-file.txt", "not a ROS 1 bag")]
)
def test_pipeline_bad_files_fail_with_a_clear_error(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_bags: Path, name: str, error: str
) -> None:
    _put(aws, log, name, (fixture_bags / name).read_bytes())
    ingestion = _queue(api, log, name)

    _run(ingestion)

    failed = api.get(f"/ingestions/{ingestion['id']}").data
    assert (failed["state"], failed["error_name"]) == ("failed", "BadLogFile")
    assert error in failed["error_message"]


def test_pipeline_corrupt_chunk_fails_and_leaves_no_topics_or_records(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], tmp_path: Path
) -> None:
    from openlqs.formats.ros1.bag import read_index, read_record

    bag = write_string_bag(
        tmp_path / "ok.bag", [("/c", 10 + i, f"m{i}" * 20) for i in range(500)], chunk_threshold=4096
    )
    data = bytearray(bag.read_bytes())
    chunks = read_index(FileSource(bag)).chunks
    record = read_record(data, chunks[len(chunks) // 2].start)
    assert record is not None
    data[record.data_start : record.data_start + 8] = b"\xff" * 8
    _put(aws, log, "bad.bag", bytes(data))
    ingestion = _queue(api, log, "bad.bag")

    _run(ingestion)

    failed = api.get(f"/ingestions/{ingestion['id']}").data
    assert failed["state"] == "failed" and failed["error_name"] == "BadLogFile"
    assert failed["error_payload"]["failed_parts"][0]["start"] <= record.data_start
    assert api.get("/topics", params={"log_id": log["id"]}).json()["count"] == 0
    assert api.get(f"/logs/{log['id']}").data["record_count"] == 0


def test_pipeline_bag_without_messages_completes_with_no_topics(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_bags: Path
) -> None:
    _put(aws, log, "empty.bag", (fixture_bags / "no-messages.bag").read_bytes())

    assert _run(_queue(api, log, "empty.bag"))["state"] == "completed"
    assert api.get("/topics", params={"log_id": log["id"]}).json()["count"] == 0


def test_pipeline_salvages_a_cut_off_recording(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], tmp_path: Path
) -> None:
    from openlqs.formats.ros1.bag import read_index

    bag = write_string_bag(
        tmp_path / "full.bag", [("/s", 1 + i, f"x{i}" * 30) for i in range(1000)], chunk_threshold=4096
    )
    chunks = read_index(FileSource(bag)).chunks
    cut = bag.read_bytes()[: chunks[5].start + 50]
    _put(aws, log, "cut.bag", cut)
    ingestion = _queue(api, log, "cut.bag")

    assert _run(ingestion)["state"] == "completed"

    done = api.get(f"/ingestions/{ingestion['id']}").data
    assert done["context"]["salvage"]["ignored_bytes"] == 50
    expected = sum(c.message_count for c in chunks[:5])
    assert api.get(f"/logs/{log['id']}").data["record_count"] == expected


def test_pipeline_a_header_only_bag_fails_as_truncated(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_bags: Path
) -> None:
    # The header of example.bag announces 12 connections and a chunk; the file ends after it.
    _put(aws, log, "head.bag", (fixture_bags / "example.bag").read_bytes()[:4117])
    ingestion = _queue(api, log, "head.bag")

    _run(ingestion)

    failed = api.get(f"/ingestions/{ingestion['id']}").data
    assert (failed["state"], failed["error_name"]) == ("failed", "BadLogFile")
    assert "truncated" in failed["error_message"]
    assert api.get("/topics", params={"log_id": log["id"]}).json()["count"] == 0


def _record_blocks(aws: dict[str, str], topic_ids: list[str]) -> int:
    """How many RecordsTable items the topics have."""
    table = boto3.resource("dynamodb").Table(aws["RECORDS_TABLE_NAME"])
    return sum(
        table.query(
            KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": topic_id}, Select="COUNT"
        )["Count"]
        for topic_id in topic_ids
    )


@pytest.mark.parametrize("factor", [10**4, 10**7])
def test_pipeline_chunk_counts_that_lie_do_not_multiply_the_blocks(
    api: ApiClient, aws: dict[str, str], tmp_path: Path, factor: int
) -> None:
    # Given one bag (5 topics, 2,000 messages each over 20 s), honest and with its chunk-info counts
    # multiplied (x10^4 claims 10^8 messages: ~10,000 blocks if widths trusted it; x10^7 claims more than
    # max_records_per_log and would be refused)
    messages = [(f"/t{i % 5}", 1_000_000_000 + i * 2_000_000, f"m{i}") for i in range(10_000)]
    honest = write_string_bag(tmp_path / "honest.bag", messages, chunk_threshold=4096).read_bytes()
    group = create_group(api, "Counts")
    blocks = {}
    for name, data in (("honest", honest), ("lying", inflate_chunk_counts(honest, factor))):
        log = create_log(api, group["id"], name)
        _put(aws, log, f"{name}.bag", data)

        # When each is ingested
        assert _run(_queue(api, log, f"{name}.bag"))["state"] == "completed"

        # Then both index every message exactly, and the lie costs at most a few more blocks
        topics = api.get("/topics", params={"log_id": log["id"]}).json()["data"]
        assert sorted(topic["record_count"] for topic in topics) == [2_000] * 5
        blocks[name] = _record_blocks(aws, [topic["id"] for topic in topics])
    assert blocks["honest"] == 5
    assert blocks["lying"] <= 4 * blocks["honest"], blocks


def test_pipeline_deleting_an_ingestion_deletes_its_records(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_bags: Path
) -> None:
    _put(aws, log, "e.bag", (fixture_bags / "example.bag").read_bytes())
    ingestion = _queue(api, log, "e.bag")
    _run(ingestion)

    assert api.delete(f"/ingestions/{ingestion['id']}").status == 204

    assert api.get(f"/logs/{log['id']}").data["record_count"] == 0
    topics = api.get("/topics", params={"log_id": log["id"]}).json()["data"]
    assert all(t["record_count"] == 0 for t in topics)


def test_pipeline_part_of_a_failed_ingestion_writes_nothing(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_bags: Path
) -> None:
    _put(aws, log, "e.bag", (fixture_bags / "example.bag").read_bytes())
    ingestion = _queue(api, log, "e.bag")
    plan = tasks.plan({"ingestion_id": ingestion["id"], "attempt": 1})
    # Another part failed and "Fail ingestion" ran while this part was still working
    tasks.get_pipeline().ingestions.transition(UUID(ingestion["id"]), ProcessState.failed)

    with pytest.raises(StaleAttempt):
        tasks.process_part(tasks.parts_of(plan)[0])

    topics = api.get("/topics", params={"log_id": log["id"]}).json()["data"]
    assert all(
        api.get(f"/topics/{t['id']}/records", params={"limit": 0}).json()["count"] == 0 for t in topics
    )
