"""Chunk compressions, by the names records give them in ``chunk_compression``.

One registry for every reader of record bytes: the indexer, the API's reading core and the client. A
name maps to one function from the bytes a record's ``data_offset``/``data_length`` point at to the
decompressed chunk its ``chunk_offset``/``chunk_length`` are inside:

* ``bz2``: a bz2 stream (ROS 1 bz2 chunks);
* ``lz4``: an LZ4 frame (ROS 1 lz4 chunks, and the ``records`` field of MCAP lz4 chunks);
* ``zstd``: a zstd frame;
* ``zstd_mcap``: the body of an MCAP chunk record (its header fields, then the zstd-compressed
  ``records``), decompressed to the header's ``uncompressed_size`` as the official LogQS client's
  ``decompress_chunk_bytes`` does;
* ``""``, ``"none"`` and None: uncompressed, the bytes themselves.

This module imports nothing beyond the standard library: the client imports it without numpy, and
``lz4``/``zstandard`` are imported only when a chunk of theirs is met.
"""

from __future__ import annotations

import bz2
import struct
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

Data = bytes | memoryview
Decompressor = Callable[[Data], bytes]

#: The names a record's ``chunk_compression`` may hold for uncompressed bytes.
UNCOMPRESSED = frozenset({"", "none"})


def _lz4_frame() -> Any:
    try:
        import lz4.frame
    except ImportError as error:  # pragma: no cover - lz4 ships with every openlqs extra
        raise ValueError("lz4 chunks need the lz4 package (pip install lz4)") from error
    return lz4.frame


def _zstandard() -> Any:
    try:
        import zstandard
    except ImportError as error:  # pragma: no cover - zstandard ships with the server extra
        raise ValueError("zstd chunks need the zstandard package (pip install zstandard)") from error
    return zstandard


def decompress_bz2(data: Data) -> bytes:
    """A bz2 stream."""
    try:
        return bz2.decompress(data)
    except (OSError, ValueError) as error:
        raise ValueError(f"bad bz2 data: {error}") from error


def decompress_lz4(data: Data) -> bytes:
    """An LZ4 frame (the frame format, not a raw LZ4 block)."""
    frame = _lz4_frame()
    try:
        return bytes(frame.decompress(data))
    except (RuntimeError, OverflowError, MemoryError) as error:  # sizes from a damaged frame header too
        raise ValueError(f"bad lz4 data: {error}") from error


def decompress_zstd(data: Data, size: int | None = None) -> bytes:
    """A zstd frame; ``size`` is the decompressed size when the caller knows it (an MCAP chunk's
    ``uncompressed_size``), needed for frames written without their content size."""
    zstandard = _zstandard()
    try:
        if size is not None:
            result = zstandard.ZstdDecompressor().decompress(data, max_output_size=size)
        else:
            # A stream object handles frames with and without a content size alike.
            decompressor = zstandard.ZstdDecompressor().decompressobj()
            result = decompressor.decompress(data)
            if not decompressor.eof:
                raise ValueError("the zstd frame ends early")
    except (zstandard.ZstdError, OverflowError, MemoryError) as error:  # sizes from a damaged header too
        raise ValueError(f"bad zstd data: {error}") from error
    if size is not None and len(result) != size:
        raise ValueError(f"bad zstd data: {len(result)} bytes decompressed, {size} expected")
    return bytes(result)


#: The fixed fields at the start of an MCAP chunk body: message start and end time, uncompressed size,
#: uncompressed CRC and the length of the compression name.
_MCAP_CHUNK_FIELDS = struct.Struct("<QQQII")


def decompress_zstd_mcap(data: Data) -> bytes:
    """The decompressed ``records`` of an MCAP chunk body (what follows the record's opcode and length).

    The body is ``message_start_time u64 | message_end_time u64 | uncompressed_size u64 |
    uncompressed_crc u32 | compression (u32 length + bytes) | records (u64 length + bytes)``. The records
    are zstd-decompressed whatever the compression field says, as the official client does; the CRC is
    not checked here (the indexer checked it).
    """
    view = memoryview(data)
    if len(view) < _MCAP_CHUNK_FIELDS.size:
        raise ValueError(f"bad zstd_mcap data: {len(view)} bytes cannot hold an MCAP chunk header")
    _, _, size, _, name_length = _MCAP_CHUNK_FIELDS.unpack_from(view, 0)
    at = _MCAP_CHUNK_FIELDS.size + name_length
    if at + 8 > len(view):
        raise ValueError("bad zstd_mcap data: the MCAP chunk header is cut short")
    (records_length,) = struct.unpack_from("<Q", view, at)
    records = view[at + 8 : at + 8 + records_length]
    if len(records) != records_length:
        raise ValueError(
            f"bad zstd_mcap data: the chunk's records field holds {len(records)} of {records_length} bytes"
        )
    return decompress_zstd(records, size)


def _uncompressed(data: Data) -> bytes:
    return bytes(data)


#: Every ``chunk_compression`` name openlqs reads, and how.
COMPRESSIONS: MappingProxyType[str, Decompressor] = MappingProxyType(
    {
        "": _uncompressed,
        "none": _uncompressed,
        "bz2": decompress_bz2,
        "lz4": decompress_lz4,
        "zstd": decompress_zstd,
        "zstd_mcap": decompress_zstd_mcap,
    }
)


def decompress(data: Data, compression: str | None) -> bytes:
    """The decompressed bytes of one chunk; ``ValueError`` for an unknown compression or bad data."""
    function = COMPRESSIONS.get("" if compression is None else compression)
    if function is None:
        raise ValueError(f"unsupported chunk compression {compression!r}")
    return function(data)
