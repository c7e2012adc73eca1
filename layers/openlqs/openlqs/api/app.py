"""The ApiFunction resolver: every LogQS route under ``/apps/lqs[/{datastore_id}]/api``."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote
from uuid import UUID

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, SecurityScheme, Server
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from openlqs.api.access import authorize, principal_of
from openlqs.api.common import current_event
from openlqs.api.errors import JSON, register_error_handlers
from openlqs.api.limits import refuse_request
from openlqs.api.routers import (
    api_keys,
    digestions,
    groups,
    ingestions,
    labels,
    logs,
    object_stores,
    objects,
    queries,
    records,
    topics,
    users,
    workflows,
)
from openlqs.errors import NotFound, OpenLQSError
from openlqs.settings import get_settings
from openlqs.version import LOGQS_API_VERSION, __version__

#: ``/apps/lqs/api`` or ``/apps/lqs/{datastore_id}/api`` (``/apps`` optional: api_endpoint_prefix="").
API_PREFIX = re.compile(r"^(?:/apps)?/lqs(?:/(?P<datastore_id>[^/]+))?/api(?=/|$)")


def _refusal(event: dict[str, Any]) -> dict[str, Any] | None:
    """The answer to a request refused before routing, or None.

    Another datastore's id gets 404, so a misconfigured client never writes here; a request without a
    strong enough key gets 401/403 (``openlqs.api.access``). Both run before the resolver, whose
    request validation would otherwise answer first and tell a caller without a key about the schema.
    """
    path = str(event.get("path") or "/")
    match = API_PREFIX.match(path)
    named = match.group("datastore_id") if match else None
    try:
        if named is not None and not _is_this_datastore(named):
            raise NotFound(f"Datastore {named} not found.")
        below_prefix = API_PREFIX.sub("", path, count=1) or "/"
        authorize(str(event.get("httpMethod") or "GET"), below_prefix, principal_of(event))
    except OpenLQSError as error:
        return {
            "statusCode": error.status_code,
            "headers": {"Content-Type": JSON, "x-logqs-version": LOGQS_API_VERSION},
            "body": json.dumps({"message": error.message}),
            "isBase64Encoded": False,
        }
    return None


def _is_this_datastore(named: str) -> bool:
    try:
        return UUID(named) == get_settings().datastore_id
    except ValueError:
        return False


def _version_header(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
    response = next_middleware(app)
    response.headers["x-logqs-version"] = LOGQS_API_VERSION
    return response


#: The OpenAPI document's security scheme: Swagger UI's Authorize button asks for the token.
SECURITY_SCHEME = "LogQSApiKey"
API_DESCRIPTION = (
    "The LogQS REST API of one openlqs datastore. Every route needs an API key: send "
    "`Authorization: Bearer <token>`, the token being base64 of `{key_id}:{secret}` "
    '(`printf \'%s:%s\' "$LQS_API_KEY_ID" "$LQS_API_KEY_SECRET" | base64 -w0`; `make local` prints it). '
    "Timestamps are integer nanoseconds since the Unix epoch."
)


def _security_schemes() -> dict[str, SecurityScheme]:
    return {
        SECURITY_SCHEME: HTTPBearer(
            bearerFormat="base64(key_id:secret)",
            description=(
                "A LogQS API key: the token is base64 of `{key_id}:{secret}`, e.g. "
                '`printf \'%s:%s\' "$LQS_API_KEY_ID" "$LQS_API_KEY_SECRET" | base64 -w0`. '
                "`make local` prints the local admin key's token."
            ),
        )
    }


def api_base_path(event: BaseProxyEvent) -> str:
    """Where this datastore's API is, as a path on the requested host: what came before the route in
    the request (an API Gateway stage, a custom domain's base path), then ``/apps/lqs/{id}/api``."""
    requested = str((event.raw_event.get("requestContext") or {}).get("path") or event.path)
    path = event.path
    prefix = requested[: -len(path)] if path and requested.endswith(path) else ""
    return f"{prefix.rstrip('/')}/apps/lqs/{get_settings().datastore_id}/api"


class ConcurrentRestResolver(APIGatewayRestResolver):
    """Powertools' REST resolver, safe when one process answers several requests at once, whose OpenAPI
    ``servers`` entry is this datastore's API wherever it is served.

    Powertools keeps the event being resolved on its ``BaseRouter`` class, which every resolver and
    router of the process reads: two requests answered at the same time (the local stack answers many;
    a Lambda environment never more than one) would each see the other's. Here the event is the
    resolving thread's own.
    """

    _resolving = threading.local()

    @property  # type: ignore[override]
    def current_event(self) -> BaseProxyEvent:
        event: BaseProxyEvent = self._resolving.event
        return event

    @current_event.setter
    def current_event(self, value: BaseProxyEvent) -> None:
        self._resolving.event = value

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        self._resolving.event = self._to_proxy_event(dict(event))
        return super().resolve(event, context)

    def _get_base_path(self) -> str:
        return api_base_path(self.current_event)


_apps = threading.local()


def get_app() -> APIGatewayRestResolver:
    """This thread's resolver, built once per thread.

    Powertools keeps the request being resolved on the resolver, so requests answered at the same time
    in one process (the local stack serves several at once; a Lambda environment never does) each need
    their own. Route code reads the request from ``api.common.current_event``, not from its router.
    """
    app: APIGatewayRestResolver | None = getattr(_apps, "app", None)
    if app is None:
        app = _apps.app = build_app()
    return app


def build_app() -> APIGatewayRestResolver:
    """A resolver with every router, the error handlers and the OpenAPI routes."""
    app = ConcurrentRestResolver(enable_validation=True, strip_prefixes=[API_PREFIX])
    app.use(middlewares=[_version_header])
    for router in (
        groups.router,
        logs.router,
        topics.router,
        records.router,
        ingestions.router,
        objects.router,
        object_stores.router,
        api_keys.router,
        labels.router,
        queries.router,
        users.router,
        workflows.router,
        digestions.router,
    ):
        app.include_router(router)
    register_error_handlers(app)
    document: dict[str, Any] = {
        "title": "openlqs",
        "version": __version__,
        "summary": "LogQS-compatible log query service",
        "description": API_DESCRIPTION,
        "security_schemes": _security_schemes(),
        "security": [{SECURITY_SCHEME: []}],
    }
    # Swagger UI (its document inline, ``?format=json`` for the document alone), with Authorize.
    app.enable_swagger(path="/docs", servers=None, persist_authorization=False, **document)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> Response[str]:
        servers = [Server(url=api_base_path(app.current_event))]
        return Response(
            status_code=200,
            content_type="application/json",
            body=app.get_openapi_json_schema(servers=servers, **document),
        )

    return app


#: ``.../(logs|objectStores)/{id}/objects/{key}[/parts[/{n}]]``: keys may contain "/".
_OBJECT_PATH = re.compile(
    r"^(?P<head>.*?/(?:logs|objectStores)/[^/]+/objects/)(?P<key>.+?)(?P<tail>/parts(?:/\d+)?)?$"
)


def encode_object_key(path: str) -> str:
    """Percent-encode an object key's slashes so that routing sees it as one path segment.

    Everything after ``objects/`` is the key, except a trailing ``/parts`` or ``/parts/{n}`` (contract §1.5).
    """
    match = _OBJECT_PATH.match(path)
    if match is None:
        return path
    key = quote(unquote(match.group("key")), safe="")
    return f"{match.group('head')}{key}{match.group('tail') or ''}"


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Resolve one API Gateway proxy event (the body of ApiFunction's handler)."""
    refused = _refusal(event)
    if refused is not None:
        return refused
    path = event.get("path")
    if isinstance(path, str) and "/objects/" in path:
        event = {**event, "path": encode_object_key(path)}
    token = current_event.set(event)
    try:
        return refuse_request(event) or get_app().resolve(event, context)
    finally:
        current_event.reset(token)
