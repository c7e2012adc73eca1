"""Step Functions executions of one state machine, with boto3 (``Executions``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import ClientError

from openlqs.errors import OpenLQSError


class StateMachineNotConfigured(OpenLQSError):
    """The deployment names no state machine to start (a setting is missing)."""


class StepFunctionsExecutions:
    """Executions of one state machine by name; a name already used starts nothing."""

    def __init__(
        self,
        state_machine_arn: str | None,
        client_factory: Callable[[], Any] = lambda: boto3.client("stepfunctions"),
        *,
        setting: str = "INGESTION_STATE_MACHINE_ARN",
    ) -> None:
        self.state_machine_arn = state_machine_arn
        self._client_factory = client_factory
        #: The setting that names the state machine, for the error when it is missing.
        self.setting = setting

    def start(self, name: str, payload: dict[str, Any]) -> str | None:
        if not self.state_machine_arn:
            raise StateMachineNotConfigured(f"{self.setting} is not set.")
        try:
            response = self._client_factory().start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload)
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionAlreadyExists":
                return None
            raise
        return str(response["executionArn"])

    def _execution_arn(self, name: str) -> str:
        if not self.state_machine_arn:
            raise StateMachineNotConfigured(f"{self.setting} is not set.")
        return f"{self.state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"

    def stop(self, name: str, cause: str) -> None:
        if not self.state_machine_arn:
            return  # no state machine configured: nothing of it can be running
        client = self._client_factory()
        try:
            client.stop_execution(executionArn=self._execution_arn(name), cause=cause[:32768])
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("ExecutionDoesNotExist", "ExecutionNotFound"):
                raise

    def status(self, name: str) -> str | None:
        client = self._client_factory()
        try:
            return str(client.describe_execution(executionArn=self._execution_arn(name))["status"])
        except ClientError as error:
            if error.response["Error"]["Code"] in ("ExecutionDoesNotExist", "ExecutionNotFound"):
                return None
            raise
