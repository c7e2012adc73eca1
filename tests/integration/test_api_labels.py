"""Labels and tags: ``/labels``, ``/logs/{id}/tags``, ``/tags`` and the label index (contract §3)."""

from __future__ import annotations

from typing import Any

import boto3

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
S = 1_000_000_000


def _label(api: ApiClient, value: str, category: str | None = None, **fields: Any) -> dict[str, Any]:
    response = api.post("/labels", {"value": value, "category": category, "note": None, **fields})
    assert response.status == 200, response.body
    return dict(response.data)


def _tag(api: ApiClient, log_id: str, label_id: str, **fields: Any) -> dict[str, Any]:
    body = {"label_id": label_id, "topic_id": None, "note": None, "context": None, **fields}
    response = api.post(f"/logs/{log_id}/tags", {"start_time": None, "end_time": None, **body})
    assert response.status == 200, response.body
    return dict(response.data)


def _ids(response: Any) -> set[str]:
    assert response.status == 200, response.body
    return {item["id"] for item in response.json()["data"]}


def _logs(api: ApiClient, *label_ids: str, **params: Any) -> set[str]:
    return _ids(api.get("/logs", params={"tag_label_ids_includes": list(label_ids), **params}))


def _index_items(aws: dict[str, str]) -> dict[str, int]:
    items = boto3.client("dynamodb").scan(TableName=aws["RESOURCES_TABLE_NAME"])["Items"]
    return {i["pk"]["S"]: int(i["n"]["N"]) for i in items if i["pk"]["S"].startswith("label_log#")}


# -- labels ---------------------------------------------------------------------------------------------


def test_labels_create_fetch_update_and_emit_every_key(api: ApiClient) -> None:
    label = _label(api, "hard braking", "events", note="decel > 4 m/s²")

    assert api.get(f"/labels/{label['id']}").data == label
    assert set(label) >= {"id", "value", "note", "category", "created_at", "created_by", "updated_at"}
    updated = api.patch(f"/labels/{label['id']}", {"note": None}).data
    assert (updated["value"], updated["note"], updated["category"]) == ("hard braking", None, "events")


def test_labels_are_unique_per_category_and_value(api: ApiClient, aws: dict[str, str]) -> None:
    _label(api, "dropout", "sensors")
    _label(api, "dropout", "network")  # another category
    _label(api, "dropout")  # no category
    before = stored_items(aws)

    for category in ("sensors", None):
        response = api.post("/labels", {"value": "dropout", "category": category})
        assert response.status == 409, response.body
        assert response.message.startswith("[Conflict] A label named 'dropout' already exists")
    assert stored_items(aws) == before


def test_labels_uniqueness_guard_escapes_hashes_in_the_category(api: ApiClient) -> None:
    _label(api, "c", "a#b")

    assert api.post("/labels", {"value": "b#c", "category": "a"}).status == 200
    assert api.post("/labels", {"value": "c", "category": "a#b"}).status == 409


def test_labels_rename_onto_a_taken_value_is_409_and_frees_the_old_one(api: ApiClient) -> None:
    first, second = _label(api, "one", "k"), _label(api, "two", "k")

    assert api.patch(f"/labels/{second['id']}", {"value": "one"}).status == 409
    assert api.patch(f"/labels/{first['id']}", {"value": "uno"}).status == 200
    assert api.post("/labels", {"value": "one", "category": "k"}).status == 200


def test_labels_filters_value_category_and_like(api: ApiClient) -> None:
    braking = _label(api, "hard braking", "events")
    _label(api, "good calibration", "quality")

    assert _ids(api.get("/labels", params={"category": "events"})) == {braking["id"]}
    assert _ids(api.get("/labels", params={"value_like": "BRAK"})) == {braking["id"]}


def test_labels_delete_is_refused_while_a_tag_uses_it(api: ApiClient) -> None:
    log = create_log(api, create_group(api)["id"])
    label = _label(api, "in use")
    tag = _tag(api, log["id"], label["id"])

    refused = api.delete(f"/labels/{label['id']}")
    assert refused.status == 409 and refused.message.startswith("[Conflict]")
    assert api.delete(f"/tags/{tag['id']}").status == 204
    assert api.delete(f"/labels/{label['id']}").status == 204
    assert api.get(f"/labels/{label['id']}").status == 404


# -- tags -----------------------------------------------------------------------------------------------


def test_tags_create_under_a_log_and_fetch_through_both_routes(api: ApiClient) -> None:
    log = create_log(api, create_group(api)["id"])
    topic = create_topic(api, log["id"], "/imu")
    label = _label(api, "sensor dropout")

    tag = _tag(
        api, log["id"], label["id"], topic_id=topic["id"], start_time=BASE_NS, end_time=BASE_NS + S, note="n"
    )

    assert (tag["log_id"], tag["topic_id"], tag["start_time"], tag["end_time"]) == (
        log["id"],
        topic["id"],
        BASE_NS,
        BASE_NS + S,
    )
    assert api.get(f"/tags/{tag['id']}").data == tag
    assert api.get(f"/logs/{log['id']}/tags/{tag['id']}").data == tag
    other = create_log(api, create_group(api, "Other")["id"])
    assert api.get(f"/logs/{other['id']}/tags/{tag['id']}").status == 404
    assert _ids(api.get(f"/logs/{log['id']}/tags")) == {tag["id"]}
    assert _ids(api.get("/tags", params={"label_id": label["id"]})) == {tag["id"]}


def test_tags_bad_input_names_the_field_and_writes_nothing(api: ApiClient, aws: dict[str, str]) -> None:
    group = create_group(api)
    log, other = create_log(api, group["id"], "A"), create_log(api, group["id"], "B")
    foreign = create_topic(api, other["id"], "/theirs")
    label = _label(api, "x")
    before = stored_items(aws)
    tags = f"/logs/{log['id']}/tags"

    backwards = api.post(tags, {"label_id": label["id"], "start_time": 10, "end_time": 5})
    assert backwards.status == 400 and "start_time (10) is after end_time (5)" in backwards.message
    wrong_topic = api.post(tags, {"label_id": label["id"], "topic_id": foreign["id"]})
    assert wrong_topic.status == 400 and wrong_topic.message.startswith("[BadRequest] topic_id: topic")
    unknown_label = api.post(tags, {"label_id": UNKNOWN_ID})
    assert unknown_label.status == 404 and unknown_label.message.startswith("[NotFound] label_id:")
    unknown_topic = api.post(tags, {"label_id": label["id"], "topic_id": UNKNOWN_ID})
    assert unknown_topic.status == 404 and unknown_topic.message.startswith("[NotFound] topic_id:")
    assert api.post(f"/logs/{UNKNOWN_ID}/tags", {"label_id": label["id"]}).status == 404
    assert stored_items(aws) == before


def test_tags_update_checks_the_range_against_the_stored_bound(api: ApiClient) -> None:
    log = create_log(api, create_group(api)["id"])
    tag = _tag(api, log["id"], _label(api, "x")["id"], start_time=100, end_time=200)

    refused = api.patch(f"/tags/{tag['id']}", {"start_time": 300})
    assert refused.status == 400 and "after end_time (200)" in refused.message
    moved = api.patch(f"/logs/{log['id']}/tags/{tag['id']}", {"start_time": 150, "note": "later"}).data
    assert (moved["start_time"], moved["end_time"], moved["note"]) == (150, 200, "later")
    assert api.patch(f"/tags/{tag['id']}", {"label_id": None}).status == 400


def test_tags_of_a_locked_log_need_its_lock_token(api: ApiClient) -> None:
    log = api.post(
        "/logs",
        {"group_id": create_group(api)["id"], "name": "L", "locked": True},
        params={"lock_token": "t"},
    ).data
    label = _label(api, "x")

    locked = api.post(f"/logs/{log['id']}/tags", {"label_id": label["id"]})
    assert locked.status == 423
    tag = api.post(f"/logs/{log['id']}/tags", {"label_id": label["id"]}, params={"lock_token": "t"}).data
    assert api.patch(f"/tags/{tag['id']}", {"note": "n"}).status == 423
    assert api.delete(f"/tags/{tag['id']}").status == 423
    assert api.delete(f"/tags/{tag['id']}", params={"lock_token": "t"}).status == 204


def test_tags_list_across_logs_by_label_and_period(api: ApiClient) -> None:
    group = create_group(api)
    first, second = create_log(api, group["id"], "1"), create_log(api, group["id"], "2")
    braking, other = _label(api, "braking"), _label(api, "other")
    early = _tag(api, first["id"], braking["id"], start_time=10 * S, end_time=20 * S)
    late = _tag(api, second["id"], braking["id"], start_time=50 * S, end_time=60 * S)
    _tag(api, second["id"], other["id"], start_time=15 * S, end_time=16 * S)

    def period(low: int, high: int) -> set[str]:
        params = {"label_id": braking["id"], "start_time_lte": high, "end_time_gte": low}
        return _ids(api.get("/tags", params=params))

    assert period(0, 100 * S) == {early["id"], late["id"]}
    assert period(18 * S, 30 * S) == {early["id"]}
    assert period(21 * S, 49 * S) == set()
    assert _ids(api.get("/tags", params={"log_id": second["id"], "label_id": braking["id"]})) == {late["id"]}


# -- the label index: logs?tag_label_ids_includes= -----------------------------------------------------


def test_logs_with_labels_are_those_carrying_every_label(api: ApiClient, aws: dict[str, str]) -> None:
    group = create_group(api)
    a, b, c = (create_log(api, group["id"], name) for name in "abc")
    braking, dropout = _label(api, "braking"), _label(api, "dropout")
    _tag(api, a["id"], braking["id"])
    _tag(api, a["id"], braking["id"], start_time=1, end_time=2)
    _tag(api, a["id"], dropout["id"])
    _tag(api, b["id"], braking["id"])
    _tag(api, c["id"], dropout["id"])

    assert _logs(api, braking["id"]) == {a["id"], b["id"]}
    assert _logs(api, braking["id"], dropout["id"]) == {a["id"]}
    assert _logs(api, dropout["id"], name="c") == {c["id"]}
    assert _logs(api, UNKNOWN_ID) == set()
    assert _index_items(aws) == {
        f"label_log#{braking['id']}#{a['id']}": 2,
        f"label_log#{dropout['id']}#{a['id']}": 1,
        f"label_log#{braking['id']}#{b['id']}": 1,
        f"label_log#{dropout['id']}#{c['id']}": 1,
    }
    count = api.get("/logs", params={"tag_label_ids_includes": [braking["id"]], "include_count": True})
    assert count.json()["count"] == 2


def test_logs_with_labels_follow_tag_deletes_and_relabels(api: ApiClient, aws: dict[str, str]) -> None:
    log = create_log(api, create_group(api)["id"])
    braking, dropout = _label(api, "braking"), _label(api, "dropout")
    first = _tag(api, log["id"], braking["id"])
    second = _tag(api, log["id"], braking["id"])

    assert api.delete(f"/tags/{first['id']}").status == 204
    assert _logs(api, braking["id"]) == {log["id"]}  # one tag left
    assert api.patch(f"/tags/{second['id']}", {"label_id": dropout["id"]}).status == 200
    assert _logs(api, braking["id"]) == set()
    assert _logs(api, dropout["id"]) == {log["id"]}
    # An entry whose count fell to zero is removed, and the old label is free to delete
    assert _index_items(aws) == {f"label_log#{dropout['id']}#{log['id']}": 1}
    assert api.delete(f"/labels/{braking['id']}").status == 204
    assert api.delete(f"/labels/{dropout['id']}").status == 409


def test_logs_delete_takes_its_tags_and_index_entries(api: ApiClient, aws: dict[str, str]) -> None:
    log = create_log(api, create_group(api)["id"])
    label = _label(api, "braking")
    tag = _tag(api, log["id"], label["id"])

    assert api.delete(f"/logs/{log['id']}").status == 204
    assert api.get(f"/tags/{tag['id']}").status == 404
    assert _index_items(aws) == {}
    assert api.delete(f"/labels/{label['id']}").status == 204


def test_logs_delete_refused_for_topics_keeps_its_tags(api: ApiClient) -> None:
    log = create_log(api, create_group(api)["id"])
    create_topic(api, log["id"])
    tag = _tag(api, log["id"], _label(api, "kept")["id"])

    assert api.delete(f"/logs/{log['id']}").status == 409
    assert api.get(f"/tags/{tag['id']}").status == 200


# -- records of a tag ---------------------------------------------------------------------------------


def test_records_of_a_tag_are_its_topic_and_time_window(api: ApiClient) -> None:
    log = create_log(api, create_group(api)["id"])
    imu, gps = create_topic(api, log["id"], "/imu"), create_topic(api, log["id"], "/gps")
    create_records(api, imu["id"], [BASE_NS + i * S for i in range(10)])
    label = _label(api, "window")
    tag = _tag(
        api, log["id"], label["id"], topic_id=imu["id"], start_time=BASE_NS + 2 * S, end_time=BASE_NS + 5 * S
    )
    whole_log = _tag(api, log["id"], label["id"], start_time=BASE_NS + 8 * S)

    def timestamps(topic_id: str, **params: Any) -> list[int]:
        response = api.get(f"/topics/{topic_id}/records", params=params)
        assert response.status == 200, response.body
        return [(r["timestamp"] - BASE_NS) // S for r in response.json()["data"]]

    assert timestamps(imu["id"], tag_id=tag["id"]) == [2, 3, 4, 5]
    assert timestamps(imu["id"], tag_id=tag["id"], timestamp_gte=BASE_NS + 4 * S) == [4, 5]
    assert timestamps(imu["id"], tag_id=whole_log["id"]) == [8, 9]
    wrong = api.get(f"/topics/{gps['id']}/records", params={"tag_id": tag["id"]})
    assert wrong.status == 400 and wrong.message.startswith("[BadRequest] tag_id:")
    assert api.get(f"/topics/{imu['id']}/records", params={"tag_id": UNKNOWN_ID}).status == 404
