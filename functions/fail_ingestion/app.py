"""FailIngestionFunction entry point: the "Fail ingestion" task, where every task's Catch leads.

In: ``{"ingestion_id", "attempt", "error": {"Error", "Cause"}}`` (the caught error); out:
``{"ingestion_id", "state": "failed"}``. The rules live in ``openlqs.ingestion``.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from openlqs.ingestion import handlers

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="openlqs")


# The ingestion id is the correlation id of every task of one execution.
@logger.inject_lambda_context(correlation_id_path="ingestion_id")
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handlers.fail(event)
