"""What the schemathesis run (tests/e2e/test_fuzz_api.py) found, each pinned by a focused test.

Declared responses must match what the API answers, and odd but well-formed input must get a 4xx that
names the problem, never a 500.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.support.api import ApiClient
from tests.support.resources import create_group, create_log

MISSING_BUCKET = "no-such-bucket"


def _openapi(api: ApiClient) -> dict[str, Any]:
    response = api.get("/openapi.json")
    assert response.status == 200
    return dict(response.json())


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]


# -- OpenAPI declarations ---------------------------------------------------------------------------


def test_openapi_every_operation_declares_its_errors_with_the_error_body(api: ApiClient) -> None:
    schema = _openapi(api)
    error_body = {"$ref": "#/components/schemas/ErrorResponse"}

    for method, path, operation in _operations(schema):
        responses = operation["responses"]
        for status in ("400", "401", "404", "429", "500"):
            assert responses[status]["content"]["application/json"]["schema"] == error_body, (method, path)
        if method in ("POST", "PATCH"):
            assert {"403", "409", "413", "415"} <= set(responses), (method, path)
    assert schema["components"]["schemas"]["ErrorResponse"]["required"] == ["message"]


def test_openapi_deletes_declare_204_without_content(api: ApiClient) -> None:
    deletes = [(path, op) for method, path, op in _operations(_openapi(api)) if method == "DELETE"]

    assert deletes
    for path, operation in deletes:
        assert operation["responses"]["204"]["content"] == {}, path
        assert "200" not in operation["responses"], path


def test_openapi_creates_declare_their_200_body(api: ApiClient) -> None:
    # Before, a route with responses={409: ...} lost its documented 200 altogether.
    operation = _openapi(api)["paths"]["/groups"]["post"]

    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DataResponse_Group_"
    }
    assert "409" in operation["responses"]


def test_openapi_object_fetch_declares_the_redirect(api: ApiClient) -> None:
    responses = _openapi(api)["paths"]["/logs/{log_id}/objects/{object_key}"]["get"]["responses"]

    assert responses["302"]["content"] == {}
    assert responses["302"]["headers"]["Location"]["schema"] == {"type": "string"}
    assert "application/json" in responses["200"]["content"]


def test_openapi_locked_resources_declare_423(api: ApiClient) -> None:
    paths = _openapi(api)["paths"]

    assert "423" in paths["/groups/{group_id}"]["patch"]["responses"]
    assert "423" in paths["/topics/{topic_id}/records/{timestamp}"]["delete"]["responses"]
    assert "423" not in paths["/objectStores/{object_store_id}"]["patch"]["responses"]


# -- object stores whose bucket is missing, and S3 answers that are the caller's fault ---------------


@pytest.fixture
def store_without_bucket(api: ApiClient) -> dict[str, Any]:
    response = api.post("/objectStores", {"name": "gone", "bucket_name": MISSING_BUCKET})
    assert response.status == 200
    return dict(response.data)


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "/objects", None),
        ("POST", "/objects", {"key": "new.bag"}),
        ("GET", "/objects/run.bag", None),
        ("GET", "/objects/run.bag/parts", None),
    ],
)
def test_store_with_a_missing_bucket_is_404_naming_the_bucket(
    api: ApiClient, store_without_bucket: dict[str, Any], method: str, suffix: str, body: Any
) -> None:
    response = api.request(method, f"/objectStores/{store_without_bucket['id']}{suffix}", json_body=body)

    assert response.status == 404
    assert response.message.startswith("[NotFound] ")
    assert MISSING_BUCKET in response.message


def test_objects_list_continues_with_a_token_it_issued(api: ApiClient, aws: dict[str, str]) -> None:
    log = create_log(api, create_group(api)["id"])
    s3 = boto3.client("s3")
    for name in ("a.bag", "b.bag"):
        s3.put_object(
            Bucket=aws["OBJECTS_BUCKET_NAME"], Key=f"{_log_prefix(api, log['id'])}{name}", Body=b"x"
        )

    first = api.get(f"/logs/{log['id']}/objects", params={"max_keys": 1}).json()
    second = api.get(
        f"/logs/{log['id']}/objects",
        params={"max_keys": 1, "continuation_token": first["next_continuation_token"]},
    ).json()

    assert [o["key"].rsplit("/", 1)[1] for o in first["data"] + second["data"]] == ["a.bag", "b.bag"]


def _log_prefix(api: ApiClient, log_id: str) -> str:
    datastore_id = api.base.split("/")[3]
    return f"lqs/{datastore_id}/logs/{log_id}/"


# -- object store settings botocore would refuse -----------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("secret_access_key", "", "String should have at least 1 character"),
        ("region_name", "us east 1", "String should match pattern"),
        ("endpoint_url", "http://", "must be an http:// or https:// URL with a valid host name"),
        ("endpoint_url", "http://bad host", "must be an http:// or https:// URL with a valid host name"),
        ("endpoint_url", "http://-a.example", "must be an http:// or https:// URL with a valid host name"),
    ],
)
def test_store_settings_botocore_refuses_are_400(api: ApiClient, field: str, value: str, reason: str) -> None:
    response = api.post("/objectStores", {"name": "s", "bucket_name": "some-bucket", field: value})

    assert response.status == 400
    assert response.message.startswith(f"[BadRequest] {field}: {reason}")
    assert api.get("/objectStores").json()["count"] == 0


@pytest.mark.parametrize(
    "endpoint_url", ["http://localhost:9000", "https://s3.example.com", "http://[::1]:9000"]
)
def test_store_with_a_valid_endpoint_is_registered(api: ApiClient, endpoint_url: str) -> None:
    response = api.post("/objectStores", {"name": "s", "bucket_name": "b-1", "endpoint_url": endpoint_url})

    assert response.status == 200
    assert response.data["endpoint_url"] == endpoint_url


# -- the request body before and during validation ---------------------------------------------------


def test_body_with_a_multipart_type_without_boundary_is_415(api: ApiClient) -> None:
    # Powertools raised ValueError while parsing it (a 500) before the body reached validation.
    response = api.request(
        "PATCH",
        "/groups/6e7c7138-a9ca-439b-a3a3-c0aea4d894b8",
        raw_body=b"{}",
        headers={"Content-Type": "multipart/form-data"},
    )

    assert response.status == 415
    assert response.message.startswith("[UnsupportedMediaType] Content-Type 'multipart/form-data'")


def test_body_sent_with_a_delete_is_ignored_whatever_its_type(api: ApiClient) -> None:
    # No DELETE route reads a body, so none is parsed or refused (the official client sends none).
    group = create_group(api)

    response = api.request(
        "DELETE", f"/groups/{group['id']}", raw_body=b"\xff" * 10, headers={"Content-Type": "text/plain"}
    )

    assert response.status == 204
    assert api.get(f"/groups/{group['id']}").status == 404
