"""What every log format gives the pipeline: its channels, its chunk spans, and record columns.

A format (a ROS 1 bag, an MCAP file) is read in two steps, both without I/O of their own: callers hand in
a :class:`ByteSource` (S3 range reads, a local file) or a byte range already read.

1. ``read_index`` reads the file's index with a few range reads: the channels (a ROS 1 connection, an
   MCAP channel: a topic name with its type) and the spans (chunks) with their byte ranges, time ranges
   and message counts. A file without a usable index is salvaged by a sequential scan of its complete
   records, and says so (``salvaged``, ``ignored_bytes``).
2. ``index_columns`` indexes the messages of a byte range made of whole spans into
   :class:`ChunkColumns`, one per chunk: where each message's bytes are, in LogQS record terms.

Nothing past this module knows which format it indexes: the pipeline, the record blocks and the
reading core see channels, spans and columns only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt


class ByteSource(Protocol):
    """Random access to a log file's bytes (an S3 object, a local file)."""

    @property
    def size(self) -> int: ...

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``start`` (inclusive) to ``end`` (exclusive), fewer only at the end of the file."""
        ...


#: How much a salvage scan reads at a time.
SCAN_WINDOW_BYTES = 16 * 1024 * 1024


class ScanWindow:
    """Serves the small reads of a sequential scan from large range reads of a :class:`ByteSource`."""

    def __init__(self, source: ByteSource, size: int = SCAN_WINDOW_BYTES) -> None:
        self.source = source
        self.size = size
        self.start = 0
        self.buffer = b""

    def at(self, start: int, end: int) -> tuple[bytes, int]:
        """A buffer holding file bytes ``start`` to ``end`` (when the file has them) and where ``start``
        is in it: a scan unpacks small fields in place, without a copy."""
        if not (self.start <= start and end <= self.start + len(self.buffer)):
            self.start = start
            self.buffer = self.source.read(start, min(self.source.size, max(end, start + self.size)))
        return self.buffer, start - self.start

    def read(self, start: int, end: int) -> bytes:
        """File bytes ``start`` to ``end`` (fewer at the end of the file)."""
        buffer, at = self.at(start, end)
        return buffer[at : at + end - start]


@dataclass(frozen=True)
class Channel:
    """One stream of messages of a log (a ROS 1 connection, an MCAP channel): a topic name and its type.

    ``type_encoding`` is one of the contract's values (``ros1``, ``cdr``, ``json``) or None for messages
    openlqs keeps as bytes only; ``context`` holds what the format knows beyond the contract's fields
    (a ROS 1 md5sum, an MCAP message and schema encoding), and goes to the topic's ``context``.
    """

    id: int
    topic: str
    type_name: str | None
    type_encoding: str | None
    type_data: str | None
    type_schema: dict[str, Any] | None = None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Span:
    """A chunk and what it holds: byte range in the file, time range, messages per channel id.

    ``counted`` is False when the file does not say how many messages the chunk holds (an MCAP chunk
    without message indexes): ``counts`` are then an estimate, apportioned from totals the file states
    for all such chunks together (so their sum over the spans is exact), or empty when it states none.
    """

    start: int
    end: int
    start_time: int
    end_time: int
    counts: dict[int, int]
    counted: bool = True

    @property
    def message_count(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class LogIndex:
    """What planning needs of a log file: its channels and its spans (chunks), in file order."""

    format: str
    file_size: int
    channels: dict[int, Channel]
    spans: list[Span]
    #: True when the index was missing or unusable and the spans were found by a scan.
    salvaged: bool = False
    #: Bytes of the file that belong to no complete span (salvage only).
    ignored_bytes: int = 0
    #: Facts for the ingestion's ``context`` (attachments, metadata records, why a scan was needed).
    context: dict[str, Any] = field(default_factory=dict)

    def topics(self) -> dict[str, list[Channel]]:
        """Channels by topic name: several publishers on one name are one topic."""
        topics: dict[str, list[Channel]] = {}
        for channel in sorted(self.channels.values(), key=lambda c: c.id):
            topics.setdefault(channel.topic, []).append(channel)
        return topics


@dataclass(slots=True)
class MessagePosition:
    """Where one message's bytes are, in LogQS record terms."""

    connection_id: int
    timestamp: int
    data_offset: int
    data_length: int
    chunk_compression: str | None
    chunk_offset: int | None
    chunk_length: int | None


Column = Sequence[int] | npt.NDArray[np.int64]


@dataclass
class ChunkColumns:
    """The messages of one chunk as columns, in file order.

    Uncompressed (``compression`` None): ``offsets`` are the messages' data offsets in the file.
    Compressed: every message shares ``chunk_start``/``chunk_length`` (the record's ``data_offset``/
    ``data_length``: what a reader decompresses) and ``offsets`` are inside the decompressed bytes.
    ``connection_ids`` are the format's channel ids.
    """

    connection_ids: Column
    timestamps: Column
    offsets: Column
    lengths: Column
    compression: str | None
    chunk_start: int
    chunk_length: int

    def positions(self) -> Iterator[MessagePosition]:
        for connection_id, timestamp, offset, length in zip(
            _ints(self.connection_ids),
            _ints(self.timestamps),
            _ints(self.offsets),
            _ints(self.lengths),
            strict=True,
        ):
            if self.compression is None:
                yield MessagePosition(connection_id, timestamp, offset, length, None, None, None)
            else:
                yield MessagePosition(
                    connection_id,
                    timestamp,
                    self.chunk_start,
                    self.chunk_length,
                    self.compression,
                    offset,
                    length,
                )


def _ints(values: Column) -> list[int]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


class LogFormat(Protocol):
    """One log format, as the registry (:mod:`openlqs.formats`) hands it to the pipeline."""

    #: The name recorded in an ingestion's plan (``ros1``, ``mcap``).
    name: str
    #: What the format is and how its files start, for error messages: ``ROS 1 bag ('#ROSBAG V2.0')``.
    description: str

    def sniff(self, head: bytes) -> bool:
        """Whether a file starting with ``head`` (at least 16 bytes when the file has them) is this format."""
        ...

    def read_index(self, source: ByteSource) -> LogIndex:
        """The file's channels and spans, from range reads (a scan when it has no usable index);
        ``BadLogFile`` when nothing of it can be indexed."""
        ...

    def index_columns(self, data: bytes, base: int) -> Iterator[ChunkColumns]:
        """Every message of ``data`` (file offset ``base``; whole spans) as columns, chunk by chunk;
        ``BadLogFile`` for a corrupt chunk."""
        ...
