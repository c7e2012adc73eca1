"""ReconcileDigestionsFunction entry point: a digestion always ends.

In: EventBridge's "Step Functions Execution Status Change" of a digestion's execution (FAILED,
TIMED_OUT, ABORTED), or the schedule's "Scheduled Event" (a sweep). Out: the digestions it failed and
started. The rules live in ``openlqs.digestion.reconciler`` (the ingestion reconciler's, for digestions).
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
    report = get_services().digestion_reconciler.handle(event)
    metrics.add_metric(name="DigestionsReconciled", unit=MetricUnit.Count, value=len(report.failed))
    metrics.add_metric(name="DigestionsRedriven", unit=MetricUnit.Count, value=len(report.started))
    return report.to_json()
