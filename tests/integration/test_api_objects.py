"""Log objects: multipart uploads via presigned URLs, metadata, byte reads, listings (§3.3, §3.4, §5)."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import boto3
import pytest
import requests

from tests.support.api import ApiClient
from tests.support.resources import create_group, create_log

MIB = 1024 * 1024


@pytest.fixture
def log_id(api: ApiClient) -> str:
    group = create_group(api, "Objects Group")
    return str(create_log(api, group["id"], "Objects Log")["id"])


def _upload(api: ApiClient, log_id: str, key: str, chunks: list[bytes]) -> dict[str, Any]:
    """The official client's upload: create, list parts, (create part, PUT, fetch part)*, complete."""
    created = api.post(f"/logs/{log_id}/objects", {"key": key, "content_type": None})
    assert created.status == 200, created.body
    assert api.get(f"/logs/{log_id}/objects/{key}/parts").data == []
    for number, chunk in enumerate(chunks, start=1):
        part = api.post(f"/logs/{log_id}/objects/{key}/parts", {"part_number": number, "size": len(chunk)})
        assert part.status == 200, part.body
        put = requests.put(part.data["presigned_url"], data=chunk, timeout=30)
        assert put.status_code == 200
        fetched = api.get(f"/logs/{log_id}/objects/{key}/parts/{number}")
        assert fetched.data["size"] == len(chunk)
    completed = api.patch(f"/logs/{log_id}/objects/{key}", {"upload_state": "complete"})
    assert completed.status == 200, completed.body
    return dict(completed.data)


def test_log_object_upload_in_parts_reads_back_whole_and_by_range(api: ApiClient, log_id: str) -> None:
    data = os.urandom(11 * MIB + 123)
    chunks = [data[: 5 * MIB], data[5 * MIB : 10 * MIB], data[10 * MIB :]]

    obj = _upload(api, log_id, "run 1/log.bag", chunks)

    assert obj["upload_state"] == "complete"
    assert obj["size"] == len(data)
    assert obj["key"].endswith(f"/logs/{log_id}/run 1/log.bag")
    whole = requests.get(obj["presigned_url"], timeout=30)
    assert hashlib.sha256(whole.content).digest() == hashlib.sha256(data).digest()
    ranged = requests.get(obj["presigned_url"], headers={"Range": "bytes=5242870-5242899"}, timeout=30)
    assert ranged.status_code == 206
    assert ranged.content == data[5242870:5242900]


def test_log_object_trailing_empty_part_is_skipped_on_completion(api: ApiClient, log_id: str) -> None:
    # The official client sends a final 0-byte part when the size is a multiple of the part size.
    data = os.urandom(5 * MIB)

    obj = _upload(api, log_id, "exact.bag", [data, b""])

    assert obj["size"] == len(data)


def test_log_object_empty_file_becomes_an_empty_object(api: ApiClient, log_id: str) -> None:
    obj = _upload(api, log_id, "empty.bag", [b""])

    assert obj["size"] == 0
    assert obj["upload_state"] == "complete"


def test_log_object_fetch_with_redirect_points_at_the_bytes(api: ApiClient, log_id: str) -> None:
    _upload(api, log_id, "log.bag", [b"#ROSBAG V2.0\n" + b"x" * 100])

    response = api.get(
        "/logs/" + log_id + "/objects/log.bag",
        params={"redirect": "True", "offset": 0, "length": 12},
        headers={"Range": "bytes=0-11"},
    )

    assert response.status == 302
    target = requests.get(response.headers["location"], headers={"Range": "bytes=0-11"}, timeout=30)
    assert target.content == b"#ROSBAG V2.0"
    assert target.headers["content-type"] not in ("application/json", "text/plain")


def test_log_object_metadata_has_every_key_and_a_working_presigned_url(api: ApiClient, log_id: str) -> None:
    _upload(api, log_id, "meta.bag", [b"abc"])

    meta = api.get(f"/logs/{log_id}/objects/meta.bag", params={"redirect": "False"})

    assert set(meta.data) == {"key", "etag", "size", "last_modified", "presigned_url", "upload_state"}
    assert meta.data["etag"] and meta.data["last_modified"]
    assert requests.get(meta.data["presigned_url"], timeout=30).content == b"abc"


def test_log_object_duplicate_key_is_409(api: ApiClient, log_id: str) -> None:
    _upload(api, log_id, "dup.bag", [b"1"])

    response = api.post(f"/logs/{log_id}/objects", {"key": "dup.bag", "content_type": None})

    assert response.status == 409
    assert response.message.startswith("[Conflict]")


def test_log_object_key_being_uploaded_is_409_too(api: ApiClient, log_id: str) -> None:
    api.post(f"/logs/{log_id}/objects", {"key": "busy.bag"})

    assert api.post(f"/logs/{log_id}/objects", {"key": "busy.bag"}).status == 409


@pytest.mark.parametrize("key", ["../escape.bag", "a/../../b", "/abs.bag", "bad\x07key", "a//b", "./x"])
def test_log_object_bad_keys_are_400(api: ApiClient, log_id: str, key: str) -> None:
    response = api.post(f"/logs/{log_id}/objects", {"key": key})

    assert response.status == 400
    assert response.message.startswith("[BadRequest]")
    assert api.get(f"/logs/{log_id}/objects", params={"processing": "True"}).json()["data"] == []


def _declare_and_put(api: ApiClient, log_id: str, key: str, number: int, declared: int, body: bytes) -> None:
    part = api.post(f"/logs/{log_id}/objects/{key}/parts", {"part_number": number, "size": declared})
    assert part.status == 200, part.body
    assert requests.put(part.data["presigned_url"], data=body, timeout=30).status_code == 200


def test_log_object_complete_with_a_part_missing_is_400_naming_it(api: ApiClient, log_id: str) -> None:
    # Given parts 1 and 3 of 3 uploaded (S3 itself would complete them into an object with a hole)
    api.post(f"/logs/{log_id}/objects", {"key": "holes.bag"})
    _declare_and_put(api, log_id, "holes.bag", 1, 5 * MIB, os.urandom(5 * MIB))
    api.post(f"/logs/{log_id}/objects/holes.bag/parts", {"part_number": 2, "size": 5 * MIB})
    _declare_and_put(api, log_id, "holes.bag", 3, 100, os.urandom(100))

    # When the upload is completed
    response = api.patch(f"/logs/{log_id}/objects/holes.bag", {"upload_state": "complete"})

    # Then it is refused naming the part, and the upload stays open to send it
    assert response.status == 400
    assert response.message == "[BadRequest] Object 'holes.bag' cannot be completed: part 2 is missing."
    assert api.get(f"/logs/{log_id}/objects/holes.bag").data["upload_state"] == "processing"
    listed = api.get(f"/logs/{log_id}/objects/holes.bag/parts").data
    assert [(part["part_number"], part["size"]) for part in listed] == [(1, 5 * MIB), (3, 100)]


def test_log_object_complete_with_a_part_of_another_size_is_400_naming_it(
    api: ApiClient, log_id: str
) -> None:
    api.post(f"/logs/{log_id}/objects", {"key": "short.bag"})
    _declare_and_put(api, log_id, "short.bag", 1, 5 * MIB, os.urandom(5 * MIB))
    _declare_and_put(api, log_id, "short.bag", 2, 1_000, os.urandom(999))
    api.post(f"/logs/{log_id}/objects/short.bag/parts", {"part_number": 4, "size": 10})

    response = api.patch(f"/logs/{log_id}/objects/short.bag", {"upload_state": "complete"})

    assert response.status == 400
    assert response.message == (
        "[BadRequest] Object 'short.bag' cannot be completed: parts 3-4 are missing; "
        "part 2 has 999 bytes, 1000 were declared."
    )


def test_log_object_part_sent_again_completes(api: ApiClient, log_id: str) -> None:
    # A refused completion is repaired by sending the part (a new URL, the same declaration) again.
    data = os.urandom(5 * MIB + 10)
    api.post(f"/logs/{log_id}/objects", {"key": "again.bag"})
    _declare_and_put(api, log_id, "again.bag", 1, 5 * MIB, data[: 5 * MIB])
    _declare_and_put(api, log_id, "again.bag", 2, 10, data[5 * MIB : 5 * MIB + 9])
    refused = api.patch(f"/logs/{log_id}/objects/again.bag", {"upload_state": "complete"})

    _declare_and_put(api, log_id, "again.bag", 2, 10, data[5 * MIB :])
    completed = api.patch(f"/logs/{log_id}/objects/again.bag", {"upload_state": "complete"})

    assert refused.status == 400
    assert completed.status == 200 and completed.data["size"] == len(data)
    assert requests.get(completed.data["presigned_url"], timeout=30).content == data


def test_log_object_upload_started_before_sizes_were_kept_still_needs_parts_1_to_n(
    api: ApiClient, aws: dict[str, str], log_id: str
) -> None:
    # Given an upload whose item has no declared sizes (made by an earlier version)
    api.post(f"/logs/{log_id}/objects", {"key": "old.bag"})
    table = boto3.resource("dynamodb").Table(aws["RESOURCES_TABLE_NAME"])
    (item,) = [i for i in table.scan()["Items"] if str(i["pk"]).startswith("upload#")]
    table.update_item(Key={"pk": item["pk"], "sk": item["sk"]}, UpdateExpression="REMOVE part_sizes")
    _declare_and_put(api, log_id, "old.bag", 1, 5 * MIB, os.urandom(5 * MIB))
    _declare_and_put(api, log_id, "old.bag", 3, 7, os.urandom(7))

    refused = api.patch(f"/logs/{log_id}/objects/old.bag", {"upload_state": "complete"})
    _declare_and_put(api, log_id, "old.bag", 2, 5 * MIB, os.urandom(5 * MIB))
    completed = api.patch(f"/logs/{log_id}/objects/old.bag", {"upload_state": "complete"})

    assert refused.status == 400 and refused.message.endswith("part 2 is missing.")
    assert completed.status == 200 and completed.data["size"] == 10 * MIB + 7
    assert "part_sizes" not in table.get_item(Key={"pk": item["pk"], "sk": item["sk"]}).get("Item", {})


def test_log_object_complete_with_no_parts_is_400(api: ApiClient, log_id: str) -> None:
    api.post(f"/logs/{log_id}/objects", {"key": "none.bag"})

    response = api.patch(f"/logs/{log_id}/objects/none.bag", {"upload_state": "complete"})

    assert response.status == 400
    assert api.get(f"/logs/{log_id}/objects/none.bag").data["upload_state"] == "processing"


@pytest.mark.parametrize("number", [0, 10001, -1])
def test_log_object_part_number_out_of_range_is_400(api: ApiClient, log_id: str, number: int) -> None:
    api.post(f"/logs/{log_id}/objects", {"key": "p.bag"})

    response = api.post(f"/logs/{log_id}/objects/p.bag/parts", {"part_number": number, "size": 10})

    assert response.status == 400


def test_log_object_unknown_log_is_404(api: ApiClient) -> None:
    response = api.post("/logs/6e7c7138a9ca439ba3a3c0aea4d894b8/objects", {"key": "x.bag"})

    assert response.status == 404


def test_log_object_bytes_of_an_upload_in_progress_are_409(api: ApiClient, log_id: str) -> None:
    api.post(f"/logs/{log_id}/objects", {"key": "wip.bag"})

    response = api.get(f"/logs/{log_id}/objects/wip.bag", params={"redirect": "True"})

    assert response.status == 409


def test_log_object_part_url_reused_after_completion_does_not_change_the_object(
    api: ApiClient, log_id: str
) -> None:
    api.post(f"/logs/{log_id}/objects", {"key": "r.bag"})
    url = api.post(f"/logs/{log_id}/objects/r.bag/parts", {"part_number": 1, "size": 3}).data["presigned_url"]
    requests.put(url, data=b"abc", timeout=30)
    api.patch(f"/logs/{log_id}/objects/r.bag", {"upload_state": "complete"})

    try:
        refused = requests.put(url, data=b"XYZ", timeout=30).status_code >= 400
    except KeyError:  # moto's decorator mode raises its missing-upload lookup in-process
        refused = True

    assert refused
    meta = api.get(f"/logs/{log_id}/objects/r.bag").data
    assert requests.get(meta["presigned_url"], timeout=30).content == b"abc"


def test_log_object_abort_discards_the_upload(api: ApiClient, log_id: str) -> None:
    api.post(f"/logs/{log_id}/objects", {"key": "gone.bag"})

    aborted = api.patch(f"/logs/{log_id}/objects/gone.bag", {"upload_state": "aborted"})

    assert aborted.data["upload_state"] == "aborted"
    assert api.get(f"/logs/{log_id}/objects/gone.bag").status == 404


def test_log_object_of_another_log_is_unreachable(api: ApiClient, log_id: str) -> None:
    _upload(api, log_id, "mine.bag", [b"secret"])
    other = create_log(api, create_group(api, "Other Group")["id"], "Other Log")["id"]

    assert api.get(f"/logs/{other}/objects/mine.bag").status == 404
    full_key = f"lqs/{api.base.split('/')[3]}/logs/{log_id}/mine.bag"
    assert api.get(f"/logs/{other}/objects/{full_key}").status == 400


def test_log_object_list_pages_with_continuation_tokens_and_delimiter(api: ApiClient, log_id: str) -> None:
    for key in ("a/1.bag", "a/2.bag", "b/3.bag", "top.bag"):
        _upload(api, log_id, key, [b"x"])

    first = api.get(f"/logs/{log_id}/objects", params={"max_keys": 2, "processing": "False"}).json()
    second = api.get(
        f"/logs/{log_id}/objects",
        params={"max_keys": 2, "continuation_token": first["next_continuation_token"]},
    ).json()
    folders = api.get(f"/logs/{log_id}/objects", params={"delimiter": "/"}).json()
    under_a = api.get(f"/logs/{log_id}/objects", params={"prefix": "a/"}).json()

    assert first["is_truncated"] is True and second["is_truncated"] is False
    keys = [o["key"].rsplit(f"{log_id}/", 1)[1] for o in first["data"] + second["data"]]
    assert keys == ["a/1.bag", "a/2.bag", "b/3.bag", "top.bag"]
    assert [p.rsplit(f"{log_id}/", 1)[1] for p in folders["common_prefixes"]] == ["a/", "b/"]
    assert len(under_a["data"]) == 2
    assert set(first) == {
        "data",
        "is_truncated",
        "key_count",
        "max_keys",
        "continuation_token",
        "next_continuation_token",
        "prefix",
        "start_after",
        "delimiter",
        "common_prefixes",
    }


def test_log_object_part_list_pages_with_markers(api: ApiClient, log_id: str) -> None:
    api.post(f"/logs/{log_id}/objects", {"key": "m.bag"})
    for number in (1, 2, 3):
        url = api.post(f"/logs/{log_id}/objects/m.bag/parts", {"part_number": number, "size": 1}).data[
            "presigned_url"
        ]
        requests.put(url, data=b"z", timeout=30)

    first = api.get(f"/logs/{log_id}/objects/m.bag/parts", params={"max_parts": 2}).json()
    rest = api.get(
        f"/logs/{log_id}/objects/m.bag/parts", params={"part_number_marker": first["next_part_number_marker"]}
    ).json()

    assert [p["part_number"] for p in first["data"]] == [1, 2]
    assert first["is_truncated"] is True
    assert [p["part_number"] for p in rest["data"]] == [3]
    assert set(first) == {
        "data",
        "part_number_marker",
        "next_part_number_marker",
        "max_parts",
        "is_truncated",
    }


def test_log_object_delete_is_204_and_removes_the_bytes(
    api: ApiClient, log_id: str, aws: dict[str, str]
) -> None:
    obj = _upload(api, log_id, "del.bag", [b"x"])

    response = api.delete(f"/logs/{log_id}/objects/del.bag")

    assert response.status == 204 and response.body == b""
    bucket = aws["OBJECTS_BUCKET_NAME"]
    assert boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=obj["key"]).get("KeyCount") == 0
