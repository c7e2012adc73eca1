"""Requests refused before routing: bodies over the size cap (413), not JSON (415) or not UTF-8 (400).

These checks run before the resolver, because Powertools validates (and so parses) a route's body before
any middleware runs: a middleware could not stop a 5 MiB body from being parsed, and a form or multipart
body (which Powertools would parse as a form) must not reach a JSON API. The caps of single fields
(names, notes, JSON objects) are in the wire models (``openlqs.models.common``).
"""

from __future__ import annotations

import base64
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import ResponseBuilder
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from openlqs.api.errors import error_response
from openlqs.errors import BadRequest, ContentTooLarge, OpenLQSError, UnsupportedMediaType

#: Largest request body the API accepts (the largest real body, a topic with its message definition,
#: is far below; API Gateway itself stops at 10 MB and Lambda at 6 MB).
MAX_BODY_BYTES = 1024 * 1024
JSON = "application/json"
#: Methods whose routes read a body; other methods' bodies are never parsed, so they are let through.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def body_size(event: dict[str, Any]) -> int:
    """Bytes of the request body (decoded size when API Gateway passed it base64-encoded)."""
    body = event.get("body")
    if not body:
        return 0
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4 - body[-2:].count("=")
    return len(body.encode("utf-8", errors="surrogatepass"))


def _content_type(event: dict[str, Any]) -> str | None:
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == "content-type" and value is not None:
            return str(value)
    for name, values in (event.get("multiValueHeaders") or {}).items():
        if name.lower() == "content-type" and values:
            return str(values[0])
    return None


def request_error(event: dict[str, Any]) -> OpenLQSError | None:
    """Why the request must be refused before routing, or None."""
    if str(event.get("httpMethod") or "").upper() not in BODY_METHODS:
        return None
    size = body_size(event)
    if size > MAX_BODY_BYTES:
        return ContentTooLarge(f"The request body is {size} bytes; at most {MAX_BODY_BYTES} are accepted.")
    content_type = _content_type(event)
    if size and content_type is not None and not content_type.strip().startswith(JSON):
        # Powertools would parse a form or multipart body; every LogQS body is JSON.
        return UnsupportedMediaType(f"Content-Type {content_type[:100]!r} is not supported; send {JSON}.")
    if size and event.get("isBase64Encoded"):
        try:
            base64.b64decode(event["body"], validate=True).decode("utf-8")
        except ValueError:  # binascii.Error and UnicodeDecodeError both are
            return BadRequest("The request body is not UTF-8 text.")
    return None


def refuse_request(event: dict[str, Any]) -> dict[str, Any] | None:
    """The API Gateway proxy response refusing ``event`` (413, 415 or 400), or None to route it.

    ``openlqs.api.app.handle`` calls it first: ``return refuse_request(event) or get_app().resolve(...)``.
    """
    error = request_error(event)
    if error is None:
        return None
    return ResponseBuilder[APIGatewayProxyEvent](error_response(error)).build(APIGatewayProxyEvent(event))
