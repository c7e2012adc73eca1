"""Records of a topic: ``/topics/{topic_id}/records[/{timestamp}]``."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import WrapValidator

from openlqs.api.common import LockToken, json_page, no_content, request_context
from openlqs.api.record_pages import list_wire
from openlqs.api.responses import DELETE, LOCKED, READ, TOO_LARGE, WRITE, declare
from openlqs.models.common import (
    INT64_MAX,
    TIMESTAMP_DESCRIPTION,
    DataResponse,
    PaginatedResponse,
    nanoseconds,
)
from openlqs.models.coverage import TopicCoverage, TopicCoverageParams
from openlqs.models.records import (
    Record,
    RecordCreateRequest,
    RecordFetchParams,
    RecordListParams,
    RecordUpdateRequest,
)
from openlqs.services import get_services

router = Router()
TAGS = ["Records"]
Timestamp = Annotated[
    int,
    WrapValidator(nanoseconds),
    Path(ge=0, le=INT64_MAX, description=TIMESTAMP_DESCRIPTION),
]


@router.get(
    "/topics/<topic_id>/records",
    summary="List a topic's records in a time window",
    tags=TAGS,
    # 413: the record data asked for (include_raw_data/include_auxiliary_data) does not fit one answer
    responses=declare(PaginatedResponse[Record], READ, TOO_LARGE),
)
def list_records(topic_id: UUID, params: Annotated[RecordListParams, Query()]) -> Response[Any]:
    request_context()
    services = get_services()
    if params.tag_id is not None:
        params = services.tags.record_window(params.tag_id, services.records.topic(topic_id), params)
    if not (params.include_raw_data or params.include_auxiliary_data):
        # The hot path: records straight to JSON, without a model per record (decision 32).
        count, data = list_wire(services.records, topic_id, params)
        return json_page(params, count, data)
    count, records = services.records.list_records(topic_id, params)
    records = services.record_data.fill(
        services.records.topic(topic_id),
        records,
        raw=params.include_raw_data,
        auxiliary=params.include_auxiliary_data,
    )
    return json_page(params, count, records)


@router.post(
    "/topics/<topic_id>/records",
    summary="Create a record",
    tags=TAGS,
    responses=declare(DataResponse[Record], WRITE, LOCKED),
)
def create_record(
    topic_id: UUID, body: RecordCreateRequest, lock_token: LockToken = None
) -> DataResponse[Record]:
    context = request_context(lock_token)
    return DataResponse(data=get_services().records.create(topic_id, body, context))


@router.get(
    "/topics/<topic_id>/records/<timestamp>",
    summary="Fetch the record at a timestamp",
    tags=TAGS,
    responses=declare(DataResponse[Record], READ, TOO_LARGE),
)
def fetch_record(
    topic_id: UUID, timestamp: Timestamp, params: Annotated[RecordFetchParams, Query()]
) -> DataResponse[Record]:
    request_context()
    services = get_services()
    record = services.records.get(topic_id, timestamp, auxiliary=params.include_auxiliary_data)
    if params.include_raw_data or params.include_auxiliary_data:
        (record,) = services.record_data.fill(
            services.records.topic(topic_id),
            [record],
            raw=params.include_raw_data,
            auxiliary=params.include_auxiliary_data,
        )
    return DataResponse(data=record)


@router.patch(
    "/topics/<topic_id>/records/<timestamp>",
    summary="Update a record",
    tags=TAGS,
    responses=declare(DataResponse[Record], WRITE, LOCKED),
)
def update_record(
    topic_id: UUID, timestamp: Timestamp, body: RecordUpdateRequest, lock_token: LockToken = None
) -> DataResponse[Record]:
    context = request_context(lock_token)
    return DataResponse(data=get_services().records.update(topic_id, timestamp, body, context))


@router.delete(
    "/topics/<topic_id>/records/<timestamp>",
    summary="Delete a record",
    tags=TAGS,
    responses=declare(None, DELETE, LOCKED, status=204),
)
def delete_record(topic_id: UUID, timestamp: Timestamp, lock_token: LockToken = None) -> Response[None]:
    get_services().records.delete(topic_id, timestamp, request_context(lock_token))
    return no_content()


@router.get(
    "/topics/<topic_id>/coverage",
    summary="When a topic has records: counts per time bin, from its record blocks (openlqs)",
    description="Not a LogQS route. Counts the topic's records in `bins` equal bins of a window from its "
    "record blocks, without listing a record: exactly from the blocks' timestamps when few blocks reach "
    "the window (`exact`), else from their statistics alone (each block's records spread evenly over its "
    "time range; a bin with 0 still has no record). The web console draws its timeline from it.",
    tags=TAGS,
    responses=declare(DataResponse[TopicCoverage], READ),
)
def topic_coverage(
    topic_id: UUID, params: Annotated[TopicCoverageParams, Query()]
) -> DataResponse[TopicCoverage]:
    request_context()
    found = get_services().records.coverage(topic_id, params.timestamp_gte, params.timestamp_lt, params.bins)
    return DataResponse(data=TopicCoverage.model_validate(found, from_attributes=True))
