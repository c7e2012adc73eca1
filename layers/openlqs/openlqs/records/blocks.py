"""A record block: a sorted run of records of one topic, one time bucket and one writer.

It is what RecordsTable stores per item; :mod:`openlqs.records.codec` encodes and decodes its rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from openlqs.records.codec import (
    BlockColumns,
    CorruptBlock,
    decode_timestamps,
    decoded_blocks,
    encode_columns,
)
from openlqs.records.rows import RecordRow


class RecordBlock:
    """A sorted run of records of one topic, one time bucket and one writer (segment).

    A block is held in one of three forms, converted on demand: the stored blob (as read), its columns
    (``BlockColumns``: what ingestion builds and queries search) or a list of ``RecordRow`` objects
    (what record commands change). Once ``rows`` is asked for, the rows are the block's content.
    ``n``, ``min_ts`` and ``max_ts`` are the stored item's attributes, known without decoding.
    """

    __slots__ = (
        "_blob",
        "_columns",
        "_rows",
        "_timestamps",
        "bucket",
        "created_at",
        "max_ts",
        "min_ts",
        "n",
        "segment",
        "size",
        "topic_id",
        "version",
    )

    def __init__(
        self,
        topic_id: UUID,
        bucket: int,
        segment: str,
        rows: list[RecordRow] | None,
        created_at: datetime,
        version: int = 0,
        size: int = 0,
        *,
        columns: BlockColumns | None = None,
        blob: bytes | None = None,
        n: int | None = None,
        min_ts: int | None = None,
        max_ts: int | None = None,
    ) -> None:
        self.topic_id = topic_id
        self.bucket = bucket
        self.segment = segment
        self.created_at = created_at
        self.version = version
        #: Encoded size in bytes, known after reading or writing.
        self.size = size
        self._rows = rows
        self._columns = columns
        self._blob = blob
        self._timestamps: Any = None
        self.n, self.min_ts, self.max_ts = n, min_ts, max_ts
        if rows is None and columns is None and blob is None:
            self._rows = []

    def __repr__(self) -> str:
        return f"<RecordBlock {self.topic_id} {self.bucket} {self.segment} n={self.count}>"

    @property
    def rows(self) -> list[RecordRow]:
        if self._rows is None:
            self._rows = self.columns.rows()
            self._columns = self._blob = None
        return self._rows

    @rows.setter
    def rows(self, rows: list[RecordRow]) -> None:
        self._rows, self._columns, self._blob = rows, None, None

    @property
    def columns(self) -> BlockColumns:
        """The block as columns: decoded from the blob once (or found in ``codec.decoded_blocks``, then
        read-only), or built from ``rows`` when they were changed."""
        if self._rows is not None:
            return BlockColumns.from_rows(self._rows)
        if self._columns is None:
            assert self._blob is not None
            self._columns = self._counted(decoded_blocks.decode(self._blob))
        return self._columns

    @property
    def timestamps(self) -> Any:
        """The rows' timestamps (numpy ``int64``), decoded alone when the other columns are not needed."""
        if self._columns is not None or self._rows is not None:
            return self.columns.timestamps
        if self._timestamps is None:
            assert self._blob is not None
            kept = decoded_blocks.get(self._blob)
            self._timestamps = self._counted(
                kept.timestamps if kept is not None else decode_timestamps(self._blob)
            )
        return self._timestamps

    def _counted(self, decoded: Any) -> Any:
        """``decoded`` (columns or timestamps), once its length is the item's stored row count."""
        if self.n is not None and len(decoded) != self.n:
            raise CorruptBlock(f"record block holds {len(decoded)} rows, its item says {self.n}")
        return decoded

    @property
    def count(self) -> int:
        if self._rows is not None:
            return len(self._rows)
        if self._columns is None and self.n is not None:
            return self.n
        return len(self.columns)

    def within(self, low: int | None, high: int | None) -> bool:
        """Whether every record lies in [low, high], known from the stored attributes without decoding."""
        if self._rows is not None or self.min_ts is None or self.max_ts is None:
            return False
        return (low is None or self.min_ts >= low) and (high is None or self.max_ts <= high)

    def sort(self) -> None:
        if self._rows is not None:
            self._rows.sort(key=RecordRow.order_key)
            return
        columns = self.columns
        ordered = columns.sorted()
        if ordered is not columns:
            self._columns, self._blob, self._timestamps = ordered, None, None

    def encoded(self) -> bytes:
        """The stored form of the block: the blob it was read or built with, unless its rows changed."""
        if self._rows is None and self._blob is not None:
            return self._blob
        blob = encode_columns(self.columns)
        if self._rows is None:
            self._blob = blob
        return blob
