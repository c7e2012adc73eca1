"""Users: ``/users`` (admin only) and ``/users/me`` (any key: the user owning it, or null)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from openlqs.api.common import no_content, paginated, request_context, request_principal
from openlqs.api.responses import DELETE, READ, UNAVAILABLE, WRITE, declare
from openlqs.models.common import DataResponse, PaginatedResponse
from openlqs.models.users import User, UserCreateRequest, UserListParams, UserUpdateRequest
from openlqs.services import get_services

router = Router()
TAGS = ["Users"]
#: Every user route but ``users/me`` needs the admin role, reads included.
ADMIN_READ = (*READ, 403)


@router.get(
    "/users/me",
    summary="The user owning the calling key (null for a key without a user)",
    tags=TAGS,
    responses=declare(DataResponse[User | None], READ),
)
def fetch_me() -> DataResponse[User | None]:
    principal = request_principal()
    return DataResponse(data=get_services().users.find(principal.user_id if principal else None))


@router.get("/users", summary="List users", tags=TAGS, responses=declare(PaginatedResponse[User], ADMIN_READ))
def list_users(params: Annotated[UserListParams, Query()]) -> PaginatedResponse[User]:
    request_context()
    count, users = get_services().users.list(params)
    return paginated(params, count, users)


@router.post(
    "/users",
    summary="Create a user (password write-only, kept as a hash)",
    tags=TAGS,
    responses=declare(DataResponse[User], WRITE),
)
def create_user(body: UserCreateRequest) -> DataResponse[User]:
    return DataResponse(data=get_services().users.create(body, request_context()))


@router.get(
    "/users/<user_id>", summary="Fetch a user", tags=TAGS, responses=declare(DataResponse[User], ADMIN_READ)
)
def fetch_user(user_id: UUID) -> DataResponse[User]:
    request_context()
    return DataResponse(data=get_services().users.get(user_id))


@router.patch(
    "/users/<user_id>",
    summary="Update a user (disabling refuses their keys at once)",
    tags=TAGS,
    responses=declare(DataResponse[User], WRITE, UNAVAILABLE),
)
def update_user(user_id: UUID, body: UserUpdateRequest) -> DataResponse[User]:
    return DataResponse(data=get_services().users.update(user_id, body, request_context()))


@router.delete(
    "/users/<user_id>",
    summary="Delete a user (refused while they own keys)",
    tags=TAGS,
    responses=declare(None, DELETE, status=204),
)
def delete_user(user_id: UUID) -> Response[None]:
    get_services().users.delete(user_id, request_context())
    return no_content()
