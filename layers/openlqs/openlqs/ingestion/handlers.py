"""The four state-machine tasks as functions of their payloads (the Lambda entry points call these)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from openlqs.api.dependencies import get_services
from openlqs.ingestion.pipeline import IngestionPipeline


def get_pipeline() -> IngestionPipeline:
    """The process's pipeline (part of the services built once per Lambda environment)."""
    return get_services().pipeline


def plan(event: dict[str, Any]) -> dict[str, Any]:
    return get_pipeline().plan(UUID(event["ingestion_id"]), int(event["attempt"]))


def process_part(event: dict[str, Any]) -> dict[str, Any]:
    return get_pipeline().process_part(
        UUID(event["ingestion_id"]), UUID(event["part_id"]), int(event["attempt"])
    )


def finalize(event: dict[str, Any]) -> dict[str, Any]:
    return get_pipeline().finalize(UUID(event["ingestion_id"]), int(event["attempt"]))


def fail(event: dict[str, Any]) -> dict[str, Any]:
    return get_pipeline().fail(
        UUID(event["ingestion_id"]), int(event["attempt"]), dict(event.get("error") or {})
    )
