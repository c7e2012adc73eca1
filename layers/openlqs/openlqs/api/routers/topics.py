"""Topics: ``/topics``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from openlqs.api.common import LockToken, no_content, paginated, request_context
from openlqs.api.responses import DELETE, LOCKED, READ, WRITE, declare
from openlqs.models.common import DataResponse, PaginatedResponse
from openlqs.models.resources import Topic, TopicCreateRequest, TopicListParams, TopicUpdateRequest
from openlqs.services import get_services

router = Router()
TAGS = ["Topics"]


@router.get("/topics", summary="List topics", tags=TAGS, responses=declare(PaginatedResponse[Topic], READ))
def list_topics(params: Annotated[TopicListParams, Query()]) -> PaginatedResponse[Topic]:
    request_context()
    count, topics = get_services().topics.list(params)
    return paginated(params, count, topics)


@router.post("/topics", summary="Create a topic", tags=TAGS, responses=declare(DataResponse[Topic], WRITE))
def create_topic(body: TopicCreateRequest, lock_token: LockToken = None) -> DataResponse[Topic]:
    return DataResponse(data=get_services().topics.create(body, request_context(lock_token)))


@router.get(
    "/topics/<topic_id>", summary="Fetch a topic", tags=TAGS, responses=declare(DataResponse[Topic], READ)
)
def fetch_topic(topic_id: UUID) -> DataResponse[Topic]:
    request_context()
    return DataResponse(data=get_services().topics.get(topic_id))


@router.patch(
    "/topics/<topic_id>",
    summary="Update a topic",
    tags=TAGS,
    responses=declare(DataResponse[Topic], WRITE, LOCKED),
)
def update_topic(
    topic_id: UUID, body: TopicUpdateRequest, lock_token: LockToken = None
) -> DataResponse[Topic]:
    context = request_context(lock_token)
    return DataResponse(data=get_services().topics.update(topic_id, body, context))


@router.delete(
    "/topics/<topic_id>",
    summary="Delete a topic and its records",
    tags=TAGS,
    responses=declare(None, DELETE, LOCKED, status=204),
)
def delete_topic(topic_id: UUID, lock_token: LockToken = None) -> Response[None]:
    get_services().topics.delete(topic_id, request_context(lock_token))
    return no_content()
