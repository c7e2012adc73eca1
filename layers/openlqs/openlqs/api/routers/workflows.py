"""Workflows, their hooks and callbacks: `/workflows`, `/workflows/{id}/hooks`, `/hooks`, `/callbacks`.

Nested hook routes find a hook by its own id (the official client's resource methods use the flat
``hooks/{id}``); a workflow id other than the hook's is 404. ``secret`` is accepted, never returned.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from openlqs.api.common import no_content, paginated, request_context
from openlqs.api.responses import DELETE, READ, WRITE, declare
from openlqs.models.common import DataResponse, PaginatedResponse
from openlqs.models.workflows import (
    Callback,
    CallbackCreateRequest,
    CallbackListParams,
    CallbackUpdateRequest,
    Hook,
    HookForWorkflowCreateRequest,
    HookListParams,
    HookUpdateRequest,
    Workflow,
    WorkflowCreateRequest,
    WorkflowListParams,
    WorkflowUpdateRequest,
)
from openlqs.services import get_services

router = Router()
TAGS = ["Workflows"]
HOOK_TAGS = ["Hooks"]
CALLBACK_TAGS = ["Callbacks"]
WORKFLOW = DataResponse[Workflow]
HOOK = DataResponse[Hook]
CALLBACK = DataResponse[Callback]


# -- workflows --------------------------------------------------------------------------------------


@router.get(
    "/workflows", summary="List workflows", tags=TAGS, responses=declare(PaginatedResponse[Workflow], READ)
)
def list_workflows(params: Annotated[WorkflowListParams, Query()]) -> PaginatedResponse[Workflow]:
    request_context()
    count, workflows = get_services().workflows.list(params)
    return paginated(params, count, workflows)


@router.post(
    "/workflows",
    summary="Create a workflow (context_schema: the JSON Schema of its processes' workflow_context)",
    tags=TAGS,
    responses=declare(WORKFLOW, WRITE),
)
def create_workflow(body: WorkflowCreateRequest) -> DataResponse[Workflow]:
    return DataResponse(data=get_services().workflows.create(body, request_context()))


@router.get(
    "/workflows/<workflow_id>", summary="Fetch a workflow", tags=TAGS, responses=declare(WORKFLOW, READ)
)
def fetch_workflow(workflow_id: UUID) -> DataResponse[Workflow]:
    request_context()
    return DataResponse(data=get_services().workflows.get(workflow_id))


@router.patch(
    "/workflows/<workflow_id>", summary="Update a workflow", tags=TAGS, responses=declare(WORKFLOW, WRITE)
)
def update_workflow(workflow_id: UUID, body: WorkflowUpdateRequest) -> DataResponse[Workflow]:
    return DataResponse(data=get_services().workflows.update(workflow_id, body, request_context()))


@router.delete(
    "/workflows/<workflow_id>",
    summary="Delete a workflow (refused while it has hooks)",
    tags=TAGS,
    responses=declare(None, DELETE, status=204),
)
def delete_workflow(workflow_id: UUID) -> Response[None]:
    get_services().workflows.delete(workflow_id, request_context())
    return no_content()


# -- hooks of one workflow --------------------------------------------------------------------------


@router.get(
    "/workflows/<workflow_id>/hooks",
    summary="List a workflow's hooks",
    tags=HOOK_TAGS,
    responses=declare(PaginatedResponse[Hook], READ),
)
def list_hooks_of_workflow(
    workflow_id: UUID, params: Annotated[HookListParams, Query()]
) -> PaginatedResponse[Hook]:
    request_context()
    count, hooks = get_services().hooks.list(params, workflow_id)
    return paginated(params, count, hooks)


@router.post(
    "/workflows/<workflow_id>/hooks",
    summary="Create a hook: POSTed to when a process of the workflow enters trigger_state",
    tags=HOOK_TAGS,
    responses=declare(HOOK, WRITE),
)
def create_hook(workflow_id: UUID, body: HookForWorkflowCreateRequest) -> DataResponse[Hook]:
    return DataResponse(data=get_services().hooks.create(workflow_id, body, request_context()))


@router.get(
    "/workflows/<workflow_id>/hooks/<hook_id>",
    summary="Fetch a hook",
    tags=HOOK_TAGS,
    responses=declare(HOOK, READ),
)
def fetch_nested_hook(workflow_id: UUID, hook_id: UUID) -> DataResponse[Hook]:
    request_context()
    return DataResponse(data=get_services().hooks.get(hook_id, workflow_id))


@router.patch(
    "/workflows/<workflow_id>/hooks/<hook_id>",
    summary="Update a hook",
    tags=HOOK_TAGS,
    responses=declare(HOOK, WRITE),
)
def update_nested_hook(workflow_id: UUID, hook_id: UUID, body: HookUpdateRequest) -> DataResponse[Hook]:
    hook = get_services().hooks.update(hook_id, body, request_context(), workflow_id=workflow_id)
    return DataResponse(data=hook)


@router.delete(
    "/workflows/<workflow_id>/hooks/<hook_id>",
    summary="Delete a hook",
    tags=HOOK_TAGS,
    responses=declare(None, DELETE, status=204),
)
def delete_nested_hook(workflow_id: UUID, hook_id: UUID) -> Response[None]:
    get_services().hooks.delete(hook_id, request_context(), workflow_id=workflow_id)
    return no_content()


# -- hooks by id ------------------------------------------------------------------------------------


@router.get("/hooks", summary="List hooks", tags=HOOK_TAGS, responses=declare(PaginatedResponse[Hook], READ))
def list_hooks(params: Annotated[HookListParams, Query()]) -> PaginatedResponse[Hook]:
    request_context()
    count, hooks = get_services().hooks.list(params)
    return paginated(params, count, hooks)


@router.get("/hooks/<hook_id>", summary="Fetch a hook", tags=HOOK_TAGS, responses=declare(HOOK, READ))
def fetch_hook(hook_id: UUID) -> DataResponse[Hook]:
    request_context()
    return DataResponse(data=get_services().hooks.get(hook_id))


@router.patch("/hooks/<hook_id>", summary="Update a hook", tags=HOOK_TAGS, responses=declare(HOOK, WRITE))
def update_hook(hook_id: UUID, body: HookUpdateRequest) -> DataResponse[Hook]:
    return DataResponse(data=get_services().hooks.update(hook_id, body, request_context()))


@router.delete(
    "/hooks/<hook_id>", summary="Delete a hook", tags=HOOK_TAGS, responses=declare(None, DELETE, status=204)
)
def delete_hook(hook_id: UUID) -> Response[None]:
    get_services().hooks.delete(hook_id, request_context())
    return no_content()


# -- callbacks --------------------------------------------------------------------------------------


@router.get(
    "/callbacks",
    summary="List callbacks",
    tags=CALLBACK_TAGS,
    responses=declare(PaginatedResponse[Callback], READ),
)
def list_callbacks(params: Annotated[CallbackListParams, Query()]) -> PaginatedResponse[Callback]:
    request_context()
    count, callbacks = get_services().callbacks.list(params)
    return paginated(params, count, callbacks)


@router.post(
    "/callbacks", summary="Create a callback", tags=CALLBACK_TAGS, responses=declare(CALLBACK, WRITE)
)
def create_callback(body: CallbackCreateRequest) -> DataResponse[Callback]:
    return DataResponse(data=get_services().callbacks.create(body, request_context()))


@router.get(
    "/callbacks/<callback_id>",
    summary="Fetch a callback",
    tags=CALLBACK_TAGS,
    responses=declare(CALLBACK, READ),
)
def fetch_callback(callback_id: UUID) -> DataResponse[Callback]:
    request_context()
    return DataResponse(data=get_services().callbacks.get(callback_id))


@router.patch(
    "/callbacks/<callback_id>",
    summary="Update a callback",
    tags=CALLBACK_TAGS,
    responses=declare(CALLBACK, WRITE),
)
def update_callback(callback_id: UUID, body: CallbackUpdateRequest) -> DataResponse[Callback]:
    return DataResponse(data=get_services().callbacks.update(callback_id, body, request_context()))


@router.delete(
    "/callbacks/<callback_id>",
    summary="Delete a callback",
    tags=CALLBACK_TAGS,
    responses=declare(None, DELETE, status=204),
)
def delete_callback(callback_id: UUID) -> Response[None]:
    get_services().callbacks.delete(callback_id, request_context())
    return no_content()
