"""Ingest a bag in mock_aws without Step Functions: put it in the log's folder, queue it, run the tasks.

What the state machine does, task by task (plan, every part, finalize), with the handlers of the
deployed task functions. Tests that are about what an ingestion produced (records, topics, record data)
use this; the workflow itself is tested in ``tests/integration/test_ingestion_workflow.py``.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.support import tasks
from tests.support.api import ApiClient


def log_object_key(datastore_id: str, log_id: str, key: str) -> str:
    """The bucket key of a log object (``lqs/{datastore}/logs/{log}/{key}``)."""
    return f"lqs/{datastore_id}/logs/{log_id}/{key}"


def put_log_object(aws: dict[str, str], datastore_id: str, log_id: str, key: str, data: bytes) -> None:
    """Write a log object straight into the objects bucket (as a finished upload would)."""
    boto3.client("s3").put_object(
        Bucket=aws["OBJECTS_BUCKET_NAME"], Key=log_object_key(datastore_id, log_id, key), Body=data
    )


def ingest(api: ApiClient, log_id: str, key: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """Queue an ingestion of the log object ``key`` and run it to the end; the finished ingestion."""
    body: dict[str, Any] = {"log_id": log_id, "object_key": key, "state": "queued"}
    if context is not None:
        body["context"] = context
    response = api.post("/ingestions", body)
    assert response.status == 200, response.body
    ingestion = response.data
    payload = {"ingestion_id": ingestion["id"], "attempt": 1}
    plan = tasks.plan(payload)
    for part in plan["parts"]:
        tasks.process_part(part)
    tasks.finalize(payload)
    finished = api.get(f"/ingestions/{ingestion['id']}").data
    assert finished["state"] == "completed", finished
    return dict(finished)


def run_ingestion(
    api: ApiClient, log_id: str, key: str, context: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Queue an ingestion of ``key`` and run it as the state machine does, failures included: any task
    that raises is caught and "Fail ingestion" runs with the error (the ASL's Catch). The ingestion as
    it ended (``completed`` or ``failed``)."""
    body: dict[str, Any] = {"log_id": log_id, "object_key": key, "state": "queued"}
    if context is not None:
        body["context"] = context
    response = api.post("/ingestions", body)
    assert response.status == 200, response.body
    ingestion = response.data
    payload = {"ingestion_id": ingestion["id"], "attempt": 1}
    try:
        plan = tasks.plan(payload)
        for part in plan["parts"]:
            tasks.process_part(part)
        tasks.finalize(payload)
    except Exception as error:
        cause = {"errorType": type(error).__name__, "errorMessage": str(error)}
        tasks.fail({**payload, "error": {"Error": type(error).__name__, "Cause": json.dumps(cause)}})
    return dict(api.get(f"/ingestions/{ingestion['id']}").data)
