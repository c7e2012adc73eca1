"""How API Gateway guards and routes the REST API, as ``template.yaml`` declares it: for the local API
Gateway.

The default REQUEST authorizer (its function, identity header and cache), the routes declared public
(``Auth: {Authorizer: NONE}``, on any function of the API), the gateway responses, and which function
each declared route invokes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from openlqs.local.cloudformation import (
    FUNCTION_TYPE,
    Template,
    get_att_target,
    integer_value,
    resources_of_type,
    template_lookup,
)
from openlqs.local.resources import API_FUNCTION_ID

SERVERLESS_API_TYPE = "AWS::Serverless::Api"


#: API Gateway's answers when a template sets none (the gateway's own defaults).
DEFAULT_GATEWAY_RESPONSES = {
    "UNAUTHORIZED": (401, '{"message":"Unauthorized"}'),
    "ACCESS_DENIED": (403, '{"message":"User is not authorized to access this resource"}'),
    "DEFAULT_5XX": (500, '{"message":"Internal server error"}'),
}


@dataclass(frozen=True)
class ApiAuthSpec:
    """How API Gateway guards the API: one REQUEST authorizer by default, public routes, responses."""

    #: Logical id of the authorizer's function; None: the API has no default authorizer.
    authorizer_function_id: str | None = None
    #: The request header the authorizer is identified (and its answer cached) by.
    identity_header: str = "Authorization"
    cache_ttl_s: int = 300
    #: (method, path pattern) of the routes declared with ``Auth: {Authorizer: NONE}``.
    public_routes: tuple[tuple[str, re.Pattern[str]], ...] = ()
    responses: Mapping[str, tuple[int, str]] = field(default_factory=lambda: dict(DEFAULT_GATEWAY_RESPONSES))

    def is_public(self, method: str, path: str) -> bool:
        return any(
            allowed in ("ANY", method.upper()) and pattern.fullmatch(path)
            for allowed, pattern in self.public_routes
        )

    def response(self, response_type: str) -> tuple[int, str]:
        return self.responses.get(response_type) or DEFAULT_GATEWAY_RESPONSES[response_type]


@dataclass(frozen=True)
class ApiRoute:
    """One ``Type: Api`` event: the function API Gateway invokes for a method on a resource path."""

    function_id: str
    method: str
    #: The resource path as declared, e.g. ``/console/{proxy+}``.
    path: str
    public: bool

    @property
    def pattern(self) -> re.Pattern[str]:
        return _path_pattern(self.path)

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("ANY", method.upper()) and self.pattern.fullmatch(path) is not None

    @property
    def specificity(self) -> tuple[bool, int]:
        """API Gateway prefers a resource without a greedy ``{proxy+}``, then the longer literal path."""
        return ("+}" not in self.path, len(re.sub(r"\{[^}]+\}", "", self.path)))


def _events(function: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``Properties`` of a function's ``Type: Api`` events."""
    events = (function.get("Properties") or {}).get("Events") or {}
    return [
        event.get("Properties") or {}
        for event in events.values()
        if isinstance(event, dict) and event.get("Type") == "Api"
    ]


def _api_ids(function: Mapping[str, Any]) -> set[str]:
    return {str((event.get("RestApiId") or {}).get("Ref")) for event in _events(function)}


def api_routes(template: Template, function_id: str = API_FUNCTION_ID) -> tuple[ApiRoute, ...]:
    """Every ``Type: Api`` event of every function on the REST API that ``function_id`` serves."""
    functions = resources_of_type(template, FUNCTION_TYPE)
    api_ids = _api_ids(functions.get(function_id) or {})
    return tuple(
        ApiRoute(
            function_id=logical_id,
            method=str(event.get("Method", "ANY")).upper(),
            path=str(event.get("Path", "/")),
            public=(event.get("Auth") or {}).get("Authorizer") == "NONE",
        )
        for logical_id, function in functions.items()
        for event in _events(function)
        if str((event.get("RestApiId") or {}).get("Ref")) in api_ids
    )


def route_for(routes: Iterable[ApiRoute], method: str, path: str) -> ApiRoute | None:
    """The route API Gateway would pick for a request, if any declares it."""
    found = [route for route in routes if route.matches(method, path)]
    return max(found, key=lambda route: route.specificity, default=None)


def api_auth_spec(template: Template, function_id: str = API_FUNCTION_ID) -> ApiAuthSpec:
    """Read the API's ``Auth`` (default authorizer), ``GatewayResponses`` and public events."""
    parameters = template_lookup(template, {})
    function = (template.get("Resources") or {}).get(function_id) or {}
    api_ids = _api_ids(function)
    apis = resources_of_type(template, SERVERLESS_API_TYPE)
    api = next((apis[api_id] for api_id in api_ids if api_id in apis), None)
    properties = (api or {}).get("Properties") or {}
    auth = properties.get("Auth") or {}
    authorizer = (auth.get("Authorizers") or {}).get(auth.get("DefaultAuthorizer") or "") or {}
    identity = authorizer.get("Identity") or {}
    headers = identity.get("Headers") or ["Authorization"]
    responses = dict(DEFAULT_GATEWAY_RESPONSES)
    for response_type, response in (properties.get("GatewayResponses") or {}).items():
        body = ((response or {}).get("ResponseTemplates") or {}).get("application/json")
        default_status = DEFAULT_GATEWAY_RESPONSES.get(response_type, (500, ""))[0]
        status = integer_value(response.get("StatusCode"), parameters, default_status)
        if body is not None:
            responses[response_type] = (status, str(body))
    public = [(route.method, route.pattern) for route in api_routes(template, function_id) if route.public]
    return ApiAuthSpec(
        authorizer_function_id=get_att_target(authorizer.get("FunctionArn"), "Arn"),
        identity_header=str(headers[0]),
        cache_ttl_s=integer_value(identity.get("ReauthorizeEvery"), parameters, 300),
        public_routes=tuple(public),
        responses=responses,
    )


def _path_pattern(path: str) -> re.Pattern[str]:
    """An API Gateway resource path as a regular expression: ``{id}`` one segment, ``{proxy+}`` the rest;
    a trailing slash is the same resource (``/console/`` is ``/console``), as API Gateway takes it."""
    parts = re.split(r"(\{[^}]+\})", path)
    pattern = "".join(
        (".+" if part.endswith("+}") else "[^/]+") if part.startswith("{") else re.escape(part)
        for part in parts
    )
    return re.compile(pattern if pattern.endswith("/") else f"{pattern}/?")
