"""The state machine's four tasks as its Lambda tasks see them: JSON payloads in, JSON results out.

Tests and benchmarks that run an ingestion task by task (without Step Functions) call these; each parses
its payload into the task's model and calls the process's pipeline, as the function entry points do.
"""

from __future__ import annotations

from typing import Any

from openlqs.ingestion.payloads import FailTask, IngestionTask, PartTask
from openlqs.ingestion.pipeline import IngestionPipeline
from openlqs.services import get_services


def get_pipeline() -> IngestionPipeline:
    """The process's pipeline (built with its services from the current settings)."""
    return get_services().pipeline


def plan(payload: dict[str, Any]) -> dict[str, Any]:
    return get_pipeline().plan(IngestionTask.model_validate(payload)).model_dump(mode="json")


def process_part(payload: dict[str, Any]) -> dict[str, Any]:
    return get_pipeline().process_part(PartTask.model_validate(payload)).model_dump(mode="json")


def finalize(payload: dict[str, Any]) -> dict[str, Any]:
    return get_pipeline().finalize(IngestionTask.model_validate(payload)).model_dump(mode="json")


def fail(payload: dict[str, Any]) -> dict[str, Any]:
    return get_pipeline().fail(FailTask.model_validate(payload)).model_dump(mode="json")
