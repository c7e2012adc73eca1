"""Object stores: external buckets registered and read in place; secrets encrypted, never returned."""

from __future__ import annotations

import json

import boto3
import pytest
import requests

from tests.support.api import ApiClient

EXTERNAL_BUCKET = "robot-fleet-logs"


@pytest.fixture
def external_bucket(aws: dict[str, str]) -> str:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=EXTERNAL_BUCKET)
    s3.put_object(Bucket=EXTERNAL_BUCKET, Key="fleet/robot-1/run.bag", Body=b"#ROSBAG V2.0 external")
    s3.put_object(Bucket=EXTERNAL_BUCKET, Key="fleet/robot-2/run.bag", Body=b"two")
    s3.put_object(Bucket=EXTERNAL_BUCKET, Key="elsewhere/x.bag", Body=b"x")
    return EXTERNAL_BUCKET


def _store(api: ApiClient, **fields: object) -> dict:
    body = {
        "name": "fleet",
        "bucket_name": EXTERNAL_BUCKET,
        "access_key_id": "AKIAEXAMPLE",
        "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "region_name": "us-east-1",
        "endpoint_url": None,
        "note": None,
        "context": None,
        "disabled": False,
        "default": False,
        "read_only": False,
        "managed": False,
        "key_prefix": "fleet/",
        **fields,
    }
    response = api.post("/objectStores", body)
    assert response.status == 200, response.body
    return dict(response.data)


def test_object_store_secret_is_never_returned_nor_stored_in_clear(
    api: ApiClient, aws: dict[str, str], external_bucket: str
) -> None:
    store = _store(api)

    fetched = api.get(f"/objectStores/{store['id']}")
    listed = api.get("/objectStores")

    for body in (json.dumps(store), fetched.body.decode(), listed.body.decode()):
        assert "wJalrXUtnFEMI" not in body
        assert "secret_access_key" not in body
    items = boto3.resource("dynamodb").Table(aws["RESOURCES_TABLE_NAME"]).scan()["Items"]
    assert "wJalrXUtnFEMI" not in json.dumps(items, default=str)


def test_object_store_lists_its_objects_under_the_key_prefix(api: ApiClient, external_bucket: str) -> None:
    store = _store(api)

    listing = api.get(f"/objectStores/{store['id']}/objects", params={"processing": "False"}).json()

    assert [o["key"] for o in listing["data"]] == ["fleet/robot-1/run.bag", "fleet/robot-2/run.bag"]


def test_object_store_object_bytes_are_read_in_place(api: ApiClient, external_bucket: str) -> None:
    store = _store(api)

    meta = api.get(f"/objectStores/{store['id']}/objects/robot-1/run.bag").data
    redirect = api.get(f"/objectStores/{store['id']}/objects/robot-1/run.bag", params={"redirect": "True"})

    assert meta["size"] == len(b"#ROSBAG V2.0 external")
    assert redirect.status == 302
    ranged = requests.get(redirect.headers["location"], headers={"Range": "bytes=0-11"}, timeout=30)
    assert ranged.content == b"#ROSBAG V2.0"


def test_object_store_outside_its_prefix_is_not_reachable(api: ApiClient, external_bucket: str) -> None:
    store = _store(api)

    assert api.get(f"/objectStores/{store['id']}/objects/../elsewhere/x.bag").status == 400
    assert api.get(f"/objectStores/{store['id']}/objects/elsewhere/x.bag").status == 404


def test_object_store_read_only_refuses_uploads(api: ApiClient, external_bucket: str) -> None:
    store = _store(api, read_only=True)

    response = api.post(f"/objectStores/{store['id']}/objects", {"key": "new.bag"})

    assert response.status == 403
    assert "read-only" in response.message


def test_object_store_name_is_unique(api: ApiClient, external_bucket: str) -> None:
    _store(api)

    response = api.post("/objectStores", {"name": "fleet", "bucket_name": "another-bucket"})

    assert response.status == 409
    assert api.get("/objectStores").json()["count"] == 1


def test_object_store_update_replaces_the_secret_without_returning_it(
    api: ApiClient, external_bucket: str
) -> None:
    store = _store(api)

    updated = api.patch(
        f"/objectStores/{store['id']}", {"secret_access_key": "rotated-secret", "note": "rotated"}
    )

    assert updated.status == 200
    assert updated.data["note"] == "rotated"
    assert "rotated-secret" not in updated.body.decode()
    assert api.get(f"/objectStores/{store['id']}/objects/robot-2/run.bag").status == 200


def test_object_store_delete_is_204(api: ApiClient, external_bucket: str) -> None:
    store = _store(api)

    assert api.delete(f"/objectStores/{store['id']}").status == 204
    assert api.get(f"/objectStores/{store['id']}").status == 404
