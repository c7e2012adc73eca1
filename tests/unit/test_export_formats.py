"""MCAP and ROS 1 bag exports written in fragments, read back with the mcap package and rosbags."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap.stream_reader import StreamReader
from rosbags.rosbag1 import Reader

from openlqs.formats.export import ExportChannel, ExportError, MessageRun, PlacedChunk, chunk_ranges
from openlqs.formats.exporters import export_format
from openlqs.formats.ros1.bag import index_chunk_columns, read_index
from tests.support.bags import TYPESTORE, string_message
from tests.support.sources import BytesSource

STRING_DEFINITION, STRING_MD5 = TYPESTORE.generate_msgdef("std_msgs/msg/String")
T0 = 1_700_000_000_000_000_000


def _ros1(channel_id: int, topic: str, **fields: object) -> ExportChannel:
    return ExportChannel(channel_id, topic, "std_msgs/String", "ros1", STRING_DEFINITION, **fields)  # type: ignore[arg-type]


def _messages(n: int, channels: int = 2, seed: int = 5) -> list[tuple[int, int, bytes]]:
    rng = random.Random(seed)
    timestamp, messages = T0, []
    for i in range(n):
        timestamp += rng.randrange(0, 2_000_000)
        messages.append((1 + i % channels, timestamp, string_message("x" * rng.randrange(0, 300))))
    return messages


def _run(messages: list[tuple[int, int, bytes]]) -> MessageRun:
    return MessageRun(
        np.array([m[0] for m in messages], dtype=np.int64),
        np.array([m[1] for m in messages], dtype=np.int64),
        np.array([len(m[2]) for m in messages], dtype=np.int64),
        b"".join(m[2] for m in messages),
    )


def _file(name: str, channels: list[ExportChannel], runs: list[list[tuple[int, int, bytes]]]) -> bytes:
    """The file an assembler writes: head, the fragments of each run in turn, tail."""
    export = export_format(name)
    export.check(channels)
    position, placed, bodies = export.head_size(channels), [], []
    for messages in runs:
        fragment = export.fragment(channels, _run(messages))
        placed += [PlacedChunk(position + int(chunk["offset"]), chunk) for chunk in fragment.chunks]
        bodies.append(fragment.body)
        position += len(fragment.body)
    head = export.head(channels, placed, position)
    assert len(head) == export.head_size(channels)
    return head + b"".join(bodies) + export.tail(channels, placed, position)


def _bag_messages(data: bytes, tmp_path: Path) -> list[tuple[str, int, bytes]]:
    path = tmp_path / "export.bag"
    path.write_bytes(data)
    with Reader(path) as reader:
        return [(c.topic, t, bytes(d)) for c, t, d in reader.messages()]


def test_chunk_ranges_cut_runs_of_about_the_target_size_and_never_empty() -> None:
    sizes = np.array([10, 10, 10, 500, 10], dtype=np.int64)

    assert chunk_ranges(sizes, overhead=5, target=40) == [(0, 2), (2, 3), (3, 4), (4, 5)]
    assert chunk_ranges(np.zeros(0, dtype=np.int64), overhead=5) == []


def test_mcap_export_of_fragments_reads_back_indexed_and_streamed() -> None:
    channels = [_ros1(1, "/a"), _ros1(2, "/b", latched=True)]
    messages = _messages(30_000)

    data = _file("mcap", channels, [messages[:12_000], messages[12_000:]])

    reader = make_reader(io.BytesIO(data))
    summary = reader.get_summary()
    assert summary is not None and summary.statistics is not None
    read = [(c.id, m.log_time, m.data) for _, c, m in reader.iter_messages(log_time_order=True)]
    assert read == [(c, t, d) for c, t, d in messages]
    assert summary.statistics.message_count == 30_000
    assert summary.statistics.channel_message_counts == {1: 15_000, 2: 15_000}
    assert len(summary.chunk_indexes) > 2
    for index in summary.chunk_indexes:
        # Each chunk index points at its chunk's record and at each channel's message index record.
        assert data[index.chunk_start_offset] == 0x06
        assert all(data[offset] == 0x07 for offset in index.message_index_offsets.values())
    assert {c.topic: c.metadata for c in summary.channels.values()} == {"/a": {}, "/b": {"latching": "1"}}
    assert [(s.name, s.encoding) for s in summary.schemas.values()] == [("std_msgs/String", "ros1msg")]
    # Every record, every chunk's CRC and the summary's CRC check out when streamed.
    assert sum(1 for _ in StreamReader(io.BytesIO(data), validate_crcs=True).records) > 30_000


def test_mcap_export_writes_each_topic_as_it_is_typed() -> None:
    channels = [
        _ros1(1, "/ros1"),
        ExportChannel(
            2, "/cdr", "std_msgs/msg/String", "cdr", "module std_msgs {};", {"schema_encoding": "ros2idl"}
        ),
        ExportChannel(3, "/json", "Mouse", "json", '{"type": "object"}'),
        ExportChannel(
            4,
            "/proto",
            "foxglove.LaserScan",
            None,
            None,
            {"message_encoding": "protobuf", "schema_encoding": "protobuf"},
        ),
    ]
    messages = [(i, T0 + i, bytes([i])) for i in (1, 2, 3, 4)]

    summary = make_reader(io.BytesIO(_file("mcap", channels, [messages]))).get_summary()

    assert summary is not None
    schemas = summary.schemas
    found = {
        c.topic: (c.message_encoding, schemas[c.schema_id].encoding if c.schema_id else None)
        for c in summary.channels.values()
    }
    assert found == {
        "/ros1": ("ros1", "ros1msg"),
        "/cdr": ("cdr", "ros2idl"),
        "/json": ("json", "jsonschema"),
        "/proto": ("protobuf", None),
    }


def test_mcap_export_without_messages_is_a_valid_file() -> None:
    data = _file("mcap", [_ros1(1, "/a")], [])

    summary = make_reader(io.BytesIO(data)).get_summary()

    assert summary is not None and summary.statistics is not None
    assert summary.statistics.message_count == 0
    assert list(make_reader(io.BytesIO(data)).iter_messages()) == []


def test_bag_export_of_fragments_reads_back_with_rosbags_and_the_indexer(tmp_path: Path) -> None:
    channels = [_ros1(0, "/a", context={"md5sum": STRING_MD5}), _ros1(1, "/b", latched=True)]
    messages = [(c - 1, t, d) for c, t, d in _messages(20_000)]

    data = _file("bag", channels, [messages[:7_000], messages[7_000:]])

    names = {0: "/a", 1: "/b"}
    assert _bag_messages(data, tmp_path) == [(names[c], t, d) for c, t, d in messages]
    with Reader(tmp_path / "export.bag") as reader:
        assert {c.topic: (c.digest, c.ext.latching) for c in reader.connections} == {
            "/a": (STRING_MD5, None),
            "/b": (STRING_MD5, 1),  # computed from the definition when the topic has none
        }
    # openlqs's own indexer reads it through its fast path (every header where its index says).
    source = BytesSource(data)
    index = read_index(source)
    assert not index.salvaged
    indexed = sum(
        len(c.timestamps)
        for span in index.chunks
        for c in index_chunk_columns(data[span.start : span.end], span.start)
    )
    assert indexed == 20_000


def test_bag_export_refuses_topics_that_are_not_ros1() -> None:
    channel = ExportChannel(1, "/cdr", "std_msgs/msg/String", "cdr", "string data")

    with pytest.raises(ExportError, match=r"/cdr.*cdr.*mcap"):
        export_format("bag").check([channel])


def test_bag_export_refuses_times_a_bag_cannot_hold() -> None:
    after_2106 = 2**32 * 1_000_000_000

    with pytest.raises(ExportError, match="1970 to 2106"):
        export_format("bag").fragment([_ros1(1, "/a")], _run([(1, after_2106, b"x")]))
