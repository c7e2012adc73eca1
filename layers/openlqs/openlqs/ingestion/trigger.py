"""Start the ingestion state machine for an ingestion that entered ``queued``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

import boto3
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from openlqs.settings import get_settings

logger = Logger(service="openlqs")


def execution_name(ingestion_id: UUID, attempt: int) -> str:
    """One execution per attempt: a duplicate event can never start a second run."""
    return f"{ingestion_id}-{attempt}"


def start_ingestion(
    ingestion_id: UUID,
    attempt: int,
    client_factory: Callable[[], Any] = lambda: boto3.client("stepfunctions"),
) -> str | None:
    """Start the execution for this attempt; None when it was already started."""
    arn = get_settings().ingestion_state_machine_arn
    if not arn:
        raise RuntimeError("INGESTION_STATE_MACHINE_ARN is not set.")
    try:
        response = client_factory().start_execution(
            stateMachineArn=arn,
            name=execution_name(ingestion_id, attempt),
            input=json.dumps({"ingestion_id": str(ingestion_id), "attempt": attempt}),
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionAlreadyExists":
            logger.info(
                "execution already started", extra={"ingestion_id": str(ingestion_id), "attempt": attempt}
            )
            return None
        raise
    return str(response["executionArn"])
