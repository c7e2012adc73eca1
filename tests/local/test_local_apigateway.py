"""The local API Gateway turns HTTP requests into REST proxy events and proxy responses back into HTTP."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from openlqs.local.apigateway import ApiGatewayServer
from openlqs.local.functions import InProcessFunction
from tests.support.local import ECHO_HANDLER


@pytest.fixture
def echo_function(tmp_path: Path) -> InProcessFunction:
    handler_file = tmp_path / "app.py"
    handler_file.write_text(ECHO_HANDLER)
    return InProcessFunction.from_file(handler_file, logical_id="ApiFunction")


@pytest.fixture
def api(echo_function: InProcessFunction) -> Iterator[httpx.Client]:
    server = ApiGatewayServer(echo_function, port=0)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client
    finally:
        server.stop()


def _event(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    event: dict[str, Any] = response.json()["event"]
    return event


def test_api_gateway_passes_method_path_and_proxy_resource(api: httpx.Client) -> None:
    event = _event(api.request("PATCH", "/apps/lqs/api/groups/g1", json={}))

    assert event["httpMethod"] == "PATCH"
    assert event["path"] == "/apps/lqs/api/groups/g1"
    assert event["resource"] == "/{proxy+}"
    assert event["pathParameters"] == {"proxy": "apps/lqs/api/groups/g1"}
    assert event["requestContext"]["httpMethod"] == "PATCH"
    assert event["requestContext"]["path"] == "/apps/lqs/api/groups/g1"
    assert event["requestContext"]["resourcePath"] == "/{proxy+}"
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["stage"] == "local"
    assert event["requestContext"]["requestId"]


def test_api_gateway_keeps_repeated_query_keys(api: httpx.Client) -> None:
    event = _event(api.get("/records?topic_id=a&topic_id=b&limit=10"))

    assert event["multiValueQueryStringParameters"] == {"topic_id": ["a", "b"], "limit": ["10"]}
    assert event["queryStringParameters"] == {"topic_id": "b", "limit": "10"}


def test_api_gateway_percent_decodes_query_and_path_parameters_but_not_path(api: httpx.Client) -> None:
    event = _event(api.get("/logs/my%20log?name=a%2Bb&note=two+words&empty="))

    assert event["path"] == "/logs/my%20log"
    assert event["pathParameters"] == {"proxy": "logs/my log"}
    assert event["queryStringParameters"] == {"name": "a+b", "note": "two words", "empty": ""}


def test_api_gateway_sends_null_query_and_body_when_there_are_none(api: httpx.Client) -> None:
    event = _event(api.get("/groups"))

    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False


def test_api_gateway_root_path_has_no_proxy_parameter(api: httpx.Client) -> None:
    event = _event(api.get("/"))

    assert (event["path"], event["resource"], event["pathParameters"]) == ("/", "/", None)


def test_api_gateway_passes_headers_with_every_value(api: httpx.Client) -> None:
    response = api.get(
        "/groups", headers=[("X-Trace", "one"), ("X-Trace", "two"), ("Authorization", "Bearer k")]
    )

    event = _event(response)

    assert event["multiValueHeaders"]["X-Trace"] == ["one", "two"]
    assert event["headers"]["X-Trace"] == "two"
    assert event["headers"]["Authorization"] == "Bearer k"


def test_api_gateway_passes_a_text_body_as_is(api: httpx.Client) -> None:
    event = _event(api.post("/groups", content='{"name": "héllo"}'.encode()))

    assert (event["body"], event["isBase64Encoded"]) == ('{"name": "héllo"}', False)


def test_api_gateway_base64_encodes_a_binary_body(api: httpx.Client) -> None:
    payload = bytes(range(256))

    event = _event(api.put("/blob", content=payload))

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_api_gateway_reads_a_chunked_body(api: httpx.Client) -> None:
    event = _event(api.post("/groups", content=iter([b'{"name": ', b'"chunked"}'])))

    assert event["body"] == '{"name": "chunked"}'


def test_api_gateway_returns_status_headers_and_content_type_exactly(api: httpx.Client) -> None:
    response = api.post("/created")

    assert response.status_code == 201
    assert response.headers.get_list("content-type") == ["application/json"]
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert response.headers["x-single"] == "one"
    assert response.content == b"{}"


def test_api_gateway_adds_no_content_type_the_handler_did_not_send(api: httpx.Client) -> None:
    response = api.delete("/no-content")

    assert response.status_code == 204
    assert "content-type" not in response.headers
    assert response.content == b""


def test_api_gateway_decodes_a_base64_response_body(api: httpx.Client) -> None:
    response = api.get("/binary")

    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == bytes(range(256))


def test_api_gateway_head_sends_headers_without_a_body(api: httpx.Client) -> None:
    response = api.head("/binary")

    assert response.status_code == 200
    assert response.headers["content-length"] == "256"
    assert response.content == b""


def test_api_gateway_answers_502_when_the_handler_raises(api: httpx.Client) -> None:
    response = api.get("/boom")

    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}


def test_api_gateway_answers_502_for_a_malformed_proxy_response(api: httpx.Client) -> None:
    response = api.get("/not-a-proxy-response")

    assert response.status_code == 502


def test_api_gateway_gives_the_handler_a_lambda_context(api: httpx.Client) -> None:
    context = api.get("/groups").json()["context"]

    assert context["function_name"] == "openlqs-local-ApiFunction"
    assert context["invoked_function_arn"].endswith(":function:openlqs-local-ApiFunction")
    assert context["memory_limit_in_mb"] == 128
    assert context["aws_request_id"]
    assert context["remaining_ms"] > 0
