"""ConsoleFunction entry point: the web console's files at /console/ (openlqs.api.console).

The files are in ``static/`` beside this file: only this function ships them.
"""

from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from openlqs.api.console import ConsoleFiles

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="openlqs")
console = ConsoleFiles(Path(__file__).resolve().parent / "static")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return console.answer(event)
