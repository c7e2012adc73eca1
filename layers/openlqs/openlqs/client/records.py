"""Reading record data through the API: where a record's bytes are (its ingestion's object), ranged
reads of that object, and decoding with the topic's definition. The reading itself (chunk cache,
coalesced reads) is ``openlqs.records.reading``, shared with the API.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from openlqs.formats.messages import decode_message, encoding_of
from openlqs.records.reading import CHUNK_CACHE_BYTES, ChunkCache, RecordBytesReader

if TYPE_CHECKING:
    from openlqs.client.client import LogQS
    from openlqs.client.models import Ingestion, Record, Topic


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
        self._bytes: RecordBytesReader[Record, _Location] = RecordBytesReader(
            self.location, self.read_range, ChunkCache(chunk_cache_bytes)
        )

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
        return data

    def record_bytes(self, record: Record, ingestion: Ingestion | None = None) -> bytes:
        """The message bytes of one record."""
        return self._bytes.record_bytes(record, self.location(record, ingestion))

    def iter_bytes(self, records: Iterable[Record]) -> Iterator[tuple[Record, bytes]]:
        """``(record, bytes)`` in the order given, with neighbouring uncompressed reads coalesced."""
        return self._bytes.iter_bytes(records)

    def deserialize(self, record: Record, data: bytes, topic: Topic | None = None) -> dict[str, Any]:
        """The message decoded by its topic's ``type_encoding``: ``ros1`` and ``cdr`` with the topic's
        own definitions (needs rosbags), ``json``. ``ValueError`` for a topic whose messages are bytes
        only (protobuf…, or no definition); ``MessageDecodeError`` (a ``ValueError``) for bytes that do
        not decode."""
        topic = topic or self.topic(record.topic_id)
        encoding = encoding_of(topic.type_encoding, topic.type_name, topic.type_data)
        if encoding is None:
            if topic.type_encoding is None and not topic.type_data:
                kept = (topic.context or {}).get("message_encoding")
                detail = f" ({kept} messages)" if kept else ""
                raise ValueError(
                    f"Topic {topic.name} has no message definition (type_name/type_data) and no "
                    f"type_encoding{detail}: its records are bytes only (fetch_record_bytes)"
                )
            raise ValueError(
                f"Topic {topic.name} ({topic.type_encoding}, {topic.type_name!r}) has no message "
                "definition openlqs can decode with"
            )
        return decode_message(encoding, topic.type_name, topic.type_data, data)
