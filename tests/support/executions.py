"""A Step Functions state machine in moto standing in for IngestionStateMachine (its executions only).

Cancelling and reconciling look at an ingestion's execution by name; these tests make the executions
(their states are moto's: RUNNING until stopped) without running a workflow.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from openlqs.services import get_services
from openlqs.settings import get_settings

DEFINITION = json.dumps(
    {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}
)


def ingestion_state_machine(monkeypatch: pytest.MonkeyPatch) -> str:
    """Create the state machine and point the settings at it; returns its ARN."""
    arn = str(
        boto3.client("stepfunctions").create_state_machine(
            name="IngestionStateMachine",
            definition=DEFINITION,
            roleArn="arn:aws:iam::123456789012:role/ingestion",
        )["stateMachineArn"]
    )
    monkeypatch.setenv("INGESTION_STATE_MACHINE_ARN", arn)
    get_settings.cache_clear()
    get_services.cache_clear()
    return arn


def start_execution(state_machine_arn: str, name: str) -> str:
    response = boto3.client("stepfunctions").start_execution(stateMachineArn=state_machine_arn, name=name)
    return str(response["executionArn"])


def execution_status(execution_arn: str) -> Any:
    return boto3.client("stepfunctions").describe_execution(executionArn=execution_arn)["status"]
