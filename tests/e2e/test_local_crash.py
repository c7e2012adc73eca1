"""The local stack killed with ``kill -9``: what it acknowledged is there after a restart, and an
ingestion it was running completes on its own (decisions 35 and 36)."""

from __future__ import annotations

import hashlib
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from openlqs.client import LogQS
from tests.e2e.conftest import ApiKeyAuth, LocalStackProcess
from tests.support.bags import write_string_bag

pytestmark = pytest.mark.e2e

#: The issue's promise: after a restart, the interrupted ingestion completes within a minute.
RESUME_LIMIT_S = 60
COUNTS = {"/lidar": 60_000, "/odom": 30_000, "/status": 6_000}
PART_BYTES = 1024 * 1024


def _kill(stack: LocalStackProcess) -> None:
    """``kill -9``: no snapshot, no clean-up, no goodbye."""
    assert stack.process is not None
    stack.process.send_signal(signal.SIGKILL)
    stack.process.wait(timeout=30)
    stack.process = None


def _bag(path: Path) -> Path:
    """Three topics of small strings, interleaved in time, in many chunks (dozens of parts)."""
    messages: list[tuple[str, int, str]] = []
    for topic, count in COUNTS.items():
        step = 10**12 // count
        messages += [(topic, 1_700_000_000 * 10**9 + i * step, f"{topic} {i:08d} " * 4) for i in range(count)]
    messages.sort(key=lambda message: message[1])
    return write_string_bag(path, messages, chunk_threshold=64 * 1024)


def _upload(http: httpx.Client, objects: str, key: str, data: bytes) -> None:
    assert http.post(objects, json={"key": key}).status_code == 200
    part = http.post(f"{objects}/{key}/parts", json={"part_number": 1, "size": len(data)}).json()["data"]
    assert httpx.put(part["presigned_url"], content=data, timeout=60).status_code == 200
    assert http.patch(f"{objects}/{key}", json={"upload_state": "complete"}).status_code == 200


def _ingestion(http: httpx.Client, url: str) -> dict[str, Any]:
    response = http.get(url)
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def test_local_stack_killed_mid_ingestion_completes_it_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stack ingesting a bag of many parts
    monkeypatch.setenv("OPENLQS_PARAMETER_OVERRIDES", f"PartTargetBytes={PART_BYTES}")
    stack = LocalStackProcess(tmp_path / "openlqs-data")
    stack.start()
    http = httpx.Client(timeout=30, auth=ApiKeyAuth(stack))
    try:
        base = stack.base()
        group = http.post(f"{base}/groups", json={"name": "Crashes"}).json()["data"]
        log = http.post(f"{base}/logs", json={"group_id": group["id"], "name": "kill -9"}).json()["data"]
        _upload(http, f"{base}/logs/{log['id']}/objects", "run.bag", _bag(tmp_path / "run.bag").read_bytes())
        request = {"log_id": log["id"], "object_key": "run.bag", "state": "queued"}
        ingestion = http.post(f"{base}/ingestions", json=request).json()["data"]
        url = f"{base}/ingestions/{ingestion['id']}"
        parts_url = f"{url}/parts"

        # When it is killed while some of the parts are done and others are not
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = _ingestion(http, url)["state"]
            done = [
                p
                for p in http.get(parts_url, params={"limit": 1000}).json()["data"]
                if p["state"] == "completed"
            ]
            if state == "processing" and done:
                break
            assert state in ("queued", "processing"), f"the ingestion ended {state} before the kill"
            time.sleep(0.05)
        _kill(stack)
        interrupted_at = state, len(done)

        # and started again on the same data (on other ports)
        stack.start()
        started = time.monotonic()
        base = stack.base()
        url = f"{base}/ingestions/{ingestion['id']}"
        finished = _ingestion(http, url)
        while (
            finished["state"] not in ("completed", "failed") and time.monotonic() - started < RESUME_LIMIT_S
        ):
            time.sleep(0.25)
            finished = _ingestion(http, url)

        # Then it completes on its own, within a minute, with one copy of every record
        assert interrupted_at[0] == "processing" and interrupted_at[1] > 0
        assert finished["state"] == "completed", finished
        assert time.monotonic() - started < RESUME_LIMIT_S
        topics = http.get(f"{base}/topics", params={"log_id": log["id"], "limit": 100}).json()["data"]
        assert {t["name"]: t["record_count"] for t in topics} == COUNTS
        odom = next(t for t in topics if t["name"] == "/odom")
        listed = http.get(f"{base}/topics/{odom['id']}/records", params={"limit": 1}).json()
        assert listed["count"] == COUNTS["/odom"]
        assert http.get(f"{base}/logs/{log['id']}").json()["data"]["record_count"] == sum(COUNTS.values())
    finally:
        http.close()
        stack.stop()


def test_local_stack_killed_mid_upload_keeps_what_it_acknowledged(tmp_path: Path) -> None:
    # Given a group created and an upload with its first part sent, acknowledged just before a kill -9
    content = hashlib.sha256(b"seed").digest() * (3 * 5 * 1024 * 1024 // 32 + 1000)
    part_size = 5 * 1024 * 1024
    (tmp_path / "run.bin").write_bytes(content)
    stack = LocalStackProcess(tmp_path / "openlqs-data")
    stack.start()
    lqs = LogQS(api_url=stack.api_url, api_key_id=stack.api_key_id, api_key_secret=stack.api_key_secret)
    group = lqs.create.group(name="Uploads").data
    log = lqs.create.log(group_id=group.id, name="interrupted").data
    lqs.create.log_object(key="run.bin", log_id=log.id)
    part = lqs.create.log_object_part(object_key="run.bin", size=part_size, log_id=log.id, part_number=1)
    assert part.data.presigned_url is not None
    assert httpx.put(part.data.presigned_url, content=content[:part_size], timeout=60).status_code == 200
    _kill(stack)

    # When the stack starts again and the client continues the upload
    stack.start()
    try:
        lqs = LogQS(api_url=stack.api_url, api_key_id=stack.api_key_id, api_key_secret=stack.api_key_secret)
        kept = lqs.fetch.group(group.id).data
        obj, parts = lqs.utils.upload_log_object(
            log_id=log.id,
            file_path=str(tmp_path / "run.bin"),
            object_key="run.bin",
            part_size=part_size,
            continue_upload=True,
        )
        data = lqs.fetch.log_object(object_key="run.bin", log_id=log.id, redirect=True)
    finally:
        stack.stop()

    # Then the group and the part sent before the kill were kept, and the object is the file
    assert kept.name == "Uploads"
    assert [p.part_number for p in parts] == [1, 2, 3, 4]
    assert (obj.upload_state, obj.size) == ("complete", len(content))
    assert isinstance(data, bytes) and hashlib.sha256(data).digest() == hashlib.sha256(content).digest()
