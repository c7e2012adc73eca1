"""A part's messages as record blocks: numpy columns sorted once and cut by topic and time bucket.

Every message becomes a row of numpy columns (no object per message); the part's rows are sorted once by
(topic, bucket, record order) and cut into blocks of one topic and bucket, each within DynamoDB's item
size. Only the topics that opted in to stored ``query_data`` have their rows made into objects, to decode
their messages (decision 32).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
import numpy.typing as npt

from openlqs.errors import BadLogFile
from openlqs.formats.base import ChunkColumns
from openlqs.formats.messages import MessageDecodeError, decode_message, encoding_of, to_json_value
from openlqs.models.resources import Topic
from openlqs.records.blocks import RecordBlock
from openlqs.records.codec import BlockColumns, encode_columns
from openlqs.records.reading import ChunkCache, RecordBytesReader
from openlqs.records.rows import RecordRow

#: A block holds at most this many records; a busier bucket run is split into more segments.
MAX_BLOCK_RECORDS = 10_000
#: ...and at most this many encoded bytes (DynamoDB items are <= 400 KB): a block over it (columns that
#: do not compress, ~52 bytes a row at worst) is cut in halves until each fits.
MAX_BLOCK_BLOB_BYTES = 300_000
#: Stored ``query_data`` JSON a block holds at most (before compression; DynamoDB items are ≤ 400 KB).
MAX_BLOCK_EXTRA_BYTES = 192 * 1024
#: Decompressed chunks a part keeps while it decodes opted-in topics' messages.
PART_CHUNK_CACHE_BYTES = 32 * 1024 * 1024
#: Records per time bucket a topic's bucket width aims at: about one block (and one DynamoDB write
#: request) per 8,000 records, a page of 1,000 records within one or two blocks, and few items per
#: topic for a Query to go through (decision 32).
RECORDS_PER_BUCKET = 8_000
MIN_BUCKET_WIDTH_NS = 1_000_000  # 1 ms
MAX_BUCKET_WIDTH_NS = 86_400 * 1_000_000_000  # 1 day

Int64s = npt.NDArray[np.int64]


def bucket_width_for(count: int, duration_ns: int) -> int:
    """A bucket width holding about ``RECORDS_PER_BUCKET`` records at the topic's average rate."""
    if count <= 1 or duration_ns <= 0:
        return MAX_BUCKET_WIDTH_NS
    width = duration_ns * RECORDS_PER_BUCKET // count
    return max(MIN_BUCKET_WIDTH_NS, min(MAX_BUCKET_WIDTH_NS, width))


def split_block_rows(rows: list[RecordRow]) -> list[list[RecordRow]]:
    """Rows cut into blocks of at most ``MAX_BLOCK_RECORDS`` rows and ``MAX_BLOCK_EXTRA_BYTES`` of stored
    JSON (``query_data``), so that a block stays well inside DynamoDB's 400 KB item."""
    blocks: list[list[RecordRow]] = []
    current: list[RecordRow] = []
    extra_bytes = 0
    for row in rows:
        size = len(json.dumps(row.extra, separators=(",", ":"))) if row.extra else 0
        if current and (len(current) >= MAX_BLOCK_RECORDS or extra_bytes + size > MAX_BLOCK_EXTRA_BYTES):
            blocks.append(current)
            current, extra_bytes = [], 0
        current.append(row)
        extra_bytes += size
    if current:
        blocks.append(current)
    return blocks


def fit_block(columns: BlockColumns) -> list[tuple[BlockColumns, bytes]]:
    """The block's rows with their encoding, cut in halves until each encodes to at most
    ``MAX_BLOCK_BLOB_BYTES``."""
    blob = encode_columns(columns)
    if len(blob) <= MAX_BLOCK_BLOB_BYTES or len(columns) == 1:
        return [(columns, blob)]
    half = len(columns) // 2
    return fit_block(columns.slice(0, half)) + fit_block(columns.slice(half, len(columns)))


def stored_query_data(topic: Topic, data: bytes) -> dict[str, Any] | None:
    """``{"query_data": ...}`` for a record of an opted-in topic; None when it does not decode (the
    record then reports the error when read)."""
    encoding = encoding_of(topic.type_encoding, topic.type_name, topic.type_data)
    if encoding is None:
        return None  # bytes only (protobuf…): nothing to store
    try:
        plain = decode_message(encoding, topic.type_name, topic.type_data, data)
    except MessageDecodeError:
        return None
    return {"query_data": to_json_value(plain)}


@dataclass
class PartColumns:
    """Every message of a part as numpy columns, with its topic as an index into the part's topics."""

    topic: Int64s
    timestamps: Int64s
    data_offsets: Int64s
    data_lengths: Int64s
    chunk_offsets: Int64s
    chunk_lengths: Int64s
    compression_ix: npt.NDArray[np.int32]
    #: The chunk compressions ``compression_ix`` points into.
    compressions: list[str]


def part_columns(chunks: Iterable[ChunkColumns], topic_of_channel: dict[int, int]) -> PartColumns:
    """The chunks' messages as columns; ``topic_of_channel`` maps channel ids to topic indexes.

    A message of a channel the plan did not see is ``BadLogFile``.
    """
    known = sorted(topic_of_channel.items())
    # Channel ids are u32s the file chooses: looked up by binary search, not by an array that large.
    known_ids = np.array([channel for channel, _ in known] or [-1], dtype=np.int64)
    known_topics = np.array([topic for _, topic in known] or [-1], dtype=np.int64)
    compressions: list[str] = []
    pieces: dict[str, list[Any]] = defaultdict(list)
    for chunk in chunks:
        n = len(chunk.timestamps)
        if not n:
            continue
        ids = np.array(chunk.connection_ids, dtype=np.int64)
        at = np.minimum(np.searchsorted(known_ids, ids), len(known_ids) - 1)
        topics = np.where(known_ids[at] == ids, known_topics[at], -1)
        if (topics < 0).any():
            bad = int(np.flatnonzero(topics < 0)[0])
            position = int(chunk.offsets[bad] if chunk.compression is None else chunk.chunk_start)
            raise BadLogFile(
                f"A message at byte {position} uses unknown connection {ids[bad]}.",
                payload={"offset": position, "channel_id": int(ids[bad])},
            )
        offsets = np.array(chunk.offsets, dtype=np.int64)
        lengths = np.array(chunk.lengths, dtype=np.int64)
        pieces["topic"].append(topics)
        pieces["timestamps"].append(np.array(chunk.timestamps, dtype=np.int64))
        if chunk.compression is None:
            pieces["data_offsets"].append(offsets)
            pieces["data_lengths"].append(lengths)
            pieces["chunk_offsets"].append(np.full(n, -1, dtype=np.int64))
            pieces["chunk_lengths"].append(np.full(n, -1, dtype=np.int64))
            pieces["compression_ix"].append(np.full(n, -1, dtype=np.int32))
        else:
            if chunk.compression not in compressions:
                compressions.append(chunk.compression)
            pieces["data_offsets"].append(np.full(n, chunk.chunk_start, dtype=np.int64))
            pieces["data_lengths"].append(np.full(n, chunk.chunk_length, dtype=np.int64))
            pieces["chunk_offsets"].append(offsets)
            pieces["chunk_lengths"].append(lengths)
            pieces["compression_ix"].append(np.full(n, compressions.index(chunk.compression), dtype=np.int32))

    def column(name: str, dtype: Any = np.int64) -> Any:
        return np.concatenate(pieces[name]) if pieces[name] else np.zeros(0, dtype=dtype)

    return PartColumns(
        column("topic"),
        column("timestamps"),
        column("data_offsets"),
        column("data_lengths"),
        column("chunk_offsets"),
        column("chunk_lengths"),
        column("compression_ix", np.int32),
        compressions,
    )


@dataclass(frozen=True)
class TopicStats:
    """What a part holds of one topic."""

    count: int
    size: int
    start: int
    end: int

    def to_json(self) -> dict[str, int]:
        return {"count": self.count, "size": self.size, "start": self.start, "end": self.end}

    def merged(self, other: TopicStats) -> TopicStats:
        """What two runs of a part hold of the topic together."""
        return TopicStats(
            self.count + other.count,
            self.size + other.size,
            min(self.start, other.start),
            max(self.end, other.end),
        )


@dataclass(frozen=True)
class PartBlocks:
    """A part's record blocks and, per topic id, what they hold."""

    blocks: list[RecordBlock]
    stats: dict[UUID, TopicStats]

    @property
    def record_count(self) -> int:
        return sum(stat.count for stat in self.stats.values())


@dataclass(frozen=True)
class BlockBuilder:
    """Builds the record blocks of one part of one ingestion.

    ``segment`` gives the segment id of the k-th block of a (topic, bucket) of this part (a re-run
    writes exactly the same item keys); ``read_bytes`` gives a message's bytes at a file offset (the
    part's data), for the topics in ``query_data_topics``, whose small messages (up to
    ``query_data_max_bytes``) get their ``query_data`` stored.
    """

    ingestion_id: UUID
    segment: Callable[[int], str]
    created_at: datetime
    source: str | None = None
    query_data_topics: dict[UUID, Topic] | None = None
    query_data_max_bytes: int = 1024
    read_bytes: Callable[[int, int], bytes] | None = None

    def build(self, columns: PartColumns, topic_ids: list[UUID], widths: dict[UUID, int]) -> PartBlocks:
        widths_by_index = np.array([widths[topic_id] for topic_id in topic_ids], dtype=np.int64)
        topics = columns.topic
        buckets = columns.timestamps // widths_by_index[topics] if len(topics) else topics
        order = np.lexsort((columns.chunk_offsets, columns.data_offsets, columns.timestamps, buckets, topics))
        topics, buckets = topics[order], buckets[order]
        n = len(order)
        rows = BlockColumns(
            columns.timestamps[order],
            columns.data_offsets[order],
            columns.data_lengths[order],
            columns.chunk_offsets[order],
            columns.chunk_lengths[order],
            columns.compression_ix[order],
            np.full(n, -1 if self.source is None else 0, dtype=np.int32),
            np.zeros(n, dtype=np.int32),
            list(columns.compressions),
            [] if self.source is None else [self.source],
            [str(self.ingestion_id)],
        )
        # Where (topic, bucket) changes: the runs of rows of one block key.
        cuts = np.flatnonzero((np.diff(topics) != 0) | (np.diff(buckets) != 0)) + 1
        starts = [0, *cuts.tolist()]
        stops = [*cuts.tolist(), n]
        blocks: list[RecordBlock] = []
        stats: dict[UUID, TopicStats] = {}
        reader = self._reader() if self.query_data_topics else None
        for start, stop in zip(starts, stops, strict=True):
            if start == stop:
                continue
            topic_id, bucket = topic_ids[int(topics[start])], int(buckets[start])
            run = rows.slice(start, stop)
            for k, (piece, blob) in enumerate(self._fitted(topic_id, run, reader)):
                blocks.append(
                    RecordBlock(
                        topic_id, bucket, self.segment(k), None, self.created_at, columns=piece, blob=blob
                    )
                )
            timestamps = run.timestamps
            seen = stats.get(topic_id)
            first, last = int(timestamps[0]), int(timestamps[-1])
            stats[topic_id] = TopicStats(
                (seen.count if seen else 0) + len(run),
                (seen.size if seen else 0) + run.message_bytes(),
                min(seen.start, first) if seen else first,
                max(seen.end, last) if seen else last,
            )
        return PartBlocks(blocks, stats)

    def _fitted(
        self, topic_id: UUID, run: BlockColumns, reader: RecordBytesReader[RecordRow, None] | None
    ) -> list[tuple[BlockColumns, bytes]]:
        topic = (self.query_data_topics or {}).get(topic_id)
        if topic is None or reader is None:
            firsts = range(0, len(run), MAX_BLOCK_RECORDS)
            runs = [run.slice(i, min(i + MAX_BLOCK_RECORDS, len(run))) for i in firsts]
        else:
            decoded = self._decoded_rows(topic, run, reader)
            runs = [BlockColumns.from_rows(rows) for rows in split_block_rows(decoded)]
        return [piece for columns in runs for piece in fit_block(columns)]

    def _reader(self) -> RecordBytesReader[RecordRow, None]:
        """Message bytes of the part's records; each compressed chunk decompressed once."""
        if self.read_bytes is None:
            raise ValueError("stored query_data needs the part's bytes (read_bytes)")
        read = self.read_bytes
        return RecordBytesReader(
            lambda row: None,
            lambda _, offset, length: read(offset, length),
            ChunkCache(PART_CHUNK_CACHE_BYTES),
        )

    def _decoded_rows(
        self, topic: Topic, run: BlockColumns, reader: RecordBytesReader[RecordRow, None]
    ) -> list[RecordRow]:
        """The run's rows, the small ones with their ``query_data`` stored."""
        rows = run.rows()
        for row in rows:
            if row.message_size <= self.query_data_max_bytes:
                row.extra = stored_query_data(topic, reader.record_bytes(row, None))
        return rows
