"""ROS 2 recordings (rosbag2 directories, lone ``.db3`` files) through the ingestion pipeline, against moto.

Real recordings written by rosbag2's own tools (the fixtures README gives their expected values), and
recordings written here with rosbags' rosbag2 writer (sqlite3 and mcap storage, split files, file and
message compression): every record's bytes are read back through the API and compared with an
independent reading of the files (Python's ``sqlite3``, the ``mcap`` package). Bad recordings fail with
a clear error, leaving nothing behind and the originals untouched.
"""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from openlqs.adapters.objects import S3BlobStore
from openlqs.adapters.records import DynamoRecordRepository
from tests.support import tasks
from tests.support.api import ApiClient
from tests.support.ingestion import ingest, log_object_key, put_log_object, run_ingestion
from tests.support.paths import DATASTORE_ID
from tests.support.resources import create_group, create_log
from tests.support.rosbag2 import (
    CUSTOM_DEFINITION,
    CUSTOM_TYPE,
    Db3Topic,
    Message,
    in_replay_order,
    mixed_messages,
    read_db3,
    read_mcap,
    reading_message,
    string_message,
    topic_digests,
    write_db3,
    write_split_recording,
)

START = 1_650_000_000_000_000_000

#: The fixtures README's tables: per topic, (type, count, first ns, last ns, sha256 of the bytes).
TALKER = {
    "/parameter_events": ("rcl_interfaces/msg/ParameterEvent", 0, None, None, hashlib.sha256().hexdigest()),
    "/rosout": (
        "rcl_interfaces/msg/Log",
        10,
        1585866235112411371,
        1585866239612761798,
        "bd52a8860b07faee1b17e7b416e2b79af65efd9027fbce87c8be1ba02fa8fcd4",
    ),
    "/topic": (
        "std_msgs/msg/String",
        10,
        1585866235112609068,
        1585866239643508139,
        "e38fe52fdc1694310223777c42fbb1859f70095720bb1e1e51f46b716712fba1",
    ),
}
CDR_TEST = {
    "/array_topic": (
        "test_msgs/msg/Arrays",
        4,
        1586406456782683500,
        1586406456914169506,
        "4c483981fc4fc2fac0297665067bcf71d3022ccf1abace4b8468a0e511241919",
    ),
    "/test_topic": (
        "test_msgs/msg/BasicTypes",
        3,
        1586406456763032325,
        1586406456863382628,
        "1ebaf543d1b35e4305c0580f9dae5bcc9fbe8726820ac7e5c51f3181acb1a14e",
    ),
}


@pytest.fixture
def log(api: ApiClient) -> dict[str, Any]:
    return create_log(api, create_group(api, "ROS 2")["id"], "Recording")


def _s3() -> Any:
    return boto3.client("s3")


def _upload_folder(
    aws: dict[str, str], log: dict[str, Any], folder: Path, prefix: str, skip: tuple[str, ...] = ()
) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name not in skip:
            put_log_object(
                aws, DATASTORE_ID, log["id"], f"{prefix}/{path.relative_to(folder)}", path.read_bytes()
            )


def _keys(aws: dict[str, str], log: dict[str, Any]) -> dict[str, str]:
    """Every object of the log's folder, relative key → sha256 of its bytes."""
    prefix = log_object_key(DATASTORE_ID, log["id"], "")
    found = {}
    for page in (
        _s3().get_paginator("list_objects_v2").paginate(Bucket=aws["OBJECTS_BUCKET_NAME"], Prefix=prefix)
    ):
        for item in page.get("Contents", []):
            body = _s3().get_object(Bucket=aws["OBJECTS_BUCKET_NAME"], Key=item["Key"])["Body"].read()
            found[item["Key"][len(prefix) :]] = hashlib.sha256(body).hexdigest()
    return found


def _object(aws: dict[str, str], log: dict[str, Any], key: str) -> bytes:
    full = log_object_key(DATASTORE_ID, log["id"], key)
    return bytes(_s3().get_object(Bucket=aws["OBJECTS_BUCKET_NAME"], Key=full)["Body"].read())


def _topics(api: ApiClient, log: dict[str, Any]) -> dict[str, dict[str, Any]]:
    listed = api.get("/topics", params={"log_id": log["id"], "limit": 100}).json()["data"]
    return {topic["name"]: topic for topic in listed}


def _records(api: ApiClient, topic_id: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    while True:
        page = api.get(
            f"/topics/{topic_id}/records",
            params={"limit": 1000, "offset": len(records), "include_raw_data": "true"},
        ).json()
        records += page["data"]
        if len(records) >= page["count"]:
            return records


def _read_back(api: ApiClient, log: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {name: _records(api, topic["id"]) for name, topic in _topics(api, log).items()}


def _raw(record: dict[str, Any]) -> bytes:
    assert record["error"] is None, record["error"]
    return base64.b64decode(record["raw_data"])


def _digests(read_back: dict[str, list[dict[str, Any]]]) -> dict[str, tuple[int, int, int, str]]:
    """Per topic with records: count, first and last timestamps, sha256 of the bytes in API order."""
    return {
        name: (
            len(records),
            records[0]["timestamp"],
            records[-1]["timestamp"],
            hashlib.sha256(b"".join(_raw(r) for r in records)).hexdigest(),
        )
        for name, records in read_back.items()
        if records
    }


def _reference(messages: list[Message]) -> dict[str, tuple[int, int, int, str]]:
    """The same digests from messages read independently, in the API's order (time, then file order)."""
    return topic_digests(in_replay_order(messages))


# -- Real recordings written by rosbag2's tools -----------------------------------------------------


def test_talker_recording_ingested_through_metadata_yaml_matches_the_readme(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_logs: Path
) -> None:
    _upload_folder(aws, log, fixture_logs / "rosbag2-talker-mcap", "talker")

    done = ingest(api, log["id"], "talker/metadata.yaml")

    topics = _topics(api, log)
    assert set(topics) == set(TALKER)
    read_back = _read_back(api, log)
    for name, (type_name, count, first, last, digest) in TALKER.items():
        topic = topics[name]
        assert (topic["type_name"], topic["type_encoding"], topic["record_count"]) == (
            type_name,
            "cdr",
            count,
        )
        assert (topic["start_time"], topic["end_time"]) == (first, last)
        assert hashlib.sha256(b"".join(_raw(r) for r in read_back[name])).hexdigest() == digest
        assert {r["source"] for r in read_back[name]} <= {"talker.mcap"}
        assert "offered_qos_profiles" in topic["context"]["metadata"]
    assert done["context"]["rosbag2"]["files"] == ["talker.mcap"]
    assert done["context"]["rosbag2"]["converted"] == []
    logged = api.get(f"/logs/{log['id']}").data
    assert (logged["record_count"], logged["start_time"], logged["end_time"]) == (
        20,
        1585866235112411371,
        1585866239643508139,
    )


def test_cdr_test_db3_recording_is_converted_to_a_derived_mcap_that_records_point_into(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_logs: Path
) -> None:
    folder = fixture_logs / "rosbag2-cdr-test-sqlite3"
    _upload_folder(aws, log, folder, "cdr")
    before = _keys(aws, log)

    done = ingest(api, log["id"], "cdr/metadata.yaml")

    derived = f"cdr/derived/{done['id']}/cdr_test_0.mcap"
    assert done["context"]["rosbag2"]["converted"] == [
        {"file": "cdr_test_0.db3", "object_key": derived, "steps": ["db3_to_mcap"]}
    ]
    after = _keys(aws, log)
    assert {k: v for k, v in after.items() if k in before} == before  # the originals untouched
    assert set(after) - set(before) == {derived}
    # The derived MCAP holds every message of the .db3, byte for byte (read with the mcap package).
    mcap_messages = read_mcap(_object(aws, log, derived))
    db3_messages = read_db3(folder / "cdr_test_0.db3")
    assert [(m.topic, m.log_time, m.data) for m in mcap_messages] == [
        (m.topic, m.timestamp, m.data) for m in db3_messages
    ]
    read_back = _read_back(api, log)
    topics = _topics(api, log)
    for name, (type_name, count, first, last, digest) in CDR_TEST.items():
        records = read_back[name]
        assert (topics[name]["type_name"], topics[name]["type_encoding"]) == (type_name, "cdr")
        assert (len(records), records[0]["timestamp"], records[-1]["timestamp"]) == (count, first, last)
        assert hashlib.sha256(b"".join(_raw(r) for r in records)).hexdigest() == digest
        assert {r["source"] for r in records} == {f"derived/{done['id']}/cdr_test_0.mcap"}
    # The definitions come from the file's message_definitions table (test_msgs is in no rosbags store).
    connection = sqlite3.connect(folder / "cdr_test_0.db3")
    stored = dict(
        connection.execute("SELECT topic_type, encoded_message_definition FROM message_definitions")
    )
    connection.close()
    assert topics["/test_topic"]["type_data"] == stored["test_msgs/msg/BasicTypes"]
    assert topics["/array_topic"]["type_data"] == stored["test_msgs/msg/Arrays"]


# -- Recordings written with rosbags' writer ----------------------------------------------------------


@pytest.mark.parametrize(
    ("storage", "compression"),
    [
        ("mcap", "none"),
        ("mcap", "file"),
        ("mcap", "message"),
        ("sqlite3", "none"),
        ("sqlite3", "file"),
        ("sqlite3", "message"),
    ],
)
def test_split_recording_is_one_log_whatever_its_storage_and_compression(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], tmp_path: Path, storage: str, compression: str
) -> None:
    parts = [
        mixed_messages(START, 40),
        mixed_messages(START + 10**9, 25),
        mixed_messages(START + 3 * 10**9, 16),
    ]
    recording = write_split_recording(tmp_path / "run", parts, storage=storage, compression=compression)  # type: ignore[arg-type]
    _upload_folder(aws, log, recording.path, "run")

    done = ingest(api, log["id"], "run/metadata.yaml")

    read_back = _read_back(api, log)
    assert _digests(read_back) == _reference(recording.all_messages)
    converted = done["context"]["rosbag2"]["converted"]
    expected_sources = (
        set(recording.files) if not converted else {c["object_key"].removeprefix("run/") for c in converted}
    )
    assert {r["source"] for records in read_back.values() for r in records} == expected_sources
    assert len(converted) == (0 if (storage, compression) == ("mcap", "none") else 3)
    parts_listed = api.get(f"/ingestions/{done['id']}/parts", params={"limit": 100}).json()["data"]
    assert {p["context"]["path"] for p in parts_listed} == set(recording.files)
    topics = _topics(api, log)
    assert topics["/reading"]["type_data"].startswith(CUSTOM_DEFINITION)
    assert topics["/chatter"]["type_encoding"] == "cdr"
    # Decoded through the topic's definition: query_data of a custom type.
    record = api.get(
        f"/topics/{topics['/reading']['id']}/records", params={"limit": 1, "include_raw_data": "true"}
    ).json()["data"][0]
    assert record["query_data"]["label"] == "r2"


def test_lone_db3_without_metadata_yaml_is_converted_and_typed_from_rosbags_store(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], tmp_path: Path
) -> None:
    messages = [string_message("/chatter", START + i, f"hi {i}") for i in range(30)]
    write_db3(
        tmp_path / "old.db3",
        2,
        [Db3Topic("/chatter", "std_msgs/msg/String")],
        [(1, m.timestamp, m.data) for m in messages],
    )
    put_log_object(aws, DATASTORE_ID, log["id"], "old.db3", (tmp_path / "old.db3").read_bytes())

    done = ingest(api, log["id"], "old.db3")

    topic = _topics(api, log)["/chatter"]
    assert topic["type_data"].strip() == "string data"
    records = _records(api, topic["id"])
    assert [_raw(r) for r in records] == [m.data for m in messages]
    assert {r["source"] for r in records} == {f"derived/{done['id']}/old.mcap"}
    assert records[3]["query_data"] == {"data": "hi 3"}


def test_converted_records_are_written_only_once_their_derived_mcap_is_there(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The derived MCAP uploads while the part indexes it; its records wait for the upload's end."""
    recording = write_split_recording(tmp_path / "run", [mixed_messages(START, 30)], storage="sqlite3")
    _upload_folder(aws, log, recording.path, "run")
    upload_file, put_blocks = S3BlobStore.upload_file, DynamoRecordRepository.put_blocks
    present_at_each_write: list[bool] = []

    def slow_upload(self: S3BlobStore, path: Path, key: str, content_type: str | None) -> None:
        time.sleep(0.5)  # the index of a small file is built long before this ends
        upload_file(self, path, key, content_type)

    def checked_put(self: DynamoRecordRepository, blocks: list[Any]) -> None:
        listed = _s3().list_objects_v2(Bucket=aws["OBJECTS_BUCKET_NAME"], Prefix=derived_prefix)
        present_at_each_write.append(listed.get("KeyCount", 0) == 1)
        put_blocks(self, blocks)

    derived_prefix = log_object_key(DATASTORE_ID, log["id"], "run/derived/")
    monkeypatch.setattr(S3BlobStore, "upload_file", slow_upload)
    monkeypatch.setattr(DynamoRecordRepository, "put_blocks", checked_put)

    ingest(api, log["id"], "run/metadata.yaml")

    assert present_at_each_write and all(present_at_each_write)
    assert _digests(_read_back(api, log)) == _reference(recording.all_messages)


@pytest.mark.parametrize("messages", [30, 0])
def test_a_failed_upload_of_a_derived_mcap_fails_the_ingestion_before_any_record_is_written(
    api: ApiClient,
    aws: dict[str, str],
    log: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    messages: int,
) -> None:
    """With messages, the upload's failure stops the first write of records; without, the part's end."""
    rows = [
        (1, m.timestamp, m.data)
        for m in (string_message("/chatter", START + i, "hi") for i in range(messages))
    ]
    write_db3(tmp_path / "lone.db3", 2, [Db3Topic("/chatter", "std_msgs/msg/String")], rows)
    put_log_object(aws, DATASTORE_ID, log["id"], "lone.db3", (tmp_path / "lone.db3").read_bytes())

    def failing_upload(self: S3BlobStore, path: Path, key: str, content_type: str | None) -> None:
        raise OSError("the upload broke off")

    monkeypatch.setattr(S3BlobStore, "upload_file", failing_upload)

    failed = run_ingestion(api, log["id"], "lone.db3")

    assert failed["state"] == "failed"
    assert "the upload broke off" in failed["error_message"]
    assert all(topic["record_count"] == 0 for topic in _topics(api, log).values())


# -- Missing files, re-queue, delete ------------------------------------------------------------------


def test_missing_file_fails_naming_it_then_upload_and_requeue_completes_with_one_copy(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], tmp_path: Path
) -> None:
    parts = [mixed_messages(START, 12), mixed_messages(START + 10**9, 9)]
    recording = write_split_recording(tmp_path / "run", parts, storage="sqlite3")
    _upload_folder(aws, log, recording.path, "run", skip=("run_1.db3",))
    before = _keys(aws, log)

    failed = run_ingestion(api, log["id"], "run/metadata.yaml")

    assert failed["state"] == "failed"
    assert failed["error_name"] == "BadLogFile"
    assert "run_1.db3" in failed["error_message"] and "run_0.db3" not in failed["error_message"]
    assert failed["error_payload"]["missing_files"] == ["run_1.db3"]
    assert _keys(aws, log) == before
    assert _topics(api, log) == {}

    put_log_object(aws, DATASTORE_ID, log["id"], "run/run_1.db3", (recording.path / "run_1.db3").read_bytes())
    assert api.patch(f"/ingestions/{failed['id']}", {"state": "queued"}).status == 200
    payload = {"ingestion_id": failed["id"], "attempt": 2}
    plan = tasks.plan(payload)
    for part in tasks.parts_of(plan):
        tasks.process_part(part)
    tasks.finalize(payload)
    assert api.get(f"/ingestions/{failed['id']}").data["state"] == "completed"
    assert _digests(_read_back(api, log)) == _reference(recording.all_messages)

    # Deleting the ingestion deletes its records and its derived objects; the originals stay.
    assert api.delete(f"/ingestions/{failed['id']}").status == 204
    assert set(_keys(aws, log)) == {"run/metadata.yaml", "run/run_0.db3", "run/run_1.db3"}


# -- Bad recordings -----------------------------------------------------------------------------------


def _metadata(folder: Path) -> dict[str, Any]:
    return dict(yaml.safe_load((folder / "metadata.yaml").read_text()))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda text: "rosbag2_bagfile_information: [unclosed", "not YAML"),
        (lambda text: "something_else: {}\n", "not a rosbag2"),
        (
            lambda text: text.replace("storage_identifier: sqlite3", "storage_identifier: hdf5"),
            "unknown storage_identifier",
        ),
        (lambda text: text.replace("version: 9", "version: 42"), "version 42"),
        (
            lambda text: text.replace("compression_format: ''", "compression_format: lz4"),
            "unknown compression_format",
        ),
        (
            lambda text: text.replace("- run_0.db3", "- ../../other/run_0.db3"),
            "outside the recording's folder",
        ),
        (lambda text: text.replace("- run_0.db3", "- /etc/run_0.db3"), "outside the recording's folder"),
    ],
)
def test_bad_metadata_yaml_fails_clearly_leaving_nothing(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], tmp_path: Path, change: Any, expected: str
) -> None:
    recording = write_split_recording(tmp_path / "run", [mixed_messages(START, 6)], storage="sqlite3")
    path = recording.path / "metadata.yaml"
    path.write_text(change(path.read_text()))
    _upload_folder(aws, log, recording.path, "run")
    before = _keys(aws, log)

    failed = run_ingestion(api, log["id"], "run/metadata.yaml")

    assert (failed["state"], failed["error_name"]) == ("failed", "BadLogFile")
    assert expected in failed["error_message"]
    assert _keys(aws, log) == before
    assert _topics(api, log) == {}


@pytest.mark.parametrize(
    ("storage", "compression", "content", "expected"),
    [
        (
            "sqlite3",
            "none",
            b"this is not a sqlite database at all, just text" * 20,
            "cannot be read as a sqlite3 database",
        ),
        ("sqlite3", "none", "no_tables", "not rosbag2's"),
        ("sqlite3", "file", b"\x28\xb5\x2f\xfd" + b"\x00garbage" * 30, "zstd"),
        ("mcap", "none", b"not an mcap file, although listed as one", "is not an MCAP file"),
    ],
)
def test_bad_storage_file_fails_clearly_leaving_nothing(
    api: ApiClient,
    aws: dict[str, str],
    log: dict[str, Any],
    tmp_path: Path,
    storage: str,
    compression: str,
    content: Any,
    expected: str,
) -> None:
    recording = write_split_recording(
        tmp_path / "run",
        [mixed_messages(START, 6), mixed_messages(START + 10**9, 6)],
        storage=storage,  # type: ignore[arg-type]
        compression=compression,  # type: ignore[arg-type]
    )
    bad = recording.path / recording.files[1]
    if content == "no_tables":
        bad.unlink()
        connection = sqlite3.connect(bad)
        connection.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT)")
        connection.commit()
        connection.close()
    else:
        bad.write_bytes(content)
    _upload_folder(aws, log, recording.path, "run")
    before = _keys(aws, log)

    failed = run_ingestion(api, log["id"], "run/metadata.yaml")

    assert (failed["state"], failed["error_name"]) == ("failed", "BadLogFile"), failed
    message = failed["error_message"]
    assert expected in message and recording.files[1] in message, message
    assert _keys(aws, log) == before  # derived objects of the good file removed too
    assert _topics(api, log) == {}
    assert failed["error_payload"]["file"] == recording.files[1]


def test_old_db3_of_an_unknown_type_keeps_its_bytes_until_a_user_gives_the_definition(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], tmp_path: Path
) -> None:
    messages = [reading_message("/reading", START + i * 1000, f"r{i}", [i, -i]) for i in range(5)]
    json_rows = [(2, START + i, b'{"x": %d}' % i) for i in range(3)]
    write_db3(
        tmp_path / "run_0.db3",
        3,
        [
            Db3Topic("/reading", CUSTOM_TYPE),
            Db3Topic("/events", "my_msgs/msg/Event", serialization_format="json"),
        ],
        [(1, m.timestamp, m.data) for m in messages] + json_rows,
    )
    put_log_object(aws, DATASTORE_ID, log["id"], "run_0.db3", (tmp_path / "run_0.db3").read_bytes())

    ingest(api, log["id"], "run_0.db3")

    topics = _topics(api, log)
    reading, events = topics["/reading"], topics["/events"]
    assert (reading["type_name"], reading["type_encoding"], reading["type_data"]) == (
        CUSTOM_TYPE,
        "cdr",
        None,
    )
    assert (events["type_encoding"], events["context"]["message_encoding"]) == (None, "json")
    assert [_raw(r) for r in _records(api, events["id"])] == [data for _, _, data in json_rows]
    records = _records(api, reading["id"])
    assert [base64.b64decode(r["raw_data"]) for r in records] == [m.data for m in messages]
    assert records[0]["query_data"] is None
    assert records[0]["error"]["name"] == "MessageDecodeError"  # the bytes are there, the type is not
    # The definition given later makes query_data decode.
    definition = (
        CUSTOM_DEFINITION
        + "=" * 80
        + "\nMSG: std_msgs/Header\nbuiltin_interfaces/Time stamp\nstring frame_id\n"
    )
    definition += "=" * 80 + "\nMSG: builtin_interfaces/Time\nint32 sec\nuint32 nanosec\n"
    assert api.patch(f"/topics/{reading['id']}", {"type_data": definition}).status == 200
    decoded = _records(api, reading["id"])[1]["query_data"]
    assert (decoded["label"], decoded["values"]) == ("r1", [1.0, -1.0])
