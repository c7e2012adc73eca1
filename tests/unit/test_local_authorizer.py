"""The local API Gateway's authorizer step: the gateway's rules around the real handler."""

from __future__ import annotations

import re
from typing import Any

import pytest

from openlqs.local.api_auth import ApiAuthSpec, api_auth_spec, api_routes, route_for
from openlqs.local.apigateway import RequestAuthorizer, build_proxy_event

ALLOW_ALL = {
    "principalId": "k",
    "policyDocument": {
        "Version": "2012-10-17",
        "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:*/*/*/*"}
        ],
    },
    "context": {"keyId": "k", "role": "read"},
}


class FakeFunction:
    """Stands for the authorizer function: answers (or raises) and counts its calls."""

    def __init__(self, answer: dict[str, Any] | Exception) -> None:
        self.answer = answer
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


SPEC = ApiAuthSpec(
    authorizer_function_id="AuthorizerFunction",
    cache_ttl_s=300,
    public_routes=(("GET", re.compile(r"/apps/lqs/[^/]+/api/openapi\.json")),),
)


def event(path: str = "/apps/lqs/d/api/groups", authorization: str | None = "Bearer abc") -> dict[str, Any]:
    headers = [("Authorization", authorization)] if authorization is not None else []
    return build_proxy_event("GET", path, headers, None)


def test_local_authorizer_passes_the_context_on_and_calls_with_a_request_event() -> None:
    function = FakeFunction(ALLOW_ALL)

    outcome, context = RequestAuthorizer(function, SPEC).authorize(event())  # type: ignore[arg-type]

    assert (outcome, context) == ("ALLOW", {"keyId": "k", "role": "read", "principalId": "k"})
    (sent,) = function.events
    assert sent["type"] == "REQUEST"
    assert sent["methodArn"].endswith("/local/GET/apps/lqs/d/api/groups")


def test_local_authorizer_refuses_a_missing_header_without_calling_the_function() -> None:
    function = FakeFunction(ALLOW_ALL)

    outcome, _ = RequestAuthorizer(function, SPEC).authorize(event(authorization=None))  # type: ignore[arg-type]

    assert outcome == "UNAUTHORIZED"
    assert function.events == []


def test_local_authorizer_lets_public_routes_through_without_a_key() -> None:
    function = FakeFunction(Exception("Unauthorized"))
    public = event("/apps/lqs/d/api/openapi.json", authorization=None)

    assert RequestAuthorizer(function, SPEC).authorize(public) == ("ALLOW", None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (Exception("Unauthorized"), "UNAUTHORIZED"),
        (RuntimeError("table unreachable"), "DEFAULT_5XX"),
        (
            {
                **ALLOW_ALL,
                "policyDocument": {
                    "Statement": [{**ALLOW_ALL["policyDocument"]["Statement"][0], "Effect": "Deny"}]
                },
            },
            "ACCESS_DENIED",
        ),
        ({**ALLOW_ALL, "policyDocument": {"Statement": []}}, "ACCESS_DENIED"),
    ],
)
def test_local_authorizer_maps_answers_to_gateway_responses(answer: Any, outcome: str) -> None:
    result, context = RequestAuthorizer(FakeFunction(answer), SPEC).authorize(event())  # type: ignore[arg-type]

    assert (result, context) == (outcome, None)


def test_local_authorizer_caches_answers_per_header_for_the_ttl() -> None:
    function, clock = FakeFunction(ALLOW_ALL), Clock()
    authorizer = RequestAuthorizer(function, SPEC, clock=clock)  # type: ignore[arg-type]

    authorizer.authorize(event())
    authorizer.authorize(event("/apps/lqs/d/api/logs"))
    authorizer.authorize(event(authorization="Bearer other"))
    clock.now += 301
    authorizer.authorize(event())

    assert [e["headers"]["Authorization"] for e in function.events] == [
        "Bearer abc",
        "Bearer other",
        "Bearer abc",
    ]


def test_local_authorizer_without_cache_asks_every_time() -> None:
    function = FakeFunction(ALLOW_ALL)
    authorizer = RequestAuthorizer(function, ApiAuthSpec("AuthorizerFunction", cache_ttl_s=0))  # type: ignore[arg-type]

    authorizer.authorize(event())
    authorizer.authorize(event())

    assert len(function.events) == 2


def test_local_authorizer_flush_forgets_every_cached_answer() -> None:
    function = FakeFunction(ALLOW_ALL)
    authorizer = RequestAuthorizer(function, SPEC)  # type: ignore[arg-type]
    authorizer.authorize(event())
    authorizer.authorize(event(authorization="Bearer other"))

    authorizer.flush()
    authorizer.authorize(event())
    authorizer.authorize(event(authorization="Bearer other"))

    assert len(function.events) == 4


# -- routes to other functions (the console) -----------------------------------------------------------


def test_api_routes_send_console_requests_to_the_console_function(template: dict[str, Any]) -> None:
    routes = api_routes(template)

    def target(method: str, path: str) -> str | None:
        route = route_for(routes, method, path)
        return None if route is None else f"{route.function_id} {route.path}"

    assert target("GET", "/console") == "ConsoleFunction /console"
    assert target("GET", "/console/") == "ConsoleFunction /console"
    assert target("GET", "/console/console.js") == "ConsoleFunction /console/{proxy+}"
    assert target("POST", "/console/") == "ApiFunction /{proxy+}"
    assert target("GET", "/consoles") == "ApiFunction /{proxy+}"
    assert target("GET", "/docs") == "ApiFunction /docs"
    assert target("GET", "/") == "ApiFunction /"


def test_api_auth_spec_makes_every_functions_public_routes_public(template: dict[str, Any]) -> None:
    spec = api_auth_spec(template)

    assert spec.is_public("GET", "/console/") and spec.is_public("GET", "/console/plot.js")
    assert spec.is_public("GET", "/docs") and spec.is_public("GET", "/docs/")
    assert not spec.is_public("POST", "/console/")
    assert not spec.is_public("GET", "/groups")
