"""A digestion part's index as columns: the record columns of a block plus each record's topic.

The wire form of an index is a list of 9-element arrays (``[topic_id, ingestion_id, source,
data_offset, data_length, chunk_compression, chunk_offset, chunk_length, timestamp]``), about 170 bytes
of JSON a record: 10,000 records would not fit a DynamoDB item. Stored, an index is the block codec's
columns (:mod:`openlqs.records.codec`) plus a column of topic numbers and the topic table, a few bytes
a record; it becomes tuples only when a part is fetched.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from openlqs.records.codec import BlockColumns, CorruptBlock, decode_columns, encode_columns
from openlqs.records.rows import RecordRow

_MAGIC = b"DX"
_VERSION = 1
#: Magic, version, then the length of the compressed topic part (the block's blob follows it).
_HEAD = struct.Struct("<2sBI")
_TOPICS_HEAD = struct.Struct("<II")
_NULL = -1
#: One record of the wire index.
Entry = tuple[str, str | None, str | None, int, int, str | None, int | None, int | None, int]


class CorruptIndex(ValueError):
    """A stored part index that cannot be read."""


@dataclass(eq=False)
class PartIndex:
    """Records of a digestion part in index order: ``columns`` (where each record's bytes are) and
    ``topic_ix`` (each record's topic, an index into ``topics``)."""

    columns: BlockColumns
    topic_ix: npt.NDArray[np.int32]
    topics: list[str]

    def __len__(self) -> int:
        return len(self.topic_ix)

    # -- wire form ---------------------------------------------------------------------------------
    @classmethod
    def from_entries(cls, entries: Iterable[Sequence[Any]]) -> PartIndex:
        """The index of wire entries (already validated: offsets and lengths are Int64s)."""
        topics: dict[str, int] = {}
        rows: list[RecordRow] = []
        topic_ix: list[int] = []
        for (
            topic_id,
            ingestion_id,
            source,
            offset,
            length,
            compression,
            chunk_offset,
            chunk_length,
            ts,
        ) in entries:
            topic_ix.append(topics.setdefault(str(topic_id), len(topics)))
            rows.append(
                RecordRow(
                    int(ts),
                    int(offset),
                    int(length),
                    compression,
                    chunk_offset,
                    chunk_length,
                    source,
                    None if ingestion_id is None else str(ingestion_id),
                )
            )
        return cls(BlockColumns.from_rows(rows), np.array(topic_ix, dtype=np.int32), list(topics))

    def entries(self) -> list[Entry]:
        """The wire entries, in index order."""
        c = self.columns
        # Index -1 (null) is each table's last item.
        ingestions, sources, compressions = ([*t, None] for t in (c.ingestions, c.sources, c.compressions))
        columns = zip(
            self.topic_ix.tolist(),
            c.ingestion_ix.tolist(),
            c.source_ix.tolist(),
            c.data_offsets.tolist(),
            c.data_lengths.tolist(),
            c.compression_ix.tolist(),
            c.chunk_offsets.tolist(),
            c.chunk_lengths.tolist(),
            c.timestamps.tolist(),
            strict=True,
        )
        topics = self.topics
        return [
            (
                topics[topic],
                ingestions[ingestion],
                sources[source],
                offset,
                length,
                compressions[compression],
                None if chunk_at == _NULL else chunk_at,
                None if chunk_size == _NULL else chunk_size,
                ts,
            )
            for topic, ingestion, source, offset, length, compression, chunk_at, chunk_size, ts in columns
        ]

    # -- columns -----------------------------------------------------------------------------------
    def slice(self, start: int, stop: int) -> PartIndex:
        return PartIndex(self.columns.slice(start, stop), self.topic_ix[start:stop], self.topics)

    def message_sizes(self) -> npt.NDArray[np.int64]:
        """Each record's message size: ``chunk_length`` inside a compressed chunk, else ``data_length``
        (what a reader takes from a part's blob for it)."""
        c = self.columns
        return np.where(c.chunk_lengths != _NULL, c.chunk_lengths, c.data_lengths).astype(np.int64)

    def rows(self) -> list[RecordRow]:
        return self.columns.rows()

    # -- stored form -------------------------------------------------------------------------------
    def encode(self) -> bytes:
        if len(self.topics) > 0xFFFF:
            raise ValueError(f"a part index holds at most 65535 topics, not {len(self.topics)}")
        topics = json.dumps(self.topics, separators=(",", ":")).encode()
        head = _TOPICS_HEAD.pack(len(self), len(topics))
        topic_part = zlib.compress(head + topics + self.topic_ix.astype("<u2").tobytes(), 6)
        return _HEAD.pack(_MAGIC, _VERSION, len(topic_part)) + topic_part + encode_columns(self.columns)

    @classmethod
    def decode(cls, blob: bytes) -> PartIndex:
        if len(blob) < _HEAD.size:
            raise CorruptIndex("a part index is cut short")
        magic, version, size = _HEAD.unpack_from(blob, 0)
        if magic != _MAGIC or version != _VERSION:
            raise CorruptIndex(f"unknown part index format {magic!r} v{version}")
        try:
            topic_part = zlib.decompress(blob[_HEAD.size : _HEAD.size + size])
            n, topics_length = _TOPICS_HEAD.unpack_from(topic_part, 0)
            at = _TOPICS_HEAD.size
            topics = json.loads(topic_part[at : at + topics_length])
            topic_ix = np.frombuffer(topic_part, dtype="<u2", count=n, offset=at + topics_length)
            columns = decode_columns(blob[_HEAD.size + size :])
        except (zlib.error, struct.error, ValueError, CorruptBlock) as error:
            raise CorruptIndex(f"a part index cannot be read: {error}") from error
        if len(columns) != n or not isinstance(topics, list) or (n and int(topic_ix.max()) >= len(topics)):
            raise CorruptIndex("a part index's topics do not match its records")
        return cls(columns, topic_ix.astype(np.int32), [str(topic) for topic in topics])
