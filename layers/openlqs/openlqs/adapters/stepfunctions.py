"""Step Functions executions, started with boto3 (``ExecutionStarter``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import ClientError

from openlqs.errors import OpenLQSError


class StateMachineNotConfigured(OpenLQSError):
    """The deployment names no state machine to start (a setting is missing)."""


class StepFunctionsStarter:
    """Starts executions of one state machine; an execution name already used starts nothing."""

    def __init__(
        self,
        state_machine_arn: str | None,
        client_factory: Callable[[], Any] = lambda: boto3.client("stepfunctions"),
    ) -> None:
        self.state_machine_arn = state_machine_arn
        self._client_factory = client_factory

    def start(self, name: str, payload: dict[str, Any]) -> str | None:
        if not self.state_machine_arn:
            raise StateMachineNotConfigured("INGESTION_STATE_MACHINE_ARN is not set.")
        try:
            response = self._client_factory().start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload)
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionAlreadyExists":
                return None
            raise
        return str(response["executionArn"])
