"""Logs: ``/logs`` (contract §3.2)."""

from __future__ import annotations

from typing import Any

from tests.support.api import ApiClient
from tests.support.resources import (
    BASE_NS,
    create_group,
    create_ingestion,
    create_ingestion_part,
    create_log,
    create_records,
    create_topic,
    stored_items,
)

UNKNOWN_ID = "6e7c7138-a9ca-439b-a3a3-c0aea4d894b8"


def _ids(response: Any) -> list[str]:
    assert response.status == 200, response.body
    return [log["id"] for log in response.json()["data"]]


# -- create and fetch -------------------------------------------------------------------------------


def test_logs_create_then_fetch_returns_the_stored_log(api: ApiClient) -> None:
    group = create_group(api, "G")
    created = create_log(api, group["id"], "Drive 1", note="n", base_timestamp=BASE_NS, context={"a": 1})

    fetched = api.get(f"/logs/{created['id']}").data

    assert fetched == created
    assert (fetched["group_id"], fetched["name"], fetched["base_timestamp"]) == (
        group["id"],
        "Drive 1",
        BASE_NS,
    )
    assert (fetched["record_count"], fetched["record_size"], fetched["duration"]) == (0, 0, None)


def test_logs_create_duplicate_name_in_a_group_is_409_and_writes_nothing(
    api: ApiClient, aws: dict[str, str]
) -> None:
    group = create_group(api, "G")
    create_log(api, group["id"], "Drive")
    before = stored_items(aws)

    response = api.post("/logs", {"group_id": group["id"], "name": "Drive"})

    assert response.status == 409
    assert response.message.startswith("[Conflict]")
    assert stored_items(aws) == before


def test_logs_create_same_name_in_another_group_is_allowed(api: ApiClient) -> None:
    first, second = create_group(api, "First"), create_group(api, "Second")
    create_log(api, first["id"], "Drive")

    response = api.post("/logs", {"group_id": second["id"], "name": "Drive"})

    assert response.status == 200
    assert api.get("/logs", params={"name": "Drive"}).json()["count"] == 2


def test_logs_create_in_unknown_group_is_404_and_writes_nothing(api: ApiClient, aws: dict[str, str]) -> None:
    before = stored_items(aws)

    response = api.post("/logs", {"group_id": UNKNOWN_ID, "name": "Orphan"})

    assert response.status == 404
    assert response.message.startswith("[NotFound]")
    assert UNKNOWN_ID in response.message
    assert stored_items(aws) == before


def test_logs_create_invalid_bodies_are_400_naming_the_field(api: ApiClient, aws: dict[str, str]) -> None:
    group = create_group(api, "G")
    before = stored_items(aws)
    cases = {
        "group_id": {"name": "No group"},
        "name": {"group_id": group["id"]},
        "base_timestamp": {"group_id": group["id"], "name": "x", "base_timestamp": "soon"},
    }

    responses = {field: api.post("/logs", body) for field, body in cases.items()}
    not_a_uuid = api.post("/logs", {"group_id": "not-a-uuid", "name": "Bad group"})

    assert {field: response.status for field, response in responses.items()} == dict.fromkeys(cases, 400)
    for field, response in responses.items():
        assert response.message.startswith("[BadRequest]"), field
        assert field in response.message, response.message
    assert not_a_uuid.status == 400
    assert "group_id" in not_a_uuid.message
    assert stored_items(aws) == before


def test_logs_create_beyond_max_logs_per_datastore_is_limit_exceeded_and_writes_nothing(
    api: ApiClient, aws: dict[str, str], limits: Any
) -> None:
    # Given a datastore that allows two logs, both used
    limits(max_logs_per_datastore=2)
    group = create_group(api, "G")
    create_log(api, group["id"], "one")
    create_log(api, group["id"], "two")
    before = stored_items(aws)

    # When a third is created
    response = api.post("/logs", {"group_id": group["id"], "name": "three"})

    # Then it is refused, naming the limit, and nothing is written
    assert response.status == 400
    assert response.message.startswith("[LimitExceeded]")
    assert "max_logs_per_datastore" in response.message
    assert stored_items(aws) == before


def test_logs_delete_frees_a_slot_under_max_logs_per_datastore(api: ApiClient, limits: Any) -> None:
    limits(max_logs_per_datastore=1)
    group = create_group(api, "G")
    log = create_log(api, group["id"], "one")

    api.delete(f"/logs/{log['id']}")

    assert api.post("/logs", {"group_id": group["id"], "name": "two"}).status == 200


def test_logs_fetch_unknown_id_is_404(api: ApiClient) -> None:
    response = api.get(f"/logs/{UNKNOWN_ID}")

    assert response.status == 404
    assert response.message.startswith("[NotFound]")


# -- list -------------------------------------------------------------------------------------------


def test_logs_list_filters_by_group_id(api: ApiClient) -> None:
    first, second = create_group(api, "First"), create_group(api, "Second")
    wanted = create_log(api, first["id"], "a")
    create_log(api, second["id"], "b")

    response = api.get("/logs", params={"group_id": first["id"]})

    assert _ids(response) == [wanted["id"]]
    assert response.json()["count"] == 1


def test_logs_list_group_id_in_takes_repeated_keys(api: ApiClient) -> None:
    groups = [create_group(api, name) for name in ("A", "B", "C")]
    logs = [create_log(api, group["id"], "log") for group in groups]

    # As the client sends a list: repeated keys, values not percent-quoted.
    response = api.get(f"/logs?group_id_in={groups[0]['id']}&group_id_in={groups[2]['id']}")

    assert _ids(response) == [logs[0]["id"], logs[2]["id"]]
    assert _ids(api.get("/logs", params={"group_id_in": groups[1]["id"]})) == [logs[1]["id"]]


def test_logs_list_filters_by_name_within_a_group(api: ApiClient) -> None:
    # The request Log.fetch_or_create sends (contract §8.3 step 8).
    group, other = create_group(api, "G"), create_group(api, "Other")
    wanted = create_log(api, group["id"], "Demo Log")
    create_log(api, other["id"], "Demo Log")
    create_log(api, group["id"], "Demo Log 2")

    response = api.get(
        f"/logs?group_id={group['id']}&name=Demo%20Log&include_count=True&offset=0&limit=1"
        "&order=created_at&sort=desc"
    )

    assert _ids(response) == [wanted["id"]]
    assert response.json()["count"] == 1


def test_logs_list_name_like_is_a_case_insensitive_substring(api: ApiClient) -> None:
    group = create_group(api, "G")
    for name in ("Highway Drive", "city DRIVE", "Parking"):
        create_log(api, group["id"], name)

    response = api.get("/logs", params={"name_like": "drive", "order": "name"})

    assert [log["name"] for log in response.json()["data"]] == ["Highway Drive", "city DRIVE"]


def test_logs_list_record_count_range(api: ApiClient) -> None:
    # Given logs holding 0, 2 and 4 records
    group = create_group(api, "G")
    logs = []
    for name, count in (("empty", 0), ("two", 2), ("four", 4)):
        log = create_log(api, group["id"], name)
        topic = create_topic(api, log["id"], "/t")
        create_records(api, topic["id"], [BASE_NS + i for i in range(count)])
        logs.append(log)

    # When listing by record_count ranges
    at_least_two = api.get("/logs", params={"record_count_gte": 2})
    two_or_three = api.get("/logs", params={"record_count_gte": 2, "record_count_lte": 3})

    # Then only the logs in range match
    assert _ids(at_least_two) == [logs[1]["id"], logs[2]["id"]]
    assert _ids(two_or_three) == [logs[1]["id"]]


def test_logs_list_start_time_range(api: ApiClient) -> None:
    group = create_group(api, "G")
    early, late = create_log(api, group["id"], "early"), create_log(api, group["id"], "late")
    for log, start in ((early, BASE_NS), (late, BASE_NS + 60_000_000_000)):
        topic = create_topic(api, log["id"], "/t")
        create_records(api, topic["id"], [start])

    response = api.get("/logs", params={"start_time_gte": BASE_NS + 1})
    empty = api.get("/logs", params={"start_time_null": True})

    assert _ids(response) == [late["id"]]
    assert _ids(empty) == []


# -- update -----------------------------------------------------------------------------------------


def test_logs_update_renames_within_the_group(api: ApiClient) -> None:
    group = create_group(api, "G")
    log = create_log(api, group["id"], "Before")

    updated = api.patch(f"/logs/{log['id']}", {"name": "After", "note": "renamed"}).data

    assert (updated["name"], updated["note"], updated["group_id"]) == ("After", "renamed", group["id"])
    assert api.post("/logs", {"group_id": group["id"], "name": "Before"}).status == 200


def test_logs_update_rename_to_a_taken_name_is_409(api: ApiClient, aws: dict[str, str]) -> None:
    group = create_group(api, "G")
    create_log(api, group["id"], "Taken")
    log = create_log(api, group["id"], "Mine")
    before = stored_items(aws)

    response = api.patch(f"/logs/{log['id']}", {"name": "Taken"})

    assert response.status == 409
    assert stored_items(aws) == before


def test_logs_update_moves_the_log_and_its_topics_to_another_group(api: ApiClient) -> None:
    # Given a log with a topic in group A
    source, target = create_group(api, "A"), create_group(api, "B")
    log = create_log(api, source["id"], "Moving")
    topic = create_topic(api, log["id"], "/t")

    # When the log moves to group B (dashless id, as the client sends it)
    moved = api.patch(f"/logs/{log['id']}", {"group_id": target["id"].replace("-", "")}).data

    # Then the log and its topic carry B's id, and the groups' log counts follow
    assert moved["group_id"] == target["id"]
    assert api.get(f"/topics/{topic['id']}").data["group_id"] == target["id"]
    assert _ids(api.get("/logs", params={"group_id": target["id"]})) == [log["id"]]
    assert api.delete(f"/groups/{source['id']}").status == 204
    assert api.delete(f"/groups/{target['id']}").status == 409


def test_logs_update_move_to_unknown_group_is_404_and_changes_nothing(
    api: ApiClient, aws: dict[str, str]
) -> None:
    group = create_group(api, "G")
    log = create_log(api, group["id"], "Staying")
    before = stored_items(aws)

    response = api.patch(f"/logs/{log['id']}", {"group_id": UNKNOWN_ID})

    assert response.status == 404
    assert stored_items(aws) == before


def test_logs_update_move_onto_a_taken_name_is_409(api: ApiClient, aws: dict[str, str]) -> None:
    source, target = create_group(api, "A"), create_group(api, "B")
    create_log(api, target["id"], "Same")
    log = create_log(api, source["id"], "Same")
    before = stored_items(aws)

    response = api.patch(f"/logs/{log['id']}", {"group_id": target["id"]})

    assert response.status == 409
    assert stored_items(aws) == before


def test_logs_update_null_group_id_is_400(api: ApiClient, aws: dict[str, str]) -> None:
    group = create_group(api, "G")
    log = create_log(api, group["id"], "L")
    before = stored_items(aws)

    response = api.patch(f"/logs/{log['id']}", {"group_id": None})

    assert response.status == 400
    assert "group_id" in response.message
    assert stored_items(aws) == before


# -- delete -----------------------------------------------------------------------------------------


def test_logs_delete_with_topics_is_409_and_changes_nothing(api: ApiClient, aws: dict[str, str]) -> None:
    group = create_group(api, "G")
    log = create_log(api, group["id"], "Busy")
    create_topic(api, log["id"], "/t")
    before = stored_items(aws)

    response = api.delete(f"/logs/{log['id']}")

    assert response.status == 409
    assert response.message.startswith("[Conflict]")
    assert stored_items(aws) == before


def test_logs_delete_removes_the_log(api: ApiClient) -> None:
    group = create_group(api, "G")
    log = create_log(api, group["id"], "Gone")

    response = api.delete(f"/logs/{log['id']}")

    assert response.status == 204
    assert api.get(f"/logs/{log['id']}").status == 404
    assert api.get("/logs").json()["count"] == 0


def test_logs_delete_leaves_no_item_of_the_log(api: ApiClient, aws: dict[str, str]) -> None:
    # Given a log that had a topic and an ingestion, both deleted
    log = create_log(api, create_group(api, "G")["id"], "Gone")
    topic = create_topic(api, log["id"], "/t")
    ingestion = create_ingestion(api, log["id"], object_key="run.bag")
    create_ingestion_part(api, ingestion["id"], 0)
    assert api.delete(f"/topics/{topic['id']}").status == 204
    assert api.delete(f"/ingestions/{ingestion['id']}").status == 204

    assert api.delete(f"/logs/{log['id']}").status == 204

    # Then no item names the log, its topic or its ingestion (their counters went with them)
    gone = (log["id"], topic["id"], ingestion["id"])
    assert [pk for _, pk, _, item in stored_items(aws) if any(i in str(item) for i in gone)] == []


def test_logs_delete_unknown_id_is_404(api: ApiClient) -> None:
    assert api.delete(f"/logs/{UNKNOWN_ID}").status == 404
