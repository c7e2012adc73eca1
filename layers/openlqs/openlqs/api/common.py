"""Helpers every router uses: the request context, lock tokens, envelopes."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Annotated, Any, TypeVar

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic_core import to_json

from openlqs.api.access import principal_of
from openlqs.domain.api_keys import Principal
from openlqs.domain.common import Context
from openlqs.domain.ports import GatewayStage
from openlqs.models.common import CommonListParams, PaginatedResponse

T = TypeVar("T")

#: ``lock_token`` query parameter of create, update and delete (empty means absent).
LockToken = Annotated[str | None, Query(description="Token of a locked resource", max_length=1024)]


#: The proxy event being answered, set by ``openlqs.api.app.handle`` (one per thread or task): the
#: resolver's own record of it is not safe when the local stack answers requests concurrently.
current_event: ContextVar[dict[str, Any]] = ContextVar("openlqs_api_event")


def request_context(lock_token: str | None = None) -> Context:
    """Who is calling (the key the authorizer accepted), with which lock token, through which stage."""
    event = current_event.get({})
    principal = principal_of(event)
    return Context(
        actor=(principal.user_id or principal.key_id) if principal else None,
        lock_token=lock_token or None,
        stage=gateway_stage(event),
        user_id=principal.user_id if principal else None,
    )


def request_principal() -> Principal | None:
    """The key (and user) the authorizer accepted for this request."""
    return principal_of(current_event.get({}))


def gateway_stage(event: dict[str, Any]) -> GatewayStage | None:
    """The REST API and stage a proxy event came through (``requestContext.apiId`` and ``stage``): the
    API's id is known only at run time, since naming it in the function's settings would make the
    template circular (the API depends on the function)."""
    context = event.get("requestContext") or {}
    api_id, stage = context.get("apiId"), context.get("stage")
    if not isinstance(api_id, str) or not isinstance(stage, str) or not api_id or not stage:
        return None
    return GatewayStage(api_id, stage)


def paginated(params: CommonListParams, count: int | None, data: list[Any]) -> PaginatedResponse[Any]:
    return PaginatedResponse(
        offset=params.offset,
        limit=params.limit,
        order=params.order,
        sort=params.sort,
        count=count if params.include_count else None,
        data=data,
    )


def json_page(params: CommonListParams, count: int | None, data: list[Any] | str) -> Response[Any]:
    """The LogQS page of ``paginated`` serialised here (pydantic's serializer), for a route declared
    ``Response[Any]``: Powertools then passes the body through instead of validating and re-encoding
    every item (~15 ms for a page of 1,000 records). ``data`` is the items, or the JSON text of their
    array (``RecordService.list_wire``)."""
    page = {
        "offset": params.offset,
        "limit": params.limit,
        "order": params.order,
        "sort": params.sort,
        "count": count if params.include_count else None,
        "data": [] if isinstance(data, str) else data,
    }
    body = to_json(page).decode()
    if isinstance(data, str):
        # ``data`` is the envelope's last member: its empty array is replaced by the text.
        body = body[: -len("[]}")] + data + "}"
    return Response(status_code=200, content_type="application/json", body=body)


def no_content() -> Response:
    return Response(status_code=204, body=None)
