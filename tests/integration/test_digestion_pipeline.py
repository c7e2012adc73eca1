"""Digestions run task by task in mock_aws: plans, part blobs, exports, failures (real bags, real readers)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from uuid import UUID

import boto3
import pytest
from mcap.reader import make_reader
from rosbags.rosbag1 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from openlqs.digestion import pipeline as digestion_pipeline
from openlqs.domain.digestions import completed_digestion_parts
from openlqs.domain.ports import Counter
from openlqs.domain.resources import DIGESTION_PART
from openlqs.services import get_services
from openlqs.settings import get_settings
from tests.support import digestion
from tests.support.api import ApiClient
from tests.support.fixture_logs import FIXTURES
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
    api: ApiClient, aws: dict[str, str], fixture_bags: Path, tmp_path: Path, export: str
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
        path = tmp_path / "export.bag"
        path.write_bytes(exported)
        with Reader(path) as reader:
            messages = [(c.topic, t, bytes(d)) for c, t, d in reader.messages()]
    assert sorted(messages) == sorted(expected)
    assert [m[1] for m in messages] == sorted(m[1] for m in messages)


def _blob_messages(
    api: ApiClient, aws: dict[str, str], log_id: str, digestion_id: str
) -> list[tuple[str, int, bytes]]:
    """(topic name, timestamp, bytes) of every record of the digestion's parts, read from the blobs as
    the official client's ``iter_digestion_records`` reads them (index order)."""
    names = {t["id"]: n for n, t in _topics(api, log_id).items()}
    parts = api.get(
        f"/digestions/{digestion_id}/parts", params={"limit": 1000, "order": "created_at"}
    ).json()["data"]
    got = []
    for part in parts:
        fetched = api.get(f"/digestions/00000000-0000-0000-0000-000000000000/parts/{part['id']}").data
        blob = _object(aws, log_id, f"digestions/{digestion_id}/digestion_parts/{part['id']}.bin")
        at = 0
        for entry in fetched["index"]:
            size = entry[4] if entry[7] is None else entry[7]
            got.append((names[entry[0]], entry[8], blob[at : at + size]))
            at += size
        assert at == len(blob)
    return got


def _mcap_messages(data: bytes) -> list[tuple[str, int, bytes]]:
    reader = make_reader(io.BytesIO(data))
    return [(c.topic, m.log_time, m.data) for _, c, m in reader.iter_messages(log_time_order=True)]


def _bag_messages(data: bytes, folder: Path) -> list[tuple[str, int, bytes]]:
    path = folder / "export.bag"
    path.write_bytes(data)
    with Reader(path) as reader:
        return [(c.topic, t, bytes(d)) for c, t, d in reader.messages()]


def _digest(
    api: ApiClient, log: dict[str, Any], entries: dict[str, dict[str, Any]], context: dict[str, Any] | None
) -> dict[str, Any]:
    topics = _topics(api, log["id"])
    created = api.post("/digestions", {"log_id": log["id"], "context": context}).data
    for name, fields in entries.items():
        response = api.post(f"/digestions/{created['id']}/topics", {"topic_id": topics[name]["id"], **fields})
        assert response.status == 200, response.body
    return digestion.run(api, created["id"])


@pytest.mark.parametrize("name", ["example.bag", "example-bz2.bag"])
def test_digestion_of_uncompressed_and_bz2_bags_exports_a_bag_rosbags_reads(
    api: ApiClient, aws: dict[str, str], fixture_bags: Path, tmp_path: Path, name: str
) -> None:
    bag = fixture_bags / name
    log = _log_with_bag(api, aws, bag)
    window = {"start_time": START, "end_time": END}

    done = _digest(
        api, log, {"/turtle2/cmd_vel": window, "/rosout": {}, "/tf": window}, {"export": {"format": "bag"}}
    )

    assert done["state"] == "completed", done
    expected = sorted(
        _expected(bag, {"/turtle2/cmd_vel", "/tf"}, START, END) + _expected(bag, {"/rosout"}, 0, END * 2)
    )
    assert sorted(_blob_messages(api, aws, log["id"], done["id"])) == expected
    exported = _bag_messages(_object(aws, log["id"], done["context"]["export"]["key"]), tmp_path)
    assert sorted(exported) == expected
    assert [m[1] for m in exported] == sorted(m[1] for m in exported)
    with Reader(tmp_path / "export.bag") as reader:
        kinds = {c.topic: (c.msgtype, c.digest) for c in reader.connections}
    with Reader(bag) as reader:
        assert kinds == {c.topic: (c.msgtype, c.digest) for c in reader.connections if c.topic in kinds}


def test_digestion_of_chunks_out_of_time_order_is_in_time_order(
    api: ApiClient, aws: dict[str, str], fixture_bags: Path, tmp_path: Path
) -> None:
    bag = fixture_bags / "example-unsorted-chunks.bag"
    log = _log_with_bag(api, aws, bag, "Unsorted")

    done = _digest(api, log, {"foo": {"start_time": 1_500_000_000}}, {"export": {"format": "bag"}})

    assert done["state"] == "completed", done
    blobs = _blob_messages(api, aws, log["id"], done["id"])
    expected = sorted(_expected(bag, {"foo"}, 1_500_000_000, 10**10))
    assert blobs == expected and [m[1] for m in blobs] == [2_000_000_000, 3_000_000_000]
    assert _bag_messages(_object(aws, log["id"], done["context"]["export"]["key"]), tmp_path) == expected


def test_latched_export_starts_with_each_topics_last_earlier_record(
    api: ApiClient, aws: dict[str, str], fixture_bags: Path, tmp_path: Path
) -> None:
    bag = fixture_bags / "example-lz4.bag"
    log = _log_with_bag(api, aws, bag)
    start = 1396293890_000_000_000  # after /tf_static's only message and /rosout's last
    window = {"start_time": start, "end_time": END}
    topics = ("/tf_static", "/rosout", "/turtle1/pose")

    mcap = _digest(api, log, dict.fromkeys(topics, window), {"export": {"format": "mcap", "latched": True}})
    bag_export = _digest(
        api, log, dict.fromkeys(topics, window), {"export": {"format": "bag", "latched": ["/tf_static"]}}
    )

    assert mcap["state"] == bag_export["state"] == "completed", (mcap, bag_export)
    in_window = _expected(bag, set(topics), start, END)
    before = _expected(bag, set(topics), 0, start - 1)
    last_before = {topic: max(m for m in before if m[0] == topic) for topic in topics}
    # The parts (the official readers' view) hold the window only; the exports add the latched records.
    assert sorted(_blob_messages(api, aws, log["id"], mcap["id"])) == sorted(in_window)
    assert {m[0] for m in in_window} == {"/turtle1/pose"}
    exported = _mcap_messages(_object(aws, log["id"], mcap["context"]["export"]["key"]))
    assert sorted(exported) == sorted(in_window + list(last_before.values()))
    assert exported[:3] == sorted(last_before.values(), key=lambda m: m[1])
    assert mcap["context"]["export"]["message_count"] == len(in_window) + 3
    reader = make_reader(io.BytesIO(_object(aws, log["id"], mcap["context"]["export"]["key"])))
    summary = reader.get_summary()
    assert summary is not None
    latching = {c.topic: c.metadata.get("latching") for c in summary.channels.values()}
    assert latching == {"/tf_static": "1", "/rosout": "1", "/turtle1/pose": "1"}
    from_bag = _bag_messages(_object(aws, log["id"], bag_export["context"]["export"]["key"]), tmp_path)
    assert sorted(from_bag) == sorted([*in_window, last_before["/tf_static"]])
    with Reader(tmp_path / "export.bag") as reader:
        latched = {c.topic: c.ext.latching for c in reader.connections}
    assert {topic for topic, latching in latched.items() if latching} == {"/tf_static"}
    assert set(latched) == set(topics)


def test_frequency_and_query_data_filter_select_as_record_lists_do(
    api: ApiClient, aws: dict[str, str], fixture_bags: Path
) -> None:
    bag = fixture_bags / "example.bag"
    log = create_log(api, create_group(api, "Digest filters")["id"], "Filters")
    response = api.post(
        "/topics", {"log_id": log["id"], "name": "/turtle1/pose", "context": {"store_query_data": True}}
    )
    assert response.status == 200, response.body
    put_log_object(aws, DATASTORE_ID, log["id"], "run.bag", bag.read_bytes())
    ingest(api, log["id"], "run.bag")
    condition = {"var": "x", "op": "gt", "val": 5.5}

    done = _digest(
        api,
        log,
        {"/turtle1/pose": {"query_data_filter": condition}, "/tf": {"frequency": 2.0, "end_time": END}},
        {"export": {"format": "mcap"}},
    )

    assert done["state"] == "completed", done
    got = _blob_messages(api, aws, log["id"], done["id"])
    # /turtle1/pose: what rosbags decodes with x > 5.5.
    typestore = get_typestore(Stores.ROS1_NOETIC)
    with Reader(bag) as reader:
        for connection in reader.connections:
            typestore.register(get_types_from_msg(connection.msgdef.data, connection.msgtype))
        poses = [
            ("/turtle1/pose", t, bytes(d))
            for c, t, d in reader.messages()
            if c.topic == "/turtle1/pose" and typestore.deserialize_ros1(d, c.msgtype).x > 5.5
        ]
    assert poses and len(poses) < 1344
    assert sorted(m for m in got if m[0] == "/turtle1/pose") == sorted(poses)
    # /tf at 2 Hz: the first record of each half second up to END.
    tf = [m for m in _expected(bag, {"/tf"}, 0, END)]
    tf.sort(key=lambda m: m[1])
    thinned = [m for i, m in enumerate(tf) if i == 0 or m[1] // 500_000_000 != tf[i - 1][1] // 500_000_000]
    assert [m for m in got if m[0] == "/tf"] == thinned
    assert len(thinned) == len({m[1] // 500_000_000 for m in tf}) < len(tf)
    exported = _mcap_messages(_object(aws, log["id"], done["context"]["export"]["key"]))
    assert sorted(exported) == sorted(got)


@pytest.mark.parametrize(
    ("name", "window"),
    [
        ("rosbag2-talker-mcap/talker.mcap", None),
        ("json-mouse-events.mcap", (1740566236_000_000_000, 1740566237_000_000_000)),
        ("protobuf-laser-scan.mcap", (1689269570_000_000_000, 1689269580_000_000_000)),
    ],
)
def test_digestion_of_real_mcap_files_exports_what_the_mcap_reader_reads(
    api: ApiClient, aws: dict[str, str], fixture_logs: Path, name: str, window: tuple[int, int] | None
) -> None:
    source = (fixture_logs / name).read_bytes()
    log = create_log(api, create_group(api, "Digest MCAP")["id"], "MCAP")
    key = Path(name).name
    put_log_object(aws, DATASTORE_ID, log["id"], key, source)
    ingest(api, log["id"], key)
    expected_topics = {t for t, n in ((t, v.count) for t, v in FIXTURES[name].items()) if n}
    fields = {} if window is None else {"start_time": window[0], "end_time": window[1]}
    low, high = window or (0, 2**63 - 1)

    done = _digest(api, log, dict.fromkeys(expected_topics, fields), {"export": {"format": "mcap"}})

    assert done["state"] == "completed", done
    expected = [m for m in _mcap_messages(source) if m[0] in expected_topics and low <= m[1] <= high]
    assert expected
    assert sorted(_blob_messages(api, aws, log["id"], done["id"])) == sorted(expected)
    exported = _object(aws, log["id"], done["context"]["export"]["key"])
    assert _mcap_messages(exported) == sorted(expected, key=lambda m: m[1])
    # Channels keep their encodings and (where the topic holds it) their schema.
    ours = make_reader(io.BytesIO(exported)).get_summary()
    theirs = make_reader(io.BytesIO(source)).get_summary()
    assert ours is not None and theirs is not None
    kinds = {c.topic: c.message_encoding for c in ours.channels.values()}
    assert kinds == {c.topic: c.message_encoding for c in theirs.channels.values() if c.topic in kinds}
    for channel in ours.channels.values():
        (original,) = [c for c in theirs.channels.values() if c.topic == channel.topic]
        if channel.schema_id:
            schema, source_schema = ours.schemas[channel.schema_id], theirs.schemas[original.schema_id]
            assert (schema.name, schema.encoding, schema.data) == (
                source_schema.name,
                source_schema.encoding,
                source_schema.data,
            )
    assert sum(1 for _ in make_reader(io.BytesIO(exported)).iter_messages()) == len(expected)


def test_parts_raise_progress_through_their_attempts_counter_which_a_deleted_digestion_takes_along(
    api: ApiClient, aws: dict[str, str], fixture_bags: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGESTION_PART_MAX_RECORDS", "500")
    monkeypatch.setattr(digestion_pipeline, "PLANNED_BATCH", 2)  # full batches of planned parts, and a rest
    get_settings.cache_clear()
    get_services.cache_clear()
    log = _log_with_bag(api, aws, fixture_bags / "example-lz4.bag", "Progress")
    topics = _topics(api, log["id"])
    created = api.post("/digestions", {"log_id": log["id"]}).data
    assert (
        api.post(f"/digestions/{created['id']}/topics", {"topic_id": topics["/turtle1/pose"]["id"]}).status
        == 200
    )
    assert api.patch(f"/digestions/{created['id']}", {"state": "queued"}).status == 200
    payload = {"digestion_id": created["id"], "attempt": 1}
    counter = completed_digestion_parts(UUID(created["id"]), 1)
    resources = get_services().digestion_pipeline.resources

    planned = digestion.plan(payload)["parts"]
    progress = []
    for part in planned:
        digestion.write_part(part)
        digestion.write_part(part)  # a retry after a lost answer counts nothing twice
        progress.append(api.get(f"/digestions/{created['id']}").data["progress"])
    digestion.finalize(payload)

    assert len(planned) >= 3 and len(planned) % 2 == 1
    listed = api.get(
        f"/digestions/{created['id']}/parts", params={"limit": 100, "order": "created_at"}
    ).json()["data"]
    assert [part["sequence"] for part in listed] == list(range(len(planned)))
    assert resources.count(Counter(created["id"], DIGESTION_PART.name)) == len(planned)
    assert all(api.get(f"/digestionParts/{part['id']}").data["index"] for part in listed)
    assert progress == pytest.approx([(n + 1) / len(planned) for n in range(len(planned))])
    assert resources.count(counter) == len(planned)
    assert api.delete(f"/digestions/{created['id']}").status == 204
    assert resources.count(counter) == 0
