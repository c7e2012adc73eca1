"""The local API Gateway turns HTTP requests into REST proxy events and proxy responses back into HTTP."""

from __future__ import annotations

import base64
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from openlqs.local.api_auth import ApiAuthSpec
from openlqs.local.apigateway import ApiGatewayServer, AuthorizerCacheFlushHook, RequestAuthorizer
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
    assert response.json() == {
        "message": "[InternalServerError] The integration failed; see the function's log."
    }


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


# -- What the server answers by itself: the LogQS error shape, never HTML ------------------------------


def _raw(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as is and read the whole answer (the server closes the connection)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)
    }
    return int(status_line.split()[1]), headers, body


@pytest.fixture
def server(echo_function: InProcessFunction) -> Iterator[ApiGatewayServer]:
    server = ApiGatewayServer(echo_function, port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("request_bytes", "status", "name"),
    [
        # A header line longer than http.server reads (65,536 bytes)
        (
            b"GET /groups HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
            431,
            "RequestHeaderFieldsTooLarge",
        ),
        # More than 100 header fields
        (
            b"GET /groups HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n",
            431,
            "RequestHeaderFieldsTooLarge",
        ),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, "URITooLong"),
        (b"GARBAGE\r\n\r\n", 400, "BadRequest"),
        (b"GET /groups HTTP/3.0\r\n\r\n", 505, "HTTPVersionNotSupported"),
        (b"POST /groups HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n", 400, "BadRequest"),
    ],
    ids=[
        "header-line-too-long",
        "too-many-headers",
        "uri-too-long",
        "bad-request-line",
        "http-3",
        "bad-length",
    ],
)
def test_api_gateway_answers_what_it_cannot_read_in_the_logqs_error_shape(
    server: ApiGatewayServer, request_bytes: bytes, status: int, name: str
) -> None:
    answered, headers, body = _raw(server.url, request_bytes)

    assert answered == status
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body)
    assert re.fullmatch(rf"\[{name}\] \S.*\.", json.loads(body)["message"])


# -- FlushStageAuthorizersCache, answered in-process ----------------------------------------------------


class CountingAuthorizer:
    """The authorizer function: allows every key, and counts how often API Gateway asks it."""

    calls = 0

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        CountingAuthorizer.calls += 1
        statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:*"}
        return {"principalId": "k", "policyDocument": {"Statement": [statement]}, "context": {"role": "read"}}


def _apigateway() -> Any:
    # Nothing listens there: a call the hook does not answer fails to connect.
    return boto3.client(
        "apigateway",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_api_gateway_flushes_its_authorizer_cache_when_asked_through_boto3(
    echo_function: InProcessFunction,
) -> None:
    # Given the server of stage "local" with a caching authorizer, asked once for a key
    authorizer = RequestAuthorizer(CountingAuthorizer(), ApiAuthSpec("AuthorizerFunction", cache_ttl_s=300))  # type: ignore[arg-type]
    server = ApiGatewayServer(echo_function, port=0, authorizer=authorizer)
    server.start()
    CountingAuthorizer.calls = 0
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": "Bearer k"}, timeout=30) as client:
            client.get("/groups")
            client.get("/groups")
            # When the stage's cache is flushed with the call ApiFunction makes on AWS
            answer = _apigateway().flush_stage_authorizers_cache(restApiId="local", stageName="local")
            client.get("/groups")
            # Then the next request asks the authorizer again; another stage is not answered here
            with pytest.raises((ClientError, EndpointConnectionError)):
                _apigateway().flush_stage_authorizers_cache(restApiId="local", stageName="v1")
    finally:
        server.stop()

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert CountingAuthorizer.calls == 2
    with pytest.raises((ClientError, EndpointConnectionError)):
        _apigateway().flush_stage_authorizers_cache(restApiId="local", stageName="local")


def test_authorizer_cache_flush_hook_unregisters() -> None:
    flushed: list[str] = []
    with AuthorizerCacheFlushHook({("api", "v1"): lambda: flushed.append("v1")}):
        _apigateway().flush_stage_authorizers_cache(restApiId="api", stageName="v1")

    with pytest.raises(EndpointConnectionError):
        _apigateway().flush_stage_authorizers_cache(restApiId="api", stageName="v1")
    assert flushed == ["v1"]
