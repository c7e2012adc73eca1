"""Users (contract §6): who owns API keys. ``password`` is write-only and stored as a slow hash; API
keys stay the way in (the official client sends nothing else)."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field, SecretStr

from openlqs.models.common import CommonListParams, CommonModel, Name, RequestModel, ShortText

#: A password's length bounds (characters).
MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH = 12, 1024
Password = SecretStr


class User(CommonModel):
    username: str
    role_id: UUID | None = None
    admin: bool = False
    disabled: bool = False
    managed: bool = False
    external_id: str | None = None


class UserCreateRequest(RequestModel):
    username: Name
    role_id: UUID | None = Field(
        None, description="Accepted and kept; roles are the keys' (read/write/admin)."
    )
    admin: bool = Field(False, description="Only an admin user's keys may act with the admin role.")
    disabled: bool = Field(False, description="A disabled user's keys are refused.")
    managed: bool = False
    external_id: ShortText | None = None
    password: SecretStr | None = Field(
        None,
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        description="Write-only; kept as a scrypt hash and never returned. API keys are what requests use.",
    )


class UserUpdateRequest(RequestModel):
    username: Name | None = None
    role_id: UUID | None = None
    admin: bool | None = None
    disabled: bool | None = None
    managed: bool | None = None
    external_id: ShortText | None = None
    password: SecretStr | None = Field(None, min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)


class UserListParams(CommonListParams):
    username: str | None = None
    username_like: str | None = None
    role_id: UUID | None = None
    managed: bool | None = None
    disabled: bool | None = None
    admin: bool | None = None
