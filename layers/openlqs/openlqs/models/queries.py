"""Queries (contract §4): a SQL statement over one log's records, run when it is created or changed,
stored with its result. Also the payloads ApiFunction and QueryFunction exchange."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, Field

from openlqs.models.common import (
    JSON_FILTER_DESCRIPTION,
    CommonListParams,
    CommonModel,
    JsonObject,
    Name,
    RequestModel,
    Text,
)

#: Longest statement (characters), as the engine accepts it.
MAX_STATEMENT_LENGTH = 64 * 1024
Statement = Annotated[
    str,
    Field(
        max_length=MAX_STATEMENT_LENGTH,
        description="One SELECT (or WITH ... SELECT) over the log's views: records, topics, tags, "
        "ingestions. "
        "$name parameters are bound from `parameters`.",
    ),
]


class Query(CommonModel):
    """A query and its stored result: ``columns`` and ``rows``, or ``error`` ``{name, message}``
    (``BadQuery``, ``QueryTimeout``, ``QueryTooLarge``, ``QueryFailed``); a truncated result has both."""

    log_id: UUID
    name: str | None = None
    note: str | None = None
    context: dict | None = None
    statement: str | None = None
    parameters: dict | None = None
    columns: list[str] | None = None
    rows: list[list[Any]] | None = None
    error: dict | None = None


class QueryCreateRequest(RequestModel):
    name: Name | None = None
    note: Text | None = None
    context: JsonObject | None = None
    statement: Statement | None = None
    parameters: JsonObject | None = None


class QueryUpdateRequest(RequestModel):
    name: Name | None = None
    note: Text | None = None
    context: JsonObject | None = None
    statement: Statement | None = None
    parameters: JsonObject | None = None


class QueryListParams(CommonListParams):
    id: UUID | None = None
    log_id: UUID | None = None
    name: str | None = None
    name_like: str | None = None
    note_like: str | None = None
    statement: str | None = None
    statement_like: str | None = None
    workflow_id: UUID | None = Field(None, description="Queries have no workflow: matches nothing.")
    workflow_id_null: bool | None = None
    workflow_context_filter: str | None = Field(
        None, description=JSON_FILTER_DESCRIPTION.format(field="workflow_context")
    )
    context_filter: str | None = Field(None, description=JSON_FILTER_DESCRIPTION.format(field="context"))


class QueryRun(BaseModel):
    """What QueryFunction is invoked with: one statement over one log, and the room its rows may take."""

    log_id: UUID
    statement: str
    parameters: dict[str, Any] | None = None
    max_result_bytes: int = Field(ge=2)


class QueryOutcome(BaseModel):
    """What QueryFunction answers (``columns``/``rows``, and ``error`` when it failed or was cut)."""

    columns: list[str] = Field(default_factory=list)
    rows: list[list[Any]] = Field(default_factory=list)
    error: dict[str, str] | None = None
