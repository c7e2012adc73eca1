"""FinalizeDigestionFunction entry point: the "Finalize digestion" task of DigestionStateMachine.

In: a ``DigestionTask`` (``openlqs.digestion.payloads``, parsed at the door).
Out: a ``DigestionOutcome``. The rules (and the export's assembly) live in ``openlqs.digestion``.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from openlqs.digestion.payloads import DigestionTask
from openlqs.services import get_services

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="openlqs")


# The digestion id is the correlation id of every task of one execution.
@logger.inject_lambda_context(correlation_id_path="digestion_id")
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_parser(model=DigestionTask)
def lambda_handler(task: DigestionTask, context: LambdaContext) -> dict[str, Any]:
    return get_services().digestion_pipeline.finalize(task).model_dump(mode="json")
