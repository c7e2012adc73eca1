"""Records: the time series of a topic (contract §3.9, §4). A record has no id: (topic_id, timestamp)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field, field_validator

from openlqs.models.common import (
    INT64_MAX,
    JSON_FILTER_DESCRIPTION,
    TIMESTAMP_DESCRIPTION,
    BoundedInt64,
    BoundedTimestamp,
    CommonListParams,
    Int64,
    JsonDocument,
    JsonObject,
    LockCreateFields,
    LockModel,
    RequestModel,
    ShortText,
    Text,
    Timestamp,
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
    timestamp: Timestamp = Field(ge=0, le=INT64_MAX)
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

    order: str = Field("timestamp", description="Records are ordered by timestamp only.")
    timestamp: BoundedTimestamp | None = Field(
        None, description=f"Only records at this time. {TIMESTAMP_DESCRIPTION}"
    )
    log_id: UUID | None = None
    tag_id: UUID | None = Field(
        None,
        description="Only records in this tag's time range (the tag must mark this topic or its whole log).",
    )
    ingestion_id: UUID | None = Field(None, description="Only records written by this ingestion.")
    workflow_id: UUID | None = None
    workflow_id_null: bool | None = None
    error_filter: str | None = Field(None, description=JSON_FILTER_DESCRIPTION.format(field="error"))
    note_like: str | None = Field(None, description="Notes containing this text (% and _ are wildcards).")
    source: str | None = None
    query_data_filter: str | None = Field(
        None,
        description=JSON_FILTER_DESCRIPTION.format(field="query_data")
        + " Matches only stored query_data (topics with context.store_query_data).",
    )
    context_filter: str | None = Field(None, description=JSON_FILTER_DESCRIPTION.format(field="context"))
    altered: bool | None = None
    #: Records per second (Hz); bounded so that the sampling period in ns is a finite Int64.
    frequency: float | None = Field(
        None,
        ge=1e-9,
        le=1e9,
        allow_inf_nan=False,
        description="Records per second to keep (e.g. 1 keeps the first record of every second, aligned "
        "to whole periods since the epoch).",
    )
    timestamp_gt: BoundedTimestamp | None = Field(
        None, description=f"After this time. {TIMESTAMP_DESCRIPTION}"
    )
    timestamp_lt: BoundedTimestamp | None = Field(
        None, description=f"Before this time. {TIMESTAMP_DESCRIPTION}"
    )
    timestamp_gte: BoundedTimestamp | None = Field(
        None, description=f"At or after this time. {TIMESTAMP_DESCRIPTION}"
    )
    timestamp_lte: BoundedTimestamp | None = Field(
        None, description=f"At or before this time. {TIMESTAMP_DESCRIPTION}"
    )
    data_length_gte: BoundedInt64 | None = None
    data_length_lte: BoundedInt64 | None = None
    data_offset_gte: BoundedInt64 | None = None
    data_offset_lte: BoundedInt64 | None = None
    chunk_compression: str | None = None
    chunk_offset_gte: BoundedInt64 | None = None
    chunk_offset_lte: BoundedInt64 | None = None
    chunk_length_gte: BoundedInt64 | None = None
    chunk_length_lte: BoundedInt64 | None = None
    include_auxiliary_data: bool = Field(
        False,
        description="Add auxiliary_data (an image preview for image topics) and query_data (the decoded "
        "message); reads the messages from the log.",
    )
    include_raw_data: bool = Field(
        False,
        description="Add raw_data (the message bytes, base64) and query_data (the decoded message); reads "
        "the messages from the log.",
    )

    @field_validator("order")
    @classmethod
    def _order_by_timestamp(cls, value: str) -> str:
        if value != "timestamp":
            raise ValueError("records are ordered by timestamp only")
        return value


class RecordFetchParams(RequestModel):
    include_auxiliary_data: bool = Field(
        False, description="Add auxiliary_data (an image preview for image topics) and query_data."
    )
    include_raw_data: bool = Field(
        False, description="Add raw_data (the message bytes, base64) and query_data (the decoded message)."
    )
    auxiliary_context: str | None = None
