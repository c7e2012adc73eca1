"""The local stack over real HTTP: the resource walkthrough, a time-window query, restart persistence."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import LocalStackProcess

pytestmark = pytest.mark.e2e

START = 1_655_235_727_034_130_944
STEP = 100_000_000  # 10 Hz


def _json(response: httpx.Response) -> dict:
    assert response.headers["content-type"] == "application/json", response.text
    return response.json()


def test_local_stack_walkthrough_survives_a_restart(
    local_stack: LocalStackProcess, http: httpx.Client
) -> None:
    base = local_stack.base()

    # Given a group, a log and a topic with 150 records at 10 Hz (two time buckets)
    group = _json(http.post(f"{base}/groups", json={"name": "Demo Group", "note": None, "context": None}))
    log = _json(
        http.post(f"{base}/logs", json={"group_id": group["data"]["id"].replace("-", ""), "name": "Demo Log"})
    )
    topic = _json(
        http.post(
            f"{base}/topics",
            json={
                "log_id": log["data"]["id"],
                "name": "/imu",
                "type_name": "sensor_msgs/Imu",
                "type_encoding": "ros1",
            },
        )
    )
    topic_id = topic["data"]["id"]
    for i in range(150):
        response = http.post(f"{base}/topics/{topic_id}/records", json={"timestamp": START + i * STEP})
        assert response.status_code == 200, response.text

    # When a 2-second window is queried
    window = _json(
        http.get(
            f"{base}/topics/{topic_id}/records",
            params={"timestamp_gte": START + 100 * STEP, "timestamp_lt": START + 120 * STEP, "limit": 1000},
        )
    )

    # Then exactly the records in the window come back, in time order
    assert window["count"] == 20
    assert [r["timestamp"] for r in window["data"]] == [START + i * STEP for i in range(100, 120)]
    fetched_log = _json(http.get(f"{base}/logs/{log['data']['id']}"))["data"]
    assert fetched_log["record_count"] == 150
    assert fetched_log["start_time"] == START
    assert fetched_log["end_time"] == START + 149 * STEP

    # And after Ctrl-C and a new start with the same data directory, everything is still there
    assert local_stack.stop() == 0
    local_stack.start()
    base = local_stack.base()
    groups = _json(http.get(f"{base}/groups", params={"name": "Demo Group"}))
    assert groups["count"] == 1
    records = _json(http.get(f"{base}/topics/{topic_id}/records", params={"limit": 1000}))
    assert records["count"] == 150
    assert records["data"][0]["timestamp"] == START


def test_local_stack_serves_openapi_and_docs(local_stack: LocalStackProcess, http: httpx.Client) -> None:
    spec = _json(http.get(f"{local_stack.api_url}/openapi.json"))
    assert "/groups" in spec["paths"]

    docs = http.get(f"{local_stack.api_url}/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def test_local_stack_answers_unknown_routes_with_json_404(
    local_stack: LocalStackProcess, http: httpx.Client
) -> None:
    response = http.get(f"{local_stack.base()}/no-such-thing")

    assert response.status_code == 404
    assert _json(response)["message"].startswith("[NotFound]")
