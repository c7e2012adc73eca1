"""MCAP record parsing: malformed content is a BadLogFile naming the record, never a crash."""

from __future__ import annotations

import random
import struct

import pytest

from openlqs.errors import BadLogFile
from openlqs.formats.mcap.channels import Declarations
from openlqs.formats.mcap.records import (
    Schema,
    next_record,
    parse_channel,
    parse_chunk,
    parse_chunk_index,
    parse_message_index,
    parse_statistics,
)
from tests.support.mcap import (
    BytesSource,
    channel_record,
    indexed_messages,
    record,
    string_messages,
    write_mcap,
)


def test_records_next_record_is_none_for_a_record_cut_short() -> None:
    data = record(0x04, b"x" * 20)

    assert next_record(data, 0) == (0x04, 9, 29)
    assert next_record(data[:-1], 0) is None
    assert next_record(data[:5], 0) is None
    assert next_record(data, 0, 20) is None


def test_records_parse_a_channel_with_its_metadata() -> None:
    data = channel_record(3, 2, "/chatter", "cdr", offered_qos_profiles="- depth: 1")

    channel = parse_channel(data, 9, len(data), 1000)

    assert (channel.id, channel.schema_id, channel.topic, channel.message_encoding) == (
        3,
        2,
        "/chatter",
        "cdr",
    )
    assert channel.metadata == {"offered_qos_profiles": "- depth: 1"}


@pytest.mark.parametrize("cut", [1, 5, 12, 20])
def test_records_a_channel_cut_short_names_the_record_and_its_offset(cut: int) -> None:
    data = channel_record(3, 2, "/chatter", "cdr", key="value")[:-cut]

    with pytest.raises(BadLogFile, match="channel record at byte 1000 is malformed"):
        parse_channel(data, 9, len(data), 1000)


def test_records_a_string_that_is_not_utf8_is_malformed() -> None:
    content = struct.pack("<HH", 1, 0) + struct.pack("<I", 2) + b"\xff\xfe" + struct.pack("<I", 0) * 2

    with pytest.raises(BadLogFile, match="not UTF-8"):
        parse_channel(content, 0, len(content), 9)


def test_records_a_chunk_whose_records_run_past_it_is_malformed() -> None:
    content = struct.pack("<QQQI", 0, 0, 10, 0) + struct.pack("<I", 0) + struct.pack("<Q", 100) + b"short"

    with pytest.raises(BadLogFile, match="chunk record at byte 0 is malformed"):
        parse_chunk(content, 0, len(content), 9)


def test_records_a_map_of_the_wrong_length_is_malformed() -> None:
    content = struct.pack("<QQQQ", 1, 2, 3, 4) + struct.pack("<I", 7) + bytes(7) + bytes(40)

    with pytest.raises(BadLogFile, match="not a multiple of 10"):
        parse_chunk_index(content, 0, len(content), 9)


def test_records_message_index_entries_must_be_whole() -> None:
    content = struct.pack("<HI", 1, 17) + bytes(17)

    with pytest.raises(BadLogFile, match=r"message index record .* not a multiple of 16"):
        parse_message_index(content, 0, len(content), 9)


def test_records_statistics_parse_their_channel_counts() -> None:
    counts = struct.pack("<HQ", 1, 5) + struct.pack("<HQ", 7, 2)
    content = struct.pack("<QHIIIIQQ", 7, 1, 2, 0, 0, 1, 10, 20) + struct.pack("<I", len(counts)) + counts

    statistics = parse_statistics(content, 0, len(content))

    assert statistics.message_count == 7 and statistics.channel_message_counts == {1: 5, 7: 2}


def test_records_a_schema_declared_twice_differently_is_refused() -> None:
    declarations = Declarations()
    declarations.add_schema(Schema(1, "a/msg/A", "ros2msg", b"int32 x\n"), 10)
    declarations.add_schema(Schema(1, "a/msg/A", "ros2msg", b"int32 x\n"), 99)  # the same again: fine

    with pytest.raises(BadLogFile, match="Schema 1 is declared again at byte 200"):
        declarations.add_schema(Schema(1, "a/msg/A", "ros2msg", b"int64 x\n"), 200)


def _damaged(data: bytes, rng: random.Random) -> bytes:
    damaged = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(damaged))
        damaged[at] = rng.choice([0x00, 0xFF, damaged[at] ^ (1 << rng.randrange(8)), rng.randrange(256)])
    return bytes(damaged)


@pytest.mark.parametrize("compression", ["zstd", "lz4", "none"])
@pytest.mark.parametrize("chunked", [True, False])
def test_records_damaged_files_are_indexed_or_refused_never_crash(compression: str, chunked: bool) -> None:
    data = write_mcap(
        string_messages(60, ("/a", "/b")),
        compression=compression,
        chunked=chunked,
        chunk_size=600,
        attachments=[("a.bin", "application/octet-stream", b"\x01" * 50)],
        metadata=[("run", {"k": "v"})],
    )
    rng = random.Random(f"{compression}-{chunked}")

    outcomes = {"indexed": 0, "refused": 0}
    for _ in range(150):
        damaged = _damaged(data, rng) if rng.random() < 0.8 else data[: rng.randrange(len(data))]
        try:
            indexed_messages(damaged)
        except BadLogFile:
            outcomes["refused"] += 1
        else:
            outcomes["indexed"] += 1

    assert outcomes["indexed"] and outcomes["refused"]


def test_records_bytes_source_of_a_written_file_reads_back_whole() -> None:
    data = write_mcap(string_messages(5))

    assert BytesSource(data).read(0, len(data)) == data
