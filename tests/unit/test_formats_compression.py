"""The compression registry: every ``chunk_compression`` name the readers of record bytes accept."""

from __future__ import annotations

import bz2
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import lz4.frame
import pytest
import zstandard
from mcap.reader import make_reader

from openlqs.formats.compression import COMPRESSIONS, decompress

CHUNK = b"MCAP chunk records " * 200


def _mcap_chunk_body(records: bytes, compression: str, compressed: bytes) -> bytes:
    """An MCAP chunk record's body: times, sizes, CRC, compression name, then the records field."""
    name = compression.encode()
    header = struct.pack("<QQQI", 1, 2, len(records), zlib.crc32(records))
    return header + struct.pack("<I", len(name)) + name + struct.pack("<Q", len(compressed)) + compressed


@pytest.mark.parametrize(
    ("compression", "compress"),
    [
        ("bz2", bz2.compress),
        ("lz4", lz4.frame.compress),
        ("zstd", zstandard.compress),
    ],
)
def test_compression_round_trips(compression: str, compress: Callable[[bytes], bytes]) -> None:
    assert decompress(compress(CHUNK), compression) == CHUNK


def test_compression_zstd_reads_a_frame_without_its_content_size() -> None:
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(CHUNK)

    assert decompress(frame, "zstd") == CHUNK


def test_compression_zstd_mcap_decompresses_a_chunk_body() -> None:
    body = _mcap_chunk_body(CHUNK, "zstd", zstandard.compress(CHUNK))

    assert decompress(body, "zstd_mcap") == CHUNK
    assert decompress(memoryview(body), "zstd_mcap") == CHUNK


def test_compression_zstd_mcap_uses_the_uncompressed_size_when_the_frame_has_none() -> None:
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(CHUNK)

    assert decompress(_mcap_chunk_body(CHUNK, "zstd", frame), "zstd_mcap") == CHUNK


def test_compression_zstd_mcap_on_a_real_chunk_body_gives_its_records(fixture_logs: Path) -> None:
    path = fixture_logs / "rosbag2-talker-mcap" / "talker.mcap"
    with path.open("rb") as stream:
        summary = make_reader(stream).get_summary()
    assert summary is not None
    (chunk_index,) = summary.chunk_indexes
    data = path.read_bytes()
    # The record's body: after the opcode (1 byte) and the record length (8 bytes).
    start = chunk_index.chunk_start_offset + 9
    body = data[start : chunk_index.chunk_start_offset + chunk_index.chunk_length]

    records = decompress(body, "zstd_mcap")

    assert len(records) == chunk_index.uncompressed_size
    (crc,) = struct.unpack_from("<I", body, 24)
    assert zlib.crc32(records) == crc
    assert records[0] in (0x03, 0x04, 0x05)  # a schema, channel or message record comes first


def test_compression_lz4_reads_the_records_field_of_an_mcap_lz4_chunk() -> None:
    body = _mcap_chunk_body(CHUNK, "lz4", lz4.frame.compress(CHUNK))
    # The records field starts after 40 bytes of fixed fields and the name "lz4".
    records_field = body[40 + len("lz4") :]

    assert decompress(records_field, "lz4") == CHUNK


@pytest.mark.parametrize("compression", [None, "", "none"])
def test_compression_uncompressed_returns_the_bytes(compression: str | None) -> None:
    result = decompress(memoryview(CHUNK), compression)

    assert result == CHUNK
    assert type(result) is bytes


@pytest.mark.parametrize("compression", ["brotli", "lz4_block", "ZSTD", "mp4"])
def test_compression_unknown_name_is_a_value_error_naming_it(compression: str) -> None:
    with pytest.raises(ValueError, match=f"unsupported chunk compression '{compression}'"):
        decompress(CHUNK, compression)


@pytest.mark.parametrize("compression", ["bz2", "lz4", "zstd", "zstd_mcap"])
def test_compression_bad_data_is_a_value_error(compression: str) -> None:
    with pytest.raises(ValueError, match=f"bad {compression} data"):
        decompress(b"definitely not compressed, nor a chunk body", compression)


def test_compression_zstd_mcap_refuses_a_body_cut_short() -> None:
    body = _mcap_chunk_body(CHUNK, "zstd", zstandard.compress(CHUNK))

    with pytest.raises(ValueError, match="bad zstd_mcap data"):
        decompress(body[:-10], "zstd_mcap")


def test_compression_zstd_mcap_refuses_a_wrong_uncompressed_size() -> None:
    body = bytearray(_mcap_chunk_body(CHUNK, "zstd", zstandard.compress(CHUNK)))
    struct.pack_into("<Q", body, 16, len(CHUNK) + 1)

    with pytest.raises(ValueError, match="bad zstd"):
        decompress(bytes(body), "zstd_mcap")


def test_compression_registry_names_what_the_contract_accepts() -> None:
    assert set(COMPRESSIONS) >= {"", "none", "bz2", "lz4", "zstd", "zstd_mcap"}


def test_compression_zstd_mcap_with_an_absurd_uncompressed_size_is_a_value_error() -> None:
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(CHUNK)
    body = bytearray(_mcap_chunk_body(CHUNK, "zstd", frame))
    struct.pack_into("<Q", body, 16, 2**63 + 5)  # a damaged header: more than memory can hold

    with pytest.raises(ValueError, match="bad zstd data"):
        decompress(bytes(body), "zstd_mcap")
