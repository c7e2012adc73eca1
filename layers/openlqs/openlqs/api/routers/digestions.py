"""Digestions, their topics and parts: ``/digestions``, ``/digestions/{id}/topics|parts``, and the flat
``/digestionTopics`` and ``/digestionParts`` the official client's resource layer uses (next §1.1).

Nested routes find a topic or part by its own id: the official client fetches
``digestions/00000000-0000-0000-0000-000000000000/parts/{id}``, so the nil parent id is accepted, and
any other parent id must be the resource's. A part's ``index`` is returned by fetches, null in lists.
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
from openlqs.models.digestions import (
    Digestion,
    DigestionCreateRequest,
    DigestionListParams,
    DigestionPart,
    DigestionPartCreateRequest,
    DigestionPartListParams,
    DigestionPartUpdateRequest,
    DigestionTopic,
    DigestionTopicCreateRequest,
    DigestionTopicListParams,
    DigestionTopicUpdateRequest,
    DigestionUpdateRequest,
)
from openlqs.services import get_services

router = Router()
TAGS = ["Digestions"]
TOPIC_TAGS = ["Digestion topics"]
PART_TAGS = ["Digestion parts"]
DIGESTION = DataResponse[Digestion]
TOPIC = DataResponse[DigestionTopic]
PART = DataResponse[DigestionPart]


# -- digestions -------------------------------------------------------------------------------------


@router.get(
    "/digestions", summary="List digestions", tags=TAGS, responses=declare(PaginatedResponse[Digestion], READ)
)
def list_digestions(params: Annotated[DigestionListParams, Query()]) -> PaginatedResponse[Digestion]:
    request_context()
    count, digestions = get_services().digestions.list(params)
    return paginated(params, count, digestions)


@router.post(
    "/digestions",
    summary="Create a digestion (add its topics, then PATCH state queued)",
    tags=TAGS,
    responses=declare(DIGESTION, WRITE, LOCKED),
)
def create_digestion(body: DigestionCreateRequest, lock_token: LockToken = None) -> DataResponse[Digestion]:
    return DataResponse(data=get_services().digestions.create(body, request_context(lock_token)))


@router.get(
    "/digestions/<digestion_id>", summary="Fetch a digestion", tags=TAGS, responses=declare(DIGESTION, READ)
)
def fetch_digestion(digestion_id: UUID) -> DataResponse[Digestion]:
    request_context()
    return DataResponse(data=get_services().digestions.get(digestion_id))


@router.patch(
    "/digestions/<digestion_id>",
    summary="Update a digestion (state queued starts it; cancelled stops it)",
    tags=TAGS,
    responses=declare(DIGESTION, WRITE, LOCKED),
)
def update_digestion(
    digestion_id: UUID, body: DigestionUpdateRequest, lock_token: LockToken = None
) -> DataResponse[Digestion]:
    context = request_context(lock_token)
    return DataResponse(data=get_services().digestions.update(digestion_id, body, context))


@router.delete(
    "/digestions/<digestion_id>",
    summary="Delete a digestion with its topics, parts, blobs and export",
    tags=TAGS,
    responses=declare(None, DELETE, LOCKED, status=204),
)
def delete_digestion(digestion_id: UUID, lock_token: LockToken = None) -> Response[None]:
    get_services().digestions.delete(digestion_id, request_context(lock_token))
    return no_content()


# -- topics of one digestion ------------------------------------------------------------------------


@router.get(
    "/digestions/<digestion_id>/topics",
    summary="List a digestion's topics",
    tags=TOPIC_TAGS,
    responses=declare(PaginatedResponse[DigestionTopic], READ),
)
def list_topics_of_digestion(
    digestion_id: UUID, params: Annotated[DigestionTopicListParams, Query()]
) -> PaginatedResponse[DigestionTopic]:
    request_context()
    count, topics = get_services().digestion_topics.list(params, digestion_id)
    return paginated(params, count, topics)


@router.post(
    "/digestions/<digestion_id>/topics",
    summary="Add a topic (window, frequency, filters) to a digestion",
    tags=TOPIC_TAGS,
    responses=declare(TOPIC, WRITE, LOCKED),
)
def create_digestion_topic(
    digestion_id: UUID, body: DigestionTopicCreateRequest, lock_token: LockToken = None
) -> DataResponse[DigestionTopic]:
    context = request_context(lock_token)
    return DataResponse(data=get_services().digestion_topics.create(digestion_id, body, context))


@router.get(
    "/digestions/<digestion_id>/topics/<digestion_topic_id>",
    summary="Fetch a digestion topic",
    tags=TOPIC_TAGS,
    responses=declare(TOPIC, READ),
)
def fetch_nested_digestion_topic(
    digestion_id: UUID, digestion_topic_id: UUID
) -> DataResponse[DigestionTopic]:
    request_context()
    return DataResponse(data=get_services().digestion_topics.get(digestion_topic_id, digestion_id))


@router.patch(
    "/digestions/<digestion_id>/topics/<digestion_topic_id>",
    summary="Update a digestion topic",
    tags=TOPIC_TAGS,
    responses=declare(TOPIC, WRITE, LOCKED),
)
def update_nested_digestion_topic(
    digestion_id: UUID,
    digestion_topic_id: UUID,
    body: DigestionTopicUpdateRequest,
    lock_token: LockToken = None,
) -> DataResponse[DigestionTopic]:
    context = request_context(lock_token)
    topics = get_services().digestion_topics
    return DataResponse(data=topics.update(digestion_topic_id, body, context, digestion_id=digestion_id))


@router.delete(
    "/digestions/<digestion_id>/topics/<digestion_topic_id>",
    summary="Delete a digestion topic",
    tags=TOPIC_TAGS,
    responses=declare(None, DELETE, LOCKED, status=204),
)
def delete_nested_digestion_topic(
    digestion_id: UUID, digestion_topic_id: UUID, lock_token: LockToken = None
) -> Response[None]:
    context = request_context(lock_token)
    get_services().digestion_topics.delete(digestion_topic_id, context, digestion_id=digestion_id)
    return no_content()


# -- topics by id -----------------------------------------------------------------------------------


@router.get(
    "/digestionTopics",
    summary="List digestion topics",
    tags=TOPIC_TAGS,
    responses=declare(PaginatedResponse[DigestionTopic], READ),
)
def list_digestion_topics(
    params: Annotated[DigestionTopicListParams, Query()],
) -> PaginatedResponse[DigestionTopic]:
    request_context()
    count, topics = get_services().digestion_topics.list(params)
    return paginated(params, count, topics)


@router.get(
    "/digestionTopics/<digestion_topic_id>",
    summary="Fetch a digestion topic",
    tags=TOPIC_TAGS,
    responses=declare(TOPIC, READ),
)
def fetch_digestion_topic(digestion_topic_id: UUID) -> DataResponse[DigestionTopic]:
    request_context()
    return DataResponse(data=get_services().digestion_topics.get(digestion_topic_id))


@router.patch(
    "/digestionTopics/<digestion_topic_id>",
    summary="Update a digestion topic",
    tags=TOPIC_TAGS,
    responses=declare(TOPIC, WRITE, LOCKED),
)
def update_digestion_topic(
    digestion_topic_id: UUID, body: DigestionTopicUpdateRequest, lock_token: LockToken = None
) -> DataResponse[DigestionTopic]:
    context = request_context(lock_token)
    return DataResponse(data=get_services().digestion_topics.update(digestion_topic_id, body, context))


@router.delete(
    "/digestionTopics/<digestion_topic_id>",
    summary="Delete a digestion topic",
    tags=TOPIC_TAGS,
    responses=declare(None, DELETE, LOCKED, status=204),
)
def delete_digestion_topic(digestion_topic_id: UUID, lock_token: LockToken = None) -> Response[None]:
    get_services().digestion_topics.delete(digestion_topic_id, request_context(lock_token))
    return no_content()


# -- parts of one digestion -------------------------------------------------------------------------


@router.get(
    "/digestions/<digestion_id>/parts",
    summary="List a digestion's parts (without their index)",
    tags=PART_TAGS,
    responses=declare(PaginatedResponse[DigestionPart], READ),
)
def list_parts_of_digestion(
    digestion_id: UUID, params: Annotated[DigestionPartListParams, Query()]
) -> PaginatedResponse[DigestionPart]:
    request_context()
    count, parts = get_services().digestion_parts.list(params, digestion_id)
    return paginated(params, count, parts)


@router.post(
    "/digestions/<digestion_id>/parts",
    summary="Create a digestion part",
    tags=PART_TAGS,
    responses=declare(PART, WRITE, LOCKED),
)
def create_digestion_part(
    digestion_id: UUID, body: DigestionPartCreateRequest, lock_token: LockToken = None
) -> DataResponse[DigestionPart]:
    context = request_context(lock_token)
    return DataResponse(data=get_services().digestion_parts.create(digestion_id, body, context))


@router.get(
    "/digestions/<digestion_id>/parts/<part_id>",
    summary="Fetch a digestion part with its index",
    tags=PART_TAGS,
    responses=declare(PART, READ),
)
def fetch_nested_digestion_part(digestion_id: UUID, part_id: UUID) -> DataResponse[DigestionPart]:
    request_context()
    return DataResponse(data=get_services().digestion_parts.get(part_id, digestion_id))


@router.patch(
    "/digestions/<digestion_id>/parts/<part_id>",
    summary="Update a digestion part",
    tags=PART_TAGS,
    responses=declare(PART, WRITE, LOCKED),
)
def update_nested_digestion_part(
    digestion_id: UUID, part_id: UUID, body: DigestionPartUpdateRequest, lock_token: LockToken = None
) -> DataResponse[DigestionPart]:
    context = request_context(lock_token)
    part = get_services().digestion_parts.update(part_id, body, context, digestion_id=digestion_id)
    return DataResponse(data=part)


@router.delete(
    "/digestions/<digestion_id>/parts/<part_id>",
    summary="Delete a digestion part",
    tags=PART_TAGS,
    responses=declare(None, DELETE, LOCKED, status=204),
)
def delete_nested_digestion_part(
    digestion_id: UUID, part_id: UUID, lock_token: LockToken = None
) -> Response[None]:
    context = request_context(lock_token)
    get_services().digestion_parts.delete(part_id, context, digestion_id=digestion_id)
    return no_content()


# -- parts by id ------------------------------------------------------------------------------------


@router.get(
    "/digestionParts",
    summary="List digestion parts (without their index)",
    tags=PART_TAGS,
    responses=declare(PaginatedResponse[DigestionPart], READ),
)
def list_digestion_parts(
    params: Annotated[DigestionPartListParams, Query()],
) -> PaginatedResponse[DigestionPart]:
    request_context()
    count, parts = get_services().digestion_parts.list(params)
    return paginated(params, count, parts)


@router.get(
    "/digestionParts/<part_id>",
    summary="Fetch a digestion part with its index",
    tags=PART_TAGS,
    responses=declare(PART, READ),
)
def fetch_digestion_part(part_id: UUID) -> DataResponse[DigestionPart]:
    request_context()
    return DataResponse(data=get_services().digestion_parts.get(part_id))


@router.patch(
    "/digestionParts/<part_id>",
    summary="Update a digestion part",
    tags=PART_TAGS,
    responses=declare(PART, WRITE, LOCKED),
)
def update_digestion_part(
    part_id: UUID, body: DigestionPartUpdateRequest, lock_token: LockToken = None
) -> DataResponse[DigestionPart]:
    context = request_context(lock_token)
    return DataResponse(data=get_services().digestion_parts.update(part_id, body, context))


@router.delete(
    "/digestionParts/<part_id>",
    summary="Delete a digestion part",
    tags=PART_TAGS,
    responses=declare(None, DELETE, LOCKED, status=204),
)
def delete_digestion_part(part_id: UUID, lock_token: LockToken = None) -> Response[None]:
    get_services().digestion_parts.delete(part_id, request_context(lock_token))
    return no_content()
