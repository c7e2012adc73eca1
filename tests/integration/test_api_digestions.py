"""The digestion routes (next §1): nested and flat forms, the nil-parent part fetch, filters, locks, bad
input. Parts come from a real run of the digestion (task by task) on a real bag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support import digestion
from tests.support.api import ApiClient
from tests.support.ingestion import ingest, log_object_key, put_log_object
from tests.support.paths import DATASTORE_ID
from tests.support.resources import create_group, create_log, create_topic

NIL = "00000000-0000-0000-0000-000000000000"
START = 1396293888_000_000_000
END = 1396293898_000_000_000


def _log(api: ApiClient, aws: dict[str, str], fixture_bags: Path, name: str = "Turtles") -> dict[str, Any]:
    log = create_log(api, create_group(api, f"Digest {name}")["id"], name)
    put_log_object(aws, DATASTORE_ID, log["id"], "run.bag", (fixture_bags / "example.bag").read_bytes())
    ingest(api, log["id"], "run.bag")
    return log


def _topics(api: ApiClient, log_id: str) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in api.get("/topics", params={"log_id": log_id, "limit": 100}).json()["data"]}


def _official_create(log_id: str, **fields: Any) -> dict[str, Any]:
    """The body the official client sends for ``lqs.create.digestion`` (every key, nulls included)."""
    return {
        "log_id": log_id,
        "name": None,
        "note": None,
        "context": None,
        "locked": False,
        "workflow_id": None,
        "workflow_context": None,
        "state": "ready",
        **fields,
    }


def _official_topic(topic_id: str, **fields: Any) -> dict[str, Any]:
    keys = ("start_time", "end_time", "frequency", "query_data_filter", "context_filter")
    return {"topic_id": topic_id, **dict.fromkeys(keys), **fields}


def test_digestion_and_its_topics_through_nested_and_flat_routes(
    api: ApiClient, aws: dict[str, str], fixture_bags: Path
) -> None:
    log = _log(api, aws, fixture_bags)
    topics = _topics(api, log["id"])

    created = api.post("/digestions", _official_create(log["id"], name="clip", note="two topics"))
    assert created.status == 200, created.body
    d = created.data
    assert (d["log_id"], d["group_id"], d["state"], d["name"]) == (
        log["id"],
        log["group_id"],
        "ready",
        "clip",
    )
    pose_filter = {"var": "x", "op": "gt", "val": 5.5}
    pose = api.post(
        f"/digestions/{d['id']}/topics",
        _official_topic(
            topics["/turtle1/pose"]["id"], start_time=START, end_time=END, query_data_filter=pose_filter
        ),
    ).data
    tf = api.post(f"/digestions/{d['id']}/topics", _official_topic(topics["/tf"]["id"], frequency=2.0)).data

    # A digestion topic is a CommonModel: no lock fields, filters echoed as objects.
    assert "locked" not in pose and "log_id" not in pose
    assert (pose["query_data_filter"], pose["context_filter"]) == (pose_filter, None)
    assert (tf["frequency"], tf["start_time"]) == (2.0, None)
    nested = api.get(f"/digestions/{d['id']}/topics/{pose['id']}").data
    flat = api.get(f"/digestionTopics/{pose['id']}").data
    assert nested == flat == pose
    listed = api.get(f"/digestions/{d['id']}/topics", params={"order": "created_at"}).json()
    assert [t["id"] for t in listed["data"]] == [pose["id"], tf["id"]] and listed["count"] == 2
    by_log = api.get("/digestionTopics", params={"log_id": log["id"], "start_time_null": "true"}).json()
    assert [t["id"] for t in by_log["data"]] == [tf["id"]]
    assert api.get("/digestionTopics", params={"group_id": NIL}).json()["count"] == 0

    # The flat form updates (everything but topic_id) and deletes.
    updated = api.patch(f"/digestionTopics/{tf['id']}", {"frequency": 5.0, "end_time": END})
    assert updated.status == 200, updated.body
    assert (updated.data["frequency"], updated.data["end_time"]) == (5.0, END)
    assert api.delete(f"/digestionTopics/{tf['id']}").status == 204
    assert api.get(f"/digestions/{d['id']}/topics/{tf['id']}").status == 404

    # Digestion lists filter as the contract says.
    assert api.get("/digestions", params={"log_id": log["id"]}).json()["count"] == 1
    assert api.get("/digestions", params={"name_like": "cli", "state": "ready"}).json()["count"] == 1
    assert api.get("/digestions", params={"state": "completed"}).json()["count"] == 0
    renamed = api.patch(f"/digestions/{d['id']}", {"name": "clip 2", "context": {"why": "demo"}})
    assert (renamed.data["name"], renamed.data["context"]) == ("clip 2", {"why": "demo"})


def test_completed_digestion_parts_nested_flat_and_nil_parent(
    api: ApiClient, aws: dict[str, str], fixture_bags: Path
) -> None:
    log = _log(api, aws, fixture_bags)
    topics = _topics(api, log["id"])
    d = api.post("/digestions", _official_create(log["id"])).data
    api.post(f"/digestions/{d['id']}/topics", _official_topic(topics["/turtle1/pose"]["id"]))

    done = digestion.run(api, d["id"])

    assert done["state"] == "completed" and done["progress"] == 1.0, done
    # What iter_digestion_records asks for: every part, in creation order, without indexes.
    listing = api.get(
        f"/digestions/{d['id']}/parts",
        params={"include_count": "True", "offset": 0, "limit": 1000, "order": "created_at", "sort": "ASC"},
    ).json()
    assert listing["limit"] == 1000 and listing["count"] == len(listing["data"]) >= 1
    parts = listing["data"]
    assert [p["sequence"] for p in parts] == list(range(len(parts)))
    assert all(p["index"] is None and p["state"] == "completed" for p in parts)
    assert {(p["log_id"], p["group_id"], p["digestion_id"]) for p in parts} == {
        (log["id"], log["group_id"], d["id"])
    }
    entries = []
    for part in parts:
        nested = api.get(f"/digestions/{d['id']}/parts/{part['id']}").data
        assert api.get(f"/digestions/{NIL}/parts/{part['id']}").data == nested
        assert api.get(f"/digestionParts/{part['id']}").data == nested
        entries += nested["index"]
    ingestion_id = api.get("/ingestions", params={"log_id": log["id"]}).json()["data"][0]["id"]
    assert len(entries) == 1344
    assert all(
        len(e) == 9 and e[0] == topics["/turtle1/pose"]["id"] and e[1] == ingestion_id for e in entries
    )
    assert [e[8] for e in entries] == sorted(e[8] for e in entries)
    # The flat part list filters by log and state; another digestion's parts are not listed.
    assert api.get("/digestionParts", params={"log_id": log["id"]}).json()["count"] == len(parts)
    assert api.get("/digestionParts", params={"state": "failed"}).json()["count"] == 0
    assert api.get(f"/digestions/{d['id']}/parts", params={"sequence": 0}).json()["count"] == 1
    # Another part's nil-parent fetch of a digestion that does not have it: 404.
    other = api.post("/digestions", _official_create(log["id"])).data
    assert api.get(f"/digestions/{other['id']}/parts/{parts[0]['id']}").status == 404


def test_digestion_parts_created_through_the_api_with_an_index(
    api: ApiClient, aws: dict[str, str], fixture_bags: Path
) -> None:
    log = _log(api, aws, fixture_bags)
    d = api.post("/digestions", _official_create(log["id"])).data
    entry = [str(log["id"]), None, None, 10, 20, None, None, None, START]
    body = {"sequence": 0, "context": None, "locked": False, "workflow_id": None}
    created = api.post(f"/digestions/{d['id']}/parts", {**body, "state": "ready", "index": [entry]})
    assert created.status == 200, created.body
    part = created.data
    assert part["index"] == [entry] and part["state"] == "ready"
    patched = api.patch(f"/digestionParts/{part['id']}", {"state": "queued", "context": {"k": 1}})
    assert (patched.data["state"], patched.data["context"]) == ("queued", {"k": 1})
    bad = api.post(f"/digestions/{d['id']}/parts", {"sequence": 1, "index": [[1, 2, 3]]})
    assert bad.status == 400 and "index" in bad.message
    deleted = api.delete(f"/digestionParts/{part['id']}")
    assert deleted.status == 204, deleted.body
    assert api.get(f"/digestions/{NIL}/parts/{part['id']}").status == 404


def test_locked_digestion_guards_its_topics_with_the_lock_token(
    api: ApiClient, aws: dict[str, str], fixture_bags: Path
) -> None:
    log = _log(api, aws, fixture_bags)
    topic_id = _topics(api, log["id"])["/rosout"]["id"]
    d = api.post("/digestions", _official_create(log["id"], locked=True), params={"lock_token": "t0k"}).data
    assert d["locked"] is True

    refused = api.post(f"/digestions/{d['id']}/topics", _official_topic(topic_id))
    wrong = api.post(f"/digestions/{d['id']}/topics", _official_topic(topic_id), params={"lock_token": "x"})
    allowed = api.post(
        f"/digestions/{d['id']}/topics", _official_topic(topic_id), params={"lock_token": "t0k"}
    )

    assert (refused.status, wrong.status, allowed.status) == (423, 423, 200)
    assert api.delete(f"/digestions/{d['id']}").status == 423
    assert api.get(f"/digestions/{d['id']}/topics").json()["count"] == 1


@pytest.mark.parametrize(
    ("fields", "status", "named"),
    [
        ({"start_time": END, "end_time": START}, 400, "start_time"),
        ({"frequency": 0}, 400, "frequency"),
        ({"frequency": -1.5}, 400, "frequency"),
        ({"query_data_filter": [{"var": "x"}]}, 400, "query_data_filter"),
        ({"context_filter": "x > 1"}, 400, "context_filter"),
        ({"query_data_filter": {"var": "x", "op": "sounds_like", "val": 1}}, 400, "query_data_filter"),
    ],
)
def test_bad_digestion_topics_are_refused_naming_the_field(
    api: ApiClient, aws: dict[str, str], fixture_bags: Path, fields: dict[str, Any], status: int, named: str
) -> None:
    log = _log(api, aws, fixture_bags)
    d = api.post("/digestions", _official_create(log["id"])).data
    topic_id = _topics(api, log["id"])["/rosout"]["id"]

    response = api.post(f"/digestions/{d['id']}/topics", _official_topic(topic_id, **fields))

    assert response.status == status, response.body
    assert response.message.startswith("[") and named in response.message
    assert api.get(f"/digestions/{d['id']}/topics").json()["count"] == 0
    # The same on update of an existing topic.
    entry = api.post(f"/digestions/{d['id']}/topics", _official_topic(topic_id)).data
    if "start_time" not in fields:
        patched = api.patch(f"/digestionTopics/{entry['id']}", fields)
        assert patched.status == status and named in patched.message
    assert api.get(f"/digestionTopics/{entry['id']}").data == entry


def test_topic_of_another_log_and_unfitting_exports_are_refused(
    api: ApiClient, aws: dict[str, str], fixture_bags: Path
) -> None:
    log = _log(api, aws, fixture_bags)
    other_log = create_log(api, log["group_id"], "Other")
    foreign = create_topic(api, other_log["id"], "/elsewhere")
    cdr = create_topic(api, log["id"], "/camera", type_name="std_msgs/msg/String", type_encoding="cdr")
    rosout = _topics(api, log["id"])["/rosout"]["id"]

    d = api.post("/digestions", _official_create(log["id"])).data
    refused = api.post(f"/digestions/{d['id']}/topics", _official_topic(foreign["id"]))
    assert refused.status == 400 and "topic_id" in refused.message and other_log["id"] in refused.message

    # A bag holds ROS 1 messages only: refused on create, on a topic added later, on update of context.
    bag_of_cdr = api.post("/digestions", _official_create(log["id"], context={"export": {"format": "bag"}}))
    assert bag_of_cdr.status == 200
    bag = bag_of_cdr.data
    assert api.post(f"/digestions/{bag['id']}/topics", _official_topic(rosout)).status == 200
    cdr_added = api.post(f"/digestions/{bag['id']}/topics", _official_topic(cdr["id"]))
    assert cdr_added.status == 400 and "context.export.format" in cdr_added.message
    mcap = api.post("/digestions", _official_create(log["id"], context={"export": {"format": "mcap"}})).data
    api.post(f"/digestions/{mcap['id']}/topics", _official_topic(cdr["id"]))
    to_bag = api.patch(f"/digestions/{mcap['id']}", {"context": {"export": {"format": "bag"}}})
    assert to_bag.status == 400 and "context.export.format" in to_bag.message
    # An export request that is not one, a latched topic the digestion does not have.
    for context in (
        {"export": "mcap"},
        {"export": {"format": "mp4"}},
        {"export": {"format": "mcap", "x": 1}},
    ):
        response = api.post("/digestions", _official_create(log["id"], context=context))
        assert response.status == 400 and "context.export" in response.message, context
    latched = api.post(
        "/digestions",
        _official_create(log["id"], context={"export": {"format": "mcap", "latched": ["/nope"]}}),
    ).data
    api.post(f"/digestions/{latched['id']}/topics", _official_topic(rosout))
    queued = api.patch(f"/digestions/{latched['id']}", {"state": "queued"})
    assert queued.status == 400 and "/nope" in queued.message
    # Nothing to queue without topics.
    empty = api.post("/digestions", _official_create(log["id"])).data
    nothing = api.patch(f"/digestions/{empty['id']}", {"state": "queued"})
    assert nothing.status == 400 and "topics" in nothing.message
    assert api.get(f"/digestions/{empty['id']}").data["state"] == "ready"
    # A digestion of a log that does not exist.
    missing = api.post("/digestions", _official_create(NIL))
    assert missing.status == 404


def test_failed_digestion_is_requeued_cleanly_and_deleted_with_its_objects(
    api: ApiClient, aws: dict[str, str], fixture_bags: Path
) -> None:
    log = _log(api, aws, fixture_bags)
    topics = _topics(api, log["id"])
    d = api.post("/digestions", _official_create(log["id"], context={"export": {"format": "mcap"}})).data
    api.post(f"/digestions/{d['id']}/topics", _official_topic(topics["/tf"]["id"]))
    s3 = boto3.client("s3")
    bucket = aws["OBJECTS_BUCKET_NAME"]
    source = log_object_key(DATASTORE_ID, log["id"], "run.bag")
    kept = s3.get_object(Bucket=bucket, Key=source)["Body"].read()
    s3.delete_object(Bucket=bucket, Key=source)

    failed = digestion.run(api, d["id"])

    assert (failed["state"], failed["error_name"]) == ("failed", "NotFound")
    assert source in failed["error_message"]
    assert api.get(f"/digestions/{d['id']}/parts").json()["count"] == 0

    # Given the object back, queued again: a new attempt, only its parts, a fresh export.
    s3.put_object(Bucket=bucket, Key=source, Body=kept)
    done = digestion.run(api, d["id"])

    assert done["state"] == "completed", done
    assert (done["error_name"], done["error_message"]) == (None, None)
    parts = api.get(f"/digestions/{d['id']}/parts", params={"limit": 1000}).json()
    assert parts["count"] == len(parts["data"]) and {p["state"] for p in parts["data"]} == {"completed"}
    assert done["context"]["export"]["message_count"] == 2688
    prefix = log_object_key(DATASTORE_ID, log["id"], f"digestions/{d['id']}/")
    written = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    assert sorted(k.rsplit("/", 1)[-1] for k in written) == sorted(
        [f"{p['id']}.bin" for p in parts["data"]] + ["export.mcap"]
    )

    # Deleting it deletes its topics, parts, blobs and export; the log's own object stays.
    assert api.delete(f"/digestions/{d['id']}").status == 204
    assert api.get(f"/digestions/{d['id']}").status == 404
    assert api.get("/digestionParts", params={"log_id": log["id"]}).json()["count"] == 0
    assert api.get("/digestionTopics", params={"log_id": log["id"]}).json()["count"] == 0
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    assert s3.head_object(Bucket=bucket, Key=source)["ContentLength"] == len(kept)
