"""What a record holds, read on demand: ``raw_data``, ``query_data`` and image previews.

Records point into their ingestion's object (no copy of the bytes). When a list or fetch asks for data
(``include_raw_data``/``include_auxiliary_data``) the page's records are read with ranged reads of that
object — each compressed chunk once, through a chunk cache shared by the requests of a warm function —
and decoded with the topic's own message definition. A record whose bytes cannot be read or decoded is
returned with ``error`` set; the rest of the page is unaffected. A page whose data would not fit one
answer (a Lambda proxy answer is at most 6 MB) is refused with 413 rather than failing at the gateway.
"""

from __future__ import annotations

import base64
import json
import posixpath
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from openlqs.domain.object_stores import ObjectSpaces
from openlqs.domain.objects import ObjectSpace
from openlqs.domain.ports import ResourceRepository
from openlqs.domain.resources import INGESTION
from openlqs.errors import ContentTooLarge, OpenLQSError
from openlqs.formats.messages import (
    DEFAULT_MAX_INLINE_BYTES,
    MessageDecodeError,
    decode_message,
    encoding_of,
    to_json_value,
)
from openlqs.models.records import Record
from openlqs.models.resources import Topic
from openlqs.records.previews import PreviewError, image_preview, is_image_type
from openlqs.records.reading import ChunkCache, RecordBytesReader, is_compressed

#: Raw bytes one answer may carry: API Gateway's Lambda proxy answers are at most 6 MB, base64 adds 1/3.
MAX_PAGE_DATA_BYTES = 4 * 1024 * 1024
#: What the filled fields of one answer (``raw_data``, ``query_data``, ``auxiliary_data`` as JSON) may
#: add up to: the base64 of ``MAX_PAGE_DATA_BYTES`` plus room for small decoded messages, leaving half
#: a MiB of the 6 MiB answer for the records' other fields. Decoded messages count too: strings and
#: byte arrays up to the inline size appear twice (raw and decoded), so raw data alone is not enough.
MAX_PAGE_ENCODED_BYTES = 5 * 1024 * 1024 + 512 * 1024


@dataclass(frozen=True)
class ObjectLocation:
    """An object records point into (hashable: it keys the chunk cache): its space and full key."""

    scope: str
    key: str


class Locatable(Protocol):
    """What locating a record's object needs: its ingestion (id, as a UUID or text) and source."""

    @property
    def ingestion_id(self) -> UUID | str | None: ...
    @property
    def source(self) -> str | None: ...


@dataclass
class RecordLocations:
    """Where records' bytes are: each (ingestion, source) resolved to an object once, failures included
    (an ingestion read and a log or object store read), and ranged reads of those objects.

    Records of a page share a few ingestions, as the records of a digestion part do; both read through
    one of these (``locate``/``read`` of a ``RecordBytesReader``).
    """

    spaces: ObjectSpaces
    resources: ResourceRepository
    places: dict[tuple[UUID, str | None], ObjectLocation | Exception] = field(default_factory=dict)
    blobs: dict[ObjectLocation, ObjectSpace] = field(default_factory=dict)

    def where(self, record: Locatable) -> ObjectLocation:
        if record.ingestion_id is None:
            raise ValueError("the record belongs to no ingestion: its bytes are in no object")
        ingestion_id = record.ingestion_id
        place = (ingestion_id if isinstance(ingestion_id, UUID) else UUID(ingestion_id), record.source)
        if place not in self.places:
            try:
                self.places[place] = self._resolve(*place)
            except (OpenLQSError, ValueError) as error:
                self.places[place] = error
        found = self.places[place]
        if isinstance(found, Exception):
            raise found
        return found

    def _resolve(self, ingestion_id: UUID, source: str | None) -> ObjectLocation:
        ingestion = self.resources.get(INGESTION, ingestion_id)
        if not ingestion.object_key:
            raise ValueError(f"ingestion {ingestion.id} names no object")
        key = ingestion.object_key
        if source:
            # ``source`` names a file next to the ingested object (contract §4.3, as the client reads it).
            key = posixpath.normpath(posixpath.join(posixpath.dirname(key), source))
        space = (
            self.spaces.for_store(ingestion.object_store_id)
            if ingestion.object_store_id is not None
            else self.spaces.of_log(ingestion.log_id)  # the ingestion's log: it was just read
        )
        where = ObjectLocation(space.scope, space.full_key(key))
        self.blobs.setdefault(where, space)
        return where

    def read(self, where: ObjectLocation, offset: int, length: int) -> bytes:
        return self.blobs[where].blobs.read(where.key, offset, offset + length - 1)

    def size(self, where: ObjectLocation) -> int | None:
        """The object's size, or None when it no longer exists."""
        info = self.blobs[where].blobs.head(where.key)
        return None if info is None else info.size


class RecordDataService:
    """Fills the data fields of a page of records of one topic."""

    def __init__(
        self,
        resources: ResourceRepository,
        spaces: ObjectSpaces,
        cache: ChunkCache | None = None,
        *,
        max_inline_bytes: int = DEFAULT_MAX_INLINE_BYTES,
        max_page_data_bytes: int = MAX_PAGE_DATA_BYTES,
        max_page_encoded_bytes: int = MAX_PAGE_ENCODED_BYTES,
    ) -> None:
        self.resources = resources
        self.spaces = spaces
        self.cache = cache if cache is not None else ChunkCache()
        self.max_inline_bytes = max_inline_bytes
        self.max_page_data_bytes = max_page_data_bytes
        self.max_page_encoded_bytes = max_page_encoded_bytes

    def fill(self, topic: Topic, records: list[Record], *, raw: bool, auxiliary: bool) -> list[Record]:
        """The records with ``raw_data`` (if ``raw``), ``query_data`` and, for images, ``auxiliary_data``."""
        if not (raw or auxiliary):
            return records
        pointed = [record for record in records if record.data_offset is not None and record.data_length]
        if raw:
            total = sum(_message_size(record) for record in pointed)
            if total > self.max_page_data_bytes:
                raise ContentTooLarge(
                    f"The page's raw data is {total} bytes (at most {self.max_page_data_bytes}); ask for a "
                    "smaller limit."
                )
        locations = RecordLocations(self.spaces, self.resources)
        reader: RecordBytesReader[Record, ObjectLocation] = RecordBytesReader(
            locations.where, locations.read, self.cache
        )
        filled: dict[int, Record] = {}
        encoded = 0
        # A record that cannot be located or read (no ingestion, object gone, past its end…) gets the error.
        for record, data in reader.iter_results(pointed, (OpenLQSError, ValueError)):
            if isinstance(data, Exception):
                filled[id(record)] = _with_error(record, "RecordDataError", str(data))
                continue
            filled[id(record)] = result = self._filled(topic, record, data, raw=raw, auxiliary=auxiliary)
            encoded += _encoded_size(result)
            if encoded > self.max_page_encoded_bytes:
                raise ContentTooLarge(
                    f"The page's record data (raw_data, query_data, auxiliary_data) is over "
                    f"{self.max_page_encoded_bytes} bytes once encoded; ask for a smaller limit."
                )
        return [filled.get(id(record), record) for record in records]

    def _filled(self, topic: Topic, record: Record, data: bytes, *, raw: bool, auxiliary: bool) -> Record:
        changes: dict[str, Any] = {}
        if raw:
            changes["raw_data"] = base64.b64encode(data).decode("ascii")
        try:
            message = self._decode(topic, data)
        except MessageDecodeError as error:
            return record.model_copy(update={**changes, "error": _error("MessageDecodeError", str(error))})
        if message is None:
            return record.model_copy(update=changes)
        if record.query_data is None:
            changes["query_data"] = to_json_value(message, self.max_inline_bytes)
        if auxiliary and record.auxiliary_data is None and topic.type_name and is_image_type(topic.type_name):
            try:
                changes["auxiliary_data"] = image_preview(topic.type_name, message)
            except PreviewError as error:
                changes["error"] = _error("PreviewError", str(error))
        return record.model_copy(update=changes)

    @staticmethod
    def _decode(topic: Topic, data: bytes) -> dict[str, Any] | None:
        """The message decoded by its topic's ``type_encoding`` (``ros1``, ``cdr`` from the topic's own
        definitions, ``json``); None for messages openlqs keeps as bytes only (protobuf…)."""
        encoding = encoding_of(topic.type_encoding, topic.type_name, topic.type_data)
        if encoding is None:
            return None
        return decode_message(encoding, topic.type_name, topic.type_data, data)


def _message_size(record: Record) -> int:
    if is_compressed(record):
        return record.chunk_length or 0
    return record.data_length or 0


def _encoded_size(record: Record) -> int:
    """Bytes the data fields of a filled record add to the JSON answer."""
    size = len(record.raw_data or "")
    for value in (record.query_data, record.auxiliary_data):
        if value is not None:
            size += len(json.dumps(value, separators=(",", ":")))
    return size


def _error(name: str, message: str) -> dict[str, str]:
    return {"name": name, "message": message}


def _with_error(record: Record, name: str, message: str) -> Record:
    return record.model_copy(update={"error": _error(name, message)})
