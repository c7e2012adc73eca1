"""Logs: ``/logs``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from openlqs.api.common import LockToken, no_content, paginated, request_context
from openlqs.api.responses import DELETE, LOCKED, READ, WRITE, declare
from openlqs.models.common import DataResponse, PaginatedResponse
from openlqs.models.resources import Log, LogCreateRequest, LogListParams, LogUpdateRequest
from openlqs.services import get_services

router = Router()
TAGS = ["Logs"]


@router.get("/logs", summary="List logs", tags=TAGS, responses=declare(PaginatedResponse[Log], READ))
def list_logs(params: Annotated[LogListParams, Query()]) -> PaginatedResponse[Log]:
    request_context()
    count, logs = get_services().logs.list(params)
    return paginated(params, count, logs)


@router.post("/logs", summary="Create a log", tags=TAGS, responses=declare(DataResponse[Log], WRITE))
def create_log(body: LogCreateRequest, lock_token: LockToken = None) -> DataResponse[Log]:
    return DataResponse(data=get_services().logs.create(body, request_context(lock_token)))


@router.get("/logs/<log_id>", summary="Fetch a log", tags=TAGS, responses=declare(DataResponse[Log], READ))
def fetch_log(log_id: UUID) -> DataResponse[Log]:
    request_context()
    return DataResponse(data=get_services().logs.get(log_id))


@router.patch(
    "/logs/<log_id>", summary="Update a log", tags=TAGS, responses=declare(DataResponse[Log], WRITE, LOCKED)
)
def update_log(log_id: UUID, body: LogUpdateRequest, lock_token: LockToken = None) -> DataResponse[Log]:
    context = request_context(lock_token)
    return DataResponse(data=get_services().logs.update(log_id, body, context))


@router.delete(
    "/logs/<log_id>",
    summary="Delete a log (refused while it has topics)",
    tags=TAGS,
    responses=declare(None, DELETE, LOCKED, status=204),
)
def delete_log(log_id: UUID, lock_token: LockToken = None) -> Response[None]:
    get_services().logs.delete(log_id, request_context(lock_token))
    return no_content()
