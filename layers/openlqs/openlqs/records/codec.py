"""RecordBlockCodec: records of one block as compressed packed columns.

Layout (little-endian), zlib-compressed as a whole::

    b"RB" version:u8 | n:u32 | table_len:u32 | tables (JSON) | columns...

Columns are ``int64`` arrays of length n: timestamp deltas (the first absolute), data_offset,
data_length, chunk_offset, chunk_length (-1 = null), then ``int32`` indexes into the string tables
for chunk_compression, source and ingestion_id (-1 = null). Per-record extras (rare) are in the
JSON tables keyed by row index. A block of 1,000 ingested records encodes to a few kilobytes.
"""

from __future__ import annotations

import json
import struct
import sys
import zlib
from array import array
from typing import Any

from openlqs.records.rows import RecordRow

_MAGIC = b"RB"
_VERSION = 1
_HEADER = struct.Struct("<2sBII")
_NULL = -1


class CorruptBlock(ValueError):
    """A stored block cannot be decoded."""


def _int64(values: list[int]) -> bytes:
    column = array("q", values)
    if sys.byteorder == "big":
        column.byteswap()
    return column.tobytes()


def _int32(values: list[int]) -> bytes:
    column = array("i", values)
    if sys.byteorder == "big":
        column.byteswap()
    return column.tobytes()


def _read(typecode: str, data: memoryview, start: int, n: int) -> tuple[array[int], int]:
    column = array(typecode)
    end = start + n * column.itemsize
    column.frombytes(data[start:end])
    if sys.byteorder == "big":
        column.byteswap()
    return column, end


class _StringTable:
    def __init__(self) -> None:
        self.values: list[str] = []
        self._index: dict[str, int] = {}

    def index(self, value: str | None) -> int:
        if value is None:
            return _NULL
        found = self._index.get(value)
        if found is None:
            found = self._index[value] = len(self.values)
            self.values.append(value)
        return found


def _nullable(value: int | None) -> int:
    return _NULL if value is None else value


def encode_rows(rows: list[RecordRow]) -> bytes:
    """Encode rows (already in block order) into one compressed blob."""
    compressions, sources, ingestions = _StringTable(), _StringTable(), _StringTable()
    deltas, previous = [], 0
    for row in rows:
        deltas.append(row.timestamp - previous)
        previous = row.timestamp
    extras = {str(i): row.extra for i, row in enumerate(rows) if row.extra}
    columns = [
        _int64(deltas),
        _int64([_nullable(r.data_offset) for r in rows]),
        _int64([_nullable(r.data_length) for r in rows]),
        _int64([_nullable(r.chunk_offset) for r in rows]),
        _int64([_nullable(r.chunk_length) for r in rows]),
        _int32([compressions.index(r.chunk_compression) for r in rows]),
        _int32([sources.index(r.source) for r in rows]),
        _int32([ingestions.index(r.ingestion_id) for r in rows]),
    ]
    tables = json.dumps(
        {"c": compressions.values, "s": sources.values, "i": ingestions.values, "x": extras},
        separators=(",", ":"),
    ).encode()
    header = _HEADER.pack(_MAGIC, _VERSION, len(rows), len(tables))
    return zlib.compress(header + tables + b"".join(columns), 6)


def decode_rows(blob: bytes) -> list[RecordRow]:
    """Decode a blob written by ``encode_rows``."""
    try:
        data = memoryview(zlib.decompress(blob))
        magic, version, n, table_len = _HEADER.unpack_from(data, 0)
    except (zlib.error, struct.error) as error:
        raise CorruptBlock(f"record block cannot be read: {error}") from error
    if magic != _MAGIC or version != _VERSION:
        raise CorruptBlock(f"unknown record block format {magic!r} v{version}")
    position = _HEADER.size
    tables: dict[str, Any] = json.loads(bytes(data[position : position + table_len]))
    position += table_len
    deltas, position = _read("q", data, position, n)
    data_offsets, position = _read("q", data, position, n)
    data_lengths, position = _read("q", data, position, n)
    chunk_offsets, position = _read("q", data, position, n)
    chunk_lengths, position = _read("q", data, position, n)
    compression_ix, position = _read("i", data, position, n)
    source_ix, position = _read("i", data, position, n)
    ingestion_ix, position = _read("i", data, position, n)
    compressions, sources, ingestions, extras = tables["c"], tables["s"], tables["i"], tables["x"]
    rows, timestamp = [], 0
    for i in range(n):
        timestamp += deltas[i]
        rows.append(
            RecordRow(
                timestamp=timestamp,
                data_offset=None if data_offsets[i] == _NULL else data_offsets[i],
                data_length=None if data_lengths[i] == _NULL else data_lengths[i],
                chunk_compression=None if compression_ix[i] == _NULL else compressions[compression_ix[i]],
                chunk_offset=None if chunk_offsets[i] == _NULL else chunk_offsets[i],
                chunk_length=None if chunk_lengths[i] == _NULL else chunk_lengths[i],
                source=None if source_ix[i] == _NULL else sources[source_ix[i]],
                ingestion_id=None if ingestion_ix[i] == _NULL else ingestions[ingestion_ix[i]],
                extra=extras.get(str(i)),
            )
        )
    return rows
