"""ReconcileIngestionsFunction entry point: an ingestion always ends.

In: EventBridge's "Step Functions Execution Status Change" of an ingestion's execution (FAILED,
TIMED_OUT, ABORTED), or the schedule's "Scheduled Event" (a sweep). Out: the ingestions it failed and
started. The rules live in ``openlqs.ingestion.reconciler``.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from openlqs.services import get_services

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="openlqs")


@logger.inject_lambda_context(correlation_id_path="id")
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = get_services().reconciler.handle(event)
    metrics.add_metric(name="IngestionsReconciled", unit=MetricUnit.Count, value=len(report.failed))
    metrics.add_metric(name="IngestionsRedriven", unit=MetricUnit.Count, value=len(report.started))
    return report.to_json()
