"""IngestionTriggerFunction entry point: queued ingestions start; dropped files become queued ingestions.

The function is subscribed to two event sources, each with its own parser and handler below, chosen by
the records' ``eventSource``: the ResourcesTable stream (an ingestion entered ``queued``: start its
state machine execution) and S3 (a file created in the drop folder). The rules live in
``openlqs.ingestion.trigger`` and ``openlqs.drop_folder``.
"""

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus
from uuid import UUID

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import (
    DynamoDBStreamChangedRecordModel,
    DynamoDBStreamModel,
    DynamoDBStreamRecordModel,
    S3Model,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from openlqs import drop_folder
from openlqs.ingestion import trigger

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="openlqs")

#: The correlation id of the invocation: the id of the S3 request that created the object, or the id
#: of the first stream record.
CORRELATION_ID_PATH = 'Records[0].responseElements."x-amz-request-id" || Records[0].eventID'


class ResourceImage(BaseModel):
    """The attributes of a ResourcesTable item the trigger reads (``x_attempt``: the attempt number)."""

    kind: str | None = None
    id: UUID | None = None
    state: str | None = None
    x_attempt: int | None = None


class ResourceChange(DynamoDBStreamChangedRecordModel):
    NewImage: ResourceImage | None = None
    OldImage: ResourceImage | None = None

    @property
    def queued_ingestion(self) -> ResourceImage | None:
        """The new image if this change moved an ingestion into ``queued``, else None.

        The same test as the event's FilterCriteria in template.yaml, repeated for the sources that do
        not filter (local mode's stream poller).
        """
        new, old = self.NewImage, self.OldImage
        if new is None or new.kind != "ingestion" or new.state != "queued":
            return None
        return new if old is None or old.state != "queued" else None


class ResourceStreamRecord(DynamoDBStreamRecordModel):
    dynamodb: ResourceChange


class ResourceStreamModel(DynamoDBStreamModel):
    Records: list[ResourceStreamRecord]  # type: ignore[assignment]


@event_parser(model=ResourceStreamModel)
def on_resources_changed(event: ResourceStreamModel, context: LambdaContext) -> dict[str, Any]:
    """Start one execution per ingestion that entered ``queued``; returns the started executions' ARNs.

    An execution already started for the same attempt (a duplicate or retried record) is not started
    again and not listed.
    """
    execution_arns = []
    for record in event.Records:
        queued = record.dynamodb.queued_ingestion
        if queued is None:
            continue
        if queued.id is None or queued.x_attempt is None:
            raise ValueError(f"Queued ingestion item {record.dynamodb.Keys} has no id or no x_attempt.")
        execution_arn = trigger.start_ingestion(queued.id, queued.x_attempt)
        if execution_arn is not None:
            execution_arns.append(execution_arn)
    metrics.add_metric(name="IngestionsStarted", unit=MetricUnit.Count, value=len(execution_arns))
    return {"execution_arns": execution_arns}


@event_parser(model=S3Model)
def on_objects_created(event: S3Model, context: LambdaContext) -> dict[str, Any]:
    """Register every file of an S3 ``ObjectCreated`` event; returns the ids of the queued ingestions.

    S3 URL-encodes the keys of its events ("+" for a space), so keys are decoded first.
    """
    ingestion_ids = []
    for record in event.Records:
        created = record.s3.object
        if created is None:
            continue
        ingestion_id = drop_folder.register_dropped_object(
            bucket=record.s3.bucket.name,
            key=unquote_plus(created.key),
            etag=created.eTag,
            size=None if created.size is None else int(created.size),
        )
        if ingestion_id is not None:
            ingestion_ids.append(str(ingestion_id))
    metrics.add_metric(name="DroppedFilesQueued", unit=MetricUnit.Count, value=len(ingestion_ids))
    return {"ingestion_ids": ingestion_ids}


#: Handlers by the ``eventSource`` of the records they receive.
HANDLERS: dict[str, Callable[[dict[str, Any], LambdaContext], dict[str, Any]]] = {
    "aws:dynamodb": on_resources_changed,
    "aws:s3": on_objects_created,
}


def event_source(event: dict[str, Any]) -> str:
    """The one ``eventSource`` of the event's records; raises ``ValueError`` for anything else."""
    sources = {record.get("eventSource") for record in event.get("Records") or [] if isinstance(record, dict)}
    if len(sources) != 1 or not sources <= HANDLERS.keys():
        raise ValueError(f"IngestionTriggerFunction does not handle events from {sorted(map(str, sources))}")
    return str(sources.pop())


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return HANDLERS[event_source(event)](event, context)
