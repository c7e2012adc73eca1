"""Ingestions and ingestion parts: response, create, update and list models (contract §2, §3.6, §3.7)."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, Field

from openlqs.models.common import (
    BoundedInt64,
    CommonListParams,
    CommonModel,
    Int64,
    JsonObject,
    LockCreateFields,
    LockModel,
    Name,
    ProcessState,
    ProcessStateParam,
    RequestModel,
    ShortText,
    Text,
    check_json,
)

#: A process's progress: the fraction of its work done.
Progress = Annotated[float, Field(ge=0.0, le=1.0)]

#: One entry of an ingestion part's index, v1: (topic_id, data_offset, data_length, chunk_compression,
#: chunk_offset, chunk_length, timestamp); v2 appends a context dict.
IndexEntryV1 = tuple[str, int, int, str | None, int | None, int | None, Int64]
IndexEntryV2 = tuple[str, int, int, str | None, int | None, int | None, Int64, dict[str, Any] | None]
IndexEntry = IndexEntryV1 | IndexEntryV2
#: Largest ``index`` a request may carry (compact JSON bytes): about 3,000 entries.
MAX_INDEX_BYTES = 256 * 1024
Index = Annotated[list[IndexEntry], AfterValidator(partial(check_json, max_bytes=MAX_INDEX_BYTES))]


class ProcessModel(CommonModel, LockModel):
    """Fields of every LogQS process (ingestions, ingestion parts, digestions, digestion parts).

    The official OpenAPI marks all of them required, so every key is always emitted, possibly as null.
    """

    workflow_id: UUID | None = None
    workflow_context: dict | None = None
    state: ProcessState
    progress: float | None = None
    previous_state: ProcessState | None = None
    transitioned_at: datetime | None = None
    error: dict | None = None
    error_name: str | None = None
    error_message: str | None = None
    error_payload: dict | None = None


class ProcessUpdateFields(RequestModel):
    """The process fields an update body may carry (absent keys are left unchanged)."""

    locked: bool | None = None
    workflow_id: UUID | None = None
    workflow_context: JsonObject | None = None
    state: ProcessStateParam | None = None
    progress: Progress | None = None
    error: JsonObject | None = None
    error_name: ShortText | None = None
    error_message: Text | None = None
    error_payload: JsonObject | None = None


class ProcessListParams(CommonListParams):
    """List filters every process type shares."""

    id: UUID | None = None
    group_id: UUID | None = None
    log_id: UUID | None = None
    workflow_id: UUID | None = None
    workflow_id_null: bool | None = None
    state: ProcessStateParam | None = None


# -- ingestions -------------------------------------------------------------------------------------


class Ingestion(ProcessModel):
    """The processing of one log file (a log object, or an object of a registered object store)."""

    log_id: UUID
    #: Derived from the log, never taken from a request.
    group_id: UUID
    object_store_id: UUID | None = None
    object_key: str | None = None
    name: str | None = None
    note: str | None = None
    context: dict | None = None


class IngestionCreateRequest(LockCreateFields):
    """``POST ingestions``: the official client sends every optional key, as null when not given."""

    log_id: UUID
    name: Name | None = None
    note: Text | None = None
    context: JsonObject | None = None
    object_store_id: UUID | None = None
    object_key: ShortText | None = None
    workflow_id: UUID | None = None
    workflow_context: JsonObject | None = None
    state: ProcessStateParam = ProcessState.ready


class IngestionUpdateRequest(ProcessUpdateFields):
    """``PATCH ingestions/{id}``: any subset of these keys."""

    name: Name | None = None
    object_store_id: UUID | None = None
    object_key: ShortText | None = None
    note: Text | None = None
    context: JsonObject | None = None


class IngestionListParams(ProcessListParams):
    object_store_id: UUID | None = None
    name: str | None = None
    name_like: str | None = None
    object_key: str | None = None
    object_key_like: str | None = None
    workflow_context_filter: str | None = None
    progress_null: bool | None = None
    progress_gte: float | None = None
    progress_lte: float | None = None
    error_filter: str | None = None
    error_payload_filter: str | None = None
    note_like: str | None = None
    context_filter: str | None = None


# -- ingestion parts --------------------------------------------------------------------------------


class IngestionPart(ProcessModel):
    """A unit of an ingestion's work. ``index`` is only returned by fetches (null in lists)."""

    sequence: int
    ingestion_id: UUID
    source: str | None = None
    context: dict | None = None
    index: list[IndexEntry] | None = None
    log_id: UUID | None = None
    group_id: UUID | None = None


class IngestionPartCreateRequest(LockCreateFields):
    """``POST ingestions/{ingestion_id}/parts``."""

    sequence: BoundedInt64
    source: ShortText | None = None
    context: JsonObject | None = None
    workflow_id: UUID | None = None
    workflow_context: JsonObject | None = None
    state: ProcessStateParam = ProcessState.ready
    index: Index | None = None


class IngestionPartUpdateRequest(ProcessUpdateFields):
    """``PATCH ingestions/{ingestion_id}/parts/{id}`` or ``PATCH ingestionParts/{id}``."""

    sequence: BoundedInt64 | None = None
    source: ShortText | None = None
    context: JsonObject | None = None
    index: Index | None = None


class IngestionPartListParams(ProcessListParams):
    ingestion_id: UUID | None = None
    sequence: int | None = None
    source: str | None = None
