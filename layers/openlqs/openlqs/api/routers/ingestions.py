"""Ingestions and their parts: ``/ingestions``, ``/ingestions/{id}/parts`` and ``/ingestionParts``.

Nested part routes find a part by its own id: the official client fetches
``ingestions/00000000-0000-0000-0000-000000000000/parts/{id}``, so the nil parent id is accepted, and
any other parent id must be the part's.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from openlqs.api.common import LockToken, no_content, paginated, request_context
from openlqs.api.responses import DELETE, LOCKED, READ, WRITE, declare
from openlqs.models.common import DataResponse, PaginatedResponse
from openlqs.models.ingestions import (
    Ingestion,
    IngestionCreateRequest,
    IngestionListParams,
    IngestionPart,
    IngestionPartCreateRequest,
    IngestionPartListParams,
    IngestionPartUpdateRequest,
    IngestionUpdateRequest,
)
from openlqs.services import get_services

router = Router()
TAGS = ["Ingestions"]
PART_TAGS = ["Ingestion parts"]
INGESTION = DataResponse[Ingestion]
PART = DataResponse[IngestionPart]


# -- ingestions -------------------------------------------------------------------------------------


@router.get(
    "/ingestions", summary="List ingestions", tags=TAGS, responses=declare(PaginatedResponse[Ingestion], READ)
)
def list_ingestions(params: Annotated[IngestionListParams, Query()]) -> PaginatedResponse[Ingestion]:
    request_context()
    count, ingestions = get_services().ingestions.list(params)
    return paginated(params, count, ingestions)


@router.post(
    "/ingestions",
    summary="Create an ingestion (state queued starts processing)",
    tags=TAGS,
    responses=declare(INGESTION, WRITE, LOCKED),
)
def create_ingestion(body: IngestionCreateRequest, lock_token: LockToken = None) -> DataResponse[Ingestion]:
    return DataResponse(data=get_services().ingestions.create(body, request_context(lock_token)))


@router.get(
    "/ingestions/<ingestion_id>", summary="Fetch an ingestion", tags=TAGS, responses=declare(INGESTION, READ)
)
def fetch_ingestion(ingestion_id: UUID) -> DataResponse[Ingestion]:
    request_context()
    return DataResponse(data=get_services().ingestions.get(ingestion_id))


@router.patch(
    "/ingestions/<ingestion_id>",
    summary="Update an ingestion (state queued starts processing)",
    tags=TAGS,
    responses=declare(INGESTION, WRITE, LOCKED),
)
def update_ingestion(
    ingestion_id: UUID, body: IngestionUpdateRequest, lock_token: LockToken = None
) -> DataResponse[Ingestion]:
    context = request_context(lock_token)
    return DataResponse(data=get_services().ingestions.update(ingestion_id, body, context))


@router.delete(
    "/ingestions/<ingestion_id>",
    summary="Delete an ingestion with its parts and records",
    tags=TAGS,
    responses=declare(None, DELETE, LOCKED, status=204),
)
def delete_ingestion(ingestion_id: UUID, lock_token: LockToken = None) -> Response[None]:
    get_services().ingestions.delete(ingestion_id, request_context(lock_token))
    return no_content()


# -- parts of one ingestion -------------------------------------------------------------------------


@router.get(
    "/ingestions/<ingestion_id>/parts",
    summary="List an ingestion's parts",
    tags=PART_TAGS,
    responses=declare(PaginatedResponse[IngestionPart], READ),
)
def list_parts_of_ingestion(
    ingestion_id: UUID, params: Annotated[IngestionPartListParams, Query()]
) -> PaginatedResponse[IngestionPart]:
    request_context()
    count, parts = get_services().ingestion_parts.list(params, ingestion_id)
    return paginated(params, count, parts)


@router.post(
    "/ingestions/<ingestion_id>/parts",
    summary="Create an ingestion part",
    tags=PART_TAGS,
    responses=declare(PART, WRITE, LOCKED),
)
def create_ingestion_part(
    ingestion_id: UUID, body: IngestionPartCreateRequest, lock_token: LockToken = None
) -> DataResponse[IngestionPart]:
    context = request_context(lock_token)
    return DataResponse(data=get_services().ingestion_parts.create(ingestion_id, body, context))


@router.get(
    "/ingestions/<ingestion_id>/parts/<part_id>",
    summary="Fetch an ingestion part",
    tags=PART_TAGS,
    responses=declare(PART, READ),
)
def fetch_nested_ingestion_part(ingestion_id: UUID, part_id: UUID) -> DataResponse[IngestionPart]:
    request_context()
    return DataResponse(data=get_services().ingestion_parts.get(part_id, ingestion_id))


@router.patch(
    "/ingestions/<ingestion_id>/parts/<part_id>",
    summary="Update an ingestion part",
    tags=PART_TAGS,
    responses=declare(PART, WRITE, LOCKED),
)
def update_nested_ingestion_part(
    ingestion_id: UUID, part_id: UUID, body: IngestionPartUpdateRequest, lock_token: LockToken = None
) -> DataResponse[IngestionPart]:
    context = request_context(lock_token)
    part = get_services().ingestion_parts.update(part_id, body, context, ingestion_id=ingestion_id)
    return DataResponse(data=part)


@router.delete(
    "/ingestions/<ingestion_id>/parts/<part_id>",
    summary="Delete an ingestion part",
    tags=PART_TAGS,
    responses=declare(None, DELETE, LOCKED, status=204),
)
def delete_nested_ingestion_part(
    ingestion_id: UUID, part_id: UUID, lock_token: LockToken = None
) -> Response[None]:
    context = request_context(lock_token)
    get_services().ingestion_parts.delete(part_id, context, ingestion_id=ingestion_id)
    return no_content()


# -- parts by id ------------------------------------------------------------------------------------


@router.get(
    "/ingestionParts",
    summary="List ingestion parts",
    tags=PART_TAGS,
    responses=declare(PaginatedResponse[IngestionPart], READ),
)
def list_ingestion_parts(
    params: Annotated[IngestionPartListParams, Query()],
) -> PaginatedResponse[IngestionPart]:
    request_context()
    count, parts = get_services().ingestion_parts.list(params)
    return paginated(params, count, parts)


@router.get(
    "/ingestionParts/<part_id>",
    summary="Fetch an ingestion part",
    tags=PART_TAGS,
    responses=declare(PART, READ),
)
def fetch_ingestion_part(part_id: UUID) -> DataResponse[IngestionPart]:
    request_context()
    return DataResponse(data=get_services().ingestion_parts.get(part_id))


@router.patch(
    "/ingestionParts/<part_id>",
    summary="Update an ingestion part",
    tags=PART_TAGS,
    responses=declare(PART, WRITE, LOCKED),
)
def update_ingestion_part(
    part_id: UUID, body: IngestionPartUpdateRequest, lock_token: LockToken = None
) -> DataResponse[IngestionPart]:
    context = request_context(lock_token)
    return DataResponse(data=get_services().ingestion_parts.update(part_id, body, context))


@router.delete(
    "/ingestionParts/<part_id>",
    summary="Delete an ingestion part",
    tags=PART_TAGS,
    responses=declare(None, DELETE, LOCKED, status=204),
)
def delete_ingestion_part(part_id: UUID, lock_token: LockToken = None) -> Response[None]:
    get_services().ingestion_parts.delete(part_id, request_context(lock_token))
    return no_content()
