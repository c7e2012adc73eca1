"""HookDeliveryFunction entry point: state changes of processes become signed POSTs to their hooks.

Subscribed to the ResourcesTable stream (a process of a workflow changed state: queue one delivery per
hook it fires) and to HookDeliveryQueue (make the deliveries; failed ones are reported as batch item
failures and come back after a back-off). The rules live in ``openlqs.hooks.delivery``.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from openlqs.services import get_services

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="openlqs")

#: The correlation id of the invocation: the first stream record's or queue message's id.
CORRELATION_ID_PATH = "Records[0].eventID || Records[0].messageId"


@logger.inject_lambda_context(correlation_id_path=CORRELATION_ID_PATH)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = get_services().hook_delivery.handle(event)
    metrics.add_metric(name="HookDeliveriesQueued", unit=MetricUnit.Count, value=report.queued)
    metrics.add_metric(name="HookDeliveriesMade", unit=MetricUnit.Count, value=report.delivered)
    metrics.add_metric(
        name="HookDeliveriesFailed", unit=MetricUnit.Count, value=len(report.failed_message_ids)
    )
    return report.to_json()
