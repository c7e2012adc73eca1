"""Objects of a log (``/logs/{log_id}/objects``) and of an object store (``/objectStores/{id}/objects``).

Object keys may contain ``/``: ``openlqs.api.app.handle`` percent-encodes the key segment of the path
before routing, so every route here receives the key as one (encoded) path parameter.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from openlqs.api.common import LockToken, no_content, request_context
from openlqs.api.responses import DELETE, READ, WRITE, declare
from openlqs.domain.objects import ObjectSpace
from openlqs.models.common import DataResponse
from openlqs.models.objects import (
    MAX_PART_NUMBER,
    ObjectCreateRequest,
    ObjectFetchParams,
    ObjectListParams,
    ObjectListResponse,
    ObjectPart,
    ObjectPartCreateRequest,
    ObjectPartListParams,
    ObjectPartListResponse,
    ObjectUpdateRequest,
    StoredObject,
)
from openlqs.services import get_services

router = Router()
TAGS = ["Objects"]
PartNumber = Annotated[int, Path(ge=1, le=MAX_PART_NUMBER)]
#: Object routes also answer 403 (a disabled or read-only store) and 409 (bytes of an unfinished upload).
OBJECT_READ = (*READ, 403, 409)
OBJECT = DataResponse[StoredObject]
PART = DataResponse[ObjectPart]
#: The fetch route answers JSON metadata or a redirect, so its return type is open.
FETCH_RESPONSES = declare(OBJECT, OBJECT_READ, redirects=True)
ObjectKey = Annotated[str, Path(description="The object key; may contain '/'", min_length=1)]


def _log_space(log_id: UUID) -> ObjectSpace:
    request_context()
    return get_services().object_spaces.for_log(log_id)


def _store_space(object_store_id: UUID) -> ObjectSpace:
    request_context()
    return get_services().object_spaces.for_store(object_store_id)


# -- log objects ---------------------------------------------------------------------------------
@router.get(
    "/logs/<log_id>/objects",
    summary="List a log's objects",
    tags=TAGS,
    responses=declare(ObjectListResponse, OBJECT_READ),
)
def list_log_objects(log_id: UUID, params: Annotated[ObjectListParams, Query()]) -> ObjectListResponse:
    return get_services().objects.list_objects(_log_space(log_id), params)


@router.post(
    "/logs/<log_id>/objects",
    summary="Start uploading a log object",
    tags=TAGS,
    responses=declare(OBJECT, WRITE),
)
def create_log_object(
    log_id: UUID, body: ObjectCreateRequest, lock_token: LockToken = None
) -> DataResponse[StoredObject]:
    return DataResponse(data=get_services().objects.create(_log_space(log_id), body))


@router.get(
    "/logs/<log_id>/objects/<object_key>",
    summary="Fetch a log object's metadata, or (redirect=true) its bytes",
    tags=TAGS,
    responses=FETCH_RESPONSES,
)
def fetch_log_object(
    log_id: UUID, object_key: ObjectKey, params: Annotated[ObjectFetchParams, Query()]
) -> Response[Any]:
    return _fetch(_log_space(log_id), unquote(object_key), params)


@router.patch(
    "/logs/<log_id>/objects/<object_key>",
    summary="Complete or abort an upload",
    tags=TAGS,
    responses=declare(OBJECT, WRITE),
)
def update_log_object(
    log_id: UUID, object_key: ObjectKey, body: ObjectUpdateRequest, lock_token: LockToken = None
) -> DataResponse[StoredObject]:
    space = _log_space(log_id)
    return DataResponse(data=get_services().objects.update(space, unquote(object_key), body.upload_state))


@router.delete(
    "/logs/<log_id>/objects/<object_key>",
    summary="Delete a log object",
    tags=TAGS,
    responses=declare(None, DELETE, status=204),
)
def delete_log_object(log_id: UUID, object_key: ObjectKey, lock_token: LockToken = None) -> Response[None]:
    get_services().objects.delete(_log_space(log_id), unquote(object_key))
    return no_content()


@router.get(
    "/logs/<log_id>/objects/<object_key>/parts",
    summary="List uploaded parts",
    tags=TAGS,
    responses=declare(ObjectPartListResponse, OBJECT_READ),
)
def list_log_object_parts(
    log_id: UUID, object_key: ObjectKey, params: Annotated[ObjectPartListParams, Query()]
) -> ObjectPartListResponse:
    return get_services().objects.list_parts(_log_space(log_id), unquote(object_key), params)


@router.post(
    "/logs/<log_id>/objects/<object_key>/parts",
    summary="Get a presigned part URL",
    tags=TAGS,
    responses=declare(PART, WRITE),
)
def create_log_object_part(
    log_id: UUID, object_key: ObjectKey, body: ObjectPartCreateRequest
) -> DataResponse[ObjectPart]:
    space = _log_space(log_id)
    return DataResponse(data=get_services().objects.create_part(space, unquote(object_key), body))


@router.get(
    "/logs/<log_id>/objects/<object_key>/parts/<part_number>",
    summary="Fetch an uploaded part",
    tags=TAGS,
    responses=declare(PART, OBJECT_READ),
)
def fetch_log_object_part(
    log_id: UUID, object_key: ObjectKey, part_number: PartNumber
) -> DataResponse[ObjectPart]:
    space = _log_space(log_id)
    return DataResponse(data=get_services().objects.fetch_part(space, unquote(object_key), part_number))


# -- object-store objects ------------------------------------------------------------------------
STORE_TAGS = ["Object stores"]


@router.get(
    "/objectStores/<object_store_id>/objects",
    summary="List an object store's objects",
    tags=STORE_TAGS,
    responses=declare(ObjectListResponse, OBJECT_READ),
)
def list_store_objects(
    object_store_id: UUID, params: Annotated[ObjectListParams, Query()]
) -> ObjectListResponse:
    return get_services().objects.list_objects(_store_space(object_store_id), params)


@router.post(
    "/objectStores/<object_store_id>/objects",
    summary="Start uploading an object",
    tags=STORE_TAGS,
    responses=declare(OBJECT, WRITE),
)
def create_store_object(object_store_id: UUID, body: ObjectCreateRequest) -> DataResponse[StoredObject]:
    return DataResponse(data=get_services().objects.create(_store_space(object_store_id), body))


@router.get(
    "/objectStores/<object_store_id>/objects/<object_key>",
    summary="Fetch an object's metadata, or (redirect=true) its bytes",
    tags=STORE_TAGS,
    responses=FETCH_RESPONSES,
)
def fetch_store_object(
    object_store_id: UUID, object_key: ObjectKey, params: Annotated[ObjectFetchParams, Query()]
) -> Response[Any]:
    return _fetch(_store_space(object_store_id), unquote(object_key), params)


@router.patch(
    "/objectStores/<object_store_id>/objects/<object_key>",
    summary="Complete or abort",
    tags=STORE_TAGS,
    responses=declare(OBJECT, WRITE),
)
def update_store_object(
    object_store_id: UUID, object_key: ObjectKey, body: ObjectUpdateRequest
) -> DataResponse[StoredObject]:
    space = _store_space(object_store_id)
    return DataResponse(data=get_services().objects.update(space, unquote(object_key), body.upload_state))


@router.delete(
    "/objectStores/<object_store_id>/objects/<object_key>",
    summary="Delete an object",
    tags=STORE_TAGS,
    responses=declare(None, DELETE, status=204),
)
def delete_store_object(object_store_id: UUID, object_key: ObjectKey) -> Response[None]:
    get_services().objects.delete(_store_space(object_store_id), unquote(object_key))
    return no_content()


@router.get(
    "/objectStores/<object_store_id>/objects/<object_key>/parts",
    summary="List parts",
    tags=STORE_TAGS,
    responses=declare(ObjectPartListResponse, OBJECT_READ),
)
def list_store_object_parts(
    object_store_id: UUID, object_key: ObjectKey, params: Annotated[ObjectPartListParams, Query()]
) -> ObjectPartListResponse:
    return get_services().objects.list_parts(_store_space(object_store_id), unquote(object_key), params)


@router.post(
    "/objectStores/<object_store_id>/objects/<object_key>/parts",
    summary="Part URL",
    tags=STORE_TAGS,
    responses=declare(PART, WRITE),
)
def create_store_object_part(
    object_store_id: UUID, object_key: ObjectKey, body: ObjectPartCreateRequest
) -> DataResponse[ObjectPart]:
    space = _store_space(object_store_id)
    return DataResponse(data=get_services().objects.create_part(space, unquote(object_key), body))


@router.get(
    "/objectStores/<object_store_id>/objects/<object_key>/parts/<part_number>",
    summary="Fetch a part",
    tags=STORE_TAGS,
    responses=declare(PART, OBJECT_READ),
)
def fetch_store_object_part(
    object_store_id: UUID, object_key: ObjectKey, part_number: PartNumber
) -> DataResponse[ObjectPart]:
    space = _store_space(object_store_id)
    return DataResponse(data=get_services().objects.fetch_part(space, unquote(object_key), part_number))


def _fetch(space: ObjectSpace, key: str, params: ObjectFetchParams) -> Response[Any]:
    """Metadata (JSON), or with ``redirect`` a 302 to a presigned URL serving the bytes (Range honoured)."""
    objects = get_services().objects
    if params.redirect:
        url = objects.locate_bytes(space, key).url
        return Response(status_code=302, content_type="text/plain", body="", headers={"Location": url})
    body = DataResponse(data=objects.fetch(space, key)).model_dump(mode="json")
    return Response(status_code=200, content_type="application/json", body=body)
