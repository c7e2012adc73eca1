"""A real bag ingested by the local stack: stream trigger → state machine (moto's interpreter) → topics."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import LocalStackProcess
from tests.support.bags import EXAMPLE_BAG_TOPIC_COUNTS

pytestmark = pytest.mark.e2e

EXPECTED_COUNTS = EXAMPLE_BAG_TOPIC_COUNTS


def _upload(http: httpx.Client, objects: str, key: str, data: bytes) -> None:
    assert http.post(objects, json={"key": key, "content_type": None}).status_code == 200
    part = http.post(f"{objects}/{key}/parts", json={"part_number": 1, "size": len(data)}).json()["data"]
    assert httpx.put(part["presigned_url"], content=data, timeout=60).status_code == 200
    assert http.patch(f"{objects}/{key}", json={"upload_state": "complete"}).status_code == 200


def _wait(http: httpx.Client, url: str, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ingestion = http.get(url).json()["data"]
        if ingestion["state"] in ("completed", "failed"):
            return dict(ingestion)
        time.sleep(0.25)
    raise AssertionError(f"ingestion still {ingestion['state']} after {timeout_s} s")


def test_local_stack_ingests_a_real_bag(
    local_stack: LocalStackProcess, http: httpx.Client, fixture_bags: Path
) -> None:
    base = local_stack.base()
    group = http.post(f"{base}/groups", json={"name": "Fleet"}).json()["data"]
    log = http.post(f"{base}/logs", json={"group_id": group["id"], "name": "turtles"}).json()["data"]
    _upload(
        http,
        f"{base}/logs/{log['id']}/objects",
        "example-bz2.bag",
        (fixture_bags / "example-bz2.bag").read_bytes(),
    )

    # Given an ingestion created ready, then queued as the official client does
    ingestion = http.post(
        f"{base}/ingestions", json={"log_id": log["id"], "object_key": "example-bz2.bag", "name": "turtles"}
    ).json()["data"]
    assert http.patch(f"{base}/ingestions/{ingestion['id']}", json={"state": "queued"}).status_code == 200

    # When the stack runs it
    done = _wait(http, f"{base}/ingestions/{ingestion['id']}")

    # Then it completed with the bag's topics, counts and time windows
    assert done["state"] == "completed", done
    assert done["progress"] == 1.0
    topics = http.get(f"{base}/topics", params={"log_id": log["id"], "limit": 100}).json()["data"]
    assert {t["name"]: t["record_count"] for t in topics} == EXPECTED_COUNTS
    pose = next(t for t in topics if t["name"] == "/turtle1/pose")
    window = http.get(
        f"{base}/topics/{pose['id']}/records",
        params={"timestamp_gte": pose["start_time"], "timestamp_lt": pose["start_time"] + 1_000_000_000},
    ).json()
    assert 0 < window["count"] < 100
    assert all(pose["start_time"] <= r["timestamp"] < pose["start_time"] + 10**9 for r in window["data"])
    assert http.get(f"{base}/logs/{log['id']}").json()["data"]["record_count"] == 8647


def test_local_stack_fails_a_text_file_with_a_clear_error(
    local_stack: LocalStackProcess, http: httpx.Client, fixture_bags: Path
) -> None:
    base = local_stack.base()
    group = http.post(f"{base}/groups", json={"name": "Fleet"}).json()["data"]
    log = http.post(f"{base}/logs", json={"group_id": group["id"], "name": "text"}).json()["data"]
    _upload(
        http, f"{base}/logs/{log['id']}/objects", "notes.txt", (fixture_bags / "asci-file.txt").read_bytes()
    )

    ingestion = http.post(
        f"{base}/ingestions", json={"log_id": log["id"], "object_key": "notes.txt", "state": "queued"}
    ).json()["data"]
    done = _wait(http, f"{base}/ingestions/{ingestion['id']}")

    assert (done["state"], done["error_name"]) == ("failed", "BadLogFile")
    assert "not a ROS 1 bag" in done["error_message"]
    assert http.get(f"{base}/topics", params={"log_id": log["id"]}).json()["count"] == 0
