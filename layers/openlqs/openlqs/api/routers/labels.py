"""Labels: ``/labels`` (unique per category and value) and tags: ``/logs/{log_id}/tags`` and ``/tags``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from openlqs.api.common import LockToken, no_content, paginated, request_context
from openlqs.api.responses import DELETE, LOCKED, READ, WRITE, declare
from openlqs.models.common import DataResponse, PaginatedResponse
from openlqs.models.labels import (
    Label,
    LabelCreateRequest,
    LabelListParams,
    LabelUpdateRequest,
    Tag,
    TagCreateRequest,
    TagListParams,
    TagUpdateRequest,
)
from openlqs.services import get_services

router = Router()
LABELS = ["Labels"]
TAGS = ["Tags"]


@router.get("/labels", summary="List labels", tags=LABELS, responses=declare(PaginatedResponse[Label], READ))
def list_labels(params: Annotated[LabelListParams, Query()]) -> PaginatedResponse[Label]:
    request_context()
    count, labels = get_services().labels.list(params)
    return paginated(params, count, labels)


@router.post(
    "/labels",
    summary="Create a label (409 when its category already has this value)",
    tags=LABELS,
    responses=declare(DataResponse[Label], WRITE),
)
def create_label(body: LabelCreateRequest) -> DataResponse[Label]:
    return DataResponse(data=get_services().labels.create(body, request_context()))


@router.get(
    "/labels/<label_id>", summary="Fetch a label", tags=LABELS, responses=declare(DataResponse[Label], READ)
)
def fetch_label(label_id: UUID) -> DataResponse[Label]:
    request_context()
    return DataResponse(data=get_services().labels.get(label_id))


@router.patch(
    "/labels/<label_id>", summary="Update a label", tags=LABELS, responses=declare(DataResponse[Label], WRITE)
)
def update_label(label_id: UUID, body: LabelUpdateRequest) -> DataResponse[Label]:
    return DataResponse(data=get_services().labels.update(label_id, body, request_context()))


@router.delete(
    "/labels/<label_id>",
    summary="Delete a label (refused while tags use it)",
    tags=LABELS,
    responses=declare(None, DELETE, status=204),
)
def delete_label(label_id: UUID) -> Response[None]:
    get_services().labels.delete(label_id, request_context())
    return no_content()


# -- tags --------------------------------------------------------------------------------------------


@router.get(
    "/tags",
    summary="List tags of every log (label_id, time ranges...)",
    tags=TAGS,
    responses=declare(PaginatedResponse[Tag], READ),
)
def list_tags(params: Annotated[TagListParams, Query()]) -> PaginatedResponse[Tag]:
    request_context()
    count, tags = get_services().tags.list(params)
    return paginated(params, count, tags)


@router.get(
    "/logs/<log_id>/tags",
    summary="List a log's tags",
    tags=TAGS,
    responses=declare(PaginatedResponse[Tag], READ),
)
def list_log_tags(log_id: UUID, params: Annotated[TagListParams, Query()]) -> PaginatedResponse[Tag]:
    request_context()
    count, tags = get_services().tags.list(params, log_id=log_id)
    return paginated(params, count, tags)


@router.post(
    "/logs/<log_id>/tags",
    summary="Tag a log, a topic of it, or a time range",
    tags=TAGS,
    responses=declare(DataResponse[Tag], WRITE, LOCKED),
)
def create_tag(log_id: UUID, body: TagCreateRequest, lock_token: LockToken = None) -> DataResponse[Tag]:
    return DataResponse(data=get_services().tags.create(log_id, body, request_context(lock_token)))


@router.get("/tags/<tag_id>", summary="Fetch a tag", tags=TAGS, responses=declare(DataResponse[Tag], READ))
def fetch_tag(tag_id: UUID) -> DataResponse[Tag]:
    request_context()
    return DataResponse(data=get_services().tags.get(tag_id))


@router.get(
    "/logs/<log_id>/tags/<tag_id>",
    summary="Fetch a tag of a log",
    tags=TAGS,
    responses=declare(DataResponse[Tag], READ),
)
def fetch_log_tag(log_id: UUID, tag_id: UUID) -> DataResponse[Tag]:
    request_context()
    return DataResponse(data=get_services().tags.get_in(tag_id, log_id))


@router.patch(
    "/tags/<tag_id>", summary="Update a tag", tags=TAGS, responses=declare(DataResponse[Tag], WRITE, LOCKED)
)
def update_tag(tag_id: UUID, body: TagUpdateRequest, lock_token: LockToken = None) -> DataResponse[Tag]:
    return DataResponse(data=get_services().tags.update(tag_id, body, request_context(lock_token)))


@router.patch(
    "/logs/<log_id>/tags/<tag_id>",
    summary="Update a tag of a log",
    tags=TAGS,
    responses=declare(DataResponse[Tag], WRITE, LOCKED),
)
def update_log_tag(
    log_id: UUID, tag_id: UUID, body: TagUpdateRequest, lock_token: LockToken = None
) -> DataResponse[Tag]:
    context = request_context(lock_token)
    return DataResponse(data=get_services().tags.update(tag_id, body, context, log_id=log_id))


@router.delete(
    "/tags/<tag_id>", summary="Delete a tag", tags=TAGS, responses=declare(None, DELETE, LOCKED, status=204)
)
def delete_tag(tag_id: UUID, lock_token: LockToken = None) -> Response[None]:
    get_services().tags.delete(tag_id, request_context(lock_token))
    return no_content()


@router.delete(
    "/logs/<log_id>/tags/<tag_id>",
    summary="Delete a tag of a log",
    tags=TAGS,
    responses=declare(None, DELETE, LOCKED, status=204),
)
def delete_log_tag(log_id: UUID, tag_id: UUID, lock_token: LockToken = None) -> Response[None]:
    get_services().tags.delete(tag_id, request_context(lock_token), log_id=log_id)
    return no_content()
