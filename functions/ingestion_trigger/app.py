"""IngestionTriggerFunction entry point: a file created in the drop folder becomes a queued ingestion.

The function is subscribed to more than one event source; each has its own parser and handler below,
chosen by the records' ``eventSource``. The rules live in ``openlqs.drop_folder``.
"""

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import S3Model
from aws_lambda_powertools.utilities.typing import LambdaContext

from openlqs import drop_folder

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="openlqs")

#: The id of the S3 request that created the object, as the correlation id of the invocation.
S3_REQUEST_ID_PATH = 'Records[0].responseElements."x-amz-request-id"'


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
    "aws:s3": on_objects_created,
}


def event_source(event: dict[str, Any]) -> str:
    """The one ``eventSource`` of the event's records; raises ``ValueError`` for anything else."""
    sources = {record.get("eventSource") for record in event.get("Records") or [] if isinstance(record, dict)}
    if len(sources) != 1 or not sources <= HANDLERS.keys():
        raise ValueError(f"IngestionTriggerFunction does not handle events from {sorted(map(str, sources))}")
    return str(sources.pop())


@logger.inject_lambda_context(correlation_id_path=S3_REQUEST_ID_PATH)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return HANDLERS[event_source(event)](event, context)
