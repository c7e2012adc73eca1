"""The few Arrow columns the query views need, built from numpy buffers with nanoarrow (no pyarrow).

DuckDB scans any object that speaks the Arrow PyCapsule interface (``__arrow_c_schema__``,
``__arrow_c_stream__``) without importing pyarrow, so the views hand it C arrays made here: numpy
arrays are wrapped as Arrow buffers without a copy (an int64 column of a record block is its buffer),
nulls become validity bitmaps, text columns offsets and bytes. pyarrow alone is ~150 MB unpacked and
would not fit next to DuckDB in Lambda's 250 MB for a function and its layers; nanoarrow is ~4 MB.

Column types (``ColumnType``): text, int64, float64, bool, JSON (Arrow's ``arrow.json`` extension
type, which DuckDB reads as its JSON type) and instants (microseconds, UTC: ``TIMESTAMPTZ``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from functools import cached_property
from typing import Any

import nanoarrow as na
import numpy as np
import numpy.typing as npt
from nanoarrow.c_array_stream import CArrayStream

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Largest text column of one batch (bytes): 32-bit offsets.
MAX_TEXT_BYTES = 2**31 - 1


class ColumnType(Enum):
    """A view column's type: its Arrow type and the DuckDB type it is read as."""

    STRING = "VARCHAR"
    INT64 = "BIGINT"
    FLOAT64 = "DOUBLE"
    BOOL = "BOOLEAN"
    JSON = "JSON"
    INSTANT = "TIMESTAMPTZ"

    @property
    def sql(self) -> str:
        return self.value

    def arrow(self) -> Any:
        if self is ColumnType.STRING:
            return na.string()
        if self is ColumnType.INT64:
            return na.int64()
        if self is ColumnType.FLOAT64:
            return na.float64()
        if self is ColumnType.BOOL:
            return na.bool_()
        if self is ColumnType.JSON:
            return na.extension_type(na.string(), "arrow.json")
        return na.timestamp("us", timezone="UTC")


STRING, INT64, FLOAT64, BOOL, JSON, INSTANT = (
    ColumnType.STRING,
    ColumnType.INT64,
    ColumnType.FLOAT64,
    ColumnType.BOOL,
    ColumnType.JSON,
    ColumnType.INSTANT,
)


@dataclass(frozen=True)
class Schema:
    """Named, typed columns: a view's, or the part of it a partition builds."""

    columns: tuple[tuple[str, ColumnType], ...]

    @classmethod
    def of(cls, columns: Iterable[tuple[str, ColumnType]]) -> Schema:
        return cls(tuple(columns))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def type_of(self, name: str) -> ColumnType | None:
        return next((kind for column, kind in self.columns if column == name), None)

    def without(self, names: Iterable[str]) -> Schema:
        left_out = set(names)
        return Schema(tuple(column for column in self.columns if column[0] not in left_out))

    @cached_property
    def c_schema(self) -> Any:
        """The nanoarrow C schema of a record batch of these columns."""
        return na.c_schema(na.struct({name: kind.arrow() for name, kind in self.columns}))

    def __arrow_c_schema__(self) -> object:
        return self.c_schema.__arrow_c_schema__()


@dataclass(frozen=True)
class Column:
    """One column's Arrow buffers (validity bitmap or None, then the type's buffers)."""

    length: int
    buffers: tuple[Any, ...]
    null_count: int = 0


@dataclass(frozen=True)
class Batch:
    """Columns of equal length in a schema's order, as one Arrow record batch."""

    schema: Schema
    columns: Sequence[Column]
    length: int = field(init=False)

    def __post_init__(self) -> None:
        if len(self.columns) != len(self.schema.columns):
            raise ValueError(f"{len(self.columns)} columns given for a schema of {len(self.schema.columns)}")
        lengths = {column.length for column in self.columns}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        object.__setattr__(self, "length", lengths.pop() if lengths else 0)

    def c_array(self) -> Any:
        schema = self.schema.c_schema
        children = [
            na.c_array_from_buffers(schema.child(i), column.length, column.buffers, column.null_count)
            for i, column in enumerate(self.columns)
        ]
        return na.c_array_from_buffers(schema, self.length, [None], 0, children=children)


def batch(schema: Schema, columns: Mapping[str, Column]) -> Batch:
    """A batch of ``schema`` from its columns by name."""
    missing = [name for name in schema.names if name not in columns]
    if missing:
        raise ValueError(f"no column for {missing}")
    return Batch(schema, [columns[name] for name in schema.names])


def stream(schema: Schema, batches: Iterable[Batch]) -> Any:
    """The batches as an Arrow C stream of ``schema`` (a nanoarrow ``CArrayStream``)."""
    arrays = []
    for item in batches:
        if item.schema != schema:
            raise TypeError(f"a batch of {item.schema.names} was built for a stream of {schema.names}")
        arrays.append(item.c_array())
    return CArrayStream.from_c_arrays(arrays, schema.c_schema, validate=False)


# -- columns ----------------------------------------------------------------------------------------


def _validity(nulls: npt.NDArray[np.bool_] | None, length: int) -> tuple[Any, int]:
    if nulls is None:
        return None, 0
    count = int(np.count_nonzero(nulls))
    if count == 0:
        return None, 0
    return np.packbits(~nulls, bitorder="little"), count


def int64s(values: npt.ArrayLike, nulls: npt.NDArray[np.bool_] | None = None) -> Column:
    """An int64 column (the array as it is, without a copy when it is int64 already)."""
    array = np.ascontiguousarray(values, dtype=np.int64)
    validity, count = _validity(nulls, len(array))
    return Column(len(array), (validity, array), count)


def float64s(values: npt.ArrayLike, nulls: npt.NDArray[np.bool_] | None = None) -> Column:
    array = np.ascontiguousarray(values, dtype=np.float64)
    validity, count = _validity(nulls, len(array))
    return Column(len(array), (validity, array), count)


def bools(values: npt.ArrayLike, nulls: npt.NDArray[np.bool_] | None = None) -> Column:
    array = np.asarray(values, dtype=np.bool_)
    validity, count = _validity(nulls, len(array))
    return Column(len(array), (validity, np.packbits(array, bitorder="little")), count)


def _text(lengths: npt.NDArray[np.int64], data: npt.NDArray[np.uint8], nulls: Any) -> Column:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] > MAX_TEXT_BYTES:
        raise ValueError(f"a text column of {offsets[-1]} bytes does not fit one batch")
    validity, count = _validity(nulls, len(lengths))
    return Column(len(lengths), (validity, offsets.astype(np.int32), data), count)


def strings(values: Sequence[str | None]) -> Column:
    """A text column of Python strings (None: null)."""
    encoded = [b"" if value is None else value.encode("utf-8") for value in values]
    lengths = np.fromiter((len(item) for item in encoded), dtype=np.int64, count=len(encoded))
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    nulls = np.fromiter((value is None for value in values), dtype=np.bool_, count=len(values))
    return _text(lengths, data, nulls)


def table_strings(indexes: npt.NDArray[Any], table: Sequence[str]) -> Column:
    """A text column of a block's string table and its per-row indexes (-1: null), gathered with numpy
    (no Python object per row)."""
    indexes = np.asarray(indexes, dtype=np.int64)
    missing = indexes < 0
    if missing.all():
        return nulls(len(indexes))
    encoded = [value.encode("utf-8") for value in table] or [b""]
    if len(indexes) and indexes[0] >= 0 and not np.any(indexes != indexes[0]):
        # One entry in every row (a block's topic, its ingestion): its bytes repeated, no gather.
        entry, rows = encoded[int(indexes[0])], len(indexes)
        if len(entry) * rows > MAX_TEXT_BYTES:
            raise ValueError(f"a text column of {len(entry) * rows} bytes does not fit one batch")
        offsets = np.arange(0, len(entry) * (rows + 1), len(entry) or 1, dtype=np.int32)[: rows + 1]
        if not entry:
            offsets = np.zeros(rows + 1, dtype=np.int32)
        return Column(rows, (None, offsets, np.frombuffer(entry * rows, dtype=np.uint8)), 0)
    entry_lengths = np.array([len(item) for item in encoded], dtype=np.int64)
    entry_starts = np.zeros(len(encoded), dtype=np.int64)
    np.cumsum(entry_lengths[:-1], out=entry_starts[1:])
    pool = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    safe = np.where(missing, 0, indexes)
    lengths = np.where(missing, 0, entry_lengths[safe])
    total = int(lengths.sum())
    # Byte k of the column is pool[start of its row's entry + k - start of its row in the column].
    row_starts = np.cumsum(lengths) - lengths
    shift = np.repeat(entry_starts[safe] - row_starts, lengths)
    data = pool[np.arange(total, dtype=np.int64) + shift] if total else np.zeros(0, dtype=np.uint8)
    return _text(lengths, data, missing)


def nulls(length: int) -> Column:
    """A text (or JSON) column of ``length`` nulls."""
    return Column(
        length,
        (_zeros(np.uint8, (length + 7) // 8), _zeros(np.int32, length + 1), _zeros(np.uint8, 0)),
        length,
    )


def null_column(kind: ColumnType, length: int) -> Column:
    """A column of ``kind`` holding ``length`` nulls (its buffers share one read-only block of zeros)."""
    if kind in (STRING, JSON):
        return nulls(length)
    validity = _zeros(np.uint8, (length + 7) // 8)
    if kind is BOOL:
        return Column(length, (validity, validity), length)
    return Column(length, (validity, _zeros(np.float64 if kind is FLOAT64 else np.int64, length)), length)


#: Zero bytes that null columns' buffers are read-only views of, grown to the largest asked for.
_zero_bytes = np.zeros(0, dtype=np.uint8)


def _zeros(dtype: type[np.generic], count: int) -> npt.NDArray[Any]:
    """``count`` zeros of ``dtype``, read-only, without allocating unless more are needed than ever."""
    global _zero_bytes
    size = count * np.dtype(dtype).itemsize
    zeros = _zero_bytes
    if len(zeros) < size:
        zeros = np.zeros(max(size, 2 * len(zeros)), dtype=np.uint8)
        zeros.flags.writeable = False
        _zero_bytes = zeros  # a thread that grew it at the same time keeps its own
    return zeros[:size].view(dtype)


def json_texts(values: Sequence[Any]) -> Column:
    """A JSON column of Python values (None: SQL null), as compact JSON text."""
    return strings([None if value is None else json_text(value) for value in values])


def json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def instants(values: Sequence[datetime | None]) -> Column:
    """A ``TIMESTAMPTZ`` column (microseconds since the epoch, UTC)."""
    micros = [0 if value is None else _micros(value) for value in values]
    nulls = np.fromiter((value is None for value in values), dtype=np.bool_, count=len(values))
    return int64s(np.array(micros, dtype=np.int64), nulls)


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{moment} has no time zone")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def values_column(kind: ColumnType, values: Sequence[Any]) -> Column:
    """A column of ``kind`` from Python values (None: null), for the few rows of resources."""
    if kind is STRING:
        return strings([None if value is None else str(value) for value in values])
    if kind is JSON:
        return json_texts(values)
    if kind is INSTANT:
        return instants(values)
    nulls = np.fromiter((value is None for value in values), dtype=np.bool_, count=len(values))
    filled = [0 if value is None else value for value in values]
    if kind is INT64:
        return int64s(np.array(filled, dtype=np.int64), nulls)
    if kind is FLOAT64:
        return float64s(np.array(filled, dtype=np.float64), nulls)
    return bools(np.array(filled, dtype=np.bool_), nulls)


def rows_batch(schema: Schema, rows: Sequence[Mapping[str, Any]]) -> Batch:
    """A batch of ``schema`` from rows (mappings; a missing key is null)."""
    return Batch(
        schema, [values_column(kind, [row.get(name) for row in rows]) for name, kind in schema.columns]
    )
