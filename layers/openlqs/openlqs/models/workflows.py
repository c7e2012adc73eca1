"""Workflows, hooks and callbacks (contract ``logqs-next.md`` §2), and the body of a hook's POST.

A workflow names what happens to a process (``workflow_id`` on an ingestion, a digestion or their
parts); its ``context_schema`` is the JSON Schema that the processes' ``workflow_context`` must follow.
A hook of a workflow is an HTTP endpoint POSTed to when a process of that workflow enters a state.
``secret`` is write-only on hooks and callbacks: accepted on writes, never returned.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

from openlqs.models.common import (
    JSON_FILTER_DESCRIPTION,
    CommonListParams,
    CommonModel,
    JsonObject,
    Name,
    ProcessState,
    ProcessStateParam,
    RequestModel,
    ShortText,
    Text,
    _strip_enum_prefix,
)


class ProcessType(StrEnum):
    """The kinds of process, as LogQS names them (and as ResourcesTable's ``kind`` attribute holds them).

    The one list of process kinds: the workflow rules, the hook fan-out and the stream filter of
    HookDeliveryFunction in template.yaml (a static test compares them) all come from it.
    """

    ingestion = "ingestion"
    ingestion_part = "ingestion_part"
    digestion = "digestion"
    digestion_part = "digestion_part"

    @property
    def family(self) -> ProcessType:
        """The process a part belongs to (an ingestion part's family is ``ingestion``)."""
        return ProcessType(self.value.removesuffix("_part"))


ProcessTypeParam = Annotated[ProcessType, BeforeValidator(_strip_enum_prefix)]

#: Longest hook or callback URI accepted.
MAX_URI_LENGTH = 2048


def check_hook_uri(value: str) -> str:
    """An absolute http(s) URL with a host and no credentials in it (the secret carries those).

    Where the host may point is decided when the hook is stored and again at each delivery (the
    deployment's address policy); this is only its shape.
    """
    if any(char.isspace() or not char.isprintable() for char in value):
        raise ValueError("must be a URL without spaces or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"is not a valid URL ({error})") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not hold credentials; the receiver checks the hook's secret instead")
    if port == 0:
        raise ValueError("must not name port 0")
    return value


HookUri = Annotated[str, Field(max_length=MAX_URI_LENGTH), AfterValidator(check_hook_uri)]
#: A hook's or callback's secret: write-only, sealed at rest.
Secret = Annotated[str, Field(min_length=1, max_length=1024)]


# -- workflows --------------------------------------------------------------------------------------


class Workflow(CommonModel):
    name: str
    process_type: ProcessType | None = None
    note: str | None = None
    context: dict | None = None
    managed: bool = False
    default: bool = False
    disabled: bool = False
    context_schema: dict | None = None


class WorkflowCreateRequest(RequestModel):
    """``POST workflows``; the official client sends ``process_type`` (default ``digestion``) always."""

    name: Name
    process_type: ProcessTypeParam | None = ProcessType.digestion
    note: Text | None = None
    context: JsonObject | None = None
    default: bool = False
    disabled: bool = False
    managed: bool = False
    context_schema: JsonObject | None = None


class WorkflowUpdateRequest(RequestModel):
    """``PATCH workflows/{id}``: everything but ``process_type`` and ``managed``."""

    name: Name | None = None
    note: Text | None = None
    context: JsonObject | None = None
    default: bool | None = None
    disabled: bool | None = None
    context_schema: JsonObject | None = None


class WorkflowListParams(CommonListParams):
    id: UUID | None = None
    name: str | None = None
    name_like: str | None = None
    default: bool | None = None
    disabled: bool | None = None
    managed: bool | None = None
    process_type: ProcessTypeParam | None = None
    context_schema_filter: str | None = Field(
        None, description=JSON_FILTER_DESCRIPTION.format(field="context_schema")
    )


# -- hooks ------------------------------------------------------------------------------------------


class Hook(CommonModel):
    """A hook; ``context.last_delivery`` tells how its last delivery went (kept by the server)."""

    workflow_id: UUID
    trigger_process: ProcessType
    trigger_state: ProcessState
    name: str | None = None
    note: str | None = None
    context: dict | None = None
    managed: bool = False
    disabled: bool = False
    uri: str | None = None


class HookForWorkflowCreateRequest(RequestModel):
    """``POST workflows/{workflow_id}/hooks``."""

    trigger_process: ProcessTypeParam
    trigger_state: ProcessStateParam
    name: ShortText | None = None
    note: Text | None = None
    context: JsonObject | None = None
    managed: bool = False
    disabled: bool = False
    uri: HookUri | None = None
    secret: Secret | None = None


class HookUpdateRequest(RequestModel):
    """``PATCH workflows/{workflow_id}/hooks/{id}`` or ``PATCH hooks/{id}``."""

    trigger_process: ProcessTypeParam | None = None
    trigger_state: ProcessStateParam | None = None
    name: ShortText | None = None
    note: Text | None = None
    context: JsonObject | None = None
    disabled: bool | None = None
    uri: HookUri | None = None
    secret: Secret | None = None


class HookListParams(CommonListParams):
    id: UUID | None = None
    workflow_id: UUID | None = None
    trigger_process: ProcessTypeParam | None = None
    trigger_state: ProcessStateParam | None = None
    name: str | None = None
    name_like: str | None = None
    note_like: str | None = None
    managed: bool | None = None
    disabled: bool | None = None
    uri: str | None = None
    uri_like: str | None = None


# -- callbacks --------------------------------------------------------------------------------------


class Callback(CommonModel):
    name: str
    note: str | None = None
    context: dict | None = None
    managed: bool = False
    default: bool = False
    disabled: bool = False
    uri: str | None = None
    parameter_schema: dict | None = None


class CallbackCreateRequest(RequestModel):
    name: Name
    note: Text | None = None
    context: JsonObject | None = None
    managed: bool = False
    default: bool = False
    disabled: bool = False
    uri: HookUri | None = None
    secret: Secret | None = None
    parameter_schema: JsonObject | None = None


class CallbackUpdateRequest(RequestModel):
    name: Name | None = None
    note: Text | None = None
    context: JsonObject | None = None
    managed: bool | None = None
    default: bool | None = None
    disabled: bool | None = None
    uri: HookUri | None = None
    secret: Secret | None = None
    parameter_schema: JsonObject | None = None


class CallbackListParams(CommonListParams):
    id: UUID | None = None
    name: str | None = None
    name_like: str | None = None
    note_like: str | None = None
    context_filter: str | None = Field(None, description=JSON_FILTER_DESCRIPTION.format(field="context"))
    parameter_schema_filter: str | None = Field(
        None, description=JSON_FILTER_DESCRIPTION.format(field="parameter_schema")
    )


# -- what a hook POSTs ------------------------------------------------------------------------------


class HookEvent(BaseModel):
    """The body of a hook's POST: the official client's ``EventCreateRequest`` (its receiver,
    ``lqs/client/server.py``, validates it). ``datastore_endpoint`` is the API URL a receiver calls
    back (``LQS_API_URL``), ``datastore_id`` the datastore it names."""

    previous_state: ProcessState | None = None
    current_state: ProcessState
    process_type: ProcessType
    resource_id: UUID
    workflow_id: UUID | None = None
    hook_id: UUID | None = None
    datastore_id: UUID | None = None
    datastore_endpoint: str | None = None
