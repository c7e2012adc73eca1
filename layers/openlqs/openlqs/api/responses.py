"""What each route declares in OpenAPI: its success response and every error status it can answer.

Powertools documents only the success response of a route without ``responses=`` (and only the custom
ones of a route with it), so every route passes ``responses=declare(...)``: the fuzzing test checks
that each answer's status, content type and body match what is declared here.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, Field

JSON = "application/json"


class ErrorResponse(BaseModel):
    """Every error body (``openlqs.api.errors``): the error's name in brackets, then the detail."""

    message: str = Field(description="`[Name] detail`, e.g. `[NotFound] Group … not found.`")


#: Why a route answers each error status (the bracketed names are those of ``openlqs.errors``).
ERRORS: dict[int, str] = {
    400: "Invalid request: a parameter or the body fails validation ([BadRequest]), or a limit is "
    "reached ([LimitExceeded])",
    401: "Missing or invalid credentials ([Unauthorized])",
    403: "The key's role, or the object store's settings, do not allow this ([Forbidden])",
    404: "No such resource, datastore or route ([NotFound])",
    409: "Conflicts with the current state: a name is taken, the resource is in use, or a state "
    "transition is not allowed ([Conflict], [InvalidTransition])",
    413: "The request body is larger than the API accepts, or the record data asked for is larger than "
    "one answer can carry ([ContentTooLarge])",
    415: "The request body is not JSON ([UnsupportedMediaType])",
    423: "The resource is locked and the request does not carry its lock token ([Locked])",
    429: "Too many requests; retry later ([TooManyRequests])",
    500: "Unexpected failure; details are in the logs ([InternalServerError])",
    503: "A service openlqs relies on did not do its part; send the request again ([ServiceUnavailable])",
}

#: Every route: validation, credentials, unknown ids, throttling, and the unexpected.
READ = (400, 401, 404, 429, 500)
#: Routes that delete: the key's role is checked, the resource may be in use.
DELETE = (*READ, 403, 409)
#: Answers or bodies over the size caps.
TOO_LARGE = 413
#: Routes that take a JSON body (capped in size, refused when not JSON).
WRITE = (*DELETE, TOO_LARGE, 415)
#: Changes to a lockable resource (group, log, topic, record, ingestion, ingestion part).
LOCKED = 423
#: Changes that also flush API Gateway's cached authorizations (a key disabled, deleted or re-roled).
UNAVAILABLE = 503


def declare(
    body: type[BaseModel] | None,
    *errors: int | tuple[int, ...],
    status: int = 200,
    redirects: bool = False,
) -> dict[int, OpenAPIResponse]:
    """``responses=`` of a route: ``status`` with ``body`` as JSON (no content when None), plus errors.

    ``errors`` are status codes or tuples of them (``READ``, ``WRITE``…). With ``redirects``, the route
    may also answer 302 with a ``Location`` header and no content.
    """
    codes = {code for group in errors for code in ((group,) if isinstance(group, int) else group)}
    declared: dict[int, OpenAPIResponse] = {status: _success(body)}
    if redirects:
        declared[302] = {
            "description": "Redirect to a presigned URL that serves the bytes (honours Range)",
            "headers": {"Location": {"description": "The presigned URL", "schema": {"type": "string"}}},
            "content": {},
        }
    for code in sorted(codes):
        declared[code] = {
            "description": ERRORS[code],
            "content": {JSON: {"model": ErrorResponse}},
        }
    return declared


def _success(body: type[BaseModel] | None) -> OpenAPIResponse:
    if body is None:
        # An explicit empty content: without it Powertools would document the handler's return type.
        return {"description": "Done; no content", "content": {}}
    return {"description": "Successful response", "content": {JSON: {"model": body}}}
