"""IngestionTriggerFunction entry point: queued ingestions start; dropped files become queued ingestions.

Subscribed to the ResourcesTable stream and to S3 events of the drop folder; the rules (which source,
its Powertools model, what to do) live in ``openlqs.ingestion.trigger``.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from openlqs.services import get_services

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="openlqs")

#: The correlation id of the invocation: the id of the S3 request that created the object, or the id
#: of the first stream record.
CORRELATION_ID_PATH = 'Records[0].responseElements."x-amz-request-id" || Records[0].eventID'


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = get_services().trigger.handle(event)
    if result.ingestion_ids is not None:
        metrics.add_metric(name="DroppedFilesQueued", unit=MetricUnit.Count, value=len(result.ingestion_ids))
    else:
        metrics.add_metric(
            name="IngestionsStarted", unit=MetricUnit.Count, value=len(result.execution_arns or [])
        )
    return result.to_json()
