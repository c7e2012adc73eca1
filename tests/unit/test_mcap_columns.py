"""MCAP messages as record columns: the contract's offsets per chunk compression, and every message of
files written with the ``mcap`` package, compared with its readers."""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import astuple

import numpy as np
import pytest
from mcap.writer import IndexType

from openlqs.errors import BadLogFile
from openlqs.formats.compression import decompress
from openlqs.formats.mcap import McapFormat, index_columns, read_index
from openlqs.formats.mcap.chunks import _gather, chunk_columns
from openlqs.formats.mcap.records import next_record, parse_chunk
from tests.support.mcap import (
    BytesSource,
    all_columns,
    as_tuples,
    channel_record,
    chunk_record,
    indexed_messages,
    message_index_record,
    message_record,
    padded,
    raw_mcap,
    record,
    reference_messages,
    schema_record,
    seeking_reference,
    string_messages,
    string_schema_and_channel,
    write_mcap,
)

MESSAGES = string_messages(300, ("/a", "/b", "/c"))


def _chunk_at(data: bytes, start: int) -> tuple[int, int, int, int, bytes]:
    """``(body start, length field, records start, records length, compression)`` of the chunk record at
    ``start``, from the layout of the format's specification."""
    (length,) = struct.unpack_from("<Q", data, start + 1)
    body = start + 9
    (name_length,) = struct.unpack_from("<I", data, body + 28)
    compression = data[body + 32 : body + 32 + name_length]
    (records_length,) = struct.unpack_from("<Q", data, body + 32 + name_length)
    return body, length, body + 40 + name_length, records_length, compression


def test_columns_of_zstd_chunks_point_at_the_chunk_body() -> None:
    data = write_mcap(MESSAGES, compression="zstd")
    index = read_index(BytesSource(data))

    for span, columns in zip(index.spans, all_columns(data, index), strict=True):
        body, length, _, _, compression = _chunk_at(data, span.start)
        assert compression == b"zstd"
        assert columns.compression == "zstd_mcap"
        assert (columns.chunk_start, columns.chunk_length) == (body, length)


def test_columns_of_lz4_chunks_point_at_the_records_field() -> None:
    data = write_mcap(MESSAGES, compression="lz4")
    index = read_index(BytesSource(data))

    for span, columns in zip(index.spans, all_columns(data, index), strict=True):
        body, _, records, records_length, compression = _chunk_at(data, span.start)
        assert compression == b"lz4"
        assert records == body + 40 + len("lz4")
        assert columns.compression == "lz4"
        assert (columns.chunk_start, columns.chunk_length) == (records, records_length)


@pytest.mark.parametrize("chunked", [True, False])
def test_columns_of_uncompressed_messages_point_at_the_data_in_the_file(chunked: bool) -> None:
    data = write_mcap(MESSAGES, compression="none", chunked=chunked)
    messages = indexed_messages(data)

    assert [m.position.chunk_compression for m in messages] == [None] * len(MESSAGES)
    for message, (_, log_time, payload) in zip(messages, MESSAGES, strict=True):
        start = message.position.data_offset
        assert data[start : start + message.position.data_length] == payload
        # The data follows the message record's prefix and fixed fields: the log time is 16 bytes before.
        assert struct.unpack_from("<Q", data, start - 16)[0] == log_time
        assert message.position.chunk_offset is None and message.position.chunk_length is None


def test_columns_inside_a_chunk_are_the_message_data_after_31_bytes_of_record() -> None:
    data = write_mcap(MESSAGES, compression="zstd")
    index = read_index(BytesSource(data))
    columns = next(all_columns(data, index))
    records = decompress(data[columns.chunk_start : columns.chunk_start + columns.chunk_length], "zstd_mcap")

    for offset, length in zip(np.asarray(columns.offsets), np.asarray(columns.lengths), strict=True):
        start = int(offset) - 31
        assert records[start] == 0x05  # a message record's opcode
        assert struct.unpack_from("<Q", records, start + 1)[0] == int(length) + 22


def test_columns_of_one_chunk_share_their_data_offset() -> None:
    data = write_mcap(MESSAGES, compression="zstd", chunk_size=2048)
    messages = indexed_messages(data)
    index = read_index(BytesSource(data))

    per_chunk = Counter((m.position.data_offset, m.position.data_length) for m in messages)

    assert len(per_chunk) == len(index.spans) > 3
    assert sum(per_chunk.values()) == len(MESSAGES)


VARIANTS = {
    "full index": {},
    "no message indexes": {"index_types": IndexType.CHUNK | IndexType.ATTACHMENT | IndexType.METADATA},
    "no chunk indexes": {"index_types": IndexType.MESSAGE},
    "no statistics": {"statistics": False},
    "no summary": {"summary": False},
    "unchunked": {"chunked": False},
    "unchunked without summary": {"chunked": False, "summary": False},
}


@pytest.mark.parametrize("compression", ["zstd", "lz4", "none"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_columns_give_the_mcap_readers_messages_in_file_order(compression: str, variant: str) -> None:
    data = write_mcap(MESSAGES, compression=compression, chunk_size=1500, **VARIANTS[variant])

    found = indexed_messages(data)

    assert as_tuples(found) == reference_messages(data)
    by_time = sorted(found, key=lambda m: m.log_time)
    assert [(m.topic, m.log_time, m.data) for m in by_time] == seeking_reference(data)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_columns_agree_with_the_span_counts(variant: str) -> None:
    data = write_mcap(MESSAGES, chunk_size=1500, **VARIANTS[variant])
    index = read_index(BytesSource(data))

    totals: Counter[int] = Counter()
    for span in index.spans:
        found: Counter[int] = Counter()
        for columns in index_columns(data[span.start : span.end], span.start):
            found.update(np.asarray(columns.connection_ids).tolist())
        totals.update(found)
        if span.counted:  # else estimated from the statistics: only their sums are exact
            assert dict(found) == span.counts
    estimated: Counter[int] = Counter()
    for span in index.spans:
        estimated.update(span.counts)
    assert estimated == totals
    assert sum(span.message_count for span in index.spans) == len(MESSAGES)


def test_columns_keep_equal_log_times_in_file_order() -> None:
    messages = [("/a", 5, b"\x00\x01\x00\x00first"), ("/b", 5, b"second"), ("/a", 5, b"third")]
    messages += [("/a", 5, f"more {i}".encode()) for i in range(50)]
    data = write_mcap(messages, chunk_size=200)

    found = indexed_messages(data)

    assert [(m.topic, m.data) for m in found] == [(topic, payload) for topic, _, payload in messages]


def test_columns_of_chunks_out_of_time_order() -> None:
    messages = [("/a", 10_000 - 10 * i, f"backwards {i}".encode()) for i in range(200)]
    data = write_mcap(messages, chunk_size=400)
    index = read_index(BytesSource(data))

    found = indexed_messages(data, index)

    starts = [span.start_time for span in index.spans]
    assert starts == sorted(starts, reverse=True) and len(starts) > 3
    assert [(m.log_time, m.data) for m in found] == [(t, d) for _, t, d in messages]


def test_columns_of_overlapping_chunks() -> None:
    # Two interleaved clocks: every chunk spans times that other chunks span too.
    messages = [("/a" if i % 2 else "/b", (i % 2) * 5_000 + i, f"m{i}".encode()) for i in range(400)]
    data = write_mcap(messages, chunk_size=300)
    index = read_index(BytesSource(data))

    found = indexed_messages(data, index)

    assert any(a.end_time > b.start_time for a, b in zip(index.spans, index.spans[1:], strict=False))
    assert as_tuples(found) == reference_messages(data)
    assert [
        (m.topic, m.log_time, m.data) for m in sorted(found, key=lambda m: m.log_time)
    ] == seeking_reference(data)


def test_columns_skip_attachments_and_metadata_between_chunks() -> None:
    data = write_mcap(
        MESSAGES,
        chunk_size=100_000,
        attachments=[("calibration.yaml", "text/yaml", b"k: 1\n" * 100)],
        metadata=[("run", {"robot": "r2"})],
    )
    size = len(data)

    # One range over the whole data section (magic and header included) gives every message once.
    found = [p for columns in index_columns(data[:size], 0) for p in columns.positions()]

    assert len(found) == len(MESSAGES)


def _first_chunk_range(data: bytes) -> tuple[int, bytes]:
    span = read_index(BytesSource(data)).spans[0]
    return span.start, data[span.start : span.end]


def test_columns_from_message_indexes_equal_a_walk_of_the_records() -> None:
    data = write_mcap(MESSAGES, chunk_size=4000)
    index = read_index(BytesSource(data))

    for span in index.spans:
        part = data[span.start : span.end]
        found = next_record(part, 0)
        assert found is not None
        chunk = parse_chunk(part, found[1], found[2], span.start)
        (fast,) = index_columns(part, span.start)
        walked = chunk_columns(chunk, part, span.start, None)
        for name in ("connection_ids", "timestamps", "offsets", "lengths"):
            assert np.array_equal(np.asarray(getattr(fast, name)), np.asarray(getattr(walked, name))), name


def test_columns_fall_back_to_a_walk_when_a_message_index_is_wrong() -> None:
    data = write_mcap(MESSAGES, chunk_size=4000)
    base, part = _first_chunk_range(data)
    expected = [astuple(p) for c in index_columns(part, base) for p in c.positions()]
    damaged = bytearray(part)
    chunk_end = next_record(part, 0)
    assert chunk_end is not None
    # The first entry of the first message index: its offset now points into the middle of a message.
    struct.pack_into("<Q", damaged, chunk_end[2] + 9 + 2 + 4 + 8, 3)

    found = [astuple(p) for c in index_columns(bytes(damaged), base) for p in c.positions()]

    assert found == expected


def test_columns_fall_back_to_a_walk_when_a_message_index_misses_a_channel() -> None:
    records = string_schema_and_channel(1, "/a") + string_schema_and_channel(2, "/b", schema_id=1)
    first, second = message_record(1, 10, b"one"), message_record(2, 20, b"two")
    inner = records + first + second
    # The index lists channel 1's message only: channel 2's would be lost if it were trusted.
    index = message_index_record(1, [(10, len(records))])
    part = chunk_record(inner, "zstd") + index

    (columns,) = index_columns(part, 100)

    assert np.asarray(columns.connection_ids).tolist() == [1, 2]


def test_columns_skip_records_of_unknown_opcodes_and_padded_records() -> None:
    padding = record(0x80, b"\x00" * 13)  # an extension record: readers skip it
    schema = schema_record(1, "std_msgs/msg/String", "ros2msg", b"string data\n")
    inner_channel = channel_record(2, 1, "/b")
    data = raw_mcap(
        padded(schema, 3),
        padded(channel_record(1, 1, "/a"), 7),
        padding,
        message_record(1, 1, b"top level"),
        record(0xFF, b""),
        chunk_record(padding + inner_channel + message_record(2, 2, b"in chunk") + padding, "lz4"),
        padded(message_index_record(2, []), 16),
        padding,
        message_record(1, 3, b"after"),
    )

    found = indexed_messages(data)

    assert [(m.topic, m.log_time, m.data) for m in found] == [
        ("/a", 1, b"top level"),
        ("/b", 2, b"in chunk"),
        ("/a", 3, b"after"),
    ]
    assert as_tuples(found) == reference_messages(data)


def test_columns_skip_the_padding_of_records_inside_a_chunk() -> None:
    # The mcap package's chunk reader does not skip a padded channel record inside a chunk (it reads
    # the padding as the next record), so this case is checked against what the file holds.
    inner = padded(schema_record(1, "std_msgs/msg/String", "ros2msg", b"string data\n"), 4)
    inner += padded(channel_record(1, 1, "/a"), 9) + message_record(1, 2, b"in chunk")

    found = indexed_messages(raw_mcap(chunk_record(inner, "zstd")))

    assert [(m.topic, m.log_time, m.data) for m in found] == [("/a", 2, b"in chunk")]


def test_columns_ignore_fields_a_newer_writer_appends_to_a_chunk() -> None:
    inner = string_schema_and_channel(1, "/a") + message_record(1, 7, b"payload")
    chunk = chunk_record(inner, "zstd")
    # A field appended after the records: the record's length grows, the records field does not.
    extended = bytearray(chunk + b"\x01\x02\x03\x04")
    struct.pack_into("<Q", extended, 1, len(chunk) - 9 + 4)
    data = raw_mcap(bytes(extended))

    (message,) = indexed_messages(data)

    assert (message.log_time, message.data) == (7, b"payload")
    assert message.position.data_length == len(extended) - 9  # the body, as its length field says


def test_columns_refuse_a_chunk_whose_crc_does_not_match() -> None:
    data = bytearray(write_mcap(MESSAGES, compression="none", chunk_size=4000))
    index = read_index(BytesSource(bytes(data)))
    second = index.spans[1]
    _, _, records, _, _ = _chunk_at(bytes(data), second.start)
    data[records + 40] ^= 0xFF  # inside a message's data: the records still parse

    with pytest.raises(BadLogFile, match=f"chunk at byte {second.start} is corrupt: the CRC") as raised:
        list(index_columns(bytes(data[second.start : second.end]), second.start))
    # where it is, for the failed ingestion's error_payload
    assert raised.value.payload["chunk_offset"] == second.start
    assert raised.value.payload["crc"] != raised.value.payload["expected_crc"]


@pytest.mark.parametrize("compression", ["zstd", "lz4"])
def test_columns_refuse_a_compressed_chunk_whose_crc_does_not_match(compression: str) -> None:
    inner = string_schema_and_channel(1, "/a") + message_record(1, 7, b"payload")
    data = raw_mcap(chunk_record(inner, compression, crc=12345))
    start = data.index(b"\x06", len(raw_mcap()) - 13 - 37 - 1)

    with pytest.raises(BadLogFile, match=f"chunk at byte {start} is corrupt"):
        indexed_messages(data)


def test_columns_skip_the_crc_check_when_the_chunk_has_none() -> None:
    inner = string_schema_and_channel(1, "/a") + message_record(1, 7, b"payload")

    (message,) = indexed_messages(raw_mcap(chunk_record(inner, "zstd", crc=0)))

    assert message.data == b"payload"


def test_columns_refuse_an_unknown_chunk_compression_naming_it() -> None:
    inner = string_schema_and_channel(1, "/a") + message_record(1, 7, b"payload")
    part = chunk_record(inner, "brotli", crc=0)

    with pytest.raises(BadLogFile, match="'brotli'") as raised:
        list(index_columns(part, 64))
    assert raised.value.payload == {"chunk_offset": 64, "compression": "brotli"}


def test_columns_refuse_a_range_cut_inside_a_record() -> None:
    data = write_mcap(MESSAGES)
    span = read_index(BytesSource(data)).spans[0]

    with pytest.raises(BadLogFile, match=f"byte {span.start}"):
        list(index_columns(data[span.start : span.start + 100], span.start))


def test_columns_refuse_a_corrupt_record_inside_a_chunk() -> None:
    inner = string_schema_and_channel(1, "/a") + message_record(1, 7, b"payload")
    broken = inner[:-20] + struct.pack("<BQ", 0x05, 10**9)  # a message longer than the chunk

    with pytest.raises(BadLogFile, match="chunk at byte 64"):
        list(index_columns(chunk_record(broken, "zstd"), 64))


def test_columns_of_a_format_instance_match_the_module_function() -> None:
    data = write_mcap(MESSAGES)
    index = McapFormat().read_index(BytesSource(data))
    span = index.spans[0]

    via_format = list(McapFormat().index_columns(data[span.start : span.end], span.start))
    via_module = list(index_columns(data[span.start : span.end], span.start))

    assert [np.asarray(c.offsets).tolist() for c in via_format] == [
        np.asarray(c.offsets).tolist() for c in via_module
    ]


@pytest.mark.parametrize("chunked", [True, False])
def test_columns_of_a_part_of_several_spans_are_those_of_its_spans(chunked: bool) -> None:
    payload = b"\x00\x01\x00\x00" + bytes(40_000)
    messages = [("/a" if i % 3 else "/b", i, payload + bytes([i % 256])) for i in range(300)]
    data = write_mcap(
        messages, chunked=chunked, compression="none" if not chunked else "zstd", chunk_size=200_000
    )
    index = read_index(BytesSource(data))
    assert len(index.spans) >= 3
    part = index.spans[:3]

    together = [
        astuple(p)
        for columns in index_columns(data[part[0].start : part[-1].end], part[0].start)
        for p in columns.positions()
    ]

    one_by_one = [
        astuple(p)
        for span in part
        for columns in index_columns(data[span.start : span.end], span.start)
        for p in columns.positions()
    ]
    assert together == one_by_one
    assert len(together) == sum(span.message_count for span in part)


def test_columns_of_zstd_chunks_read_back_as_the_official_client_reads_them() -> None:
    # The official client's zstd_mcap: the mcap package's Chunk.read over the record body, then
    # zstandard.decompress(data, uncompressed_size), then the chunk_offset/chunk_length slice.
    import io

    import zstandard
    from mcap.data_stream import ReadDataStream
    from mcap.records import Chunk

    data = write_mcap(MESSAGES, compression="zstd", chunk_size=2000)

    for message in indexed_messages(data):
        position = message.position
        body = data[position.data_offset : position.data_offset + position.data_length]
        chunk = Chunk.read(ReadDataStream(io.BytesIO(body)))
        records = zstandard.decompress(chunk.data, chunk.uncompressed_size)
        assert position.chunk_offset is not None and position.chunk_length is not None
        assert records[position.chunk_offset : position.chunk_offset + position.chunk_length] == message.data


@pytest.mark.parametrize(("dtype", "code"), [("<u2", "<H"), ("<u8", "<Q")])
def test_gathered_integers_are_the_ones_struct_reads_at_any_byte(dtype: str, code: str) -> None:
    data = bytes(np.random.default_rng(3).integers(0, 256, 1_000, dtype=np.uint8))
    width = struct.calcsize(code)
    positions = np.array([0, 1, 7, 333, 500, len(data) - width], dtype=np.int64)
    buffer = np.frombuffer(data, dtype=np.uint8)

    assert _gather(buffer, positions, dtype).tolist() == [
        struct.unpack_from(code, data, int(at))[0] for at in positions
    ]
    assert _gather(buffer[:1], np.zeros(0, dtype=np.int64), dtype).tolist() == []
    with pytest.raises(IndexError):
        _gather(buffer, np.array([len(data) - width + 1]), dtype)
