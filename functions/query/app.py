"""QueryFunction entry point: runs one query's SQL with DuckDB over one log's views.

In: a ``QueryRun`` (``openlqs.models.queries``; ApiFunction invokes this synchronously). Out: a
``QueryOutcome``: columns and rows, or the stored error. DuckDB and nanoarrow come from QueryLayer; the
rules live in ``openlqs.domain.query_runs``.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from openlqs.models.queries import QueryRun
from openlqs.services import get_query_runner

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="openlqs")


# The log is the correlation id: a statement never names another.
@logger.inject_lambda_context(correlation_id_path="log_id")
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_parser(model=QueryRun)
def lambda_handler(run: QueryRun, context: LambdaContext) -> dict[str, Any]:
    return get_query_runner().run(run).model_dump(mode="json")
