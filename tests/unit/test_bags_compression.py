"""Chunk decompression shared by the indexer, the API and the client."""

from __future__ import annotations

import bz2

import lz4.frame
import pytest

from openlqs.formats.compression import decompress

CHUNK = b"ROS chunk bytes " * 100


def test_decompress_bz2() -> None:
    assert decompress(bz2.compress(CHUNK), "bz2") == CHUNK


def test_decompress_lz4_frame() -> None:
    assert decompress(lz4.frame.compress(CHUNK), "lz4") == CHUNK


@pytest.mark.parametrize("compression", [None, "", "none"])
def test_decompress_uncompressed_returns_the_bytes(compression: str | None) -> None:
    result = decompress(memoryview(CHUNK), compression)

    assert result == CHUNK
    assert type(result) is bytes


def test_decompress_unknown_compression_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unsupported chunk compression 'brotli'"):
        decompress(CHUNK, "brotli")


@pytest.mark.parametrize("compression", ["bz2", "lz4"])
def test_decompress_bad_data_is_a_value_error(compression: str) -> None:
    with pytest.raises(ValueError, match=f"bad {compression} data"):
        decompress(b"definitely not compressed", compression)
