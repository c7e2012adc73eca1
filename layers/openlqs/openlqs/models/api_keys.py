"""API keys (contract §7): credentials for the LogQS ``Authorization`` header, each with a role."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BeforeValidator, Field

from openlqs.models.common import CommonListParams, CommonModel, RequestModel, _strip_enum_prefix
from openlqs.models.resources import Name


class Role(StrEnum):
    """What a key may do: ``read`` (GET), ``write`` (also data changes), ``admin`` (also keys, stores)."""

    read = "read"
    write = "write"
    admin = "admin"

    def allows(self, required: Role) -> bool:
        return _RANK[self] >= _RANK[required]


_RANK = {Role.read: 0, Role.write: 1, Role.admin: 2}

RoleParam = Annotated[Role, BeforeValidator(_strip_enum_prefix)]


class APIKey(CommonModel):
    """A key. ``secret`` is only ever set in the answer to its creation; it is stored as a hash."""

    name: str
    user_id: UUID | None = None
    disabled: bool = False
    role: Role = Role.read
    secret: str | None = None


class APIKeyCreateRequest(RequestModel):
    name: Name
    role: RoleParam = Role.read
    disabled: bool = False
    user_id: UUID | None = Field(None, description="The key's user; left out: the calling key's user.")


class APIKeyUpdateRequest(RequestModel):
    name: Name | None = None
    role: RoleParam | None = None
    disabled: bool | None = None
    user_id: UUID | None = Field(
        None, description="Give the key to another user (or to a user, for a key made before users existed)."
    )


class APIKeyListParams(CommonListParams):
    name: str | None = None
    name_like: str | None = None
    user_id: UUID | None = None
    disabled: bool | None = None
    role: RoleParam | None = None
