"""The four state-machine tasks as functions of their payloads (the Lambda entry points call these)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from uuid import UUID

from openlqs.adapters.records import DynamoRecordRepository
from openlqs.adapters.resources import DynamoResourceRepository
from openlqs.api.dependencies import get_services
from openlqs.ingestion.pipeline import IngestionPipeline
from openlqs.settings import get_settings


@lru_cache(maxsize=1)
def get_pipeline() -> IngestionPipeline:
    """Built once per Lambda environment (clear with ``get_pipeline.cache_clear()``)."""
    settings = get_settings()
    services = get_services()
    pipeline = IngestionPipeline(
        DynamoResourceRepository(settings.resources_table_name),
        DynamoRecordRepository(settings.records_table_name),
        services.ingestions,
        services.ingestion_parts,
        services.topics,
        services.object_spaces,
        services.ingestions.env,
        part_target_bytes=settings.part_target_bytes,
    )
    services.ingestions.records = pipeline
    return pipeline


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
