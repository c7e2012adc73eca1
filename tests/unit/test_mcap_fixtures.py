"""Real MCAP files written by the Go, TypeScript and Rust MCAP libraries (shared/fixtures/logs): topics,
types, counts, first and last log times, and every message's bytes read back through record offsets
equal the fixtures README's values."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from openlqs.formats.mcap import McapFormat
from openlqs.formats.messages import decode_message
from tests.support.fixture_logs import FIXTURES
from tests.support.mcap import BytesSource, all_columns, indexed_messages, reference_messages


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_topics_types_and_encodings_are_the_readmes(fixture_logs: Path, name: str) -> None:
    index = McapFormat().read_index(BytesSource.of(fixture_logs / name))

    topics = index.topics()

    assert set(topics) == set(FIXTURES[name])
    for topic, channels in topics.items():
        expected = FIXTURES[name][topic]
        assert {c.type_name for c in channels} == {expected.type_name}
        assert {c.type_encoding for c in channels} == {expected.type_encoding}
        assert {c.context["message_encoding"] for c in channels} == {expected.message_encoding}
    assert index.salvaged is False and index.ignored_bytes == 0


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_counts_times_and_bytes_read_back_are_the_readmes(fixture_logs: Path, name: str) -> None:
    data = (fixture_logs / name).read_bytes()

    messages = indexed_messages(data)

    by_topic: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
    for message in sorted(messages, key=lambda m: m.log_time):  # stable: equal times stay in file order
        by_topic[message.topic].append((message.log_time, message.data))
    for topic, expected in FIXTURES[name].items():
        found = by_topic.get(topic, [])
        assert len(found) == expected.count, topic
        assert (found[0][0] if found else None) == expected.first, topic
        assert (found[-1][0] if found else None) == expected.last, topic
        assert hashlib.sha256(b"".join(raw for _, raw in found)).hexdigest() == expected.sha256, topic


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_span_counts_agree_with_the_messages_indexed(fixture_logs: Path, name: str) -> None:
    data = (fixture_logs / name).read_bytes()
    index = McapFormat().read_index(BytesSource(data))

    columns = list(all_columns(data, index))

    assert len(columns) == len(index.spans)  # one chunk per span in these files
    for span, chunk in zip(index.spans, columns, strict=True):
        ids, counts = np.unique(np.asarray(chunk.connection_ids), return_counts=True)
        assert dict(zip(ids.tolist(), counts.tolist(), strict=True)) == span.counts
        assert span.start_time == int(np.min(chunk.timestamps))
        assert span.end_time == int(np.max(chunk.timestamps))
        assert isinstance(chunk.timestamps, np.ndarray)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_messages_are_the_mcap_readers_in_file_order(fixture_logs: Path, name: str) -> None:
    data = (fixture_logs / name).read_bytes()

    found = [(m.topic, m.channel_id, m.log_time, m.data) for m in indexed_messages(data)]

    assert found == reference_messages(data)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_zstd_chunks_use_the_contracts_zstd_mcap_offsets(fixture_logs: Path, name: str) -> None:
    data = (fixture_logs / name).read_bytes()
    index = McapFormat().read_index(BytesSource(data))

    for span, columns in zip(index.spans, all_columns(data, index), strict=True):
        # The record's body: after the chunk's opcode (1 byte) and length (8 bytes), as long as that says.
        (length,) = np.frombuffer(data, dtype="<u8", count=1, offset=span.start + 1)
        assert data[span.start] == 0x06
        assert columns.compression == "zstd_mcap"
        assert (columns.chunk_start, columns.chunk_length) == (span.start + 9, int(length))


def test_fixture_json_topic_has_its_parsed_schema(fixture_logs: Path) -> None:
    index = McapFormat().read_index(BytesSource.of(fixture_logs / "json-mouse-events.mcap"))

    (channel,) = index.channels.values()

    assert channel.type_schema is not None and channel.type_schema["type"] == "object"
    assert channel.type_data is not None and '"clientX"' in channel.type_data


def test_fixture_protobuf_topic_keeps_its_encodings_in_the_context(fixture_logs: Path) -> None:
    index = McapFormat().read_index(BytesSource.of(fixture_logs / "protobuf-laser-scan.mcap"))

    (channel,) = index.channels.values()

    assert channel.type_encoding is None and channel.type_data is None
    assert channel.context == {
        "message_encoding": "protobuf",
        "schema_encoding": "protobuf",
        "schema_name": "foxglove.LaserScan",
    }


def test_fixture_talker_keeps_rosbag2_qos_profiles_and_the_header(fixture_logs: Path) -> None:
    index = McapFormat().read_index(BytesSource.of(fixture_logs / "rosbag2-talker-mcap" / "talker.mcap"))

    (rosout,) = index.topics()["/rosout"]

    assert "reliability: 1" in rosout.context["metadata"]["offered_qos_profiles"]
    assert index.context["mcap"] == {"profile": "ros2", "library": "mcap go #(devel)"}


def test_fixture_talker_messages_decode_from_their_own_type_data(fixture_logs: Path) -> None:
    data = (fixture_logs / "rosbag2-talker-mcap" / "talker.mcap").read_bytes()
    index = McapFormat().read_index(BytesSource(data))
    messages = indexed_messages(data, index)

    decoded = {
        m.topic: decode_message(
            index.channels[m.channel_id].type_encoding,
            index.channels[m.channel_id].type_name,
            index.channels[m.channel_id].type_data,
            m.data,
        )
        for m in messages
    }

    assert decoded["/topic"]["data"].startswith("Hello, world! ")
    assert decoded["/rosout"]["name"] == "minimal_publisher"


def test_fixture_index_is_read_with_at_most_two_reads(fixture_logs: Path) -> None:
    source = BytesSource.of(fixture_logs / "protobuf-laser-scan.mcap")

    McapFormat().read_index(source)

    assert len(source.reads) <= 2
    assert source.bytes_read < 80 * 1024  # the tail and the head, not the 370 kB file
