"""In-memory shapes of records: one record as stored, a block's index entry, totals.

A leaf module: the block codec and the record block both build on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Sorts rows without a file position after those with one at the same timestamp.
NO_POSITION = 1 << 62


@dataclass(slots=True)
class RecordRow:
    """One record as stored: where its message lies in the log object, plus optional user fields.

    ``extra`` holds the rarely set per-record fields (note, context, query_data, auxiliary_data,
    error, lock fields, updated_at/created_at overrides) so that ingested records cost only columns.
    """

    timestamp: int
    data_offset: int | None = None
    data_length: int | None = None
    chunk_compression: str | None = None
    chunk_offset: int | None = None
    chunk_length: int | None = None
    source: str | None = None
    ingestion_id: str | None = None
    extra: dict[str, Any] | None = None

    @property
    def message_size(self) -> int:
        """Size of the message itself (inside its chunk when compressed), for ``record_size``."""
        if self.chunk_compression is not None:
            return self.chunk_length or 0
        return self.data_length or 0

    def located(self) -> dict[str, Any]:
        """The record's wire fields a row always has: its time, ingestion and where its bytes are."""
        return {
            "timestamp": self.timestamp,
            "ingestion_id": self.ingestion_id,
            "data_offset": self.data_offset,
            "data_length": self.data_length,
            "chunk_compression": self.chunk_compression,
            "chunk_offset": self.chunk_offset,
            "chunk_length": self.chunk_length,
            "source": self.source,
        }

    def order_key(self) -> tuple[int, int, int]:
        """Time order; records with equal timestamps keep their position in the file."""
        return (
            self.timestamp,
            self.data_offset if self.data_offset is not None else NO_POSITION,
            self.chunk_offset if self.chunk_offset is not None else -1,
        )


def bucket_of(timestamp: int, bucket_width_ns: int) -> int:
    return timestamp // bucket_width_ns


@dataclass(frozen=True, slots=True)
class BlockStats:
    """What the ``BlockStats`` index holds of a block: its key, row count and time range."""

    bucket: int
    segment: str
    n: int
    min_ts: int
    max_ts: int

    def within(self, low: int | None, high: int | None) -> bool:
        return (low is None or self.min_ts >= low) and (high is None or self.max_ts <= high)


@dataclass(frozen=True)
class RecordSummary:
    """Totals over a set of records (a topic's, for its statistics)."""

    count: int = 0
    size: int = 0
    start_time: int | None = None
    end_time: int | None = None

    def __add__(self, other: RecordSummary) -> RecordSummary:
        starts = [t for t in (self.start_time, other.start_time) if t is not None]
        ends = [t for t in (self.end_time, other.end_time) if t is not None]
        return RecordSummary(
            self.count + other.count,
            self.size + other.size,
            min(starts) if starts else None,
            max(ends) if ends else None,
        )
