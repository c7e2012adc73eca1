"""The drop folder on the local stack: a file copied into drop/G/L/ becomes a queued ingestion."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.e2e.conftest import LocalStackProcess
from tests.support.fixture_logs import FIXTURES

pytestmark = pytest.mark.e2e


def _s3(local_stack: LocalStackProcess) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=local_stack.exports["OPENLQS_S3_ENDPOINT"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}),
    )


def test_local_stack_drop_folder_queues_an_ingestion(
    local_stack: LocalStackProcess, http: httpx.Client
) -> None:
    s3 = _s3(local_stack)
    bucket = local_stack.exports["OPENLQS_BUCKET"]

    s3.put_object(Bucket=bucket, Key="drop/Field Tests/Run 1/first run.bag", Body=b"#ROSBAG V2.0\n")

    deadline, ingestions = time.monotonic() + 30, []
    while time.monotonic() < deadline and not ingestions:
        ingestions = http.get(f"{local_stack.base()}/ingestions").json()["data"]
        time.sleep(0.2)
    assert len(ingestions) == 1
    assert ingestions[0]["object_key"] == "first run.bag"
    log = http.get(f"{local_stack.base()}/logs/{ingestions[0]['log_id']}").json()["data"]
    assert log["name"] == "Run 1"
    assert s3.list_objects_v2(Bucket=bucket, Prefix="drop/").get("KeyCount") == 0


def test_local_stack_drop_folder_ingests_an_mcap_file(
    local_stack: LocalStackProcess, http: httpx.Client, fixture_logs: Path
) -> None:
    name = "json-mouse-events.mcap"
    bucket = local_stack.exports["OPENLQS_BUCKET"]

    _s3(local_stack).upload_file(str(fixture_logs / name), bucket, f"drop/Field Tests/Mice/{name}")

    deadline, ingestion = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        found = http.get(f"{local_stack.base()}/ingestions").json()["data"]
        if found and found[0]["state"] in ("completed", "failed"):
            ingestion = found[0]
            break
        time.sleep(0.2)
    assert ingestion is not None and ingestion["state"] == "completed", ingestion
    assert ingestion["object_key"] == name
    topics = http.get(f"{local_stack.base()}/topics", params={"log_id": ingestion["log_id"]}).json()["data"]
    expected = FIXTURES[name]["mouse"]
    assert [(t["name"], t["type_encoding"], t["record_count"]) for t in topics] == [
        ("mouse", "json", expected.count)
    ]
