"""``QueryRunner`` that invokes QueryFunction (synchronously, ``lambda:InvokeFunction``).

DuckDB does not fit ApiFunction's layer (docs/performance.md), so ApiFunction hands a statement to
QueryFunction, which has it, and waits for the answer. One attempt only: a statement is not run twice
because an answer was slow. What goes wrong on QueryFunction's side is the query's stored error
(``QueryTimeout`` when Lambda stopped it, ``QueryFailed`` otherwise); Lambda refusing the invocation
(throttled, or not there) is 503, and nothing is stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from openlqs.errors import ServiceUnavailable
from openlqs.models.queries import QueryOutcome, QueryRun

#: Longest error message kept from QueryFunction's failure.
_MESSAGE_LENGTH = 2_000


def lambda_client(read_timeout_s: float) -> Any:
    """A Lambda client that waits ``read_timeout_s`` for an answer and never sends an invocation twice."""
    config = Config(read_timeout=read_timeout_s, connect_timeout=5, retries={"total_max_attempts": 1})
    return boto3.client("lambda", config=config)


class LambdaQueryRunner:
    def __init__(self, function_name: str, client_factory: Callable[[], Any]) -> None:
        self.function_name = function_name
        self._client_factory = client_factory
        self._client: Any = None

    def run(self, run: QueryRun) -> QueryOutcome:
        if self._client is None:
            self._client = self._client_factory()
        try:
            response = self._client.invoke(
                FunctionName=self.function_name,
                InvocationType="RequestResponse",
                Payload=run.model_dump_json().encode(),
            )
            payload = json.loads(response["Payload"].read() or b"null")
        except ClientError as error:
            code = error.response["Error"]["Code"]
            raise ServiceUnavailable(
                f"QueryFunction could not be invoked ({code}); send the request again."
            ) from error
        except BotoCoreError as error:  # the answer did not come in time, or the connection failed
            raise ServiceUnavailable(
                f"QueryFunction did not answer ({type(error).__name__}); send the request again."
            ) from error
        if response.get("FunctionError"):
            failure = payload if isinstance(payload, dict) else {}
            kind = str(failure.get("errorType", "Unhandled"))
            message = str(failure.get("errorMessage", ""))[:_MESSAGE_LENGTH]
            if "Timedout" in kind or "timed out" in message:
                stored = {"name": "QueryTimeout", "message": f"QueryFunction was stopped: {message}"}
            else:
                stored = {"name": "QueryFailed", "message": f"{kind}: {message}"}
            return QueryOutcome(error=stored)
        return QueryOutcome.model_validate(payload)
