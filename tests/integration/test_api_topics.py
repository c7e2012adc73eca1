"""Topics: ``/topics`` (contract §3.8)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import ApiClient
from tests.support.resources import (
    BASE_NS,
    create_group,
    create_log,
    create_records,
    create_topic,
    stored_items,
)

UNKNOWN_ID = "6e7c7138-a9ca-439b-a3a3-c0aea4d894b8"
SECOND = 1_000_000_000


@pytest.fixture
def log(api: ApiClient) -> dict[str, Any]:
    group = create_group(api, "G")
    return create_log(api, group["id"], "L")


def _ids(response: Any) -> list[str]:
    assert response.status == 200, response.body
    return [topic["id"] for topic in response.json()["data"]]


# -- create and fetch -------------------------------------------------------------------------------


def test_topics_create_takes_its_group_id_from_the_log(api: ApiClient, log: dict[str, Any]) -> None:
    # A group_id in the body is not a topic field: the log decides.
    topic = create_topic(api, log["id"], "/camera", group_id=UNKNOWN_ID)

    fetched = api.get(f"/topics/{topic['id']}").data

    assert fetched == topic
    assert fetched["group_id"] == log["group_id"]
    assert fetched["log_id"] == log["id"]


def test_topics_create_stores_type_fields(api: ApiClient, log: dict[str, Any]) -> None:
    topic = create_topic(
        api,
        log["id"],
        "/imu",
        type_name="sensor_msgs/Imu",
        type_encoding="ros1",
        type_data="Header header\n",
        type_schema={"type": "object"},
        strict=True,
    )

    fetched = api.get(f"/topics/{topic['id']}").data

    assert fetched["type_name"] == "sensor_msgs/Imu"
    assert fetched["type_encoding"] == "ros1"
    assert fetched["type_data"] == "Header header\n"
    assert fetched["type_schema"] == {"type": "object"}
    assert fetched["strict"] is True


def test_topics_create_accepts_every_type_encoding(api: ApiClient, log: dict[str, Any]) -> None:
    encodings = ["ros1", "rbuf", "json", "cdr", "TypeEncoding.cdr"]

    topics = [create_topic(api, log["id"], f"/t{i}", type_encoding=e) for i, e in enumerate(encodings)]

    assert [topic["type_encoding"] for topic in topics] == ["ros1", "rbuf", "json", "cdr", "cdr"]


def test_topics_create_unknown_type_encoding_is_400_and_writes_nothing(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    before = stored_items(aws)

    responses = [
        api.post("/topics", {"log_id": log["id"], "name": "/t", "type_encoding": encoding})
        for encoding in ("protobuf", "", 7, "TypeEncoding.protobuf")
    ]

    assert [response.status for response in responses] == [400] * 4
    assert all("type_encoding" in response.message for response in responses)
    assert stored_items(aws) == before


def test_topics_create_duplicate_name_in_a_log_is_409_and_writes_nothing(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    create_topic(api, log["id"], "/camera")
    before = stored_items(aws)

    response = api.post("/topics", {"log_id": log["id"], "name": "/camera"})

    assert response.status == 409
    assert response.message.startswith("[Conflict]")
    assert stored_items(aws) == before


def test_topics_create_same_name_in_another_log_is_allowed(api: ApiClient, log: dict[str, Any]) -> None:
    other = create_log(api, log["group_id"], "Other")
    create_topic(api, log["id"], "/camera")

    response = api.post("/topics", {"log_id": other["id"], "name": "/camera"})

    assert response.status == 200


def test_topics_create_in_unknown_log_is_404_and_writes_nothing(api: ApiClient, aws: dict[str, str]) -> None:
    before = stored_items(aws)

    response = api.post("/topics", {"log_id": UNKNOWN_ID, "name": "/t"})

    assert response.status == 404
    assert response.message.startswith("[NotFound]")
    assert stored_items(aws) == before


def test_topics_create_with_unknown_associated_topic_is_404(api: ApiClient, log: dict[str, Any]) -> None:
    response = api.post("/topics", {"log_id": log["id"], "name": "/t", "associated_topic_id": UNKNOWN_ID})

    assert response.status == 404
    assert api.get("/topics").json()["count"] == 0


def test_topics_create_invalid_bodies_are_400_naming_the_field(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    before = stored_items(aws)
    cases = {
        "log_id": {"name": "/no-log"},
        "name": {"log_id": log["id"]},
        "strict": {"log_id": log["id"], "name": "/t", "strict": "very"},
        "type_schema": {"log_id": log["id"], "name": "/t", "type_schema": "not an object"},
    }

    responses = {field: api.post("/topics", body) for field, body in cases.items()}

    assert {field: response.status for field, response in responses.items()} == dict.fromkeys(cases, 400)
    assert all(field in response.message for field, response in responses.items())
    assert stored_items(aws) == before


def test_topics_create_beyond_max_topics_per_log_is_limit_exceeded_and_writes_nothing(
    api: ApiClient, aws: dict[str, str], limits: Any
) -> None:
    # Given a log at its limit of two topics
    limits(max_topics_per_log=2)
    group = create_group(api, "G")
    full = create_log(api, group["id"], "Full")
    create_topic(api, full["id"], "/a")
    create_topic(api, full["id"], "/b")
    before = stored_items(aws)

    # When a third topic is created in it
    response = api.post("/topics", {"log_id": full["id"], "name": "/c"})

    # Then it is refused naming the limit, nothing is written, and another log is unaffected
    assert response.status == 400
    assert response.message.startswith("[LimitExceeded]")
    assert "max_topics_per_log" in response.message
    assert stored_items(aws) == before
    other = create_log(api, group["id"], "Other")
    assert api.post("/topics", {"log_id": other["id"], "name": "/c"}).status == 200


def test_topics_fetch_unknown_id_is_404(api: ApiClient) -> None:
    assert api.get(f"/topics/{UNKNOWN_ID}").status == 404


# -- list -------------------------------------------------------------------------------------------


def test_topics_list_filters_by_log_id(api: ApiClient, log: dict[str, Any]) -> None:
    other = create_log(api, log["group_id"], "Other")
    mine = create_topic(api, log["id"], "/t")
    create_topic(api, other["id"], "/t")

    response = api.get("/topics", params={"log_id": log["id"]})

    assert _ids(response) == [mine["id"]]
    assert response.json()["count"] == 1


def test_topics_list_filters_by_group_id(api: ApiClient, log: dict[str, Any]) -> None:
    elsewhere = create_log(api, create_group(api, "Elsewhere")["id"], "L")
    mine = create_topic(api, log["id"], "/t")
    create_topic(api, elsewhere["id"], "/t")

    assert _ids(api.get("/topics", params={"group_id": log["group_id"]})) == [mine["id"]]


def test_topics_list_filters_by_type_name(api: ApiClient, log: dict[str, Any]) -> None:
    image = create_topic(api, log["id"], "/image", type_name="sensor_msgs/Image")
    create_topic(api, log["id"], "/compressed", type_name="sensor_msgs/CompressedImage")

    assert _ids(api.get("/topics", params={"type_name": "sensor_msgs/Image"})) == [image["id"]]


def test_topics_list_type_name_like_is_a_case_insensitive_substring(
    api: ApiClient, log: dict[str, Any]
) -> None:
    image = create_topic(api, log["id"], "/image", type_name="sensor_msgs/Image")
    compressed = create_topic(api, log["id"], "/compressed", type_name="sensor_msgs/CompressedImage")
    create_topic(api, log["id"], "/imu", type_name="sensor_msgs/Imu")

    response = api.get("/topics", params={"type_name_like": "IMAGE"})

    assert _ids(response) == [image["id"], compressed["id"]]


def test_topics_list_filters_by_type_encoding(api: ApiClient, log: dict[str, Any]) -> None:
    cdr = create_topic(api, log["id"], "/cdr", type_encoding="cdr")
    create_topic(api, log["id"], "/ros1", type_encoding="ros1")
    create_topic(api, log["id"], "/none")

    assert _ids(api.get("/topics", params={"type_encoding": "cdr"})) == [cdr["id"]]


def test_topics_list_unknown_type_encoding_is_400(api: ApiClient) -> None:
    response = api.get("/topics", params={"type_encoding": "protobuf"})

    assert response.status == 400
    assert "type_encoding" in response.message


def test_topics_list_filters_by_name(api: ApiClient, log: dict[str, Any]) -> None:
    wanted = create_topic(api, log["id"], "/camera/image")
    create_topic(api, log["id"], "/camera/info")

    assert _ids(api.get("/topics", params={"name": "/camera/image"})) == [wanted["id"]]


# -- update -----------------------------------------------------------------------------------------


def test_topics_update_changes_only_the_given_keys(api: ApiClient, log: dict[str, Any]) -> None:
    topic = create_topic(api, log["id"], "/t", type_name="std_msgs/String", note="keep")

    updated = api.patch(
        f"/topics/{topic['id']}", {"type_encoding": "TypeEncoding.json", "name": "/renamed"}
    ).data

    assert (updated["name"], updated["type_encoding"]) == ("/renamed", "json")
    assert (updated["type_name"], updated["note"], updated["group_id"]) == (
        "std_msgs/String",
        "keep",
        log["group_id"],
    )
    assert api.get(f"/topics/{topic['id']}").data == updated


def test_topics_update_rename_to_a_taken_name_is_409(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    create_topic(api, log["id"], "/taken")
    topic = create_topic(api, log["id"], "/mine")
    before = stored_items(aws)

    response = api.patch(f"/topics/{topic['id']}", {"name": "/taken"})

    assert response.status == 409
    assert stored_items(aws) == before


def test_topics_update_unknown_type_encoding_is_400_and_changes_nothing(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    topic = create_topic(api, log["id"], "/t", type_encoding="ros1")
    before = stored_items(aws)

    response = api.patch(f"/topics/{topic['id']}", {"type_encoding": "msgpack"})

    assert response.status == 400
    assert "type_encoding" in response.message
    assert stored_items(aws) == before


def test_topics_update_cannot_associate_a_topic_with_itself(api: ApiClient, log: dict[str, Any]) -> None:
    topic = create_topic(api, log["id"], "/t")

    response = api.patch(f"/topics/{topic['id']}", {"associated_topic_id": topic["id"]})

    assert response.status == 400
    assert api.get(f"/topics/{topic['id']}").data["associated_topic_id"] is None


# -- delete -----------------------------------------------------------------------------------------


def test_topics_delete_removes_its_records_from_the_log_statistics(
    api: ApiClient, log: dict[str, Any]
) -> None:
    # Given a log with two topics holding 3 and 2 records
    kept = create_topic(api, log["id"], "/kept")
    doomed = create_topic(api, log["id"], "/doomed")
    create_records(api, kept["id"], [BASE_NS + SECOND, BASE_NS + 2 * SECOND, BASE_NS + 3 * SECOND])
    create_records(api, doomed["id"], [BASE_NS, BASE_NS + 9 * SECOND], data_length=10)
    assert api.get(f"/logs/{log['id']}").data["record_count"] == 5

    # When one topic is deleted
    response = api.delete(f"/topics/{doomed['id']}")

    # Then its records leave the log's count, size and time bounds
    assert response.status == 204
    stats = api.get(f"/logs/{log['id']}").data
    assert (stats["record_count"], stats["record_size"]) == (3, 0)
    assert (stats["start_time"], stats["end_time"]) == (BASE_NS + SECOND, BASE_NS + 3 * SECOND)
    assert api.get(f"/topics/{doomed['id']}").status == 404
    assert api.get(f"/topics/{doomed['id']}/records").status == 404


def test_topics_delete_removes_its_record_blocks_from_the_table(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    kept = create_topic(api, log["id"], "/kept")
    doomed = create_topic(api, log["id"], "/doomed")
    create_records(api, kept["id"], [BASE_NS])
    create_records(api, doomed["id"], [BASE_NS + i * 60 * SECOND for i in range(3)])

    api.delete(f"/topics/{doomed['id']}")

    records_table = aws["RECORDS_TABLE_NAME"]
    partitions = {pk for table, pk, _, _ in stored_items(aws) if table == records_table}
    assert partitions == {kept["id"]}


def test_topics_delete_lets_the_log_be_deleted(api: ApiClient, log: dict[str, Any]) -> None:
    topic = create_topic(api, log["id"], "/only")

    api.delete(f"/topics/{topic['id']}")

    assert api.delete(f"/logs/{log['id']}").status == 204


def test_topics_delete_unknown_id_is_404(api: ApiClient) -> None:
    assert api.delete(f"/topics/{UNKNOWN_ID}").status == 404
