"""FailPartFunction entry point: the "Record part failure" task, where a failed "Process part" leads.

In: a ``FailedPartTask`` (``openlqs.ingestion.payloads``, parsed at the door): the part and the error its
Catch caught. Out: a ``PartState``. The part's child execution then fails, the Map with it, and "Fail
ingestion" names the part. The rules live in ``openlqs.ingestion.pipeline``.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from openlqs.ingestion.payloads import FailedPartTask
from openlqs.services import get_services

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="openlqs")


# The ingestion id is the correlation id of every task of one execution.
@logger.inject_lambda_context(correlation_id_path="ingestion_id")
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_parser(model=FailedPartTask)
def lambda_handler(task: FailedPartTask, context: LambdaContext) -> dict[str, Any]:
    return get_services().pipeline.fail_part(task).model_dump(mode="json")
