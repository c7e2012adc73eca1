"""FinalizeIngestionFunction entry point: the "Finalize ingestion" task of IngestionStateMachine.

In: an ``IngestionTask`` (``openlqs.ingestion.payloads``, parsed at the door).
Out: an ``IngestionOutcome``. The rules live in ``openlqs.ingestion.pipeline``.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from openlqs.ingestion.payloads import IngestionTask
from openlqs.services import get_services

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="openlqs")


# The ingestion id is the correlation id of every task of one execution.
@logger.inject_lambda_context(correlation_id_path="ingestion_id")
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_parser(model=IngestionTask)
def lambda_handler(task: IngestionTask, context: LambdaContext) -> dict[str, Any]:
    return get_services().pipeline.finalize(task).model_dump(mode="json")
