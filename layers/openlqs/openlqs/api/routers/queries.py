"""Queries: ``/logs/{log_id}/queries`` and ``/queries`` (contract §4). A query's statement runs when it
is created or its statement or parameters change; a bad statement is stored with its ``error`` (200),
never a 4xx/5xx, so the official client does not retry it."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query as QueryParam

from openlqs.api.common import LockToken, no_content, paginated, request_context
from openlqs.api.responses import DELETE, LOCKED, READ, UNAVAILABLE, WRITE, declare
from openlqs.models.common import DataResponse, PaginatedResponse
from openlqs.models.queries import Query, QueryCreateRequest, QueryListParams, QueryUpdateRequest
from openlqs.services import get_services

router = Router()
TAGS = ["Queries"]


@router.get(
    "/queries",
    summary="List queries of every log",
    tags=TAGS,
    responses=declare(PaginatedResponse[Query], READ),
)
def list_queries(params: Annotated[QueryListParams, QueryParam()]) -> PaginatedResponse[Query]:
    request_context()
    count, queries = get_services().queries.list(params)
    return paginated(params, count, queries)


@router.get(
    "/logs/<log_id>/queries",
    summary="List a log's queries",
    tags=TAGS,
    responses=declare(PaginatedResponse[Query], READ),
)
def list_log_queries(
    log_id: UUID, params: Annotated[QueryListParams, QueryParam()]
) -> PaginatedResponse[Query]:
    request_context()
    count, queries = get_services().queries.list(params, log_id=log_id)
    return paginated(params, count, queries)


@router.post(
    "/logs/<log_id>/queries",
    summary="Create a query and run its SQL over the log (records, topics, tags, ingestions)",
    tags=TAGS,
    # 503: QueryFunction could not be invoked (throttled); nothing was stored
    responses=declare(DataResponse[Query], WRITE, UNAVAILABLE),
)
def create_query(log_id: UUID, body: QueryCreateRequest) -> DataResponse[Query]:
    return DataResponse(data=get_services().queries.create(log_id, body, request_context()))


@router.get(
    "/queries/<query_id>", summary="Fetch a query", tags=TAGS, responses=declare(DataResponse[Query], READ)
)
def fetch_query(query_id: UUID) -> DataResponse[Query]:
    request_context()
    return DataResponse(data=get_services().queries.get(query_id))


@router.get(
    "/logs/<log_id>/queries/<query_id>",
    summary="Fetch a query of a log",
    tags=TAGS,
    responses=declare(DataResponse[Query], READ),
)
def fetch_log_query(log_id: UUID, query_id: UUID) -> DataResponse[Query]:
    request_context()
    return DataResponse(data=get_services().queries.get_in(query_id, log_id))


@router.patch(
    "/queries/<query_id>",
    summary="Update a query (a new statement or parameters run again)",
    tags=TAGS,
    responses=declare(DataResponse[Query], WRITE, LOCKED, UNAVAILABLE),
)
def update_query(
    query_id: UUID, body: QueryUpdateRequest, lock_token: LockToken = None
) -> DataResponse[Query]:
    return DataResponse(data=get_services().queries.update(query_id, body, request_context(lock_token)))


@router.patch(
    "/logs/<log_id>/queries/<query_id>",
    summary="Update a query of a log",
    tags=TAGS,
    responses=declare(DataResponse[Query], WRITE, LOCKED, UNAVAILABLE),
)
def update_log_query(
    log_id: UUID, query_id: UUID, body: QueryUpdateRequest, lock_token: LockToken = None
) -> DataResponse[Query]:
    context = request_context(lock_token)
    return DataResponse(data=get_services().queries.update(query_id, body, context, log_id=log_id))


@router.delete(
    "/queries/<query_id>",
    summary="Delete a query",
    tags=TAGS,
    responses=declare(None, DELETE, LOCKED, status=204),
)
def delete_query(query_id: UUID, lock_token: LockToken = None) -> Response[None]:
    get_services().queries.delete(query_id, request_context(lock_token))
    return no_content()


@router.delete(
    "/logs/<log_id>/queries/<query_id>",
    summary="Delete a query of a log",
    tags=TAGS,
    responses=declare(None, DELETE, LOCKED, status=204),
)
def delete_log_query(log_id: UUID, query_id: UUID, lock_token: LockToken = None) -> Response[None]:
    get_services().queries.delete(query_id, request_context(lock_token), log_id=log_id)
    return no_content()
