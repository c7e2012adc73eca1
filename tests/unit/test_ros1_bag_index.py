"""ROS 1 bag indexing: header and index by range reads, message positions, salvage, bad files."""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rosbags.rosbag1 import Reader, Writer

from openlqs.errors import BadLogFile
from openlqs.formats.ros1 import Ros1Format
from openlqs.formats.ros1.bag import (
    BagIndex,
    MessagePosition,
    chunk_columns,
    index_chunk_columns,
    index_chunks,
    possible_counts,
    read_index,
    read_record,
)
from tests.support.bags import (
    EXAMPLE_BAG_TOPIC_COUNTS,
    FileSource,
    inflate_chunk_counts,
    with_index_pos,
    write_string_bag,
)

EXPECTED_COUNTS = EXAMPLE_BAG_TOPIC_COUNTS


def _positions(source: FileSource, index: BagIndex) -> list[MessagePosition]:
    return [
        m for chunk in index.chunks for m in index_chunks(source.read(chunk.start, chunk.end), chunk.start)
    ]


@pytest.mark.parametrize("name", ["example.bag", "example-lz4.bag", "example-bz2.bag"])
def test_index_of_real_bags_matches_rosbags_message_for_message(fixture_bags: Path, name: str) -> None:
    source = FileSource(fixture_bags / name)

    index = read_index(source)
    positions = _positions(source, index)

    with Reader(fixture_bags / name) as reader:
        expected = sorted((c.id, timestamp, bytes(raw)) for c, timestamp, raw in reader.messages())
    assert sorted((p.connection_id, p.timestamp, source.message_bytes(p)) for p in positions) == expected
    by_topic = Counter(index.connections[p.connection_id].topic for p in positions)
    assert by_topic == EXPECTED_COUNTS


def test_index_groups_several_connections_on_one_topic(fixture_bags: Path) -> None:
    index = read_index(FileSource(fixture_bags / "example.bag"))

    topics = index.topics()

    assert len(index.connections) == 12
    assert len(topics) == 9
    assert len(topics["/rosout"]) == 3 and len(topics["/tf"]) == 2
    assert topics["/turtle1/pose"][0].type_name == "turtlesim/Pose"
    assert "float32 x" in topics["/turtle1/pose"][0].message_definition


def test_index_reads_only_the_header_and_the_index(fixture_bags: Path) -> None:
    source = FileSource(fixture_bags / "example.bag")

    read_index(source)

    assert sum(end - start for start, end in source.reads) < 32 * 1024
    assert len(source.reads) == 2


def test_index_of_unsorted_chunks_keeps_each_chunks_own_range(fixture_bags: Path) -> None:
    source = FileSource(fixture_bags / "example-unsorted-chunks.bag")

    index = read_index(source)
    positions = _positions(source, index)

    # The fixtures README says 3.000000001 s for the last one; the file (and rosbags) say 3.0 s.
    with Reader(fixture_bags / "example-unsorted-chunks.bag") as reader:
        expected = [timestamp for _, timestamp, _ in reader.messages()]
    assert len(index.chunks) == 3
    assert [c.start_time for c in index.chunks] == [2_000_000_000, 3_000_000_000, 1_000_000_000]
    assert sorted(p.timestamp for p in positions) == expected == [1_000_000_000, 2_000_000_000, 3_000_000_000]


def test_index_of_a_bag_without_messages_is_empty(fixture_bags: Path) -> None:
    index = read_index(FileSource(fixture_bags / "no-messages.bag"))

    assert index.connections == {} and index.chunks == []


@pytest.mark.parametrize(
    ("name", "message"), [("empty-file.bag", "empty"), ("asci-file.txt", "not a ROS 1 bag")]
)
def test_index_refuses_files_that_are_not_bags(fixture_bags: Path, name: str, message: str) -> None:
    with pytest.raises(BadLogFile, match=message):
        read_index(FileSource(fixture_bags / name))


def test_index_refuses_a_truncated_header(fixture_bags: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.bag"
    cut.write_bytes((fixture_bags / "example.bag").read_bytes()[:40])

    with pytest.raises(BadLogFile, match="header"):
        read_index(FileSource(cut))


def test_index_refuses_a_header_only_file_of_a_closed_bag(fixture_bags: Path, tmp_path: Path) -> None:
    # The first 4,117 bytes of example.bag: its header announces 12 connections and 1 chunk.
    (tmp_path / "head.bag").write_bytes((fixture_bags / "example.bag").read_bytes()[:4117])

    with pytest.raises(BadLogFile, match=r"truncated: .* 12 connections and 1 chunks .* byte 4117"):
        read_index(FileSource(tmp_path / "head.bag"))


def test_index_refuses_an_index_position_at_the_end_of_a_file_without_its_chunks(
    fixture_bags: Path, tmp_path: Path
) -> None:
    (tmp_path / "head.bag").write_bytes(
        with_index_pos((fixture_bags / "example.bag").read_bytes()[:4117], 4117)
    )

    with pytest.raises(BadLogFile, match="truncated"):
        read_index(FileSource(tmp_path / "head.bag"))


def test_index_position_at_the_end_of_a_file_with_its_chunks_is_salvaged(
    fixture_bags: Path, tmp_path: Path
) -> None:
    # Given example.bag without its index, the header pointing at the end of what is left
    full = FileSource(fixture_bags / "example.bag")
    index_pos = 856_695
    (tmp_path / "noindex.bag").write_bytes(with_index_pos(full.data[:index_pos], index_pos))
    source = FileSource(tmp_path / "noindex.bag")

    index = read_index(source)

    # Then the scan finds every message of the complete file
    assert index.salvaged is True
    assert len(_positions(source, index)) == sum(EXPECTED_COUNTS.values())


def test_index_counts_cannot_claim_more_messages_than_the_chunk_bytes_hold(tmp_path: Path) -> None:
    messages = [(f"/t{i % 5}", 1_000_000_000 + i * 2_000_000, f"m{i}") for i in range(10_000)]
    bag = write_string_bag(tmp_path / "honest.bag", messages, chunk_threshold=4096)
    (tmp_path / "lying.bag").write_bytes(inflate_chunk_counts(bag.read_bytes(), 10**7))

    honest, lying = read_index(FileSource(bag)), read_index(FileSource(tmp_path / "lying.bag"))

    for truth, claim in zip(honest.chunks, lying.chunks, strict=True):
        assert claim.message_count <= (claim.end - claim.start) // 12
        assert truth.message_count <= claim.message_count < 10 * truth.message_count
    assert sum(c.message_count for c in honest.chunks) == 10_000


def test_possible_counts_keeps_true_counts_and_scales_down_impossible_ones() -> None:
    assert possible_counts({1: 10, 2: 20}, 360) == {1: 10, 2: 20}
    assert possible_counts({1: 10**8, 2: 3 * 10**8}, 1_200) == {1: 25, 2: 75}


@pytest.mark.parametrize("name", ["example.bag", "example-lz4.bag", "example-bz2.bag"])
def test_index_counts_of_real_bags_are_their_true_counts(fixture_bags: Path, name: str) -> None:
    source = FileSource(fixture_bags / name)
    index = read_index(source)

    for chunk in index.chunks:
        found = Counter(
            p.connection_id for p in index_chunks(source.read(chunk.start, chunk.end), chunk.start)
        )
        assert chunk.counts == dict(found)


def test_index_keeps_equal_timestamps_in_file_order(tmp_path: Path) -> None:
    bag = write_string_bag(
        tmp_path / "same.bag", [("/a", 5, "first"), ("/a", 5, "second"), ("/a", 5, "third")]
    )
    source = FileSource(bag)

    positions = _positions(source, read_index(source))

    assert [source.message_bytes(p)[4:] for p in positions] == [b"first", b"second", b"third"]


def test_salvage_recovers_complete_chunks_of_a_cut_off_recording(tmp_path: Path) -> None:
    messages = [("/a" if i % 2 else "/b", 1_000 + i, f"message {i:04d}" * 8) for i in range(2_000)]
    bag = write_string_bag(tmp_path / "full.bag", messages, chunk_threshold=8 * 1024)
    full = bag.read_bytes()
    complete_index = read_index(FileSource(bag))
    cut_at = complete_index.chunks[10].start + 100  # inside the 11th chunk
    (tmp_path / "cut.bag").write_bytes(full[:cut_at])
    source = FileSource(tmp_path / "cut.bag")

    index = read_index(source)
    positions = _positions(source, index)

    assert index.salvaged is True
    assert len(index.chunks) == 10
    assert index.ignored_bytes == cut_at - complete_index.chunks[10].start
    salvage = Ros1Format().read_index(source).context["salvage"]
    assert salvage["index_missing"] is True and salvage["ignored_bytes"] == index.ignored_bytes
    assert "cut off" in salvage["reason"]
    expected = [m for c in complete_index.chunks[:10] for m in index_chunks(full[c.start : c.end], c.start)]
    assert [(p.timestamp, p.data_offset) for p in positions] == [
        (p.timestamp, p.data_offset) for p in expected
    ]
    assert {c.topic for c in index.connections.values()} == {"/a", "/b"}


@pytest.mark.parametrize("compression", [None, Writer.CompressionFormat.LZ4, Writer.CompressionFormat.BZ2])
def test_corrupt_chunk_is_a_bad_log_file(
    tmp_path: Path, compression: Writer.CompressionFormat | None
) -> None:
    bag = write_string_bag(
        tmp_path / "ok.bag", [("/a", i, f"m{i}" * 20) for i in range(100)], compression=compression
    )
    data = bytearray(bag.read_bytes())
    chunk_record = read_record(data, read_index(FileSource(bag)).chunks[0].start)
    assert chunk_record is not None
    # Damage the start of the chunk's data: a record length (uncompressed) or the codec's frame header.
    data[chunk_record.data_start : chunk_record.data_start + 8] = b"\xff" * 8
    (tmp_path / "corrupt.bag").write_bytes(bytes(data))
    source = FileSource(tmp_path / "corrupt.bag")
    index = read_index(source)

    with pytest.raises(BadLogFile):
        _positions(source, index)


def _chunk_columns_both_ways(path: Path) -> list[tuple[Any, Any]]:
    """Every chunk of a bag indexed from the index-data records after it and by a scan of its records."""
    data = path.read_bytes()
    pairs = []
    for chunk in read_index(FileSource(path)).chunks:
        record = read_record(data, chunk.start)
        assert record is not None
        indexes, position = [], record.end
        while position < chunk.end:
            following = read_record(data, position)
            assert following is not None
            if following.header["op"] == b"\x04":
                indexes.append((following, memoryview(data)[following.data_start : following.data_end]))
            position = following.end
        pairs.append((chunk_columns(record, data, 0, indexes), chunk_columns(record, data, 0, None)))
    return pairs


def _as_lists(columns: Any) -> tuple[list[int], ...]:
    names = ("connection_ids", "timestamps", "offsets", "lengths")
    return tuple(list(map(int, getattr(columns, name))) for name in names)


@pytest.mark.parametrize("name", ["example.bag", "example-lz4.bag", "example-bz2.bag"])
def test_index_data_records_give_what_the_record_scan_gives(fixture_bags: Path, name: str) -> None:
    pairs = _chunk_columns_both_ways(fixture_bags / name)

    assert pairs
    assert all(isinstance(fast.timestamps, np.ndarray) for fast, _ in pairs)  # the index was used
    assert not any(isinstance(scanned.timestamps, np.ndarray) for _, scanned in pairs)
    for fast, scanned in pairs:
        assert _as_lists(fast) == _as_lists(scanned)


def _first_chunk(bag: Path) -> tuple[int, bytearray, Any, Any]:
    """The bag's first chunk with its index-data records: (file offset, bytes, chunk record, first
    index-data record), the bytes to be damaged by a test."""
    first = read_index(FileSource(bag)).chunks[0]
    data = bytearray(bag.read_bytes()[first.start : first.end])
    chunk = read_record(bytes(data), 0)
    assert chunk is not None
    index_data = read_record(bytes(data), chunk.end)
    assert index_data is not None
    assert index_data.header["op"] == b"\x04"
    return first.start, data, chunk, index_data


def test_index_data_that_does_not_fit_the_chunk_falls_back_to_the_scan(tmp_path: Path) -> None:
    bag = write_string_bag(tmp_path / "ok.bag", [("/a", i, f"m{i}" * 20) for i in range(50)])
    base, data, _, index_data = _first_chunk(bag)
    expected = [_as_lists(columns) for columns in index_chunk_columns(bytes(data), base)]
    # Point the first entry of the first index-data record into the middle of a message.
    data[index_data.data_start + 8 : index_data.data_start + 12] = (3).to_bytes(4, "little")

    got = list(index_chunk_columns(bytes(data), base))

    assert [_as_lists(columns) for columns in got] == expected
    assert not isinstance(got[0].timestamps, np.ndarray)  # scanned


def test_index_data_naming_the_wrong_connection_falls_back_to_the_scan(tmp_path: Path) -> None:
    messages = [("/a" if i % 2 else "/b", i, f"m{i}") for i in range(40)]
    bag = write_string_bag(tmp_path / "two.bag", messages)
    base, data, chunk, _ = _first_chunk(bag)
    expected = [_as_lists(columns) for columns in index_chunk_columns(bytes(data), base)]
    # The index-data record says its messages are the other connection's.
    conn_at = bytes(data).index(b"conn=", chunk.end) + len(b"conn=")
    (connection,) = struct.unpack_from("<I", data, conn_at)
    struct.pack_into("<I", data, conn_at, 1 - connection)

    got = list(index_chunk_columns(bytes(data), base))

    assert [_as_lists(columns) for columns in got] == expected
    assert not isinstance(got[0].timestamps, np.ndarray)  # scanned
