"""The state machine's tasks as its Lambda tasks see them: JSON payloads in, JSON results out.

Tests and benchmarks that run an ingestion task by task (without Step Functions) call these; each parses
its payload into the task's model and calls the process's pipeline, as the function entry points do.
``parts_of`` reads a plan's part manifest and makes each item the payload "Process part" gets, as the
Map's ItemReader and ItemSelector do.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from openlqs.ingestion.payloads import FailedPartTask, FailTask, IngestionTask, PartTask
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


def fail_part(payload: dict[str, Any]) -> dict[str, Any]:
    return get_pipeline().fail_part(FailedPartTask.model_validate(payload)).model_dump(mode="json")


def manifest_of(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The part manifest a plan wrote (what the Map's ItemReader reads), from the bucket it names."""
    location = plan["manifest"]
    body = boto3.client("s3").get_object(Bucket=location["bucket"], Key=location["key"])["Body"].read()
    items: list[dict[str, Any]] = json.loads(body)
    return items


def parts_of(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The payload of "Process part" for every item of the plan's manifest (the Map's ItemSelector)."""
    return [
        {
            "ingestion_id": plan["ingestion_id"],
            "attempt": plan["attempt"],
            "part_id": item["part_id"],
            "sequence": item["sequence"],
        }
        for item in manifest_of(plan)
    ]
