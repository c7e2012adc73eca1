"""MCAP files through the ingestion pipeline, against moto: real files written by other tools, files
written here with the ``mcap`` package, and bad files (each failure leaves nothing behind).

Records are read back through the API (``include_raw_data``), and compared with the fixtures README and
with the ``mcap`` package's own reading of the same files.
"""

from __future__ import annotations

import base64
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any
from uuid import UUID

import boto3
import numpy as np
import pytest
from mcap.reader import make_reader
from mcap.writer import IndexType, Writer
from PIL import Image
from rosbags.typesys import Stores, get_typestore

from openlqs.domain.resources import TOPIC
from openlqs.formats.mcap import read_index
from openlqs.formats.messages import to_json_value, to_plain
from tests.support import tasks
from tests.support.api import ApiClient
from tests.support.fixture_logs import FIXTURES, sha256_of
from tests.support.ingestion import ingest, log_object_key, put_log_object, run_ingestion
from tests.support.mcap import (
    BytesSource,
    Topic,
    chunk_record,
    indexed_messages,
    message_record,
    raw_mcap,
    reference_messages_of_cut_file,
    ros2_string,
    seeking_reference,
    string_messages,
    string_schema_and_channel,
    write_mcap,
)
from tests.support.paths import DATASTORE_ID
from tests.support.resources import create_group, create_log

ROS2 = get_typestore(Stores.LATEST)
MESSAGES = string_messages(900, ("/a", "/b", "/c"))


@pytest.fixture
def log(api: ApiClient) -> dict[str, Any]:
    return create_log(api, create_group(api, "MCAP")["id"], "Run")


def _put(aws: dict[str, str], log: dict[str, Any], key: str, data: bytes) -> None:
    put_log_object(aws, DATASTORE_ID, log["id"], key, data)


def _topics(api: ApiClient, log: dict[str, Any]) -> dict[str, dict[str, Any]]:
    listed = api.get("/topics", params={"log_id": log["id"], "limit": 100}).json()["data"]
    return {topic["name"]: topic for topic in listed}


def _records(api: ApiClient, topic_id: str, **params: Any) -> list[dict[str, Any]]:
    """Every record of the topic, in time order (the API's order), pages of 1,000."""
    records: list[dict[str, Any]] = []
    while True:
        page = api.get(
            f"/topics/{topic_id}/records", params={"limit": 1000, "offset": len(records), **params}
        ).json()
        records += page["data"]
        if len(records) >= page["count"]:
            return records


def _raw(record: dict[str, Any]) -> bytes:
    assert record["error"] is None, record["error"]
    return base64.b64decode(record["raw_data"])


def _read_back(api: ApiClient, log: dict[str, Any]) -> dict[str, list[tuple[int, bytes]]]:
    """``(timestamp, bytes)`` of every record of the log, per topic, read through the API."""
    return {
        name: [(r["timestamp"], _raw(r)) for r in _records(api, topic["id"], include_raw_data="true")]
        for name, topic in _topics(api, log).items()
    }


def _by_topic(reference: list[tuple[str, int, bytes]]) -> dict[str, list[tuple[int, bytes]]]:
    found: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
    for topic, log_time, data in reference:
        found[topic].append((log_time, data))
    return dict(found)


def _schemas(data: bytes) -> dict[str, tuple[str, str, bytes]]:
    """Per topic, ``(schema encoding, message encoding, schema data)`` as the ``mcap`` package reads them."""
    summary = make_reader(io.BytesIO(data)).get_summary()
    assert summary is not None
    found = {}
    for channel in summary.channels.values():
        schema = summary.schemas.get(channel.schema_id)
        found[channel.topic] = (
            schema.encoding if schema else "",
            channel.message_encoding,
            schema.data if schema else b"",
        )
    return found


# -- Real files written by other tools -------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_mcap_fixture_ingested_holds_the_readmes_topics_counts_times_and_bytes(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_logs: Path, name: str
) -> None:
    data = (fixture_logs / name).read_bytes()
    key = Path(name).name
    _put(aws, log, key, data)

    done = ingest(api, log["id"], key)

    expected = FIXTURES[name]
    topics = _topics(api, log)
    assert set(topics) == set(expected)
    read_back = _read_back(api, log)
    for topic_name, want in expected.items():
        topic = topics[topic_name]
        assert (topic["type_name"], topic["type_encoding"]) == (want.type_name, want.type_encoding)
        assert (topic["record_count"], topic["start_time"], topic["end_time"]) == (
            want.count,
            want.first,
            want.last,
        ), topic_name
        records = read_back[topic_name]
        assert [t for t, _ in records] == sorted(t for t, _ in records)
        assert sha256_of(raw for _, raw in records) == want.sha256, topic_name
    assert api.get(f"/logs/{log['id']}").data["record_count"] == sum(w.count for w in expected.values())
    assert done["context"]["mcap"]["library"]
    assert "salvage" not in done["context"]


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_mcap_fixture_topics_are_typed_as_the_contracts_table(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_logs: Path, name: str
) -> None:
    data = (fixture_logs / name).read_bytes()
    _put(aws, log, "log.mcap", data)

    ingest(api, log["id"], "log.mcap")

    schemas = _schemas(data)
    for topic_name, topic in _topics(api, log).items():
        schema_encoding, message_encoding, schema_data = schemas[topic_name]
        if topic["type_encoding"] == "cdr":  # ros2msg / cdr: the schema text, every dependency in it
            assert (schema_encoding, message_encoding) == ("ros2msg", "cdr")
            assert topic["type_data"] == schema_data.decode()
            assert topic["type_schema"] is None
        elif topic["type_encoding"] == "json":  # jsonschema / json: the text, and parsed
            assert (schema_encoding, message_encoding) == ("jsonschema", "json")
            assert topic["type_data"] == schema_data.decode()
            assert topic["type_schema"] == json.loads(schema_data) and topic["type_schema"]
        else:  # protobuf: no type_encoding (the client would fail on one), the encodings in context
            assert topic["type_encoding"] is None and topic["type_data"] is None
            assert topic["context"]["message_encoding"] == message_encoding == "protobuf"
            assert topic["context"]["schema_encoding"] == schema_encoding == "protobuf"
            assert topic["context"]["schema_name"] == topic["type_name"]


def test_mcap_fixture_query_data_is_decoded_by_type_encoding(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_logs: Path
) -> None:
    for name in sorted(FIXTURES):
        _put(aws, log, Path(name).name, (fixture_logs / name).read_bytes())
        ingest(api, log["id"], Path(name).name)
    topics = _topics(api, log)

    # cdr: with the 4-byte CDR header in raw_data, decoded from the topic's own definition
    for name in ("/topic", "/rosout"):
        for record in _records(api, topics[name]["id"], include_raw_data="true"):
            raw = _raw(record)
            assert raw[:2] == b"\x00\x01"  # CDR, little endian
            message = ROS2.deserialize_cdr(raw, topics[name]["type_name"])
            assert record["query_data"] == to_json_value(to_plain(message))
    assert _records(api, topics["/topic"]["id"], include_raw_data="true")[0]["query_data"]["data"].startswith(
        "Hello, world! "
    )
    # json: the message itself
    for record in _records(api, topics["mouse"]["id"], include_raw_data="true"):
        assert record["query_data"] == json.loads(_raw(record))
    # protobuf: bytes only, no query_data and no error
    scans = _records(api, topics["/laser_scan"]["id"], include_raw_data="true", include_auxiliary_data="true")
    assert all(r["query_data"] is None and r["error"] is None and r["raw_data"] for r in scans)


# -- Files written here with the mcap package ------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"compression": "zstd"},
        {"compression": "lz4"},
        {"compression": "none"},
        {"chunked": False},
        {"compression": "zstd", "index_types": IndexType.CHUNK},
    ],
    ids=["zstd", "lz4", "uncompressed", "unchunked", "no message indexes"],
)
def test_mcap_written_by_the_mcap_package_reads_back_as_its_reader_reads_it(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], options: dict[str, Any]
) -> None:
    data = write_mcap(MESSAGES, chunk_size=2048, **options)
    _put(aws, log, "run.mcap", data)

    ingest(api, log["id"], "run.mcap")

    assert _read_back(api, log) == _by_topic(seeking_reference(data))
    compressions = {
        r["chunk_compression"] for t in _topics(api, log).values() for r in _records(api, t["id"])
    }
    expected = {"zstd": {"zstd_mcap"}, "lz4": {"lz4"}}.get(options.get("compression", ""), {None})
    assert compressions == expected


def test_mcap_channels_of_one_topic_and_equal_log_times_keep_file_order(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    stream = io.BytesIO()
    writer = Writer(stream, chunk_size=256)
    writer.start(profile="ros2")
    schema = writer.register_schema("std_msgs/msg/String", "ros2msg", b"string data\n")
    channels = [writer.register_channel("/a", "cdr", schema) for _ in range(2)]
    sent = []
    for i in range(60):  # two publishers, three messages per log time, chunks cut anywhere
        message = ros2_string(f"message {i}")
        writer.add_message(channels[i % 2], 1_000 + i // 3, message, 1_000 + i // 3)
        sent.append((1_000 + i // 3, message))
    writer.finish()
    _put(aws, log, "run.mcap", stream.getvalue())

    ingest(api, log["id"], "run.mcap")

    assert list(_topics(api, log)) == ["/a"]
    assert _read_back(api, log) == {"/a": sent}


def test_mcap_chunks_out_of_time_order_are_read_in_time_order(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    late = [("/a", 5_000 + i, ros2_string(f"late {i}")) for i in range(100)]
    early = [("/a", 1_000 + i, ros2_string(f"early {i}")) for i in range(100)]
    data = write_mcap(late + early, chunk_size=1024)
    _put(aws, log, "run.mcap", data)

    ingest(api, log["id"], "run.mcap")

    assert _read_back(api, log) == {"/a": [(t, m) for _, t, m in early + late]}


def test_mcap_attachments_and_metadata_are_listed_in_the_ingestions_context(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    calibration = b"camera_matrix: [1, 0, 0, 0, 1, 0, 0, 0, 1]\n"
    data = write_mcap(
        MESSAGES[:30],
        attachments=[("calibration.yaml", "application/yaml", calibration)],
        metadata=[("robot", {"id": "r2", "site": "lab"})],
    )
    _put(aws, log, "run.mcap", data)

    done = ingest(api, log["id"], "run.mcap")

    (attachment,) = done["context"]["attachments"]
    assert (attachment["name"], attachment["media_type"], attachment["length"]) == (
        "calibration.yaml",
        "application/yaml",
        len(calibration),
    )
    # A user fetches it with a ranged read of the object
    start, end = attachment["offset"], attachment["offset"] + attachment["length"] - 1
    fetched = (
        boto3.client("s3")
        .get_object(
            Bucket=aws["OBJECTS_BUCKET_NAME"],
            Key=log_object_key(DATASTORE_ID, log["id"], "run.mcap"),
            Range=f"bytes={start}-{end}",
        )["Body"]
        .read()
    )
    assert fetched == calibration
    (metadata,) = done["context"]["metadata"]
    assert (metadata["name"], metadata["metadata"]) == ("robot", {"id": "r2", "site": "lab"})
    assert api.get(f"/logs/{log['id']}").data["record_count"] == 30  # neither is a record


def test_mcap_untyped_channel_keeps_its_encodings_in_the_topics_context(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    stream = io.BytesIO()
    writer = Writer(stream)
    writer.start()
    channel = writer.register_channel("/events", "cbor", 0)  # no schema
    writer.add_message(channel, 10, b"\xa1\x61x\x01", 10)
    writer.finish()
    _put(aws, log, "run.mcap", stream.getvalue())

    ingest(api, log["id"], "run.mcap")

    topic = _topics(api, log)["/events"]
    assert (topic["type_name"], topic["type_encoding"], topic["type_data"]) == (None, None, None)
    assert topic["context"] == {"message_encoding": "cbor", "schema_encoding": None, "schema_name": None}
    (record,) = _records(api, topic["id"], include_raw_data="true")
    assert (_raw(record), record["query_data"]) == (b"\xa1\x61x\x01", None)


def test_mcap_topic_made_before_its_first_ingestion_gets_the_files_type_and_stored_query_data(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    made = api.post("/topics", {"log_id": log["id"], "name": "/a", "context": {"store_query_data": True}})
    assert made.status == 200, made.body
    _put(aws, log, "run.mcap", write_mcap(MESSAGES, chunk_size=2048))

    ingest(api, log["id"], "run.mcap")

    topic = _topics(api, log)["/a"]
    assert (topic["type_name"], topic["type_encoding"]) == ("std_msgs/msg/String", "cdr")
    assert topic["type_data"] == "string data\n"
    assert topic["context"]["store_query_data"] is True and topic["context"]["message_encoding"] == "cdr"
    stored = _records(api, topic["id"])  # no object read: the query_data was stored at ingestion
    assert [r["query_data"] for r in stored] == [{"data": f"message {i}"} for i in range(0, 900, 3)]
    matching = api.get(
        f"/topics/{topic['id']}/records",
        params={"query_data_filter": json.dumps({"var": "data", "op": "eq", "val": "message 30"})},
    ).json()["data"]
    assert [r["query_data"] for r in matching] == [{"data": "message 30"}]


def test_mcap_topic_made_with_a_definition_but_no_encoding_gets_the_files_encoding(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    body = {
        "log_id": log["id"],
        "name": "/a",
        "type_name": "std_msgs/msg/String",
        "type_data": "string data\n",
    }
    assert api.post("/topics", body).status == 200
    _put(aws, log, "run.mcap", write_mcap(MESSAGES[:30]))

    ingest(api, log["id"], "run.mcap")

    topic = _topics(api, log)["/a"]
    assert topic["type_encoding"] == "cdr"  # else its CDR messages would be decoded as ROS 1
    first = _records(api, topic["id"], include_raw_data="true")[0]
    assert (first["query_data"], first["error"]) == ({"data": "message 0"}, None)


def _image_mcap() -> tuple[bytes, tuple[int, int]]:
    """A ROS 2 MCAP of one rgb8 ``sensor_msgs/msg/Image`` and one jpeg ``CompressedImage``."""
    size = (96, 64)
    pixels = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    pixels[:, :, 0] = 255  # red
    types = ROS2.types
    header = types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=1, nanosec=0), frame_id="camera"
    )
    image = types["sensor_msgs/msg/Image"](
        header=header,
        height=size[1],
        width=size[0],
        encoding="rgb8",
        is_bigendian=0,
        step=size[0] * 3,
        data=pixels.reshape(-1),
    )
    jpeg = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(jpeg, format="JPEG")
    compressed = types["sensor_msgs/msg/CompressedImage"](
        header=header, format="jpeg", data=np.frombuffer(jpeg.getvalue(), dtype=np.uint8)
    )
    topics, messages = [], []
    for topic, type_name, message in (
        ("/camera/raw", "sensor_msgs/msg/Image", image),
        ("/camera/compressed", "sensor_msgs/msg/CompressedImage", compressed),
    ):
        definition, _ = ROS2.generate_msgdef(type_name, ros_version=2)
        topics.append(Topic(topic, type_name, "ros2msg", definition.encode()))
        messages.append((topic, 1_000_000_000, bytes(ROS2.serialize_cdr(message, type_name))))
    return write_mcap(messages, topics), size


def test_mcap_ros2_image_topics_get_previews(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    data, size = _image_mcap()
    _put(aws, log, "camera.mcap", data)

    ingest(api, log["id"], "camera.mcap")

    for name in ("/camera/raw", "/camera/compressed"):
        (record,) = _records(api, _topics(api, log)[name]["id"], include_auxiliary_data="true")
        assert record["error"] is None, record["error"]
        preview = Image.open(io.BytesIO(base64.b64decode(record["auxiliary_data"]["image"])))
        assert (preview.format, preview.size) == ("WEBP", size)
        red, green, blue = preview.convert("RGB").getpixel((size[0] // 2, size[1] // 2))
        assert red > 200 and green < 60 and blue < 60, name


def test_mcap_without_message_indexes_plans_from_its_statistics(
    api: ApiClient, aws: dict[str, str], limits: Any
) -> None:
    # Given the same messages written with and without message indexes, in two logs
    group = create_group(api, "Widths")
    logs = {}
    for name, index_types in (("indexed", IndexType.ALL), ("chunk indexes only", IndexType.CHUNK)):
        logs[name] = create_log(api, group["id"], name)
        _put(aws, logs[name], "run.mcap", write_mcap(MESSAGES, chunk_size=2048, index_types=index_types))
        ingest(api, logs[name]["id"], "run.mcap")

    # Then each topic's bucket width (from its count and time range) is the same
    resources = tasks.get_pipeline().resources
    widths = {
        name: {
            topic: resources.get(TOPIC, UUID(t["id"]))._internal["bucket_width_ns"]
            for topic, t in _topics(api, log).items()
        }
        for name, log in logs.items()
    }
    assert widths["indexed"] == widths["chunk indexes only"]

    # And the record limit counts what the statistics say the unindexed chunks hold
    limits(max_records_per_log=len(MESSAGES) + 100)
    other = create_log(api, group["id"], "limited")
    _put(aws, other, "run.mcap", write_mcap(MESSAGES, chunk_size=2048, index_types=IndexType.CHUNK))
    ingest(api, other["id"], "run.mcap")
    _put(aws, other, "again.mcap", write_mcap(MESSAGES, chunk_size=2048, index_types=IndexType.CHUNK))
    failed = run_ingestion(api, other["id"], "again.mcap", context={"allow_duplicate": True})
    assert (failed["state"], failed["error_name"]) == ("failed", "LimitExceeded")
    assert f"the file {len(MESSAGES)}" in failed["error_message"]
    assert api.get(f"/logs/{other['id']}").data["record_count"] == len(MESSAGES)


# -- Bad files: a clear failure, and nothing of the attempt left behind ----------------------------


def _good_run(api: ApiClient, aws: dict[str, str], log: dict[str, Any]) -> dict[str, list[tuple[int, bytes]]]:
    """An earlier, completed ingestion of the log (``/a`` and ``/b``), which a failure must not touch."""
    _put(aws, log, "good.mcap", write_mcap(string_messages(40, ("/a", "/b"))))
    ingest(api, log["id"], "good.mcap")
    return _read_back(api, log)


def _assert_only(api: ApiClient, log: dict[str, Any], before: dict[str, list[tuple[int, bytes]]]) -> None:
    """The log holds what it held before the failed ingestion, and nothing more."""
    assert _read_back(api, log) == before
    topics = _topics(api, log)
    assert {name: t["record_count"] for name, t in topics.items()} == {n: len(r) for n, r in before.items()}
    assert api.get(f"/logs/{log['id']}").data["record_count"] == sum(len(r) for r in before.values())


def _corrupt_a_message(data: bytes, chunk: int) -> tuple[bytes, int]:
    """``data`` (uncompressed chunks) with one byte of a message of its ``chunk``-th chunk changed (the
    chunk's CRC no longer matches); the chunk's offset."""
    index = read_index(BytesSource(data))
    span = index.spans[chunk]
    inside = [m for m in indexed_messages(data, index) if span.start < m.position.data_offset < span.end]
    at = inside[len(inside) // 2].position.data_offset + 6
    corrupted = bytearray(data)
    corrupted[at] ^= 0xFF
    return bytes(corrupted), span.start


@pytest.mark.parametrize("summary", [True, False], ids=["indexed (part fails)", "no summary (plan fails)"])
def test_mcap_crc_mismatch_fails_naming_the_chunk_and_leaves_nothing(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], summary: bool
) -> None:
    before = _good_run(api, aws, log)
    messages = string_messages(900, ("/a", "/new"))
    data, chunk_offset = _corrupt_a_message(
        write_mcap(messages, compression="none", chunk_size=2048, summary=summary), chunk=3
    )
    _put(aws, log, "bad.mcap", data)

    failed = run_ingestion(api, log["id"], "bad.mcap")

    assert (failed["state"], failed["error_name"]) == ("failed", "BadLogFile")
    assert f"chunk at byte {chunk_offset}" in failed["error_message"] and "CRC" in failed["error_message"]
    assert failed["error_payload"]["chunk_offset"] == chunk_offset
    if summary:
        (part,) = failed["error_payload"]["failed_parts"]
        assert part["chunk_offset"] == chunk_offset and part["start"] <= chunk_offset < part["end"]
    _assert_only(api, log, before)  # "/new" is gone, "/a" holds only the good run's records


def test_mcap_cut_off_is_salvaged_with_what_was_ignored_in_the_context(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    full = write_mcap(MESSAGES, chunk_size=2048)
    spans = read_index(BytesSource(full)).spans
    cut = full[: spans[5].start + 100]
    _put(aws, log, "cut.mcap", cut)

    done = run_ingestion(api, log["id"], "cut.mcap")

    assert done["state"] == "completed", done
    assert done["context"]["salvage"] == {
        "index_missing": True,
        "reason": "the file does not end with a footer (cut off?)",
        "ignored_bytes": 100,
    }
    # What the mcap package's streaming reader yields from the cut file before it stops
    complete = [(topic, log_time, data) for topic, _, log_time, data in reference_messages_of_cut_file(cut)]
    assert len(complete) == sum(span.message_count for span in spans[:5])
    assert _read_back(api, log) == _by_topic(complete)


def test_mcap_cut_off_before_any_complete_message_fails_and_leaves_nothing(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    before = _good_run(api, aws, log)
    full = write_mcap(MESSAGES, chunk_size=2048)
    _put(aws, log, "cut.mcap", full[: read_index(BytesSource(full)).spans[0].start + 100])

    failed = run_ingestion(api, log["id"], "cut.mcap")

    assert (failed["state"], failed["error_name"]) == ("failed", "BadLogFile")
    assert "no complete message" in failed["error_message"]
    _assert_only(api, log, before)


def test_mcap_neither_mcap_nor_ros1_fails_saying_what_the_first_bytes_are_not(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    before = _good_run(api, aws, log)
    _put(aws, log, "picture.mcap", b"\x89PNG\r\n\x1a\n" + bytes(64))

    failed = run_ingestion(api, log["id"], "picture.mcap")

    assert (failed["state"], failed["error_name"]) == ("failed", "BadLogFile")
    assert "not a ROS 1 bag" in failed["error_message"] and "MCAP file" in failed["error_message"]
    assert "PNG" in failed["error_message"]
    _assert_only(api, log, before)


def test_mcap_unknown_chunk_compression_fails_naming_it(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    before = _good_run(api, aws, log)
    chunk = chunk_record(message_record(1, 5, ros2_string("x")), "brotli", crc=0)
    _put(aws, log, "bad.mcap", raw_mcap(string_schema_and_channel(1, "/new"), chunk))

    failed = run_ingestion(api, log["id"], "bad.mcap")

    assert (failed["state"], failed["error_name"]) == ("failed", "BadLogFile")
    assert "'brotli'" in failed["error_message"]
    assert failed["error_payload"]["compression"] == "brotli"
    _assert_only(api, log, before)


def test_mcap_message_on_an_undeclared_channel_fails_naming_it(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    before = _good_run(api, aws, log)
    records = message_record(1, 5, ros2_string("x")) + message_record(9, 6, ros2_string("y"))
    _put(aws, log, "bad.mcap", raw_mcap(string_schema_and_channel(1, "/new"), chunk_record(records)))

    failed = run_ingestion(api, log["id"], "bad.mcap")

    assert (failed["state"], failed["error_name"]) == ("failed", "BadLogFile")
    assert "channel 9" in failed["error_message"]
    assert failed["error_payload"]["channel_id"] == 9
    _assert_only(api, log, before)


def test_mcap_topic_the_file_cannot_store_fails_and_leaves_no_topic(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    before = _good_run(api, aws, log)
    huge = ("string data\n" + "#" * 300_000 + "\n").encode()  # a type_data past what a topic holds
    data = write_mcap(
        [("/fine", 5, ros2_string("x")), ("/huge", 6, ros2_string("y"))],
        [Topic("/fine"), Topic("/huge", "demo_msgs/msg/Huge", "ros2msg", huge)],
    )
    _put(aws, log, "bad.mcap", data)

    failed = run_ingestion(api, log["id"], "bad.mcap")

    assert (failed["state"], failed["error_name"]) == ("failed", "BadLogFile")
    assert "'/huge'" in failed["error_message"] and "type_data" in failed["error_message"]
    _assert_only(api, log, before)  # "/fine", made before "/huge" was refused, is gone too
