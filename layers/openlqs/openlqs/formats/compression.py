"""Chunk compressions of ROS 1 bags, as record ``chunk_compression`` names them.

Used by the indexer and by every reader of record bytes (the client, the API). ``lz4`` is imported
only when an lz4 chunk is met, so the client works without it for other bags.
"""

from __future__ import annotations

import bz2

#: The names a record's ``chunk_compression`` may hold; "" and "none" mean uncompressed.
UNCOMPRESSED = frozenset({"", "none"})


def decompress(data: bytes | memoryview, compression: str | None) -> bytes:
    """The decompressed bytes of one chunk; ``ValueError`` for an unknown compression or bad data."""
    if compression is None or compression in UNCOMPRESSED:
        return bytes(data)
    if compression == "bz2":
        try:
            return bz2.decompress(data)
        except OSError as error:
            raise ValueError(f"bad bz2 data: {error}") from error
    if compression == "lz4":
        try:
            import lz4.frame
        except ImportError as error:  # pragma: no cover - lz4 ships with every openlqs extra
            raise ValueError("lz4 chunks need the lz4 package (pip install lz4)") from error
        try:
            return bytes(lz4.frame.decompress(data))
        except RuntimeError as error:
            raise ValueError(f"bad lz4 data: {error}") from error
    raise ValueError(f"unsupported chunk compression {compression!r}")
