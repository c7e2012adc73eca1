"""Labels and tags: a label (``hard braking``) marks a log, a topic of it, or a time range of either
(contract §3). Tags are CommonModels without lock fields; their log's lock guards them."""

from __future__ import annotations

from typing import Self
from uuid import UUID

from pydantic import Field, model_validator

from openlqs.models.common import (
    JSON_FILTER_DESCRIPTION,
    TIMESTAMP_DESCRIPTION,
    BoundedInt64,
    BoundedTimestamp,
    CommonListParams,
    CommonModel,
    Int64,
    JsonObject,
    Name,
    RequestModel,
    Text,
)


class Label(CommonModel):
    value: str
    note: str | None = None
    category: str | None = None


class LabelCreateRequest(RequestModel):
    value: Name
    note: Text | None = None
    category: Name | None = Field(None, description="Groups similar labels; (category, value) is unique.")


class LabelUpdateRequest(RequestModel):
    value: Name | None = None
    note: Text | None = None
    category: Name | None = None


class LabelListParams(CommonListParams):
    id: UUID | None = None
    value: str | None = None
    value_like: str | None = None
    note_like: str | None = None
    category: str | None = None
    category_like: str | None = None


class Tag(CommonModel):
    label_id: UUID
    log_id: UUID
    topic_id: UUID | None = None
    note: str | None = None
    context: dict | None = None
    start_time: Int64 | None = None
    end_time: Int64 | None = None


def _check_range(start: int | None, end: int | None) -> None:
    if start is not None and end is not None and start > end:
        raise ValueError(f"start_time ({start}) is after end_time ({end})")


class TagCreateRequest(RequestModel):
    label_id: UUID
    topic_id: UUID | None = Field(None, description="A topic of the tag's log; null tags the whole log.")
    note: Text | None = None
    context: JsonObject | None = None
    start_time: BoundedInt64 | None = Field(
        None, description=f"Null: from the start. {TIMESTAMP_DESCRIPTION}"
    )
    end_time: BoundedInt64 | None = Field(None, description=f"Null: to the end. {TIMESTAMP_DESCRIPTION}")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        _check_range(self.start_time, self.end_time)
        return self


class TagUpdateRequest(RequestModel):
    """Everything but ``log_id`` (a tag stays with its log). The time range is checked against the
    stored bound that is not changed."""

    label_id: UUID | None = None
    topic_id: UUID | None = None
    note: Text | None = None
    context: JsonObject | None = None
    start_time: BoundedInt64 | None = None
    end_time: BoundedInt64 | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        _check_range(self.start_time, self.end_time)
        return self


class TagListParams(CommonListParams):
    id: UUID | None = None
    log_id: UUID | None = None
    label_id: UUID | None = None
    topic_id: UUID | None = None
    note: str | None = None
    note_like: str | None = None
    context_filter: str | None = Field(None, description=JSON_FILTER_DESCRIPTION.format(field="context"))
    start_time_null: bool | None = None
    start_time_gte: BoundedTimestamp | None = None
    start_time_lte: BoundedTimestamp | None = None
    end_time_null: bool | None = None
    end_time_gte: BoundedTimestamp | None = None
    end_time_lte: BoundedTimestamp | None = None
