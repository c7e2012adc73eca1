"""Records: the time series of a topic (contract §3.9, §4). A record has no id: (topic_id, timestamp)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field, field_validator

from openlqs.models.common import (
    INT64_MAX,
    BoundedInt64,
    CommonListParams,
    Int64,
    JsonDocument,
    JsonObject,
    LockCreateFields,
    LockModel,
    RequestModel,
    ShortText,
    Text,
)

#: Chunk compressions the official client can decompress (``decompress_chunk_bytes``).
CHUNK_COMPRESSIONS = frozenset({"bz2", "lz4", "lz4_block", "zstd", "zstd_mcap", "mp4", "none", ""})


class Record(LockModel):
    timestamp: Int64
    log_id: UUID
    topic_id: UUID
    created_at: datetime
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    created_by: UUID | None = None
    updated_by: UUID | None = None
    deleted_by: UUID | None = None
    ingestion_id: UUID | None = None
    data_offset: int | None = None
    data_length: int | None = None
    chunk_compression: str | None = None
    chunk_offset: int | None = None
    chunk_length: int | None = None
    source: str | None = None
    error: dict | None = None
    query_data: dict | list | None = None
    auxiliary_data: dict | list | None = None
    raw_data: str | None = None
    context: dict | None = None
    note: str | None = None


class RecordCreateRequest(LockCreateFields):
    timestamp: Int64 = Field(ge=0, le=INT64_MAX)
    note: Text | None = None
    context: JsonObject | None = None
    query_data: JsonDocument | None = None
    auxiliary_data: JsonDocument | None = None
    data_offset: int | None = Field(None, ge=0, le=INT64_MAX)
    data_length: int | None = Field(None, ge=0, le=INT64_MAX)
    chunk_compression: str | None = None
    chunk_offset: int | None = Field(None, ge=0, le=INT64_MAX)
    chunk_length: int | None = Field(None, ge=0, le=INT64_MAX)
    source: ShortText | None = None

    @field_validator("chunk_compression")
    @classmethod
    def _known_compression(cls, value: str | None) -> str | None:
        if value is not None and value not in CHUNK_COMPRESSIONS:
            raise ValueError(f"chunk_compression must be one of {sorted(CHUNK_COMPRESSIONS)}")
        return value


class RecordUpdateRequest(RequestModel):
    locked: bool | None = None
    error: JsonObject | None = None
    query_data: JsonDocument | None = None
    auxiliary_data: JsonDocument | None = None
    context: JsonObject | None = None
    note: Text | None = None


class RecordListParams(CommonListParams):
    """A record list's filters. Timestamps and positions are stored as Int64s: a bound outside the Int64
    range is a 400 naming it, not a window that wraps around (``timestamp_gte=2**63``)."""

    order: str = "timestamp"
    timestamp: BoundedInt64 | None = None
    log_id: UUID | None = None
    ingestion_id: UUID | None = None
    workflow_id: UUID | None = None
    workflow_id_null: bool | None = None
    error_filter: str | None = None
    note_like: str | None = None
    source: str | None = None
    query_data_filter: str | None = None
    context_filter: str | None = None
    altered: bool | None = None
    #: Records per second (Hz); bounded so that the sampling period in ns is a finite Int64.
    frequency: float | None = Field(None, ge=1e-9, le=1e9, allow_inf_nan=False)
    timestamp_gt: BoundedInt64 | None = None
    timestamp_lt: BoundedInt64 | None = None
    timestamp_gte: BoundedInt64 | None = None
    timestamp_lte: BoundedInt64 | None = None
    data_length_gte: BoundedInt64 | None = None
    data_length_lte: BoundedInt64 | None = None
    data_offset_gte: BoundedInt64 | None = None
    data_offset_lte: BoundedInt64 | None = None
    chunk_compression: str | None = None
    chunk_offset_gte: BoundedInt64 | None = None
    chunk_offset_lte: BoundedInt64 | None = None
    chunk_length_gte: BoundedInt64 | None = None
    chunk_length_lte: BoundedInt64 | None = None
    include_auxiliary_data: bool = False
    include_raw_data: bool = False

    @field_validator("order")
    @classmethod
    def _order_by_timestamp(cls, value: str) -> str:
        if value != "timestamp":
            raise ValueError("records are ordered by timestamp only")
        return value


class RecordFetchParams(RequestModel):
    include_auxiliary_data: bool = False
    include_raw_data: bool = False
    auxiliary_context: str | None = None
