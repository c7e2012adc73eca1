"""Users: who owns API keys (contract §6). Requests still authenticate with keys; a user says whose.

- ``users/me`` is the user owning the calling key (null for a key made before users existed).
- ``created_by``/``updated_by`` carry the user id (the key id for a key without a user).
- Roles stay the keys' (``read``/``write``/``admin``, decision 30): a user is not a policy. A key of a
  user who is not ``admin`` acts at most as ``write``; a ``disabled`` user's keys are refused. Changing
  either flushes API Gateway's cached answers, as for a key.
- ``password`` is accepted for the official client's model and stored only as a scrypt hash (a slow,
  salted hash: passwords, unlike key secrets, are guessable); nothing authenticates with it.
- A user who owns keys cannot be deleted (409): their keys would act for nobody.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from uuid import UUID

from openlqs.domain.common import Context, Environment
from openlqs.domain.ports import AuthorizerCache, Counter, ResourceKind, ResourceRepository, WriteConditions
from openlqs.domain.resources import ResourceService, list_page
from openlqs.errors import ServiceUnavailable
from openlqs.models.users import User, UserCreateRequest, UserListParams, UserUpdateRequest

USER = ResourceKind("user", User, unique_field="username")
#: The user every local stack's first key belongs to (and ``openlqs keys create`` makes by default).
ADMIN_USERNAME = "admin"
_PASSWORD_HASH = "password_hash"
#: scrypt's cost (2^14, r 8: ~16 MiB and tens of milliseconds a hash).
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
#: Fields whose change decides what the user's keys may do.
_AUTHORIZING_FIELDS = frozenset({"admin", "disabled"})


def user_keys(user_id: UUID) -> Counter:
    """How many keys a user owns (a user with keys cannot be deleted)."""
    return Counter(str(user_id), "api_key")


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P
    )
    encoded = (base64.b64encode(part).decode() for part in (salt, digest))
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}$" + "$".join(encoded)


def password_matches(password: str, stored: str) -> bool:
    _, n, r, p, salt, digest = stored.split("$")
    computed = hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p)
    )
    return hmac.compare_digest(computed, base64.b64decode(digest))


class UserService(ResourceService[User]):
    kind = USER

    def __init__(
        self,
        repository: ResourceRepository,
        environment: Environment | None = None,
        authorizer_cache: AuthorizerCache | None = None,
    ) -> None:
        super().__init__(repository, environment)
        self.authorizer_cache = authorizer_cache

    def list(self, params: UserListParams) -> tuple[int, list[User]]:
        return list_page(self.repository, USER, params)

    def find(self, user_id: UUID | None) -> User | None:
        return None if user_id is None else self.repository.find(USER, user_id)

    def create(self, request: UserCreateRequest, context: Context) -> User:
        user = self._new(context, request.model_dump(exclude={"password"}))
        if request.password is not None:
            user._internal[_PASSWORD_HASH] = hash_password(request.password.get_secret_value())
        self.repository.create(USER, user)
        return user

    def fetch_or_create(self, username: str, *, admin: bool, context: Context) -> User:
        """The user named ``username``, made (with ``admin``) when there is none."""
        found = [user for user in self.repository.list_resources(USER) if user.username == username]
        if found:
            return found[0]
        return self.create(UserCreateRequest(username=username, admin=admin), context)

    def update(self, user_id: UUID, request: UserUpdateRequest, context: Context) -> User:
        user = self.get(user_id)
        fields = UserUpdateRequest.model_validate(
            request.model_dump(exclude={"password"}, exclude_unset=True)
        )
        new = self._changed(user, fields, context, non_nullable=("username", "admin", "disabled", "managed"))
        if request.password is not None:
            new._internal[_PASSWORD_HASH] = hash_password(request.password.get_secret_value())
        stored = self.repository.replace(USER, user, new)
        if request.model_fields_set & _AUTHORIZING_FIELDS:
            self._flush(context, f"user {user_id} was updated")
        return stored

    def delete(self, user_id: UUID, context: Context) -> None:
        """Delete a user who owns no keys (409 otherwise: delete or reassign them first)."""
        user = self.get(user_id)
        self.repository.delete(USER, user, WriteConditions(require_empty=(user_keys(user_id),)))

    def _flush(self, context: Context, done: str) -> None:
        if self.authorizer_cache is None or context.stage is None:
            return
        try:
            self.authorizer_cache.flush(context.stage)
        except ServiceUnavailable as error:
            raise ServiceUnavailable(
                f"{done}, but API Gateway's cached answers for its keys could not be flushed "
                f"({error.detail}); send the same request again."
            ) from error
