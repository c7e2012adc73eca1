"""The wire contract the official LogQS client depends on (shared/contract/logqs-wire.md §1, §2, §8)."""

from __future__ import annotations

from openlqs.settings import DEFAULT_DATASTORE_ID
from tests.support.api import ADMIN_KEY_ID, ApiClient
from tests.support.paths import DATASTORE_ID
from tests.support.resources import (
    BASE_NS,
    create_group,
    create_log,
    create_records,
    create_topic,
    new_topic,
    stored_items,
)

JSON = "application/json"
PAGINATION_KEYS = {"offset", "limit", "order", "sort", "count", "data"}
COMMON_KEYS = {"id", "created_at", "updated_at", "deleted_at", "created_by", "updated_by", "deleted_by"}
LOCK_KEYS = {"locked", "locked_by", "locked_at", "lock_token"}
CLIENT_LIST_QUERY = "include_count=True&offset=0&limit=100&order=created_at&sort=ASC"


# -- content type and version header ---------------------------------------------------------------


def test_contract_success_content_type_is_exactly_json(api: ApiClient) -> None:
    response = api.get("/groups")

    assert response.status == 200
    assert response.headers["content-type"] == JSON


def test_contract_error_content_type_is_exactly_json(api: ApiClient) -> None:
    # A domain error, a validation error and an unknown route take three different paths.
    responses = [
        api.get("/groups/6e7c7138a9ca439ba3a3c0aea4d894b8"),
        api.post("/groups", {"note": "no name"}),
        api.get("/no-such-route"),
    ]

    assert [response.status for response in responses] == [404, 400, 404]
    assert [response.headers["content-type"] for response in responses] == [JSON] * 3
    assert all(response.message.startswith("[") for response in responses)


def test_contract_version_header_is_1_1_on_success_and_error(api: ApiClient) -> None:
    responses = [api.get("/groups"), api.get("/groups/6e7c7138a9ca439ba3a3c0aea4d894b8"), api.get("/nope")]

    assert [response.status for response in responses] == [200, 404, 404]
    assert all(response.headers["x-logqs-version"].startswith("1.1.") for response in responses)


# -- URL layout -------------------------------------------------------------------------------------


def test_contract_path_without_datastore_id_reaches_the_same_data(api: ApiClient) -> None:
    # Given a group created under /apps/lqs/{datastore_id}/api
    group = create_group(api, "Shared")

    # When it is fetched under /apps/lqs/api
    response = api.get(f"/apps/lqs/api/groups/{group['id']}", absolute=True)

    # Then it is the same group
    assert response.status == 200
    assert response.data["name"] == "Shared"


def test_contract_path_without_apps_prefix_works(api: ApiClient) -> None:
    # api_endpoint_prefix="" drops the /apps segment (contract §1.1).
    response = api.get(f"/lqs/{DATASTORE_ID}/api/groups", absolute=True)

    assert response.status == 200
    assert response.json()["data"] == []


def test_contract_dashless_datastore_id_works(api: ApiClient) -> None:
    response = api.get(f"/apps/lqs/{DATASTORE_ID.replace('-', '')}/api/groups", absolute=True)

    assert response.status == 200


def test_contract_other_datastore_is_not_found_and_writes_nothing(
    api: ApiClient, aws: dict[str, str]
) -> None:
    before = stored_items(aws)

    responses = [
        api.post(f"/apps/lqs/{datastore}/api/groups", {"name": "Elsewhere"}, absolute=True)
        for datastore in (str(DEFAULT_DATASTORE_ID), "not-a-uuid")
    ]

    assert [response.status for response in responses] == [404, 404]
    assert all(response.message.startswith("[NotFound]") for response in responses)
    assert all(response.headers["content-type"] == JSON for response in responses)
    assert stored_items(aws) == before


def test_contract_unknown_route_is_json_404_with_message(api: ApiClient) -> None:
    inside = api.get("/widgets")
    outside = api.get("/somewhere/else", absolute=True)

    assert (inside.status, outside.status) == (404, 404)
    assert inside.message.startswith("[NotFound]")
    assert "/widgets" in inside.message
    assert outside.headers["content-type"] == JSON
    assert outside.message.startswith("[NotFound]")


# -- envelopes --------------------------------------------------------------------------------------


def test_contract_list_envelope_has_exactly_the_pagination_keys(api: ApiClient) -> None:
    create_group(api, "One")

    body = api.get("/groups", params={"limit": 5, "offset": 0}).json()

    assert set(body) == PAGINATION_KEYS
    assert type(body["count"]) is int
    assert body["count"] == 1
    assert (body["offset"], body["limit"], body["order"], body["sort"]) == (0, 5, "created_at", "ASC")


def test_contract_single_resource_envelopes_are_data_only(api: ApiClient) -> None:
    created = api.post("/groups", {"name": "Enveloped"}).json()
    group_id = created["data"]["id"]

    fetched = api.get(f"/groups/{group_id}").json()
    updated = api.patch(f"/groups/{group_id}", {"note": "n"}).json()

    assert [set(body) for body in (created, fetched, updated)] == [{"data"}] * 3
    assert fetched["data"]["name"] == "Enveloped"
    assert updated["data"]["note"] == "n"


# -- required-but-nullable keys ---------------------------------------------------------------------


def test_contract_group_has_every_required_key(api: ApiClient) -> None:
    group = create_group(api, "Keys")

    assert COMMON_KEYS | LOCK_KEYS | {"name", "note", "context", "default_workflow_id"} <= set(group)
    assert group["locked"] is False
    assert group["created_by"] == str(ADMIN_KEY_ID)
    assert all(group[key] is None for key in COMMON_KEYS - {"id", "created_at", "created_by"})
    assert all(group[key] is None for key in LOCK_KEYS - {"locked"})


def test_contract_new_log_reports_zero_records_not_null(api: ApiClient) -> None:
    group = create_group(api, "Keys")

    log = create_log(api, group["id"], "Keys")

    assert COMMON_KEYS | LOCK_KEYS | {"group_id", "name", "record_size", "record_count"} <= set(log)
    assert log["record_size"] == 0
    assert log["record_count"] == 0
    assert log["start_time"] is None
    assert log["end_time"] is None


def test_contract_topic_has_strict_group_id_and_zero_records(api: ApiClient) -> None:
    group = create_group(api, "Keys")
    log = create_log(api, group["id"], "Keys")

    topic = create_topic(api, log["id"], "/keys")

    assert set(topic) >= COMMON_KEYS | LOCK_KEYS
    assert topic["strict"] is False
    assert topic["group_id"] == group["id"]
    assert (topic["record_size"], topic["record_count"]) == (0, 0)


def test_contract_record_has_log_id_and_every_required_key(api: ApiClient) -> None:
    topic = new_topic(api)
    create_records(api, topic["id"], [BASE_NS])

    record = api.get(f"/topics/{topic['id']}/records/{BASE_NS}").data

    assert (COMMON_KEYS - {"id"}) | LOCK_KEYS | {"timestamp", "log_id", "topic_id"} <= set(record)
    assert "id" not in record
    assert record["log_id"] == topic["log_id"]
    assert record["timestamp"] == BASE_NS


# -- DELETE -----------------------------------------------------------------------------------------


def test_contract_delete_answers_204_with_empty_body(api: ApiClient) -> None:
    group = create_group(api, "Doomed")

    response = api.delete(f"/groups/{group['id']}")

    assert response.status == 204
    assert response.body == b""
    assert api.get(f"/groups/{group['id']}").status == 404


# -- request bodies: the official client's exact shapes ----------------------------------------------


def test_contract_client_group_create_body_with_explicit_nulls(api: ApiClient) -> None:
    body = {"name": "Demo Group", "note": None, "context": None, "locked": False, "default_workflow_id": None}

    response = api.post("/groups", body)

    assert response.status == 200
    assert response.data["name"] == "Demo Group"
    assert response.data["note"] is None


def test_contract_client_log_create_body_with_dashless_group_id(api: ApiClient) -> None:
    group = create_group(api, "Demo Group")
    body = {
        "group_id": group["id"].replace("-", ""),
        "name": "Demo Log",
        "note": None,
        "base_timestamp": None,
        "context": None,
        "locked": False,
        "default_workflow_id": None,
    }

    response = api.post("/logs", body)

    assert response.status == 200
    assert response.data["group_id"] == group["id"]


def test_contract_client_topic_create_body_with_explicit_nulls(api: ApiClient) -> None:
    group = create_group(api, "Demo Group")
    log = create_log(api, group["id"], "Demo Log")
    body = {
        "log_id": log["id"].replace("-", ""),
        "name": "/camera/image",
        "note": None,
        "base_timestamp": None,
        "context": None,
        "associated_topic_id": None,
        "locked": False,
        "strict": False,
        "type_name": "sensor_msgs/Image",
        "type_encoding": "ros1",
        "type_data": None,
        "type_schema": None,
    }

    response = api.post("/topics", body)

    assert response.status == 200
    assert response.data["log_id"] == log["id"]
    assert response.data["type_encoding"] == "ros1"


def test_contract_client_record_create_body_with_explicit_nulls(api: ApiClient) -> None:
    topic = new_topic(api)
    body = {
        "timestamp": BASE_NS,
        "note": None,
        "context": None,
        "locked": False,
        "query_data": None,
        "auxiliary_data": None,
        "data_offset": None,
        "data_length": None,
        "chunk_compression": None,
        "chunk_offset": None,
        "chunk_length": None,
        "source": None,
    }

    response = api.post(f"/topics/{topic['id']}/records", body)

    assert response.status == 200
    assert response.data["timestamp"] == BASE_NS


def test_contract_path_uuids_with_or_without_dashes(api: ApiClient) -> None:
    group = create_group(api, "Paths")

    dashed = api.get(f"/groups/{group['id']}")
    dashless = api.get(f"/groups/{group['id'].replace('-', '')}")

    assert dashed.data == dashless.data == group


# -- query strings ----------------------------------------------------------------------------------


def test_contract_include_count_is_read_in_any_case(api: ApiClient) -> None:
    create_group(api, "Counted")

    counts = {
        value: api.get("/groups", params={"include_count": value}).json()["count"]
        for value in ("True", "true", "TRUE", "False", "false")
    }

    assert counts == {"True": 1, "true": 1, "TRUE": 1, "False": None, "false": None}


def test_contract_include_count_that_is_not_a_boolean_is_400(api: ApiClient) -> None:
    response = api.get("/groups", params={"include_count": "maybe"})

    assert response.status == 400
    assert "include_count" in response.message


def test_contract_sort_is_read_in_any_case(api: ApiClient) -> None:
    for name in ("a", "b"):
        create_group(api, name)

    orders = {
        sort: [
            group["name"]
            for group in api.get("/groups", params={"order": "name", "sort": sort}).json()["data"]
        ]
        for sort in ("desc", "DESC", "Asc", "asc")
    }

    assert orders == {"desc": ["b", "a"], "DESC": ["b", "a"], "Asc": ["a", "b"], "asc": ["a", "b"]}


def test_contract_sort_that_is_not_a_direction_is_400(api: ApiClient) -> None:
    response = api.get("/groups", params={"sort": "sideways"})

    assert response.status == 400
    assert "sort" in response.message


def test_contract_space_separated_datetime_in_query(api: ApiClient) -> None:
    create_group(api, "Recent")
    # Exactly what the client sends for datetime(2024, 1, 1, tzinfo=UTC): str() with a space.
    query = "created_at_gte=2024-01-01%2000%3A00%3A00%2B00%3A00"

    after = api.get(f"/groups?{query}").json()
    before = api.get("/groups?created_at_lte=2024-01-01%2000%3A00%3A00%2B00%3A00").json()

    assert after["count"] == 1
    assert before["count"] == 0


def test_contract_client_list_query_is_accepted(api: ApiClient) -> None:
    create_group(api, "Demo Group")

    response = api.get(f"/groups?name=Demo%20Group&{CLIENT_LIST_QUERY}")

    assert response.status == 200
    assert [group["name"] for group in response.json()["data"]] == ["Demo Group"]


def test_contract_limit_zero_with_count_returns_count_and_no_data(api: ApiClient) -> None:
    for name in ("a", "b", "c"):
        create_group(api, name)

    body = api.get("/groups", params={"limit": 0, "include_count": "True"}).json()

    assert body["count"] == 3
    assert body["data"] == []


def test_contract_type_encoding_enum_repr_in_query_is_accepted(api: ApiClient) -> None:
    topic = new_topic(api, type_encoding="ros1")

    response = api.get("/topics?type_encoding=TypeEncoding.ros1")

    assert response.status == 200
    assert [t["id"] for t in response.json()["data"]] == [topic["id"]]


def test_contract_type_name_with_unencoded_slash_filters(api: ApiClient) -> None:
    group = create_group(api, "G")
    log = create_log(api, group["id"], "L")
    image = create_topic(api, log["id"], "/image", type_name="sensor_msgs/Image")
    create_topic(api, log["id"], "/imu", type_name="sensor_msgs/Imu")

    response = api.get(f"/topics?log_id={log['id']}&type_name=sensor_msgs/Image&{CLIENT_LIST_QUERY}")

    assert response.status == 200
    assert [t["id"] for t in response.json()["data"]] == [image["id"]]


# -- authorization header ---------------------------------------------------------------------------


def test_contract_request_without_an_authorized_key_is_401(api: ApiClient) -> None:
    # The authorizer answers malformed headers itself (tests/integration/test_api_keys.py); a request
    # that reaches ApiFunction without its principal is refused all the same.
    group = create_group(api, "Private")
    anonymous = api.acting_as(None)

    responses = [anonymous.get("/groups"), anonymous.get(f"/groups/{group['id']}")]

    assert [response.status for response in responses] == [401, 401]
    assert all(response.message.startswith("[Unauthorized]") for response in responses)
    assert all(response.headers["content-type"] == JSON for response in responses)


def test_contract_create_without_an_authorized_key_is_401_and_writes_nothing(
    api: ApiClient, aws: dict[str, str]
) -> None:
    before = stored_items(aws)

    response = api.acting_as(None).post("/groups", {"name": "Sneaky"})

    assert response.status == 401
    assert stored_items(aws) == before


# -- OpenAPI ----------------------------------------------------------------------------------------


def test_contract_openapi_document_lists_the_resource_routes(api: ApiClient) -> None:
    response = api.get("/openapi.json")

    assert response.status == 200
    assert response.headers["content-type"] == JSON
    assert {"/groups", "/logs", "/topics", "/topics/{topic_id}/records"} <= set(response.json()["paths"])
