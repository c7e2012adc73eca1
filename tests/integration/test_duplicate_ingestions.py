"""A log holds a file's records once: the same content queued again, by any route, is refused (API) or
skipped (drop folder), unless the ingestion asks for it."""

from __future__ import annotations

import os
from typing import Any
from uuid import UUID

import boto3
import pytest

from openlqs.domain.object_stores import FINGERPRINT_SPAN
from openlqs.services import get_services
from tests.support.api import ApiClient
from tests.support.paths import DATASTORE_ID
from tests.support.resources import create_group, create_ingestion, create_log

BAG = b"#ROSBAG V2.0\n" + os.urandom(4096)
#: Larger than two fingerprint spans, so the fingerprint reads both ends only.
BIG_BAG = b"#ROSBAG V2.0\n" + os.urandom(2 * FINGERPRINT_SPAN + 1000)


def _log_key(log: dict[str, Any], key: str) -> str:
    return f"lqs/{DATASTORE_ID}/logs/{UUID(log['id'])}/{key}"


def _put(aws: dict[str, str], key: str, body: bytes) -> None:
    """One PutObject, as `aws s3 cp` stores a small file."""
    boto3.client("s3").put_object(Bucket=aws["OBJECTS_BUCKET_NAME"], Key=key, Body=body)


def _multipart(aws: dict[str, str], key: str, body: bytes) -> None:
    """A one-part multipart upload, as the LogQS clients upload: another ETag for the same bytes."""
    s3 = boto3.client("s3")
    bucket = aws["OBJECTS_BUCKET_NAME"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=body)["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": 1}]}
    )


def _etag(aws: dict[str, str], key: str) -> str:
    return str(boto3.client("s3").head_object(Bucket=aws["OBJECTS_BUCKET_NAME"], Key=key)["ETag"])


@pytest.fixture
def log(api: ApiClient) -> dict[str, Any]:
    return create_log(api, create_group(api, "Demo Group")["id"], "Demo Log")


def _drop(aws: dict[str, str], key: str, body: bytes) -> Any:
    _put(aws, key, body)
    head = boto3.client("s3").head_object(Bucket=aws["OBJECTS_BUCKET_NAME"], Key=key)
    return get_services().trigger.drop_folder.register(
        bucket=aws["OBJECTS_BUCKET_NAME"], key=key, etag=head["ETag"].strip('"'), size=len(body)
    )


@pytest.mark.parametrize("body", [BAG, BIG_BAG], ids=["small", "big"])
def test_queueing_the_same_content_under_another_key_is_refused_naming_the_ingestion(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], body: bytes
) -> None:
    # Given run.bag uploaded by a client (multipart) and queued
    _multipart(aws, _log_key(log, "run.bag"), body)
    first = create_ingestion(api, log["id"], name="first", object_key="run.bag", state="queued")
    # And the same bytes stored again under another key, by another route (one PUT: another ETag)
    _put(aws, _log_key(log, "copy.bag"), body)
    assert _etag(aws, _log_key(log, "run.bag")) != _etag(aws, _log_key(log, "copy.bag"))

    # When an ingestion of the copy is created queued
    response = api.post("/ingestions", {"log_id": log["id"], "object_key": "copy.bag", "state": "queued"})

    # Then it is refused, saying which ingestion holds the records and what to do
    assert response.status == 409
    assert response.message.startswith("[DuplicateIngestion] ")
    assert first["id"] in response.message and "'run.bag'" in response.message
    assert "add every record a second time" in response.message
    assert api.get("/ingestions", params={"log_id": log["id"]}).json()["count"] == 1


def test_queueing_a_ready_ingestion_of_the_same_content_is_refused_and_it_stays_ready(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    _put(aws, _log_key(log, "run.bag"), BAG)
    _put(aws, _log_key(log, "again.bag"), BAG)
    create_ingestion(api, log["id"], object_key="run.bag", state="queued")
    second = create_ingestion(api, log["id"], object_key="again.bag")

    response = api.patch(f"/ingestions/{second['id']}", {"state": "queued"})

    assert response.status == 409 and response.message.startswith("[DuplicateIngestion]")
    assert api.get(f"/ingestions/{second['id']}").data["state"] == "ready"


def test_other_content_of_the_same_size_is_not_a_duplicate(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    _put(aws, _log_key(log, "run.bag"), BAG)
    _put(aws, _log_key(log, "other.bag"), BAG[:-1] + bytes([BAG[-1] ^ 1]))
    create_ingestion(api, log["id"], object_key="run.bag", state="queued")

    second = create_ingestion(api, log["id"], object_key="other.bag", state="queued")

    assert second["state"] == "queued"


def test_a_duplicate_may_be_asked_for_and_a_failed_ingestion_holds_nothing(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    _put(aws, _log_key(log, "run.bag"), BAG)
    first = create_ingestion(api, log["id"], object_key="run.bag", state="queued")

    # Asked for explicitly
    wanted = create_ingestion(
        api, log["id"], object_key="run.bag", state="queued", context={"allow_duplicate": True}
    )
    # After the first failed (its records are gone), the file may be ingested again
    get_services().ingestions.transition(UUID(first["id"]), "failed", error_message="on purpose")
    api.patch(f"/ingestions/{wanted['id']}", {"state": "cancelled"})
    again = create_ingestion(api, log["id"], object_key="run.bag", state="queued")

    assert wanted["state"] == "queued"
    assert again["state"] == "queued"


def test_drop_folder_skips_a_file_its_log_already_holds(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    # Given run.bag uploaded by a client and queued
    _multipart(aws, _log_key(log, "run.bag"), BAG)
    create_ingestion(api, log["id"], object_key="run.bag", state="queued")
    uploaded_etag = _etag(aws, _log_key(log, "run.bag"))

    # When the same file is dropped into the same log, under its own name and under another
    same_name = _drop(aws, "drop/Demo Group/Demo Log/run.bag", BAG)
    other_name = _drop(aws, "drop/Demo Group/Demo Log/renamed.bag", BAG)

    # Then neither is ingested: no ingestion is made for them
    assert (same_name, other_name) == (None, None)
    assert api.get("/ingestions", params={"log_id": log["id"]}).json()["count"] == 1
    # And the uploaded object was left as it was, the renamed copy kept; nothing stays in drop/
    assert _etag(aws, _log_key(log, "run.bag")) == uploaded_etag
    s3 = boto3.client("s3")
    assert s3.head_object(Bucket=aws["OBJECTS_BUCKET_NAME"], Key=_log_key(log, "renamed.bag"))
    assert s3.list_objects_v2(Bucket=aws["OBJECTS_BUCKET_NAME"], Prefix="drop/").get("KeyCount") == 0


def test_drop_folder_keeps_a_file_of_the_same_name_and_size_but_other_content_beside_it(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    _put(aws, _log_key(log, "run.bag"), BAG)
    create_ingestion(api, log["id"], object_key="run.bag", state="queued")
    changed = BAG[:100] + bytes([BAG[100] ^ 1]) + BAG[101:]

    dropped = _drop(aws, "drop/Demo Group/Demo Log/run.bag", changed)

    ingestion = api.get(f"/ingestions/{dropped}").data
    assert ingestion["state"] == "queued"
    assert ingestion["object_key"] != "run.bag"
    s3 = boto3.client("s3")
    kept = s3.get_object(Bucket=aws["OBJECTS_BUCKET_NAME"], Key=_log_key(log, "run.bag"))["Body"].read()
    assert kept == BAG  # the ingested file's bytes are not replaced under its records
