"""The drop folder on the local stack: a file copied into drop/G/L/ becomes a queued ingestion."""

from __future__ import annotations

import time

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.e2e.conftest import LocalStackProcess

pytestmark = pytest.mark.e2e


def test_local_stack_drop_folder_queues_an_ingestion(
    local_stack: LocalStackProcess, http: httpx.Client
) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=local_stack.exports["OPENLQS_S3_ENDPOINT"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}),
    )
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
