"""RecordBlockCodec: records of one block as compressed packed columns.

Layout (little-endian), zlib-compressed as a whole::

    b"RB" version:u8 | n:u32 | table_len:u32 | tables (JSON) | columns...

Columns are ``int64`` arrays of length n: timestamp, data_offset, data_length, chunk_offset,
chunk_length (-1 = null), then ``int32`` indexes into the string tables for chunk_compression, source
and ingestion_id (-1 = null). Per-record extras (rare) are in the JSON tables keyed by row index.

- Version 3 (written since decision 32): as version 2, but timestamp, data_offset and chunk_offset
  are stored as their first value (i64) and then the steps between values (the first step 0), and a
  byte plane that holds one value in every row is not stored. Each column is ``mask:u8 | constants |
  planes``: bit k of the mask says plane k is constant, ``constants`` holds those planes' bytes (in
  plane order) and ``planes`` the others, n bytes each. An ingested block has ~7-12 varying planes of
  52, so a query inflates a quarter of the bytes or less: decoding is 3-4x faster, and blocks are
  slightly smaller.
- Version 2: timestamp, data_offset and chunk_offset are stored as deltas (the first absolute; int64
  wrap-around is undone by the running sum) and every column is byte-shuffled (all first bytes, then all
  second bytes...), so the near-constant high bytes compress to nothing: ~3 bytes per ingested record,
  encoded ~5x faster than version 1 at the same zlib level. Still read.
- Version 1: plain columns, only the timestamps as deltas. Still read.

In memory a block is a ``BlockColumns`` (numpy arrays): the ingestion builds blocks as columns without
making an object per record, and a query decodes a block's columns, finds its window by binary search
and makes ``RecordRow`` objects only for the rows it returns.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import numpy as np
import numpy.typing as npt
from pydantic_core import to_json

from openlqs.records.lru import WeighedLru
from openlqs.records.rows import NO_POSITION, RecordRow

_MAGIC = b"RB"
_VERSION = 3
_READABLE = (1, 2, 3)
_HEADER = struct.Struct("<2sBII")
#: Rows a block may hold (blocks are written with at most 10,000): a larger count is corruption.
MAX_ROWS = 1 << 20
_NULL = -1
_I64 = np.dtype("<i8")
_I32 = np.dtype("<i4")
#: The columns' types in stored order (``BlockColumns`` order).
_COLUMN_TYPES: tuple[np.dtype[Any], ...] = (_I64, _I64, _I64, _I64, _I64, _I32, _I32, _I32)
#: Bytes of one row of columns.
_ROW_BYTES = sum(dtype.itemsize for dtype in _COLUMN_TYPES)
#: Columns stored as steps from value to value: timestamp, data_offset, chunk_offset.
_STEPPED = frozenset({0, 1, 3})
_BASE = struct.Struct("<q")
#: zlib level of stored blocks: level 6 writes ~10 % fewer bytes (write units) than level 1 for ~2x the time.
COMPRESSION_LEVEL = 6

Int64s = npt.NDArray[np.int64]
Int32s = npt.NDArray[np.int32]


class CorruptBlock(ValueError):
    """A stored block cannot be decoded."""


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


def _or_none(value: int) -> int | None:
    return None if value == _NULL else value


@dataclass(eq=False)
class BlockColumns:
    """The records of one block as columns: ``int64`` arrays (-1 = null), ``int32`` indexes into the
    string tables, and the rare per-record extras keyed by row index. Rows are in block order
    (``RecordRow.order_key``), so ``timestamps`` is non-decreasing."""

    timestamps: Int64s
    data_offsets: Int64s
    data_lengths: Int64s
    chunk_offsets: Int64s
    chunk_lengths: Int64s
    compression_ix: Int32s
    source_ix: Int32s
    ingestion_ix: Int32s
    compressions: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    ingestions: list[str] = field(default_factory=list)
    extras: dict[int, dict[str, Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.timestamps)

    @classmethod
    def from_rows(cls, rows: Sequence[RecordRow]) -> BlockColumns:
        compressions, sources, ingestions = _StringTable(), _StringTable(), _StringTable()
        return cls(
            timestamps=np.array([r.timestamp for r in rows], dtype=np.int64),
            data_offsets=np.array([_nullable(r.data_offset) for r in rows], dtype=np.int64),
            data_lengths=np.array([_nullable(r.data_length) for r in rows], dtype=np.int64),
            chunk_offsets=np.array([_nullable(r.chunk_offset) for r in rows], dtype=np.int64),
            chunk_lengths=np.array([_nullable(r.chunk_length) for r in rows], dtype=np.int64),
            compression_ix=np.array([compressions.index(r.chunk_compression) for r in rows], dtype=np.int32),
            source_ix=np.array([sources.index(r.source) for r in rows], dtype=np.int32),
            ingestion_ix=np.array([ingestions.index(r.ingestion_id) for r in rows], dtype=np.int32),
            compressions=compressions.values,
            sources=sources.values,
            ingestions=ingestions.values,
            extras={i: r.extra for i, r in enumerate(rows) if r.extra},
        )

    def rows(self, start: int = 0, stop: int | None = None) -> list[RecordRow]:
        """``RecordRow`` objects for rows [start, stop)."""
        stop = len(self) if stop is None else stop
        if stop <= start:
            return []
        timestamps = self.timestamps[start:stop].tolist()
        data_offsets = self.data_offsets[start:stop].tolist()
        data_lengths = self.data_lengths[start:stop].tolist()
        chunk_offsets = self.chunk_offsets[start:stop].tolist()
        chunk_lengths = self.chunk_lengths[start:stop].tolist()
        compression_ix = self.compression_ix[start:stop].tolist()
        source_ix = self.source_ix[start:stop].tolist()
        ingestion_ix = self.ingestion_ix[start:stop].tolist()
        compressions, sources, ingestions = self.compressions, self.sources, self.ingestions
        extras = self.extras
        return [
            RecordRow(
                timestamps[i],
                _or_none(data_offsets[i]),
                _or_none(data_lengths[i]),
                None if compression_ix[i] == _NULL else compressions[compression_ix[i]],
                _or_none(chunk_offsets[i]),
                _or_none(chunk_lengths[i]),
                None if source_ix[i] == _NULL else sources[source_ix[i]],
                None if ingestion_ix[i] == _NULL else ingestions[ingestion_ix[i]],
                extras.get(start + i),
            )
            for i in range(stop - start)
        ]

    def json_fields(self, indexes: npt.NDArray[np.intp]) -> list[list[Any]]:
        """The rows at ``indexes`` as JSON, field by field: timestamp, ingestion_id, data_offset,
        data_length, chunk_compression, chunk_offset, chunk_length, source. Each value is an ``int`` or
        the JSON text of a string or null, so that ``"%s" % value`` writes it (ingestion ids as
        canonical UUIDs, as the ``Record`` model writes them)."""
        return [
            self.timestamps[indexes].tolist(),
            _table_tokens(self.ingestion_ix[indexes], [str(UUID(value)) for value in self.ingestions]),
            _int_tokens(self.data_offsets[indexes]),
            _int_tokens(self.data_lengths[indexes]),
            _table_tokens(self.compression_ix[indexes], self.compressions),
            _int_tokens(self.chunk_offsets[indexes]),
            _int_tokens(self.chunk_lengths[indexes]),
            _table_tokens(self.source_ix[indexes], self.sources),
        ]

    def arrays(self) -> tuple[npt.NDArray[Any], ...]:
        return (
            self.timestamps,
            self.data_offsets,
            self.data_lengths,
            self.chunk_offsets,
            self.chunk_lengths,
            self.compression_ix,
            self.source_ix,
            self.ingestion_ix,
        )

    def span(self, low: int | None, high: int | None) -> tuple[int, int]:
        """The rows [start, stop) whose timestamps lie in [low, high] (None: unbounded)."""
        return span_of(self.timestamps, low, high)

    def order_keys(self) -> tuple[Int64s, Int64s, Int64s]:
        """``RecordRow.order_key`` as three columns (timestamp, file position, position in chunk)."""
        positions = np.where(self.data_offsets == _NULL, NO_POSITION, self.data_offsets)
        return self.timestamps, positions, self.chunk_offsets

    def is_sorted(self) -> bool:
        timestamps = self.timestamps
        if len(timestamps) < 2 or bool(np.all(timestamps[1:] > timestamps[:-1])):
            return True
        keys = self.order_keys()
        previous = tuple(key[:-1] for key in keys)
        following = tuple(key[1:] for key in keys)
        # Lexicographic (a <= b) over three columns.
        less = (previous[0] < following[0]) | (
            (previous[0] == following[0])
            & ((previous[1] < following[1]) | ((previous[1] == following[1]) & (previous[2] <= following[2])))
        )
        return bool(np.all(less))

    def sorted(self) -> BlockColumns:
        """These rows in block order (itself when already sorted)."""
        if self.is_sorted():
            return self
        timestamps, positions, chunk_offsets = self.order_keys()
        order = np.lexsort((chunk_offsets, positions, timestamps))
        return self.take(order)

    def take(self, order: npt.NDArray[np.intp]) -> BlockColumns:
        """The rows at ``order`` (indexes), extras re-keyed."""
        old_to_new = {int(old): new for new, old in enumerate(order.tolist())} if self.extras else {}
        return self._over(
            [array[order] for array in self.arrays()],
            {old_to_new[i]: extra for i, extra in self.extras.items() if i in old_to_new},
        )

    def slice(self, start: int, stop: int) -> BlockColumns:
        """Rows [start, stop) as a block of their own (arrays are views)."""
        return self._over(
            [array[start:stop] for array in self.arrays()],
            {i - start: extra for i, extra in self.extras.items() if start <= i < stop},
        )

    def _over(self, arrays: list[npt.NDArray[Any]], extras: dict[int, dict[str, Any]]) -> BlockColumns:
        """Other rows (``arrays()`` order) with these string tables."""
        return _columns_of(arrays, self.compressions, self.sources, self.ingestions, extras)

    def message_bytes(self) -> int:
        """Sum of ``RecordRow.message_size``: the chunk length when compressed, else the data length."""
        sizes = np.where(self.compression_ix != _NULL, self.chunk_lengths, self.data_lengths)
        return int(np.where(sizes == _NULL, 0, sizes).sum())


def _int_tokens(values: Int64s) -> list[Any]:
    listed = values.tolist()
    if not (values == _NULL).any():
        return listed
    return ["null" if value == _NULL else value for value in listed]


def _table_tokens(indexes: Int32s, table: list[str]) -> list[str]:
    tokens = [to_json(value).decode() for value in table]
    tokens.append("null")  # index -1
    if len(indexes) and indexes.min() == indexes.max():
        return [tokens[int(indexes[0])]] * len(indexes)
    return [tokens[index] for index in indexes.tolist()]


def _steps(values: Int64s) -> Int64s:
    """Each value less the one before (the first: 0), wrapping around like int64."""
    steps = np.zeros(len(values), dtype=np.int64)
    if len(values):
        np.subtract(values[1:], values[:-1], out=steps[1:])
    return steps


def _planes(values: npt.NDArray[Any], dtype: np.dtype[Any]) -> bytes:
    """A column as version 3 stores it: the mask of its constant byte planes, their bytes, then the
    varying planes."""
    raw = np.ascontiguousarray(values, dtype=dtype)
    if not len(raw):
        return b"\x00"
    rows = raw.view(np.uint8).reshape(len(raw), dtype.itemsize)  # row i: the bytes of value i
    constant = (rows == rows[0]).all(axis=0)
    mask = int(np.packbits(constant, bitorder="little")[0])
    return bytes([mask]) + rows[0, constant].tobytes() + rows[:, ~constant].T.tobytes()


def _unplaned(read: Callable[[int], bytes], n: int, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """The column written by ``_planes``, its bytes taken by ``read``."""
    (mask,) = read(1)
    constant = [plane for plane in range(dtype.itemsize) if mask >> plane & 1]
    varying = [plane for plane in range(dtype.itemsize) if not mask >> plane & 1]
    if mask >> dtype.itemsize:
        raise CorruptBlock(f"record block column mask {mask:#x} names no plane of {dtype.itemsize}")
    if not varying:
        # Every value the same (a column of nulls, one source): one value repeated, no plane copies.
        return np.full(n, np.frombuffer(read(len(constant)), dtype=dtype)[0], dtype=dtype)
    rows = np.zeros((n, dtype.itemsize), dtype=np.uint8)
    if constant:
        rows[:, constant] = np.frombuffer(read(len(constant)), dtype=np.uint8)
    if varying:
        rows[:, varying] = np.frombuffer(read(len(varying) * n), dtype=np.uint8).reshape(len(varying), n).T
    return rows.view(dtype).reshape(n)


class _Bytes:
    """``read(size)`` over inflated bytes; a short read is a corrupt block."""

    def __init__(self, data: bytes, position: int) -> None:
        self.data, self.position = data, position

    def read(self, size: int) -> bytes:
        chunk = self.data[self.position : self.position + size]
        if len(chunk) != size:
            raise CorruptBlock(f"record block ends {size - len(chunk)} bytes short")
        self.position += size
        return chunk


class _Inflating:
    """``read(size)`` over a blob, inflating only as far as has been read."""

    def __init__(self, blob: bytes) -> None:
        self._stream = zlib.decompressobj()
        self._tail = blob

    def read(self, size: int) -> bytes:
        try:
            chunk = self._stream.decompress(self._tail, size) if size else b""
        except zlib.error as error:
            raise CorruptBlock(f"record block cannot be read: {error}") from error
        self._tail = self._stream.unconsumed_tail
        if len(chunk) != size:
            raise CorruptBlock(f"record block ends {size - len(chunk)} bytes short")
        return chunk


def _unshuffled(data: bytes, offset: int, n: int, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    planes = np.frombuffer(data, dtype=np.uint8, count=n * dtype.itemsize, offset=offset)
    return planes.reshape(dtype.itemsize, n).T.copy().view(dtype).reshape(n)


def span_of(timestamps: Int64s, low: int | None, high: int | None) -> tuple[int, int]:
    """The indexes [start, stop) of sorted ``timestamps`` that lie in [low, high] (None: unbounded)."""
    start = 0 if low is None else int(np.searchsorted(timestamps, low, side="left"))
    stop = len(timestamps) if high is None else int(np.searchsorted(timestamps, high, side="right"))
    return start, max(start, stop)


def encode_columns(columns: BlockColumns) -> bytes:
    """Encode a block's columns (already in block order) into one compressed blob (version 3)."""
    n = len(columns)
    tables = json.dumps(
        {
            "c": columns.compressions,
            "s": columns.sources,
            "i": columns.ingestions,
            "x": {str(i): extra for i, extra in sorted(columns.extras.items())},
        },
        separators=(",", ":"),
    ).encode()
    body = b"".join(
        [
            _HEADER.pack(_MAGIC, _VERSION, n, len(tables)),
            tables,
            *_stored(columns),
        ]
    )
    return zlib.compress(body, COMPRESSION_LEVEL)


def _stored(columns: BlockColumns) -> list[bytes]:
    """The columns as version 3 stores them; a column of ``_STEPPED`` is its first value (``_BASE``) and
    then the steps between values, so that its byte planes are constant wherever the steps are."""
    stored = []
    for at, (values, dtype) in enumerate(zip(columns.arrays(), _COLUMN_TYPES, strict=True)):
        if at in _STEPPED:
            stored.append(_BASE.pack(int(values[0]) if len(values) else 0))
            values = _steps(values)
        stored.append(_planes(values, dtype))
    return stored


def _head(read: Callable[[int], bytes], *, tables: bool = True) -> tuple[int, int, dict[str, Any]]:
    """The version, row count and (unless ``tables`` is false) string tables at a block's start."""
    magic, version, n, table_len = _HEADER.unpack(read(_HEADER.size))
    if magic != _MAGIC or version not in _READABLE:
        raise CorruptBlock(f"unknown record block format {magic!r} v{version}")
    if n > MAX_ROWS:
        # Version 3 stores nothing per row for a constant column: a wrong count would size arrays.
        raise CorruptBlock(f"record block claims {n} rows, more than the {MAX_ROWS} a block may hold")
    text = read(table_len)
    if not tables:
        return version, n, {}
    try:
        return version, n, json.loads(text)
    except ValueError as error:
        raise CorruptBlock(f"record block tables cannot be read: {error}") from error


def decode_columns(blob: bytes) -> BlockColumns:
    """Decode a blob written by ``encode_columns`` (version 3) or by an earlier writer (1 or 2)."""
    try:
        data = zlib.decompress(blob)
    except zlib.error as error:
        raise CorruptBlock(f"record block cannot be read: {error}") from error
    reader = _Bytes(data, 0)
    version, n, tables = _head(reader.read)
    if version == 3:
        columns = [_unstepped(reader.read, n, at) for at in range(len(_COLUMN_TYPES))]
        if reader.position != len(data):
            raise CorruptBlock(f"record block of {n} rows has {len(data) - reader.position} bytes too many")
        return _columns(columns, tables)
    if len(data) != reader.position + n * _ROW_BYTES:
        raise CorruptBlock(f"record block of {n} rows has {len(data)} bytes")
    stored = []
    for dtype in _COLUMN_TYPES:
        if version == 1:
            stored.append(np.frombuffer(reader.read(n * dtype.itemsize), dtype=dtype))
        else:
            stored.append(_unshuffled(data, reader.position, n, dtype))
            reader.position += n * dtype.itemsize
    # Timestamps are deltas (the first value absolute) in versions 1 and 2; offsets in version 2.
    summed = _STEPPED if version == 2 else {0}
    return _columns(
        [
            np.cumsum(column, dtype=np.int64) if at in summed else column.astype(dtype.type, copy=False)
            for at, (column, dtype) in enumerate(zip(stored, _COLUMN_TYPES, strict=True))
        ],
        tables,
    )


def _unstepped(read: Callable[[int], bytes], n: int, at: int) -> npt.NDArray[Any]:
    """Column ``at`` of a version 3 block, its bytes taken by ``read``."""
    dtype = _COLUMN_TYPES[at]
    if at not in _STEPPED:
        return _unplaned(read, n, dtype).astype(dtype.type, copy=False)
    (base,) = _BASE.unpack(read(_BASE.size))
    values = np.cumsum(_unplaned(read, n, dtype), dtype=np.int64)
    values += np.int64(base)  # wraps around as the steps did
    return values


def _columns(values: list[Any], tables: Any) -> BlockColumns:
    """The decoded columns and string tables as a ``BlockColumns``, once the tables have the shape
    ``encode_columns`` writes and every index points into its table (else ``CorruptBlock``)."""
    strings: list[Any] = [tables.get(key) if isinstance(tables, dict) else None for key in ("c", "s", "i")]
    extras: Any = tables.get("x") if isinstance(tables, dict) else None
    tables_ok = all(isinstance(table, list) and all(isinstance(v, str) for v in table) for table in strings)
    if not tables_ok or not (
        isinstance(extras, dict) and all(isinstance(extra, dict) for extra in extras.values())
    ):
        raise CorruptBlock("record block tables are not the string tables and extras of a block")
    for indexes, table in zip(values[5:], strings, strict=True):
        if len(indexes) and (int(indexes.min()) < _NULL or int(indexes.max()) >= len(table)):
            raise CorruptBlock(f"record block indexes a table of {len(table)} strings out of range")
    try:
        keyed = {int(i): extra for i, extra in extras.items()}
    except ValueError as error:
        raise CorruptBlock(f"record block extras are not keyed by row: {error}") from error
    compressions, sources, ingestions = strings
    return _columns_of(values, compressions, sources, ingestions, keyed)


def _columns_of(
    arrays: list[Any],
    compressions: list[str],
    sources: list[str],
    ingestions: list[str],
    extras: dict[int, Any],
) -> BlockColumns:
    """A ``BlockColumns`` of arrays in ``BlockColumns.arrays()`` order."""
    timestamps, data_offsets, data_lengths, chunk_offsets, chunk_lengths, *indexes = arrays
    compression_ix, source_ix, ingestion_ix = indexes
    return BlockColumns(
        timestamps,
        data_offsets,
        data_lengths,
        chunk_offsets,
        chunk_lengths,
        compression_ix,
        source_ix,
        ingestion_ix,
        compressions,
        sources,
        ingestions,
        extras,
    )


class DecodedBlocks:
    """The decoded blocks a warm function keeps, by blob: the stored bytes themselves are the key, so a
    block rewritten under the same item key is another entry and nothing can be stale. The least
    recently used go first once the kept blocks weigh more than ``max_bytes`` (their blobs, ~52 bytes
    a row of columns and ~2.5 KB of objects each). Paging through a bucket of ~8,000 records 1,000 at
    a time decodes its block once instead of eight times.

    Only blocks without per-record extras are kept (records of commands may change those dicts), and
    their arrays are made read-only: every reader shares them.
    """

    def __init__(self, max_bytes: int) -> None:
        self.hits = self.misses = 0
        self._blocks: WeighedLru[bytes, BlockColumns] = WeighedLru(max_bytes, self.weight)

    @staticmethod
    def weight(blob: bytes, columns: BlockColumns) -> int:
        """What keeping a block costs: its blob (the key), its columns and the objects around them."""
        return len(blob) + _ROW_BYTES * len(columns) + _BLOCK_OVERHEAD_BYTES

    def __len__(self) -> int:
        return len(self._blocks)

    def get(self, blob: bytes) -> BlockColumns | None:
        """The kept columns of ``blob``, or None (without decoding)."""
        return self._blocks.get(blob)

    def decode(self, blob: bytes) -> BlockColumns:
        """``decode_columns(blob)``, from the kept blocks when it is there."""
        columns = self._blocks.get(blob)
        if columns is not None:
            self.hits += 1
            return columns
        self.misses += 1
        columns = decode_columns(blob)
        if columns.extras or self.weight(blob, columns) > self._blocks.max_weight:
            return columns
        for array in columns.arrays():
            array.flags.writeable = False
        self._blocks.put(blob, columns)
        return columns

    def clear(self) -> None:
        self._blocks.clear()
        self.hits = self.misses = 0


#: Bytes of decoded blocks a warm function keeps: about 75 buckets of 8,000 ingested records, or
#: ~13,000 small blocks (sparse topics, records made through the API).
DECODED_BLOCK_BYTES = 32 * 2**20
_BLOCK_OVERHEAD_BYTES = 2_560
decoded_blocks = DecodedBlocks(DECODED_BLOCK_BYTES)


def decode_timestamps(blob: bytes) -> Int64s:
    """Only the timestamps of a blob: its first column, so only the start of the zlib stream is
    inflated (a count at a window's edge needs no other column)."""
    stream = _Inflating(blob)
    version, n, _ = _head(stream.read, tables=False)
    if version == 3:
        return _unstepped(stream.read, n, 0)
    if version == 2:
        deltas = _unshuffled(stream.read(8 * n), 0, n, _I64)
    else:
        deltas = np.frombuffer(stream.read(8 * n), dtype=_I64)
    return np.cumsum(deltas, dtype=np.int64)


def encode_rows(rows: list[RecordRow]) -> bytes:
    """Encode rows (already in block order) into one compressed blob."""
    return encode_columns(BlockColumns.from_rows(rows))


def decode_rows(blob: bytes) -> list[RecordRow]:
    """Decode a blob written by ``encode_rows``."""
    return decode_columns(blob).rows()
