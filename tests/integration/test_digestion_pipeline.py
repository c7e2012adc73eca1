"""Digestions run task by task in mock_aws: plans, part blobs, exports, failures (real bags, real readers)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import boto3
import pytest
from mcap.reader import make_reader
from rosbags.rosbag1 import Reader

from tests.support import digestion
from tests.support.api import ApiClient
from tests.support.ingestion import ingest, put_log_object
from tests.support.paths import DATASTORE_ID
from tests.support.resources import create_group, create_log

START = 1396293888_000_000_000
END = 1396293898_000_000_000


def _log_with_bag(api: ApiClient, aws: dict[str, str], bag: Path, name: str = "Turtles") -> dict[str, Any]:
    log = create_log(api, create_group(api, f"Digest {name}")["id"], name)
    put_log_object(aws, DATASTORE_ID, log["id"], "run.bag", bag.read_bytes())
    ingest(api, log["id"], "run.bag")
    return log


def _topics(api: ApiClient, log_id: str) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in api.get("/topics", params={"log_id": log_id, "limit": 100}).json()["data"]}


def _object(aws: dict[str, str], log_id: str, key: str) -> bytes:
    full = f"lqs/{DATASTORE_ID}/logs/{log_id}/{key}"
    return bytes(boto3.client("s3").get_object(Bucket=aws["OBJECTS_BUCKET_NAME"], Key=full)["Body"].read())


def _expected(bag: Path, topics: set[str], start: int, end: int) -> list[tuple[str, int, bytes]]:
    with Reader(bag) as reader:
        return [
            (connection.topic, timestamp, bytes(data))
            for connection, timestamp, data in reader.messages()
            if connection.topic in topics and start <= timestamp <= end
        ]


@pytest.mark.parametrize("export", ["mcap", "bag"])
def test_digestion_writes_part_blobs_and_an_export_of_exactly_the_window(
    api: ApiClient, aws: dict[str, str], fixture_bags: Path, export: str
) -> None:
    bag = fixture_bags / "example-lz4.bag"
    log = _log_with_bag(api, aws, bag)
    topics = _topics(api, log["id"])
    created = api.post("/digestions", {"log_id": log["id"], "context": {"export": {"format": export}}}).data
    for name in ("/turtle1/pose", "/tf"):
        response = api.post(
            f"/digestions/{created['id']}/topics",
            {"topic_id": topics[name]["id"], "start_time": START, "end_time": END},
        )
        assert response.status == 200, response.body

    done = digestion.run(api, created["id"])

    assert done["state"] == "completed", done
    expected = _expected(bag, {"/turtle1/pose", "/tf"}, START, END)
    expected.sort(key=lambda m: m[1])
    parts = api.get(f"/digestions/{created['id']}/parts", params={"limit": 1000}).json()["data"]
    got = []
    names = {t["id"]: n for n, t in topics.items()}
    for part in parts:
        fetched = api.get(f"/digestions/00000000-0000-0000-0000-000000000000/parts/{part['id']}").data
        blob = _object(aws, log["id"], f"digestions/{created['id']}/digestion_parts/{part['id']}.bin")
        at = 0
        for entry in fetched["index"]:
            size = entry[4] if entry[7] is None else entry[7]
            got.append((names[entry[0]], entry[8], blob[at : at + size]))
            at += size
        assert at == len(blob)
    assert sorted(got) == sorted(expected)
    exported = _object(aws, log["id"], done["context"]["export"]["key"])
    assert len(exported) == done["context"]["export"]["size"]
    if export == "mcap":
        reader = make_reader(io.BytesIO(exported))
        messages = [(c.topic, m.log_time, m.data) for _, c, m in reader.iter_messages(log_time_order=True)]
    else:
        path = Path(f"/tmp/dtest/{created['id']}.bag")
        path.write_bytes(exported)
        with Reader(path) as reader:
            messages = [(c.topic, t, bytes(d)) for c, t, d in reader.messages()]
    assert sorted(messages) == sorted(expected)
    assert [m[1] for m in messages] == sorted(m[1] for m in messages)
