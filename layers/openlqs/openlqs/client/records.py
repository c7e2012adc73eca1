"""Reading record data: the message bytes a record points to, read by range from its object.

A record of a compressed chunk points at the whole chunk (``data_offset``/``data_length``) and at the
message inside the decompressed chunk (``chunk_offset``/``chunk_length``). ``RecordReader`` reads each
chunk once and keeps a bounded number of decompressed chunks, so iterating a topic in time order reads
every chunk once; uncompressed neighbours are fetched together in one ranged read.
"""

from __future__ import annotations

import posixpath
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from openlqs.bags.compression import UNCOMPRESSED, decompress
from openlqs.bags.messages import decode_ros1

if TYPE_CHECKING:
    from openlqs.client.client import LogQS
    from openlqs.client.models import Ingestion, Record, Topic

#: Largest ranged read used to serve several uncompressed records at once.
MAX_COALESCED_READ = 8 * 1024 * 1024
#: A read this small is always worth sharing, however few of its bytes are wanted.
SMALL_READ = 64 * 1024
#: Decompressed chunks kept by a reader (bytes).
CHUNK_CACHE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class _Location:
    """Where a record's bytes live: a log object, or an object of a registered store."""

    log_id: UUID
    object_store_id: UUID | None
    object_key: str


class RecordReader:
    """Reads records' bytes for one client, caching ingestions, topics and decompressed chunks."""

    def __init__(self, client: LogQS, chunk_cache_bytes: int = CHUNK_CACHE_BYTES) -> None:
        self._client = client
        self._ingestions: dict[UUID, Ingestion] = {}
        self._topics: dict[UUID, Topic] = {}
        self._chunks: OrderedDict[tuple[_Location, int, int], bytes] = OrderedDict()
        self._chunk_cache_bytes = chunk_cache_bytes
        self._cached_bytes = 0

    def location(self, record: Record, ingestion: Ingestion | None = None) -> _Location:
        if ingestion is None:
            if record.ingestion_id is None:
                raise ValueError(f"{record!r} has no ingestion: its bytes are not in any object")
            ingestion = self.ingestion(record.ingestion_id)
        if not ingestion.object_key:
            raise ValueError(f"Ingestion {ingestion.id} names no object")
        key = ingestion.object_key
        if record.source:
            # ``source`` names a file next to the ingested object (multi-file logs).
            key = posixpath.normpath(posixpath.join(posixpath.dirname(key), record.source))
        return _Location(record.log_id, ingestion.object_store_id, key)

    def ingestion(self, ingestion_id: UUID) -> Ingestion:
        if ingestion_id not in self._ingestions:
            self._ingestions[ingestion_id] = self._client.fetch.ingestion(ingestion_id).data
        return self._ingestions[ingestion_id]

    def topic(self, topic_id: UUID) -> Topic:
        if topic_id not in self._topics:
            self._topics[topic_id] = self._client.fetch.topic(topic_id).data
        return self._topics[topic_id]

    def read_range(self, location: _Location, offset: int, length: int) -> bytes:
        if length == 0:
            return b""
        if location.object_store_id is not None:
            data = self._client.fetch.object(
                object_key=location.object_key,
                object_store_id=location.object_store_id,
                redirect=True,
                offset=offset,
                length=length,
            )
        else:
            data = self._client.fetch.log_object(
                object_key=location.object_key,
                log_id=location.log_id,
                redirect=True,
                offset=offset,
                length=length,
            )
        assert isinstance(data, bytes)
        if len(data) != length:
            raise ValueError(
                f"Read {len(data)} bytes of {location.object_key} at {offset}, expected {length}"
            )
        return data

    def record_bytes(self, record: Record, ingestion: Ingestion | None = None) -> bytes:
        """The message bytes of one record."""
        offset, length = _span(record)
        location = self.location(record, ingestion)
        if (record.chunk_compression or "") in UNCOMPRESSED:
            return self.read_range(location, offset, length)
        chunk = self._chunk(location, offset, length, record.chunk_compression)
        start, size = record.chunk_offset or 0, record.chunk_length or 0
        return chunk[start : start + size]

    def _chunk(self, location: _Location, offset: int, length: int, compression: str | None) -> bytes:
        key = (location, offset, length)
        cached = self._chunks.get(key)
        if cached is not None:
            self._chunks.move_to_end(key)
            return cached
        chunk = decompress(self.read_range(location, offset, length), compression)
        self._chunks[key] = chunk
        self._cached_bytes += len(chunk)
        while self._cached_bytes > self._chunk_cache_bytes and len(self._chunks) > 1:
            _, evicted = self._chunks.popitem(last=False)
            self._cached_bytes -= len(evicted)
        return chunk

    def iter_bytes(self, records: Iterable[Record]) -> Iterator[tuple[Record, bytes]]:
        """``(record, bytes)`` in the order given, with neighbouring uncompressed reads coalesced."""
        batch: _Batch | None = None
        for record in records:
            if (record.chunk_compression or "") not in UNCOMPRESSED:
                if batch is not None:
                    yield from batch.read(self)
                    batch = None
                yield record, self.record_bytes(record)
                continue
            location = self.location(record)
            if batch is not None and not batch.add(record, location):
                yield from batch.read(self)
                batch = None
            if batch is None:
                batch = _Batch(location)
                batch.add(record, location)
        if batch is not None:
            yield from batch.read(self)

    def deserialize(self, record: Record, data: bytes, topic: Topic | None = None) -> dict[str, Any]:
        """The message decoded with the topic's own definition (needs rosbags)."""
        topic = topic or self.topic(record.topic_id)
        if topic.type_encoding not in (None, "ros1"):
            raise ValueError(f"Topic {topic.name} holds {topic.type_encoding} messages; only ros1 decodes")
        if not topic.type_name or not topic.type_data:
            raise ValueError(f"Topic {topic.name} has no message definition (type_name/type_data)")
        return decode_ros1(topic.type_name, topic.type_data, data)


def _span(record: Record) -> tuple[int, int]:
    if record.data_offset is None or record.data_length is None:
        raise ValueError(f"{record!r} does not point into a file (no data_offset/data_length)")
    return record.data_offset, record.data_length


class _Batch:
    """Uncompressed records of one object served by one ranged read.

    A record joins while the window stays small, or stays at least half made of wanted bytes: a sparse
    topic is read record by record rather than with megabytes of other topics' messages.
    """

    def __init__(self, location: _Location) -> None:
        self.location = location
        self.records: list[Record] = []
        self.start = self.end = self.wanted = 0

    def add(self, record: Record, location: _Location) -> bool:
        offset, length = _span(record)
        if self.records:
            start, end = min(self.start, offset), max(self.end, offset + length)
            window, wanted = end - start, self.wanted + length
            dense = window <= SMALL_READ or wanted * 2 >= window
            if location != self.location or window > MAX_COALESCED_READ or not dense:
                return False
            self.start, self.end, self.wanted = start, end, wanted
        else:
            self.start, self.end, self.wanted = offset, offset + length, length
        self.records.append(record)
        return True

    def read(self, reader: RecordReader) -> Iterator[tuple[Record, bytes]]:
        data = reader.read_range(self.location, self.start, self.end - self.start)
        for record in self.records:
            offset, length = _span(record)
            yield record, data[offset - self.start : offset - self.start + length]
