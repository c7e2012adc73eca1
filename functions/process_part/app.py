"""ProcessPartFunction entry point: the "Process part" task, one iteration of "Process parts".

In: a ``PartTask`` (``openlqs.ingestion.payloads``, parsed at the door).
Out: a ``PartOutcome``. The rules live in ``openlqs.ingestion.pipeline``.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from openlqs.ingestion.payloads import PartTask
from openlqs.services import get_services

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="openlqs")


# The ingestion id is the correlation id of every task of one execution.
@logger.inject_lambda_context(correlation_id_path="ingestion_id")
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_parser(model=PartTask)
def lambda_handler(task: PartTask, context: LambdaContext) -> dict[str, Any]:
    return get_services().pipeline.process_part(task).model_dump(mode="json")
