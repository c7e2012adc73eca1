"""The routes API Gateway lets through without a key are served by ApiFunction without one."""

from __future__ import annotations

import json

import pytest

from openlqs.local.apigateway import build_proxy_event, proxy_response_parts
from tests.support.api import ApiClient
from tests.support.paths import DATASTORE_ID
from tests.support.policies import PUBLIC_PATHS


@pytest.mark.parametrize("path", sorted(PUBLIC_PATHS))
def test_template_public_paths_are_served_by_api_function_without_a_key(
    aws: dict[str, str], api: ApiClient, path: str
) -> None:
    # Given a request API Gateway let through with no authorizer (no principal in its context)
    anonymous = api.acting_as(None)

    response = anonymous.get(path.replace("{datastore_id}", DATASTORE_ID), absolute=True)

    assert response.status == 200, response.body
    assert response.headers["content-type"].startswith("application/json" if "json" in path else "text/html")


def test_openapi_document_can_be_used_from_swagger_ui(aws: dict[str, str], api: ApiClient) -> None:
    # When the document is read at the server's root, as the README says
    spec = api.acting_as(None).get("/openapi.json", absolute=True).json()

    # Then its server is this datastore's API, so "Try it out" calls the real routes
    assert spec["servers"] == [{"url": f"/apps/lqs/{DATASTORE_ID}/api"}]
    # And it declares the LogQS bearer token, so Swagger UI shows Authorize
    scheme = spec["components"]["securitySchemes"]["LogQSApiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "base64" in scheme["description"] and "{key_id}:{secret}" in scheme["description"]
    assert spec["security"] == [{"LogQSApiKey": []}]
    # And the parameters that need it say what they mean
    records = spec["paths"]["/topics/{topic_id}/records"]["get"]["parameters"]
    described = {parameter["name"]: parameter.get("description", "") for parameter in records}
    assert "integer nanoseconds since the unix epoch" in described["timestamp_gte"].lower()
    assert "records per second" in described["frequency"].lower()
    assert "raw_data" in described["include_raw_data"]
    assert "JSON filter" in described["query_data_filter"]


def test_openapi_servers_entry_keeps_the_path_the_request_came_through(
    aws: dict[str, str], api: ApiClient
) -> None:
    # Given a request through API Gateway's stage URL (https://{api}.execute-api…/Prod/docs)
    event = build_proxy_event("GET", "/docs?format=json", [], None)
    event["requestContext"]["path"] = "/Prod/docs"

    _, _, body = proxy_response_parts(api.function.invoke(event))

    assert json.loads(body)["servers"] == [{"url": f"/Prod/apps/lqs/{DATASTORE_ID}/api"}]
