"""Run a digestion in mock_aws without Step Functions: its tasks, task by task, as the state machine would.

Tests about what a digestion produces (parts, blobs, exports) use this; the workflow itself (the ASL in
moto's interpreter) is tested in ``tests/integration/test_digestion_workflow.py``.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from openlqs.digestion.payloads import DigestionFailTask, DigestionPartTask, DigestionTask
from openlqs.domain.ingestions import attempt_of
from openlqs.errors import OpenLQSError
from openlqs.services import get_services
from tests.support.api import ApiClient


def plan(payload: dict[str, Any]) -> dict[str, Any]:
    return (
        get_services().digestion_pipeline.plan(DigestionTask.model_validate(payload)).model_dump(mode="json")
    )


def write_part(payload: dict[str, Any]) -> dict[str, Any]:
    task = DigestionPartTask.model_validate(payload)
    return get_services().digestion_pipeline.write_part(task).model_dump(mode="json")


def finalize(payload: dict[str, Any]) -> dict[str, Any]:
    task = DigestionTask.model_validate(payload)
    return get_services().digestion_pipeline.finalize(task).model_dump(mode="json")


def fail(payload: dict[str, Any]) -> dict[str, Any]:
    task = DigestionFailTask.model_validate(payload)
    return get_services().digestion_pipeline.fail(task).model_dump(mode="json")


def run(api: ApiClient, digestion_id: str) -> dict[str, Any]:
    """Queue the digestion and run its attempt to the end as the ASL does (a failing task leads to
    "Fail digestion" with the error); the digestion as it ends."""
    response = api.patch(f"/digestions/{digestion_id}", {"state": "queued"})
    assert response.status == 200, response.body
    attempt = attempt_of(get_services().digestions.get(UUID(digestion_id)))
    payload = {"digestion_id": digestion_id, "attempt": attempt}
    try:
        planned = plan(payload)
        for part in planned["parts"]:
            write_part(part)
        finalize(payload)
    except OpenLQSError as error:
        fail({**payload, "error": {"Error": error.name(), "Cause": error.detail}})
    return dict(api.get(f"/digestions/{digestion_id}").data)
