"""Groups, logs and topics: response, create, update and list models (contract §3.1, §3.2, §3.8)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import Field

from openlqs.models.common import (
    JSON_FILTER_DESCRIPTION,
    BoundedInt64,
    CommonListParams,
    CommonModel,
    Int64,
    JsonObject,
    LockCreateFields,
    LockModel,
    Name,
    RequestModel,
    ShortText,
    Text,
    Timestamp,
    TypeEncoding,
    TypeEncodingParam,
)

#: Longest message definition (``type_data``): ROS 1 definitions with every dependency are tens of KiB.
MAX_TYPE_DATA_LENGTH = 256 * 1024
TypeData = Annotated[str, Field(max_length=MAX_TYPE_DATA_LENGTH)]


class Group(CommonModel, LockModel):
    name: str
    note: str | None = None
    context: dict | None = None
    default_workflow_id: UUID | None = None


class GroupCreateRequest(LockCreateFields):
    name: Name
    note: Text | None = None
    context: JsonObject | None = None
    default_workflow_id: UUID | None = None


class GroupUpdateRequest(RequestModel):
    name: Name | None = None
    note: Text | None = None
    context: JsonObject | None = None
    locked: bool | None = None
    default_workflow_id: UUID | None = None


class GroupListParams(CommonListParams):
    id: UUID | None = None
    name: str | None = None
    name_like: str | None = None
    default_workflow_id: UUID | None = None
    default_workflow_id_null: bool | None = None


class RecordStats(CommonModel, LockModel):
    """Fields that the records written to a log or topic keep up to date."""

    start_time: Int64 | None = None
    end_time: Int64 | None = None
    duration: Int64 | None = None
    base_timestamp: Int64 | None = None
    record_size: int = 0
    record_count: int = 0
    object_size: int = 0
    object_count: int = 0


class Log(RecordStats):
    group_id: UUID
    name: str
    note: str | None = None
    context: dict | None = None
    default_workflow_id: UUID | None = None


class LogCreateRequest(LockCreateFields):
    group_id: UUID
    name: Name
    note: Text | None = None
    base_timestamp: BoundedInt64 | None = None
    context: JsonObject | None = None
    default_workflow_id: UUID | None = None


class LogUpdateRequest(RequestModel):
    group_id: UUID | None = None
    name: Name | None = None
    note: Text | None = None
    base_timestamp: BoundedInt64 | None = None
    context: JsonObject | None = None
    locked: bool | None = None
    default_workflow_id: UUID | None = None


class RangeFilters(CommonListParams):
    """Time, size and count range filters shared by logs and topics."""

    context_filter: str | None = Field(None, description=JSON_FILTER_DESCRIPTION.format(field="context"))
    start_time_null: bool | None = None
    start_time_gte: Timestamp | None = None
    start_time_lte: Timestamp | None = None
    end_time_null: bool | None = None
    end_time_gte: Timestamp | None = None
    end_time_lte: Timestamp | None = None
    record_size_gte: int | None = None
    record_size_lte: int | None = None
    record_count_gte: int | None = None
    record_count_lte: int | None = None
    locked: bool | None = None


class LogListParams(RangeFilters):
    id: UUID | None = None
    group_id: UUID | None = None
    group_id_in: list[UUID] | None = None
    default_workflow_id: UUID | None = None
    default_workflow_id_null: bool | None = None
    name: str | None = None
    name_like: str | None = None
    note_like: str | None = None
    object_size_gte: int | None = None
    object_size_lte: int | None = None
    object_count_gte: int | None = None
    object_count_lte: int | None = None
    duration_gte: Int64 | None = None
    duration_lte: Int64 | None = None
    tag_label_ids_includes: list[UUID] | None = None


class Topic(RecordStats):
    log_id: UUID
    group_id: UUID | None = None
    name: str
    note: str | None = None
    context: dict | None = None
    associated_topic_id: UUID | None = None
    strict: bool = False
    type_name: str | None = None
    type_encoding: TypeEncoding | None = None
    type_data: str | None = None
    type_schema: dict | None = None


class TopicCreateRequest(LockCreateFields):
    log_id: UUID
    name: Name
    note: Text | None = None
    base_timestamp: BoundedInt64 | None = None
    context: JsonObject | None = None
    associated_topic_id: UUID | None = None
    strict: bool = False
    type_name: ShortText | None = None
    type_encoding: TypeEncodingParam | None = None
    type_data: TypeData | None = None
    type_schema: JsonObject | None = None


class TopicUpdateRequest(RequestModel):
    name: Name | None = None
    note: Text | None = None
    base_timestamp: BoundedInt64 | None = None
    context: JsonObject | None = None
    associated_topic_id: UUID | None = None
    locked: bool | None = None
    strict: bool | None = None
    type_name: ShortText | None = None
    type_encoding: TypeEncodingParam | None = None
    type_data: TypeData | None = None
    type_schema: JsonObject | None = None


class TopicListParams(RangeFilters):
    id: UUID | None = None
    log_id: UUID | None = None
    group_id: UUID | None = None
    name: str | None = None
    name_like: str | None = None
    associated_topic_id: UUID | None = None
    latched: bool | None = None
    strict: bool | None = None
    type_name: str | None = None
    type_name_like: str | None = None
    type_encoding: TypeEncodingParam | None = None
    type_data: str | None = None
    type_data_like: str | None = None
    type_schema_filter: str | None = None
