"""Digestions, their topics and their parts: response, create, update and list models (next §1).

A digestion selects records of one log (some topics, a time window each, thinned by frequency, filtered
by stored ``query_data``/``context``); the server writes the selection as parts whose blobs hold the
records' bytes, and on request one playable MCAP or bag file (``context.export``, :class:`ExportSpec`).
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from openlqs.models.common import (
    INT64_MAX,
    BoundedInt64,
    BoundedTimestamp,
    CommonListParams,
    CommonModel,
    Int64,
    JsonObject,
    LockCreateFields,
    Name,
    ProcessState,
    ProcessStateParam,
    RequestModel,
    Text,
    check_json,
)
from openlqs.models.ingestions import ProcessListParams, ProcessModel, ProcessUpdateFields

# -- digestions ---------------------------------------------------------------------------------------

#: The ``context`` key that asks for a playable export of a digestion, and where its result is written.
EXPORT = "export"


class ExportSpec(BaseModel):
    """``context.export`` of a digestion: one playable file of its records (beyond LogQS).

    ``format`` is ``mcap`` (any topics) or ``bag`` (ROS 1 topics only). ``latched`` is true (every
    topic) or a list of topic names: each such topic also gets its last record before its window's
    start, so that ``/tf_static``, maps and parameters are there when playback starts. ``key``, ``size``
    and ``message_count`` are written by the server when the export is done (ignored in requests).
    """

    model_config = ConfigDict(extra="forbid")

    format: Literal["mcap", "bag"]
    latched: bool | list[Annotated[str, Field(min_length=1, max_length=1024)]] = False
    key: str | None = None
    size: int | None = None
    message_count: int | None = None

    #: Fields only the server writes.
    RESULT_FIELDS: ClassVar[tuple[str, ...]] = ("key", "size", "message_count")

    def latched_topic(self, name: str) -> bool:
        """Whether the topic named ``name`` gets its last record before the window."""
        return self.latched is True or (isinstance(self.latched, list) and name in self.latched)

    @property
    def extension(self) -> str:
        return self.format


def export_spec(context: dict[str, Any] | None) -> ExportSpec | None:
    """The export a digestion's ``context`` asks for (None: no export); ``ValueError`` when malformed."""
    value = (context or {}).get(EXPORT)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError('context.export must be an object such as {"format": "mcap"}')
    return ExportSpec.model_validate(value)


def _check_export(context: dict[str, Any] | None) -> dict[str, Any] | None:
    """Refuse a ``context`` whose ``export`` is not an export request (400 naming ``context.export``)."""
    try:
        export_spec(context)
    except ValueError as error:
        detail = str(error).replace("\n", " ")
        raise ValueError(f"context.export: {detail}") from None
    return context


DigestionContext = Annotated[JsonObject, AfterValidator(_check_export)]


class Digestion(ProcessModel):
    """A selection of records of one log, written by the server as parts (and an export on request)."""

    log_id: UUID
    #: Derived from the log, never taken from a request.
    group_id: UUID
    name: str | None = None
    note: str | None = None
    context: dict | None = None


class DigestionCreateRequest(LockCreateFields):
    """``POST digestions``: the official client sends every key, as null when not given."""

    log_id: UUID
    name: Name | None = None
    note: Text | None = None
    context: DigestionContext | None = None
    workflow_id: UUID | None = None
    workflow_context: JsonObject | None = None
    state: ProcessStateParam = ProcessState.ready


class DigestionUpdateRequest(ProcessUpdateFields):
    """``PATCH digestions/{id}``: any subset of these keys."""

    name: Name | None = None
    note: Text | None = None
    context: DigestionContext | None = None


class DigestionListParams(ProcessListParams):
    name: str | None = None
    name_like: str | None = None
    progress_null: bool | None = None
    progress_gte: float | None = None
    progress_lte: float | None = None
    error_filter: str | None = None
    error_payload_filter: str | None = None
    note_like: str | None = None
    context_filter: str | None = None
    workflow_context_filter: str | None = None


# -- digestion topics -------------------------------------------------------------------------------

#: Records per second a digestion topic may keep (as ``frequency`` of a record list).
Frequency = Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)]


class DigestionTopic(CommonModel):
    """One topic of a digestion with its window, thinning and filters (a CommonModel: no lock fields)."""

    digestion_id: UUID
    topic_id: UUID
    start_time: Int64 | None = None
    end_time: Int64 | None = None
    frequency: float | None = None
    query_data_filter: dict | None = None
    context_filter: dict | None = None


def _ordered_window(start: int | None, end: int | None) -> None:
    if start is not None and end is not None and start > end:
        raise ValueError(f"start_time ({start}) is after end_time ({end})")


class DigestionTopicCreateRequest(RequestModel):
    """``POST digestions/{id}/topics``. The filters are JSON objects (a condition such as
    ``{"var": "data", "op": "eq", "val": "hello"}``), not query text."""

    topic_id: UUID
    start_time: BoundedTimestamp | None = None
    end_time: BoundedTimestamp | None = None
    frequency: Frequency | None = None
    query_data_filter: JsonObject | None = None
    context_filter: JsonObject | None = None

    @model_validator(mode="after")
    def _window(self) -> DigestionTopicCreateRequest:
        _ordered_window(self.start_time, self.end_time)
        return self


class DigestionTopicUpdateRequest(RequestModel):
    """``PATCH digestions/{did}/topics/{id}`` or ``digestionTopics/{id}``: everything but ``topic_id``."""

    start_time: BoundedTimestamp | None = None
    end_time: BoundedTimestamp | None = None
    frequency: Frequency | None = None
    query_data_filter: JsonObject | None = None
    context_filter: JsonObject | None = None

    @model_validator(mode="after")
    def _window(self) -> DigestionTopicUpdateRequest:
        _ordered_window(self.start_time, self.end_time)
        return self


class DigestionTopicListParams(CommonListParams):
    id: UUID | None = None
    digestion_id: UUID | None = None
    #: Matched through the digestion (a digestion topic has no log or group of its own).
    group_id: UUID | None = None
    log_id: UUID | None = None
    topic_id: UUID | None = None
    start_time_null: bool | None = None
    start_time_gte: BoundedInt64 | None = None
    start_time_lte: BoundedInt64 | None = None
    end_time_null: bool | None = None
    end_time_gte: BoundedInt64 | None = None
    end_time_lte: BoundedInt64 | None = None


# -- digestion parts --------------------------------------------------------------------------------

#: One record of a digestion part's index (``DigestionPartIndexTuple`` of the official client):
#: ``[topic_id, ingestion_id, source, data_offset, data_length, chunk_compression, chunk_offset,
#: chunk_length, timestamp]``. ``data_offset`` and ``data_length`` are never null.
IndexEntry = tuple[str, str | None, str | None, int, int, str | None, int | None, int | None, Int64]
#: Largest ``index`` a request may carry (compact JSON bytes); the server's own parts hold more.
MAX_INDEX_BYTES = 256 * 1024


def _check_entries(entries: list[IndexEntry]) -> list[IndexEntry]:
    for at, entry in enumerate(entries):
        numbers = [entry[3], entry[4], *(n for n in (entry[6], entry[7]) if n is not None), entry[8]]
        if any(not 0 <= number <= INT64_MAX for number in numbers):
            raise ValueError(f"entry {at}: offsets, lengths and the timestamp must be Int64s of at least 0")
    return entries


Index = Annotated[
    list[IndexEntry],
    AfterValidator(partial(check_json, max_bytes=MAX_INDEX_BYTES)),
    AfterValidator(_check_entries),
]


class DigestionPartIndexEntry(BaseModel):
    """One index entry as a model (what the official client's ``iter_digestion_records`` yields)."""

    topic_id: str
    ingestion_id: str | None
    source: str | None
    data_offset: int
    data_length: int
    chunk_compression: str | None
    chunk_offset: int | None
    chunk_length: int | None
    timestamp: Int64

    @classmethod
    def of(cls, entry: IndexEntry | list[Any]) -> DigestionPartIndexEntry:
        names = cls.model_fields
        return cls.model_validate(dict(zip(names, entry, strict=True)))

    @property
    def message_size(self) -> int:
        """How many bytes of the part's blob the record takes."""
        return self.data_length if self.chunk_length is None else self.chunk_length


class DigestionPart(ProcessModel):
    """A part of a digestion's output. ``index`` is only returned by fetches (null in lists)."""

    sequence: int
    digestion_id: UUID
    context: dict | None = None
    index: list[IndexEntry] | None = None
    log_id: UUID | None = None
    group_id: UUID | None = None


class DigestionPartCreateRequest(LockCreateFields):
    """``POST digestions/{digestion_id}/parts``."""

    sequence: BoundedInt64
    context: JsonObject | None = None
    workflow_id: UUID | None = None
    workflow_context: JsonObject | None = None
    state: ProcessStateParam = ProcessState.ready
    index: Index | None = None


class DigestionPartUpdateRequest(ProcessUpdateFields):
    """``PATCH digestions/{digestion_id}/parts/{id}`` or ``PATCH digestionParts/{id}``."""

    sequence: BoundedInt64 | None = None
    context: JsonObject | None = None
    index: Index | None = None


class DigestionPartListParams(ProcessListParams):
    digestion_id: UUID | None = None
    sequence: int | None = None
