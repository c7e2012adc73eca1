"""Build groups, logs, topics and records through the API, and read back what the tables hold.

Integration tests use these so that each test states only what it is about. Every helper asserts the
call succeeded, so a broken create fails where it happens rather than in a later assertion.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import boto3

from tests.support.api import ApiClient

#: A nanosecond timestamp above 2**53, aligned to a whole second (and to a 10 s record bucket).
BASE_NS = 1_655_235_720_000_000_000


def _created(response: Any, what: str) -> dict[str, Any]:
    assert response.status == 200, f"creating {what} failed: {response.status} {response.body!r}"
    return dict(response.data)


def create_group(api: ApiClient, name: str = "Group", **fields: Any) -> dict[str, Any]:
    return _created(api.post("/groups", {"name": name, **fields}), f"group {name!r}")


def create_log(api: ApiClient, group_id: str, name: str = "Log", **fields: Any) -> dict[str, Any]:
    return _created(api.post("/logs", {"group_id": group_id, "name": name, **fields}), f"log {name!r}")


def create_topic(api: ApiClient, log_id: str, name: str = "/topic", **fields: Any) -> dict[str, Any]:
    return _created(api.post("/topics", {"log_id": log_id, "name": name, **fields}), f"topic {name!r}")


def create_records(
    api: ApiClient, topic_id: str, timestamps: Iterable[int], **fields: Any
) -> list[dict[str, Any]]:
    return [
        _created(api.post(f"/topics/{topic_id}/records", {"timestamp": ts, **fields}), f"record {ts}")
        for ts in timestamps
    ]


def new_topic(api: ApiClient, **fields: Any) -> dict[str, Any]:
    """A topic in a fresh group and log."""
    group = create_group(api, "Topic Group")
    log = create_log(api, group["id"], "Topic Log")
    return create_topic(api, log["id"], **fields)


def stored_items(aws: Mapping[str, str]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Every item of ResourcesTable and RecordsTable, in key order: to prove a request wrote nothing."""
    dynamodb = boto3.client("dynamodb")
    items = []
    for table in (aws["RESOURCES_TABLE_NAME"], aws["RECORDS_TABLE_NAME"]):
        pages = dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
        for page in pages:
            for item in page["Items"]:
                items.append((table, item["pk"]["S"], item["sk"]["S"], item))
    return sorted(items, key=lambda entry: entry[:3])


def create_ingestion(api: ApiClient, log_id: str, **fields: Any) -> dict[str, Any]:
    return _created(api.post("/ingestions", {"log_id": log_id, **fields}), "ingestion")


def create_ingestion_part(api: ApiClient, ingestion_id: str, sequence: int, **fields: Any) -> dict[str, Any]:
    response = api.post(f"/ingestions/{ingestion_id}/parts", {"sequence": sequence, **fields})
    return _created(response, f"ingestion part {sequence}")


#: Every key a ProcessModel (ingestion, ingestion part) always carries on the wire.
PROCESS_KEYS = {
    "id",
    "created_at",
    "updated_at",
    "deleted_at",
    "created_by",
    "updated_by",
    "deleted_by",
    "locked",
    "locked_by",
    "locked_at",
    "lock_token",
    "workflow_id",
    "workflow_context",
    "state",
    "progress",
    "previous_state",
    "transitioned_at",
    "error",
    "error_name",
    "error_message",
    "error_payload",
}
