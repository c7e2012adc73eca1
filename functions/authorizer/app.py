"""AuthorizerFunction entry point: the REQUEST authorizer of OpenlqsApi (the rules live in openlqs.api).

In: API Gateway's REQUEST authorizer event (headers, ``methodArn``, ``requestContext``); out: an IAM
policy allowing the stage's routes, with the key id and role in ``context``. Invalid or missing
credentials raise ``Exception("Unauthorized")``, which API Gateway answers with 401. The event holds
the caller's secret: it is never logged.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from openlqs.api.authorizer import handle

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="openlqs")


# The API request's id is the correlation id, as in ApiFunction: one request, one id in both logs.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, context)
