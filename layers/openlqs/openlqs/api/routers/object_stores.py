"""Object stores: ``/objectStores`` (external S3-compatible buckets, read in place)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from openlqs.api.common import no_content, paginated, request_context
from openlqs.api.responses import DELETE, READ, WRITE, declare
from openlqs.models.common import DataResponse, PaginatedResponse
from openlqs.models.objects import (
    ObjectStore,
    ObjectStoreCreateRequest,
    ObjectStoreListParams,
    ObjectStoreUpdateRequest,
)
from openlqs.services import get_services

router = Router()
TAGS = ["Object stores"]


@router.get(
    "/objectStores",
    summary="List object stores",
    tags=TAGS,
    responses=declare(PaginatedResponse[ObjectStore], READ),
)
def list_object_stores(params: Annotated[ObjectStoreListParams, Query()]) -> PaginatedResponse[ObjectStore]:
    request_context()
    count, stores = get_services().object_stores.list(params)
    return paginated(params, count, stores)


@router.post(
    "/objectStores",
    summary="Register an object store (its secret is stored encrypted)",
    tags=TAGS,
    responses=declare(DataResponse[ObjectStore], WRITE),
)
def create_object_store(body: ObjectStoreCreateRequest) -> DataResponse[ObjectStore]:
    return DataResponse(data=get_services().object_stores.create(body, request_context()))


@router.get(
    "/objectStores/<object_store_id>",
    summary="Fetch an object store",
    tags=TAGS,
    responses=declare(DataResponse[ObjectStore], READ),
)
def fetch_object_store(object_store_id: UUID) -> DataResponse[ObjectStore]:
    request_context()
    return DataResponse(data=get_services().object_stores.get(object_store_id))


@router.patch(
    "/objectStores/<object_store_id>",
    summary="Update an object store",
    tags=TAGS,
    responses=declare(DataResponse[ObjectStore], WRITE),
)
def update_object_store(object_store_id: UUID, body: ObjectStoreUpdateRequest) -> DataResponse[ObjectStore]:
    return DataResponse(data=get_services().object_stores.update(object_store_id, body, request_context()))


@router.delete(
    "/objectStores/<object_store_id>",
    summary="Delete an object store",
    tags=TAGS,
    responses=declare(None, DELETE, status=204),
)
def delete_object_store(object_store_id: UUID) -> Response[None]:
    get_services().object_stores.delete(object_store_id, request_context())
    return no_content()
