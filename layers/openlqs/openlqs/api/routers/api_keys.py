"""API keys: ``/apiKeys`` (admin only, but for ``/apiKeys/me``, the caller's own key). The secret is in the
answer to the create, and nowhere else."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from openlqs.api.common import no_content, paginated, request_context, request_principal
from openlqs.api.responses import DELETE, READ, UNAVAILABLE, WRITE, declare
from openlqs.domain.api_keys import INVALID_CREDENTIALS
from openlqs.errors import Unauthorized
from openlqs.models.api_keys import APIKey, APIKeyCreateRequest, APIKeyListParams, APIKeyUpdateRequest
from openlqs.models.common import DataResponse, PaginatedResponse
from openlqs.services import get_services

router = Router()
TAGS = ["API keys"]
#: Every key route needs the admin role, reads included.
ADMIN_READ = (*READ, 403)


@router.get(
    "/apiKeys",
    summary="List API keys (never their secrets)",
    tags=TAGS,
    responses=declare(PaginatedResponse[APIKey], ADMIN_READ),
)
def list_api_keys(params: Annotated[APIKeyListParams, Query()]) -> PaginatedResponse[APIKey]:
    request_context()
    count, keys = get_services().api_keys.list(params)
    return paginated(params, count, keys)


@router.post(
    "/apiKeys",
    summary="Create an API key (its secret is returned once)",
    tags=TAGS,
    responses=declare(DataResponse[APIKey], WRITE),
)
def create_api_key(body: APIKeyCreateRequest) -> DataResponse[APIKey]:
    return DataResponse(data=get_services().api_keys.create(body, request_context()))


@router.get(
    "/apiKeys/me",
    summary="Fetch the API key making the request (its name and role; openlqs)",
    description="Not a LogQS route. Any key may read itself, e.g. to know whether it may write.",
    tags=TAGS,
    responses=declare(DataResponse[APIKey], READ),
)
def fetch_own_api_key() -> DataResponse[APIKey]:
    request_context()
    # The key itself: the context's actor is the key's user when a user owns it.
    principal = request_principal()
    if principal is None:
        raise Unauthorized(INVALID_CREDENTIALS)
    return DataResponse(data=get_services().api_keys.get(principal.key_id))


@router.get(
    "/apiKeys/<api_key_id>",
    summary="Fetch an API key",
    tags=TAGS,
    responses=declare(DataResponse[APIKey], ADMIN_READ),
)
def fetch_api_key(api_key_id: UUID) -> DataResponse[APIKey]:
    request_context()
    return DataResponse(data=get_services().api_keys.get(api_key_id))


@router.patch(
    "/apiKeys/<api_key_id>",
    summary="Rename, disable or change the role of an API key",
    tags=TAGS,
    responses=declare(DataResponse[APIKey], WRITE, UNAVAILABLE),
)
def update_api_key(api_key_id: UUID, body: APIKeyUpdateRequest) -> DataResponse[APIKey]:
    return DataResponse(data=get_services().api_keys.update(api_key_id, body, request_context()))


@router.delete(
    "/apiKeys/<api_key_id>",
    summary="Delete (revoke) an API key",
    tags=TAGS,
    responses=declare(None, DELETE, UNAVAILABLE, status=204),
)
def delete_api_key(api_key_id: UUID) -> Response[None]:
    get_services().api_keys.delete(api_key_id, request_context())
    return no_content()
