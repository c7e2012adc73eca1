"""The one place where errors become HTTP responses: ``{"message": "[Name] detail"}``."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from openlqs.errors import BadRequest, InternalServerError, NotFound, OpenLQSError, UnsupportedMediaType
from openlqs.version import LOGQS_API_VERSION

JSON = "application/json"
logger = Logger(service="openlqs")


def error_response(error: OpenLQSError) -> Response:
    # Exception handlers run outside the middleware chain, so the version header is set here too.
    return Response(
        status_code=error.status_code,
        content_type=JSON,
        body=json.dumps({"message": error.message}),
        headers={"x-logqs-version": LOGQS_API_VERSION},
    )


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path")]
    # Query models appear as one parameter; name the field inside it.
    if len(loc) >= 2 and loc[0] == "query" and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts) or "body"


def describe_validation(errors: list[dict[str, Any]]) -> str:
    """Name every invalid field: 'limit: Input should be less than or equal to 1000'."""
    messages = []
    for error in errors:
        if error.get("type") == "json_invalid":
            messages.append("request body is not valid JSON")
            continue
        # Our own validators' messages read "field: is 70000 bytes of JSON…", without pydantic's prefix.
        reason = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        messages.append(f"{_location(tuple(error.get('loc', ())))}: {reason}")
    return "; ".join(dict.fromkeys(messages)) or "invalid request"


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(OpenLQSError)
    def _domain_error(error: OpenLQSError) -> Response:
        if error.status_code >= 500:
            logger.exception("request failed")
        return error_response(error)

    @app.exception_handler(Exception)
    def _unexpected(_: Exception) -> Response:
        logger.exception("unexpected error")
        return error_response(InternalServerError("The request could not be completed; see the logs."))

    @app.exception_handler(RequestValidationError)
    def _validation_error(error: RequestValidationError) -> Response:
        # 400, never 422: the official client retries 422 as if it were transient.
        return error_response(BadRequest(describe_validation(list(error.errors()))))

    @app.exception_handler(RecursionError)
    def _too_deep(_: RecursionError) -> Response:
        # Python's JSON parser (and pydantic) recurse per nesting level; only input nests this deep.
        return error_response(BadRequest("The request body is nested too deeply."))

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_content_type(_: RequestUnsupportedContentType) -> Response:
        content_type = app.current_event.headers.get("content-type", "")[:100]
        return error_response(
            UnsupportedMediaType(f"Content-Type {content_type!r} is not supported; send application/json.")
        )

    @app.not_found
    def _not_found(_: Exception) -> Response:
        event = app.current_event
        return error_response(NotFound(f"No route for {event.http_method} {event.path}."))
