"""zstd for rosbag2 storage files and messages: streaming, bounded memory, truncation, bad input."""

from __future__ import annotations

import io
import os
import tracemalloc
from pathlib import Path

import pytest
import zstandard
from backports import zstd as stdlib_style_zstd

from openlqs.errors import BadLogFile
from openlqs.formats.rosbag2.zstd import ZstdMessageDecompressor, decompress_zstd_stream
from tests.support.rosbag2 import mixed_messages, read_db3, read_mcap, write_rosbags_recording

DATA = os.urandom(4096) * 64 + bytes(200_000) + b"tail"


class _CountingSink(io.RawIOBase):
    """Discards what it is given, remembering how much and the largest single write."""

    def __init__(self) -> None:
        self.total = 0
        self.largest = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.total += len(data)
        self.largest = max(self.largest, len(data))
        return len(data)


def _compressed_forms() -> dict[str, bytes]:
    stream = io.BytesIO()
    with stdlib_style_zstd.open(stream, "wb") as compressed:  # how rosbags writes .zstd files
        compressed.write(DATA)
    skippable = (0x184D2A53).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"abc"
    return {
        "one frame with its size": zstandard.ZstdCompressor().compress(DATA),
        "checksum, no size": zstandard.ZstdCompressor(write_checksum=True, write_content_size=False).compress(
            DATA
        ),
        "streamed": stream.getvalue(),
        "two frames and a skippable one": zstandard.ZstdCompressor().compress(DATA[:5000])
        + skippable
        + zstandard.ZstdCompressor(write_checksum=True).compress(DATA[5000:]),
    }


@pytest.mark.parametrize("form", list(_compressed_forms()))
def test_decompress_zstd_stream_restores_every_byte(form: str) -> None:
    out = io.BytesIO()

    written = decompress_zstd_stream(io.BytesIO(_compressed_forms()[form]), out, max_output_bytes=None)

    assert out.getvalue() == DATA
    assert written == len(DATA)


@pytest.mark.parametrize("form", list(_compressed_forms()))
def test_decompress_zstd_stream_refuses_a_stream_cut_anywhere(form: str) -> None:
    compressed = _compressed_forms()[form]
    cuts = [*range(1, 24), *range(24, len(compressed), max(1, len(compressed) // 97))]

    for cut in cuts:
        if form == "two frames and a skippable one" and cut == len(
            zstandard.ZstdCompressor().compress(DATA[:5000])
        ):
            continue  # a cut exactly after a whole frame is a complete, shorter stream
        with pytest.raises(BadLogFile, match=r"truncated|not zstd|corrupt"):
            decompress_zstd_stream(
                io.BytesIO(compressed[:cut]), io.BytesIO(), max_output_bytes=None, piece_bytes=777
            )


def test_decompress_zstd_stream_writes_in_bounded_pieces_whatever_the_ratio() -> None:
    bomb = zstandard.ZstdCompressor().compress(bytes(256 * 1024 * 1024))
    sink = _CountingSink()

    tracemalloc.start()
    try:
        written = decompress_zstd_stream(io.BytesIO(bomb), sink, max_output_bytes=None)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert written == sink.total == 256 * 1024 * 1024
    assert len(bomb) < 64 * 1024
    assert sink.largest <= 1024 * 1024
    assert peak < 8 * 1024 * 1024


def test_decompress_zstd_stream_stops_at_max_output_bytes() -> None:
    bomb = zstandard.ZstdCompressor().compress(bytes(64 * 1024 * 1024))
    sink = _CountingSink()

    with pytest.raises(BadLogFile, match="more than 10000000 bytes"):
        decompress_zstd_stream(io.BytesIO(bomb), sink, max_output_bytes=10_000_000)  # type: ignore[arg-type]

    assert sink.total <= 10_000_000


def test_decompress_zstd_stream_accepts_output_of_exactly_max_output_bytes() -> None:
    out = io.BytesIO()

    decompress_zstd_stream(io.BytesIO(zstandard.compress(DATA)), out, max_output_bytes=len(DATA))

    assert out.getvalue() == DATA


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty, not zstd"),
        (b"SQLite format 3\x00" + bytes(100), "not zstd: it starts with b'SQLi'"),
        (b"\x89MCAP0\r\n" + bytes(100), "not zstd"),
        (b"\x28\xb5\x2f\xfd", "truncated"),
    ],
)
def test_decompress_zstd_stream_refuses_what_is_not_zstd(data: bytes, message: str) -> None:
    with pytest.raises(BadLogFile, match=message):
        decompress_zstd_stream(io.BytesIO(data), io.BytesIO(), max_output_bytes=None)


def test_decompress_zstd_stream_refuses_trailing_bytes_after_the_last_frame() -> None:
    compressed = zstandard.compress(DATA) + b"garbage!"

    with pytest.raises(BadLogFile, match="not a zstd frame at byte"):
        decompress_zstd_stream(io.BytesIO(compressed), io.BytesIO(), max_output_bytes=None)


def test_decompress_zstd_stream_refuses_corrupt_block_data() -> None:
    compressed = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(DATA))
    compressed[len(compressed) // 2] ^= 0xFF
    compressed[len(compressed) // 2 + 1] ^= 0xFF

    with pytest.raises(BadLogFile, match=r"corrupt|truncated"):
        decompress_zstd_stream(io.BytesIO(bytes(compressed)), io.BytesIO(), max_output_bytes=None)


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_decompress_zstd_stream_restores_a_file_compressed_rosbags_recording(
    tmp_path: Path, storage: str
) -> None:
    plain = write_rosbags_recording(tmp_path / "plain", mixed_messages(10**18, 60), storage=storage)  # type: ignore[arg-type]
    packed = write_rosbags_recording(
        tmp_path / "packed",
        mixed_messages(10**18, 60),
        storage=storage,  # type: ignore[arg-type]
        compression="file",
    )
    (packed_name,) = packed.files
    assert packed_name.endswith(".zstd")
    out = io.BytesIO()

    with (packed.path / packed_name).open("rb") as source:
        decompress_zstd_stream(source, out, max_output_bytes=None)

    restored = tmp_path / f"restored.{storage}"
    restored.write_bytes(out.getvalue())
    original = plain.path / plain.files[0]
    if storage == "mcap":
        assert read_mcap(restored) == read_mcap(original)
    else:
        assert read_db3(restored) == read_db3(original)
    assert len(read_db3(restored) if storage == "sqlite3" else read_mcap(restored)) == 60


def test_zstd_message_decompressor_restores_messages_with_and_without_stated_size() -> None:
    decompress = ZstdMessageDecompressor(max_output_bytes=1 << 20)

    assert decompress(stdlib_style_zstd.compress(b"\x00\x01\x00\x00hello")) == b"\x00\x01\x00\x00hello"
    assert decompress(zstandard.ZstdCompressor(write_content_size=False).compress(DATA[:9000])) == DATA[:9000]
    assert decompress(zstandard.compress(b"")) == b""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"plain cdr bytes", "not zstd"),
        (zstandard.compress(DATA[:9000])[:-5], "truncated"),
        (zstandard.compress(b"abc") + b"xyz", "followed by other bytes"),
        (zstandard.compress(bytes(2 << 20)), "more than"),
    ],
)
def test_zstd_message_decompressor_refuses_bad_messages(data: bytes, message: str) -> None:
    with pytest.raises(BadLogFile, match=message):
        ZstdMessageDecompressor(max_output_bytes=1 << 20)(data)
