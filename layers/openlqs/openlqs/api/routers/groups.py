"""Groups: ``/groups``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from openlqs.api.common import LockToken, no_content, paginated, request_context
from openlqs.api.responses import DELETE, LOCKED, READ, WRITE, declare
from openlqs.models.common import DataResponse, PaginatedResponse
from openlqs.models.resources import Group, GroupCreateRequest, GroupListParams, GroupUpdateRequest
from openlqs.services import get_services

router = Router()
TAGS = ["Groups"]


@router.get("/groups", summary="List groups", tags=TAGS, responses=declare(PaginatedResponse[Group], READ))
def list_groups(params: Annotated[GroupListParams, Query()]) -> PaginatedResponse[Group]:
    request_context()
    count, groups = get_services().groups.list(params)
    return paginated(params, count, groups)


@router.post("/groups", summary="Create a group", tags=TAGS, responses=declare(DataResponse[Group], WRITE))
def create_group(body: GroupCreateRequest, lock_token: LockToken = None) -> DataResponse[Group]:
    return DataResponse(data=get_services().groups.create(body, request_context(lock_token)))


@router.get(
    "/groups/<group_id>", summary="Fetch a group", tags=TAGS, responses=declare(DataResponse[Group], READ)
)
def fetch_group(group_id: UUID) -> DataResponse[Group]:
    request_context()
    return DataResponse(data=get_services().groups.get(group_id))


@router.patch(
    "/groups/<group_id>",
    summary="Update a group",
    tags=TAGS,
    responses=declare(DataResponse[Group], WRITE, LOCKED),
)
def update_group(
    group_id: UUID, body: GroupUpdateRequest, lock_token: LockToken = None
) -> DataResponse[Group]:
    context = request_context(lock_token)
    return DataResponse(data=get_services().groups.update(group_id, body, context))


@router.delete(
    "/groups/<group_id>",
    summary="Delete a group (refused while it has logs)",
    tags=TAGS,
    responses=declare(None, DELETE, LOCKED, status=204),
)
def delete_group(group_id: UUID, lock_token: LockToken = None) -> Response[None]:
    get_services().groups.delete(group_id, request_context(lock_token))
    return no_content()
