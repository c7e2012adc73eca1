"""Reading an MCAP file's index: footer and summary by range reads, chunk spans and their counts,
channels typed as the contract's topics, attachments and metadata, bad files."""

from __future__ import annotations

import io
import json
import struct
from collections import Counter

import pytest
from mcap.writer import IndexType, Writer

from openlqs.errors import BadLogFile
from openlqs.formats.base import Channel
from openlqs.formats.mcap import McapFormat, attachments, read_index
from openlqs.formats.mcap.summary import TAIL_READ, apportion
from tests.support.mcap import (
    MAGIC,
    BytesSource,
    Topic,
    channel_record,
    chunk_record,
    indexed_messages,
    message_record,
    raw_mcap,
    ros2_string,
    schema_record,
    string_messages,
    string_schema_and_channel,
    write_mcap,
)

MESSAGES = string_messages(600, ("/a", "/b", "/c"))


def test_index_reads_only_the_tail_and_the_head_of_a_large_file() -> None:
    payload = b"\x00\x01\x00\x00" + bytes(2000)
    data = write_mcap([("/big", 1_000 + i, payload) for i in range(200)], compression="none")
    assert len(data) > 4 * TAIL_READ
    source = BytesSource(data)

    index = read_index(source)

    assert len(source.reads) == 2
    assert source.bytes_read <= TAIL_READ + 4096
    assert sum(span.message_count for span in index.spans) == 200


def test_index_spans_are_the_chunks_with_their_message_indexes_in_file_order() -> None:
    data = write_mcap(MESSAGES, chunk_size=3000)

    index = read_index(BytesSource(data))

    assert len(index.spans) > 5
    for span, following in zip(index.spans, index.spans[1:], strict=False):
        assert data[span.start] == 0x06  # a chunk record starts the span
        assert span.end == following.start  # its message indexes run up to the next chunk
    last = index.spans[-1]
    assert data[last.end] == 0x0F  # the data end record follows the last chunk's message indexes
    assert index.salvaged is False and "salvage" not in index.context


def test_index_counts_come_from_the_message_index_lengths() -> None:
    data = write_mcap(MESSAGES, chunk_size=3000)
    index = read_index(BytesSource(data))

    counted = [dict(span.counts) for span in index.spans]

    found: list[dict[int, int]] = [{} for _ in index.spans]
    starts = [span.start for span in index.spans]
    for message in indexed_messages(data, index):
        chunk = max(i for i, start in enumerate(starts) if start <= message.position.data_offset)
        found[chunk][message.channel_id] = found[chunk].get(message.channel_id, 0) + 1
    assert counted == found
    assert sum(span.message_count for span in index.spans) == len(MESSAGES)


def test_index_span_times_are_the_chunks_message_times() -> None:
    data = write_mcap(MESSAGES, chunk_size=3000)
    index = read_index(BytesSource(data))
    messages = indexed_messages(data, index)

    for span in index.spans:
        times = [m.log_time for m in messages if span.start < m.position.data_offset < span.end]
        assert (span.start_time, span.end_time) == (min(times), max(times))


def test_index_of_one_chunk_without_message_indexes_counts_from_the_statistics() -> None:
    data = write_mcap(MESSAGES[:30], chunk_size=10**6, index_types=IndexType.CHUNK)

    index = read_index(BytesSource(data))

    (span,) = index.spans
    assert span.counts == {1: 10, 2: 10, 3: 10}


def test_index_of_chunks_without_message_indexes_estimates_counts_from_the_statistics() -> None:
    data = write_mcap(MESSAGES, chunk_size=3000, index_types=IndexType.CHUNK)

    index = read_index(BytesSource(data))

    # Each chunk's share of the statistics' totals, by its uncompressed size: estimates whose sums
    # per channel are exact (what planning needs: the record limit, the topics' rates).
    assert len(index.spans) > 2 and not any(span.counted for span in index.spans)
    totals: Counter[int] = Counter()
    for span in index.spans:
        totals.update(span.counts)
    assert totals == Counter(m.channel_id for m in indexed_messages(data, index))
    assert index.salvaged is False
    assert len(indexed_messages(data, index)) == len(MESSAGES)


def test_index_of_chunks_without_message_indexes_or_statistics_is_scanned() -> None:
    data = write_mcap(MESSAGES, chunk_size=3000, index_types=IndexType.CHUNK, statistics=False)

    index = read_index(BytesSource(data))

    # Nothing in the summary says how many messages the chunks hold: a scan counts them.
    assert index.salvaged is True and index.ignored_bytes == 0
    assert "no statistics" in index.context["salvage"]["reason"]
    assert all(span.counted for span in index.spans)
    assert sum(span.message_count for span in index.spans) == len(MESSAGES)


def test_index_of_an_empty_file_has_no_spans() -> None:
    index = read_index(BytesSource(write_mcap([])))

    assert index.spans == [] and index.channels == {} and index.salvaged is False


def test_index_of_a_file_with_channels_and_no_messages() -> None:
    data = write_mcap([], topics=[Topic("/quiet")])

    index = read_index(BytesSource(data))

    assert [c.topic for c in index.channels.values()] == ["/quiet"]
    assert index.spans == []


def test_index_lists_attachments_with_their_data_range() -> None:
    calibration = b"camera_matrix: [1, 0, 0]\n" * 40
    data = write_mcap(
        MESSAGES,
        chunk_size=3000,
        attachments=[("calibration.yaml", "text/yaml", calibration), ("map.png", "image/png", b"\x89PNG")],
    )

    index = read_index(BytesSource(data))

    first, second = index.context["attachments"]
    assert data[first["offset"] : first["offset"] + first["length"]] == calibration
    assert data[second["offset"] : second["offset"] + second["length"]] == b"\x89PNG"
    assert (first["name"], first["media_type"], first["log_time"], first["create_time"]) == (
        "calibration.yaml",
        "text/yaml",
        8,
        7,
    )


def test_index_lists_metadata_records_with_their_pairs() -> None:
    data = write_mcap(
        MESSAGES, metadata=[("run", {"robot": "r2", "git_sha": "abc"}), ("site", {"city": "x"})]
    )

    index = read_index(BytesSource(data))

    run, site = index.context["metadata"]
    assert run["metadata"] == {"robot": "r2", "git_sha": "abc"} and site["name"] == "site"
    record = data[run["offset"] : run["offset"] + run["length"]]
    assert record[0] == 0x0C and struct.unpack_from("<Q", record, 1)[0] == run["length"] - 9


def test_index_lists_attachments_and_metadata_found_by_a_scan() -> None:
    data = write_mcap(
        MESSAGES,
        summary=False,
        attachments=[("a.txt", "text/plain", b"hello")],
        metadata=[("run", {"k": "v"})],
    )

    index = read_index(BytesSource(data))

    assert index.salvaged is True
    (attachment,) = index.context["attachments"]
    assert data[attachment["offset"] : attachment["offset"] + attachment["length"]] == b"hello"
    assert index.context["metadata"][0]["metadata"] == {"k": "v"}


def test_index_of_a_file_without_attachments_has_no_listing() -> None:
    index = read_index(BytesSource(write_mcap(MESSAGES)))

    assert "attachments" not in index.context and "metadata" not in index.context


# -- Channels and topics ---------------------------------------------------------------------------

ROS1_STRING = Topic("/ros1", "std_msgs/msg/String", "ros1msg", b"string data\n", "ros1")
JSON_TOPIC = Topic("/json", "Pose", "jsonschema", b'{"type": "object"}', "json")
PROTOBUF_TOPIC = Topic("/pb", "foxglove.Pose", "protobuf", b"\x0a\x05binary", "protobuf")
IDL_TOPIC = Topic("/idl", "std_msgs/msg/String", "ros2idl", b"module std_msgs {};", "cdr")


def _channel(topic: Topic, payload: bytes = b"{}") -> Channel:
    index = read_index(BytesSource(write_mcap([(topic.topic, 1, payload)], [topic])))
    (channel,) = index.channels.values()
    return channel


def test_index_types_ros2msg_cdr_channels_as_cdr() -> None:
    index = read_index(BytesSource(write_mcap([("/s", 1, ros2_string("x"))])))

    (channel,) = index.channels.values()

    assert (channel.type_encoding, channel.type_name, channel.type_data) == (
        "cdr",
        "std_msgs/msg/String",
        "string data\n",
    )
    assert channel.context == {"message_encoding": "cdr", "schema_encoding": "ros2msg"}


def test_index_types_ros2idl_cdr_channels_as_cdr() -> None:
    channel = _channel(IDL_TOPIC)

    assert channel.type_encoding == "cdr"
    assert channel.type_data == "module std_msgs {};"


def test_index_types_ros1msg_channels_as_ros1_with_a_two_part_name() -> None:
    channel = _channel(ROS1_STRING)

    assert channel.type_encoding == "ros1"
    assert channel.type_name == "std_msgs/String"
    assert channel.type_data == "string data\n"


def test_index_types_jsonschema_channels_as_json_with_the_parsed_schema() -> None:
    channel = _channel(JSON_TOPIC)

    assert channel.type_encoding == "json"
    assert channel.type_schema == {"type": "object"}
    assert json.loads(channel.type_data) == {"type": "object"}


def test_index_keeps_no_type_schema_for_a_json_schema_that_is_not_an_object() -> None:
    channel = _channel(Topic("/json", "Any", "jsonschema", b"true", "json"))

    assert channel.type_encoding == "json" and channel.type_schema is None


@pytest.mark.parametrize(
    "topic",
    [
        PROTOBUF_TOPIC,
        Topic("/fb", "Table", "flatbuffer", b"\x00bfbs", "flatbuffer"),
        Topic("/cbor", "Thing", "", b"", "cbor"),
        Topic("/odd", "std_msgs/msg/String", "ros2msg", b"string data\n", "json"),  # a pair no one decodes
        Topic("/bad", "std_msgs/msg/String", "ros2msg", b"\xff\xfe not text", "cdr"),
    ],
    ids=lambda topic: topic.topic,
)
def test_index_leaves_other_encodings_untyped_with_the_encodings_in_the_context(topic: Topic) -> None:
    channel = _channel(topic)

    assert channel.type_encoding is None
    assert channel.type_data is None
    context = channel.context
    assert context["message_encoding"] == topic.message_encoding
    assert context["schema_encoding"] == topic.schema_encoding
    assert context["schema_name"] == topic.schema_name == channel.type_name


def test_index_leaves_a_channel_without_schema_untyped() -> None:
    records = string_schema_and_channel(1, "/typed")
    data = raw_mcap(records, channel_record(2, 0, "/raw", "json"), message_record(2, 5, b"{}"))

    channel = read_index(BytesSource(data)).channels[2]

    assert (channel.type_encoding, channel.type_name, channel.type_data) == (None, None, None)
    assert channel.context == {"message_encoding": "json", "schema_encoding": None, "schema_name": None}


def test_index_keeps_channel_metadata_in_the_context() -> None:
    qos = "- history: 3\n  depth: 0\n"
    channel = _channel(Topic("/qos", metadata={"offered_qos_profiles": qos}), ros2_string("x"))

    assert channel.context["metadata"] == {"offered_qos_profiles": qos}


def test_index_leaves_channel_metadata_too_large_for_a_topic_out_with_its_size() -> None:
    channel = _channel(Topic("/qos", metadata={"offered_qos_profiles": "q" * 20_000}), ros2_string("x"))

    assert "metadata" not in channel.context and channel.context["metadata_bytes"] > 20_000


def test_index_keeps_no_type_schema_for_a_json_schema_nested_deeper_than_a_topic_holds() -> None:
    deep: dict[str, object] = {"type": "string"}
    for _ in range(40):
        deep = {"type": "object", "properties": {"x": deep}}
    schema = json.dumps(deep).encode()
    channel = _channel(Topic("/deep", "Deep", "jsonschema", schema, "json"), b'{"x": {}}')

    assert (channel.type_encoding, channel.type_data, channel.type_schema) == ("json", schema.decode(), None)


def test_index_makes_channels_of_one_schema_on_one_topic_one_topic() -> None:
    definition = b"string data\n"
    data = raw_mcap(
        schema_record(1, "std_msgs/msg/String", "ros2msg", definition),
        schema_record(2, "std_msgs/msg/String", "ros2msg", definition),  # the same schema again
        channel_record(1, 1, "/chatter", offered_qos_profiles="a"),
        channel_record(2, 2, "/chatter", offered_qos_profiles="b"),
        message_record(1, 1, ros2_string("one")),
        message_record(2, 2, ros2_string("two")),
    )

    index = read_index(BytesSource(data))

    assert list(index.topics()) == ["/chatter"] and len(index.topics()["/chatter"]) == 2
    assert [m.topic for m in indexed_messages(data, index)] == ["/chatter", "/chatter"]


@pytest.mark.parametrize(
    ("other", "detail"),
    [
        (Topic("/mixed", "std_msgs/msg/Int32", "ros2msg", b"int32 data\n"), "std_msgs/msg/Int32"),
        (Topic("/mixed", "std_msgs/msg/String", "ros2msg", b"string data\nint32 extra\n"), "two different"),
        (Topic("/mixed", "std_msgs/msg/String", "ros1msg", b"string data\n", "ros1"), "ros1msg schema"),
        (Topic("/mixed", "std_msgs/msg/String", "ros2msg", b"string data\n", "json"), "json messages"),
    ],
)
def test_index_refuses_channels_of_different_types_on_one_topic(other: Topic, detail: str) -> None:
    data = raw_mcap(
        schema_record(1, "std_msgs/msg/String", "ros2msg", b"string data\n"),
        schema_record(2, other.schema_name, other.schema_encoding, other.schema_data),
        channel_record(1, 1, "/mixed"),
        channel_record(2, 2, "/mixed", other.message_encoding),
        message_record(1, 1, ros2_string("one")),
    )

    with pytest.raises(BadLogFile, match="'/mixed'") as refused:
        read_index(BytesSource(data))

    assert "std_msgs/msg/String" in str(refused.value) and detail in str(refused.value)


def test_index_refuses_different_types_on_one_topic_from_the_summary_too() -> None:
    stream = io.BytesIO()
    writer = Writer(stream)
    writer.start()
    string = writer.register_schema("std_msgs/msg/String", "ros2msg", b"string data\n")
    number = writer.register_schema("std_msgs/msg/Int32", "ros2msg", b"int32 data\n")
    first = writer.register_channel("/mixed", "cdr", string)
    second = writer.register_channel("/mixed", "cdr", number)
    writer.add_message(first, 1, ros2_string("x"), 1)
    writer.add_message(second, 2, b"\x00\x01\x00\x00\x01\x00\x00\x00", 2)
    writer.finish()
    source = BytesSource(stream.getvalue())

    with pytest.raises(
        BadLogFile, match="'/mixed' has channels of different types: channel 1: std_msgs/msg/String"
    ):
        read_index(source)

    assert len(source.reads) == 1  # refused from the summary, without a scan


# -- Bad files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("head", [b"#ROSBAG V2.0\n", b"PK\x03\x04 a zip", b"\x89MCAP1\r\n", b"\x89MCA"])
def test_index_refuses_a_file_without_the_magic(head: bytes) -> None:
    with pytest.raises(BadLogFile, match="not an MCAP file"):
        read_index(BytesSource(head + bytes(100)))


def test_index_refuses_an_empty_file() -> None:
    with pytest.raises(BadLogFile, match="empty"):
        read_index(BytesSource(b""))


def test_index_refuses_a_file_that_does_not_start_with_a_header() -> None:
    data = MAGIC + string_schema_and_channel() + b"\x02" + bytes(28) + MAGIC

    with pytest.raises(BadLogFile, match="does not start with a header record but with a schema record"):
        read_index(BytesSource(data))


def test_index_refuses_a_chunk_index_with_an_unknown_compression_naming_it() -> None:
    data = write_mcap(MESSAGES[:10])
    # The compression named in the chunk record and in its chunk index: "zstd" becomes "zstx".
    damaged = data.replace(b"\x04\x00\x00\x00zstd", b"\x04\x00\x00\x00zstx")
    assert damaged.count(b"zstx") == 2

    with pytest.raises(BadLogFile, match="'zstx'"):
        McapFormat().read_index(BytesSource(damaged))


def test_index_refuses_a_message_on_an_undeclared_channel_naming_it_and_its_offset() -> None:
    records = string_schema_and_channel(1, "/a") + message_record(1, 1, b"ok")
    stray = message_record(9, 2, b"stray")
    data = raw_mcap(records, stray)
    offset = len(raw_mcap(records, footer=False))

    with pytest.raises(BadLogFile, match=f"byte {offset} uses channel 9"):
        read_index(BytesSource(data))


def test_index_refuses_a_message_on_an_undeclared_channel_inside_a_chunk() -> None:
    inner = string_schema_and_channel(1, "/a") + message_record(1, 1, b"ok")
    stray_at = len(inner)
    chunk_at = len(raw_mcap(footer=False))
    data = raw_mcap(chunk_record(inner + message_record(4, 2, b"stray"), "zstd"))

    with pytest.raises(BadLogFile, match=f"offset {stray_at} of the chunk at byte {chunk_at} uses channel 4"):
        read_index(BytesSource(data))


def test_index_scans_when_the_summary_crc_does_not_match() -> None:
    data = bytearray(write_mcap(MESSAGES))
    (summary_start,) = struct.unpack_from("<Q", data, len(data) - 8 - 20)
    data[summary_start + 20] ^= 0xFF  # inside the first summary record

    index = read_index(BytesSource(bytes(data)))

    assert index.salvaged is True
    assert index.context["salvage"] == {
        "index_missing": True,
        "reason": "the summary section does not match its CRC",
        "ignored_bytes": 0,
    }
    assert len(indexed_messages(bytes(data), index)) == len(MESSAGES)


def test_index_counts_attachments_the_summary_does_not_index() -> None:
    data = write_mcap(
        MESSAGES,
        index_types=IndexType.CHUNK | IndexType.MESSAGE,
        attachments=[("a.txt", "text/plain", b"a"), ("b.txt", "text/plain", b"b")],
        metadata=[("run", {"k": "v"})],
    )

    index = read_index(BytesSource(data))

    assert index.context["attachments"] == [] and index.context["attachment_count"] == 2
    assert index.context["metadata"] == [] and index.context["metadata_count"] == 1


def test_index_bounds_the_listing_it_puts_in_the_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attachments, "MAX_LISTED", 2)
    data = write_mcap(
        MESSAGES[:10],
        attachments=[(f"{i}.txt", "text/plain", b"x") for i in range(5)],
        metadata=[("small", {"k": "v"}), ("large", {"blob": "y" * 10_000})],
    )

    context = read_index(BytesSource(data)).context

    assert [a["name"] for a in context["attachments"]] == ["0.txt", "1.txt"]
    assert context["attachment_count"] == 5
    small, large = context["metadata"]
    assert small["metadata"] == {"k": "v"}
    assert large["metadata"] is None and large["metadata_bytes"] > 10_000


def test_index_bounds_the_listings_json_as_a_whole() -> None:
    # Every metadata record is small, but 300 of them would not fit an ingestion's context
    data = write_mcap(MESSAGES[:10], metadata=[(f"m{i}", {"k": "v" * 1000}) for i in range(300)])

    context = read_index(BytesSource(data)).context

    assert len(json.dumps(context)) < attachments.MAX_LISTING_BYTES + 1024
    assert context["metadata_count"] == 300
    listed = context["metadata"]
    assert 0 < len(listed) < 300
    assert listed[0]["metadata"] == {"k": "v" * 1000}
    assert listed[-1]["metadata"] is None  # past the budget: listed without the pairs first


@pytest.mark.parametrize(
    ("total", "weights", "shares"),
    [
        (10, [1, 1], [5, 5]),
        (7, [3, 1], [5, 2]),
        (2, [1, 1, 1], [1, 1, 0]),
        (5, [0, 0], [3, 2]),
        (0, [4], [0]),
    ],
)
def test_apportion_splits_a_total_exactly_by_weight(
    total: int, weights: list[int], shares: list[int]
) -> None:
    found = apportion(total, weights)

    assert found == shares and sum(found) == total
