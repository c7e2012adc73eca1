"""Input caps (decision 29): the request body, names, notes, JSON fields and numbers."""

from __future__ import annotations

import json
import random
import string

import pytest

from openlqs.api.limits import MAX_BODY_BYTES
from openlqs.models.common import MAX_JSON_BYTES, MAX_JSON_DEPTH, MAX_NAME_LENGTH, MAX_TEXT_LENGTH
from openlqs.models.ingestions import MAX_INDEX_BYTES
from tests.support.api import ApiClient
from tests.support.resources import create_group, create_ingestion, create_log, new_topic


def _nested(depth: int) -> dict[str, object]:
    value: dict[str, object] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


# -- the whole body (checked before routing) ---------------------------------------------------------


def test_limits_body_over_the_cap_is_413_before_validation(api: ApiClient) -> None:
    # Given a body just over 1 MiB (it would also fail validation: the cap answers first)
    body = json.dumps({"name": "big", "note": "x" * MAX_BODY_BYTES}).encode()

    response = api.request("POST", "/groups", raw_body=body)

    assert response.status == 413
    assert response.message.startswith("[ContentTooLarge] The request body is")
    assert f"at most {MAX_BODY_BYTES}" in response.message
    assert response.headers["content-type"] == "application/json"


def test_limits_body_at_the_cap_is_routed(api: ApiClient) -> None:
    body = json.dumps({"name": "padded"}).encode().ljust(MAX_BODY_BYTES, b" ")

    response = api.request("POST", "/groups", raw_body=body)

    assert response.status == 200
    assert response.data["name"] == "padded"


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/xml"],
)
def test_limits_body_that_is_not_json_is_415(api: ApiClient, content_type: str) -> None:
    response = api.request(
        "POST", "/groups", raw_body=b'{"name": "Form"}', headers={"Content-Type": content_type}
    )

    assert response.status == 415
    assert response.message == (
        f"[UnsupportedMediaType] Content-Type {content_type!r} is not supported; send application/json."
    )
    assert api.get("/groups").json()["count"] == 0


def test_limits_json_with_a_charset_is_accepted(api: ApiClient) -> None:
    response = api.request(
        "POST",
        "/groups",
        raw_body=b'{"name": "Utf8"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    assert response.status == 200


def test_limits_body_that_is_not_utf8_is_400(api: ApiClient) -> None:
    response = api.request("POST", "/groups", raw_body=b'{"name": "\xff\xfe"}')

    assert response.status == 400
    assert response.message == "[BadRequest] The request body is not UTF-8 text."


def test_limits_body_nested_beyond_the_parser_is_400(api: ApiClient) -> None:
    depth = 100_000
    body = b'{"name": "deep", "context": {"a": ' + b"[" * depth + b"]" * depth + b"}}"

    response = api.request("POST", "/groups", raw_body=body)

    assert response.status == 400
    assert response.message == "[BadRequest] The request body is nested too deeply."


# -- strings -----------------------------------------------------------------------------------------


def test_limits_name_over_1024_characters_is_400(api: ApiClient) -> None:
    response = api.post("/groups", {"name": "n" * (MAX_NAME_LENGTH + 1)})

    assert response.status == 400
    assert response.message == f"[BadRequest] name: String should have at most {MAX_NAME_LENGTH} characters"


def test_limits_note_over_64_kib_is_400(api: ApiClient) -> None:
    group = create_group(api)

    response = api.patch(f"/groups/{group['id']}", {"note": "n" * (MAX_TEXT_LENGTH + 1)})

    assert response.status == 400
    assert response.message == f"[BadRequest] note: String should have at most {MAX_TEXT_LENGTH} characters"


def test_limits_note_of_64_kib_is_stored(api: ApiClient) -> None:
    note = "é" * MAX_TEXT_LENGTH

    group = create_group(api, note=note)

    assert api.get(f"/groups/{group['id']}").data["note"] == note


def test_limits_object_key_over_1024_characters_is_400(api: ApiClient) -> None:
    log = create_log(api, create_group(api)["id"])

    response = api.post("/ingestions", {"log_id": log["id"], "object_key": "k" * (MAX_NAME_LENGTH + 1)})

    assert response.status == 400
    assert response.message == (
        f"[BadRequest] object_key: String should have at most {MAX_NAME_LENGTH} characters"
    )


def test_limits_lone_surrogate_in_a_string_is_400(api: ApiClient) -> None:
    # "\ud800" is valid JSON text but not Unicode: it could be neither stored nor returned as UTF-8.
    response = api.request("POST", "/groups", raw_body=b'{"name": "ok", "note": "a\\ud800b"}')

    assert response.status == 400
    assert response.message.startswith("[BadRequest] note: ")
    assert api.get("/groups").json()["count"] == 0


def test_limits_lone_surrogate_inside_a_json_field_is_400(api: ApiClient) -> None:
    response = api.request("POST", "/groups", raw_body=b'{"name": "ok", "context": {"\\udc00": 1}}')

    assert response.status == 400
    assert response.message.startswith("[BadRequest] context: must be Unicode text")


# -- JSON fields ---------------------------------------------------------------------------------


def test_limits_context_over_64_kib_is_400_naming_the_field(api: ApiClient) -> None:
    context = {"blob": "x" * MAX_JSON_BYTES}
    size = len(json.dumps(context, separators=(",", ":")))

    response = api.post("/groups", {"name": "g", "context": context})

    assert response.status == 400
    assert response.message == (
        f"[BadRequest] context: is {size} bytes of JSON; at most {MAX_JSON_BYTES} are accepted"
    )


def test_limits_every_oversized_record_field_is_named(api: ApiClient) -> None:
    topic = new_topic(api)
    big = ["x" * MAX_JSON_BYTES]

    response = api.post(
        f"/topics/{topic['id']}/records", {"timestamp": 1, "query_data": big, "auxiliary_data": big}
    )

    assert response.status == 400
    assert "query_data: is " in response.message
    assert "auxiliary_data: is " in response.message


def test_limits_json_nested_deeper_than_32_levels_is_400(api: ApiClient) -> None:
    response = api.post("/groups", {"name": "g", "context": _nested(MAX_JSON_DEPTH + 1)})

    assert response.status == 400
    assert response.message == f"[BadRequest] context: is nested more than {MAX_JSON_DEPTH} levels deep"


def test_limits_json_nested_32_levels_is_stored(api: ApiClient) -> None:
    context = _nested(MAX_JSON_DEPTH)

    group = create_group(api, context=context)

    assert group["context"] == context


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_limits_json_field_with_nan_or_infinity_is_400(api: ApiClient, number: bytes) -> None:
    # Python's parser accepts these, but they are not JSON: the answer would be unreadable to clients.
    response = api.request("POST", "/groups", raw_body=b'{"name": "g", "context": {"v": ' + number + b"}}")

    assert response.status == 400
    assert response.message == "[BadRequest] context: holds NaN or Infinity, which JSON cannot represent"


def test_limits_ingestion_part_index_over_its_cap_is_400(api: ApiClient) -> None:
    ingestion = create_ingestion(api, create_log(api, create_group(api)["id"])["id"])
    entry = ["0" * 36, 0, 1, None, None, None, 1]
    index = [entry] * (MAX_INDEX_BYTES // 40)

    response = api.post(f"/ingestions/{ingestion['id']}/parts", {"sequence": 0, "index": index})

    assert response.status == 400
    assert response.message.startswith("[BadRequest] index: is ")
    assert f"at most {MAX_INDEX_BYTES} are accepted" in response.message


# -- numbers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**40])
def test_limits_base_timestamp_outside_int64_is_400(api: ApiClient, value: int) -> None:
    group = create_group(api)

    response = api.post("/logs", {"group_id": group["id"], "name": "l", "base_timestamp": value})

    assert response.status == 400
    assert response.message.startswith("[BadRequest] base_timestamp: Input should be")


def test_limits_part_sequence_outside_int64_is_400(api: ApiClient) -> None:
    ingestion = create_ingestion(api, create_log(api, create_group(api)["id"])["id"])

    response = api.post(f"/ingestions/{ingestion['id']}/parts", {"sequence": 10**40})

    assert response.status == 400
    assert response.message == (
        "[BadRequest] sequence: Input should be less than or equal to 9223372036854775807"
    )


def test_limits_list_limit_over_1000_is_400(api: ApiClient) -> None:
    response = api.get("/groups", params={"limit": 1001})

    assert response.status == 400
    assert response.message == "[BadRequest] limit: Input should be less than or equal to 1000"


@pytest.mark.parametrize(
    ("frequency", "reason"),
    [
        ("inf", "Input should be a finite number"),
        ("1e-300", "Input should be greater than or equal to 0.000000001"),
        ("1e12", "Input should be less than or equal to 1000000000"),
    ],
)
def test_limits_record_frequency_outside_its_range_is_400(
    api: ApiClient, frequency: str, reason: str
) -> None:
    topic = new_topic(api)

    response = api.get(f"/topics/{topic['id']}/records", params={"frequency": frequency})

    assert response.status == 400
    assert response.message == f"[BadRequest] frequency: {reason}"


# -- what one stored item can hold -------------------------------------------------------------------


def test_limits_topic_with_every_large_field_at_its_cap_is_413(api: ApiClient) -> None:
    # Given each field within its own cap, but together more than a DynamoDB item holds (400 KB)
    log = create_log(api, create_group(api)["id"])
    big = {f"k{i}": "x" * 60 for i in range(900)}

    response = api.post(
        "/topics",
        {
            "log_id": log["id"],
            "name": "/huge",
            "note": "n" * MAX_TEXT_LENGTH,
            "context": big,
            "type_schema": big,
            "type_data": "d" * 256 * 1024,
        },
    )

    assert response.status == 413
    assert response.message.startswith("[ContentTooLarge] This topic would take ")
    assert api.get("/topics").json()["count"] == 0


def test_limits_record_update_that_overfills_its_block_is_413(api: ApiClient) -> None:
    # Given two records in one block, the first with four fields at their cap (random text barely
    # compresses), and an update giving the second five such fields: the block would pass 400 KB
    topic = new_topic(api)
    rnd = random.Random(7)

    def text() -> str:
        return "".join(rnd.choice(string.ascii_letters + string.digits) for _ in range(MAX_JSON_BYTES - 8))

    def fields(*names: str) -> dict[str, object]:
        return {name: text() if name == "note" else {"v": text()} for name in names}

    large = ("note", "context", "query_data", "auxiliary_data")
    records = f"/topics/{topic['id']}/records"
    assert api.post(records, {"timestamp": 1, **fields(*large)}).status == 200
    assert api.post(records, {"timestamp": 2, "note": "small"}).status == 200

    response = api.patch(f"{records}/2", fields(*large, "error"))

    assert response.status == 413
    assert response.message.startswith("[ContentTooLarge] The records stored with this one would take ")
    assert api.get(f"{records}/2").data["note"] == "small"
