"""The drop folder: drop/{group}/{log}/{file} becomes a log object and a queued ingestion, once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from openlqs.errors import BadLogFile
from openlqs.ingestion.drop_folder import RECORDING_WAIT_S
from openlqs.local.functions import InProcessFunction
from openlqs.services import get_services
from tests.support import tasks
from tests.support.api import ApiClient
from tests.support.events import load_event
from tests.support.paths import DATASTORE_ID, PROJECT_DIR
from tests.support.rosbag2 import mixed_messages, write_split_recording

BAG = b"#ROSBAG V2.0\n" + b"\0" * 64
START = 1_650_000_000_000_000_000


def register_dropped_object(**event: Any) -> Any:
    """The drop folder of the process's services (what IngestionTriggerFunction calls)."""
    return get_services().trigger.drop_folder.register(**event)


def _drop(aws: dict[str, str], key: str, body: bytes = BAG) -> dict[str, Any]:
    s3 = boto3.client("s3")
    s3.put_object(Bucket=aws["OBJECTS_BUCKET_NAME"], Key=key, Body=body)
    head = s3.head_object(Bucket=aws["OBJECTS_BUCKET_NAME"], Key=key)
    return {
        "bucket": aws["OBJECTS_BUCKET_NAME"],
        "key": key,
        "etag": head["ETag"].strip('"'),
        "size": len(body),
    }


def test_drop_folder_creates_group_log_object_and_a_queued_ingestion(
    api: ApiClient, aws: dict[str, str]
) -> None:
    event = _drop(aws, "drop/Field Tests/Run 7/session one.bag")

    ingestion_id = register_dropped_object(**event)

    ingestion = api.get(f"/ingestions/{ingestion_id}").data
    assert ingestion["state"] == "queued"
    assert ingestion["object_key"] == "session one.bag"
    log = api.get(f"/logs/{ingestion['log_id']}").data
    group = api.get(f"/groups/{log['group_id']}").data
    assert (group["name"], log["name"]) == ("Field Tests", "Run 7")
    meta = api.get(f"/logs/{log['id']}/objects/session one.bag").data
    assert meta["size"] == len(BAG)
    s3 = boto3.client("s3")
    assert s3.list_objects_v2(Bucket=aws["OBJECTS_BUCKET_NAME"], Prefix="drop/").get("KeyCount") == 0
    assert meta["key"] == f"lqs/{DATASTORE_ID}/logs/{log['id']}/session one.bag"


def test_drop_folder_two_events_for_one_file_create_one_ingestion(
    api: ApiClient, aws: dict[str, str]
) -> None:
    event = _drop(aws, "drop/G/L/a.bag")

    first = register_dropped_object(**event)
    second = register_dropped_object(**event)

    assert first == second
    assert api.get("/ingestions").json()["count"] == 1
    assert api.get("/groups", params={"name": "G"}).json()["count"] == 1


def test_drop_folder_reuses_existing_group_and_log(api: ApiClient, aws: dict[str, str]) -> None:
    register_dropped_object(**_drop(aws, "drop/G/L/a.bag"))

    register_dropped_object(**_drop(aws, "drop/G/L/b.bag", BAG + b"another file"))

    assert api.get("/logs").json()["count"] == 1
    assert api.get("/ingestions").json()["count"] == 2


def test_drop_folder_keeps_both_files_when_a_name_is_taken(api: ApiClient, aws: dict[str, str]) -> None:
    register_dropped_object(**_drop(aws, "drop/G/L/a.bag"))

    second = register_dropped_object(**_drop(aws, "drop/G/L/a.bag", BAG + b"more"))

    assert api.get(f"/ingestions/{second}").data["object_key"].startswith("a.")
    assert api.get(f"/ingestions/{second}").data["object_key"] != "a.bag"


@pytest.mark.parametrize(
    "key", ["drop/only-group/file.bag", "drop/G/L/", "elsewhere/G/L/f.bag", "drop/G/L/../x"]
)
def test_drop_folder_ignores_keys_of_another_shape(api: ApiClient, aws: dict[str, str], key: str) -> None:
    assert register_dropped_object(**_drop(aws, key)) is None
    assert api.get("/ingestions").json()["count"] == 0


def test_ingestion_trigger_function_handles_a_real_shaped_s3_event(
    api: ApiClient, aws: dict[str, str]
) -> None:
    dropped = _drop(aws, "drop/My Group/log 1/a+b.bag")
    event = load_event("ingestion_trigger/s3_object_created.json")
    record = event["Records"][0]
    record["s3"]["bucket"]["name"] = dropped["bucket"]
    record["s3"]["object"].update(
        key="drop/My+Group/log+1/a%2Bb.bag", eTag=dropped["etag"], size=dropped["size"]
    )
    function = InProcessFunction.from_file(
        Path(PROJECT_DIR / "functions" / "ingestion_trigger" / "app.py"),
        logical_id="IngestionTriggerFunction",
    )

    result = function.invoke(event)

    (ingestion_id,) = result["ingestion_ids"]
    assert api.get(f"/ingestions/{ingestion_id}").data["object_key"] == "a+b.bag"


def test_dropped_recording_folder_is_one_ingestion_once_its_metadata_yaml_arrives(
    api: ApiClient, aws: dict[str, str], tmp_path: Path
) -> None:
    recording = write_split_recording(
        tmp_path / "run", [mixed_messages(START, 6), mixed_messages(START + 10**9, 6)], storage="mcap"
    )
    base = "drop/Robots/Day 1/run/"
    # The storage files first: they wait for their metadata.yaml (nothing is ingested on its own)
    assert [
        register_dropped_object(**_drop(aws, base + f, (recording.path / f).read_bytes()))
        for f in recording.files
    ] == [None, None]
    assert api.get("/ingestions").json()["count"] == 0

    ingestion_id = register_dropped_object(
        **_drop(aws, base + "metadata.yaml", (recording.path / "metadata.yaml").read_bytes())
    )

    ingestion = api.get(f"/ingestions/{ingestion_id}").data
    assert (ingestion["state"], ingestion["object_key"]) == ("queued", "run/metadata.yaml")
    assert api.get("/ingestions").json()["count"] == 1
    s3 = boto3.client("s3")
    assert s3.list_objects_v2(Bucket=aws["OBJECTS_BUCKET_NAME"], Prefix="drop/").get("KeyCount") == 0
    listed = s3.list_objects_v2(
        Bucket=aws["OBJECTS_BUCKET_NAME"], Prefix=f"lqs/{DATASTORE_ID}/logs/{ingestion['log_id']}/"
    )
    assert sorted(item["Key"].split("/run/")[1] for item in listed["Contents"]) == [
        "metadata.yaml",
        "run_0.mcap",
        "run_1.mcap",
    ]


def test_dropped_recording_waits_a_bounded_time_then_ingests_naming_what_is_missing(
    api: ApiClient, aws: dict[str, str], tmp_path: Path
) -> None:
    recording = write_split_recording(
        tmp_path / "run", [mixed_messages(START, 6), mixed_messages(START + 10**9, 6)], storage="mcap"
    )
    base = "drop/Robots/Day 2/run/"
    register_dropped_object(**_drop(aws, base + "run_0.mcap", (recording.path / "run_0.mcap").read_bytes()))
    waits: list[float] = []
    drop_folder = get_services().trigger.drop_folder
    drop_folder.sleep, drop_folder.recording_wait_s = waits.append, 0.0
    try:
        ingestion_id = drop_folder.register(
            **_drop(aws, base + "metadata.yaml", (recording.path / "metadata.yaml").read_bytes())
        )
    finally:
        drop_folder.sleep, drop_folder.recording_wait_s = time.sleep, RECORDING_WAIT_S

    ingestion = api.get(f"/ingestions/{ingestion_id}").data
    assert ingestion["context"]["drop_folder"]["files"] == ["run_0.mcap", "run_1.mcap"]
    payload = {"ingestion_id": ingestion_id, "attempt": 1}
    with pytest.raises(BadLogFile, match=r"run_1\.mcap"):
        tasks.plan(payload)
    # The late file joins its metadata.yaml in the log (then the ingestion can be queued again)
    assert (
        register_dropped_object(
            **_drop(aws, base + "run_1.mcap", (recording.path / "run_1.mcap").read_bytes())
        )
        is None
    )
    s3 = boto3.client("s3")
    assert s3.list_objects_v2(Bucket=aws["OBJECTS_BUCKET_NAME"], Prefix="drop/").get("KeyCount") == 0
    assert s3.head_object(
        Bucket=aws["OBJECTS_BUCKET_NAME"], Key=f"lqs/{DATASTORE_ID}/logs/{ingestion['log_id']}/run/run_1.mcap"
    )
