"""API keys: creation (the secret is shown once), storage as a keyed hash, and authentication.

Secrets are 256 bits from ``secrets``: no one can guess or brute-force them, so a slow password hash
adds nothing. What is stored is HMAC-SHA256 keyed with the key's id, compared in constant time; the
hash is useless for another key and reveals nothing about the secret.

API Gateway caches the authorizer's answer per ``Authorization`` value. A change that decides what a key
may do (disabled, deleted, another role) is stored first and then the stage's cache is flushed, so the
very next request with that key is asked about again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from uuid import UUID

from openlqs.auth import Credentials
from openlqs.domain.common import Context, Environment
from openlqs.domain.ports import AuthorizerCache, ResourceKind, ResourceRepository, WriteConditions
from openlqs.domain.resources import ResourceService, list_page
from openlqs.domain.users import USER, user_keys
from openlqs.errors import NotFound, ServiceUnavailable, Unauthorized
from openlqs.models.api_keys import APIKey, APIKeyCreateRequest, APIKeyListParams, APIKeyUpdateRequest, Role

API_KEY = ResourceKind("api_key", APIKey)

#: The one message of every authentication failure: it never says which part was wrong.
#: The one 401 message: what a request must carry, never which part of it was wrong.
INVALID_CREDENTIALS = (
    "Missing or invalid credentials. Expected the header Authorization: Bearer base64(key_id:secret), "
    "with an API key of this datastore."
)
_HASH = "secret_hash"
#: Bytes of randomness in a secret (256 bits).
SECRET_BYTES = 32
#: Fields whose change decides what a key may do: the cached answers must go.
_AUTHORIZING_FIELDS = frozenset({"disabled", "role", "user_id"})


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a key, the role it acts with, and the user owning it (None for a key made
    before users existed)."""

    key_id: UUID
    role: Role
    user_id: UUID | None = None


def hash_secret(key_id: UUID, secret: str) -> str:
    return hmac.new(key_id.bytes, secret.encode("utf-8"), hashlib.sha256).hexdigest()


class ApiKeyService(ResourceService[APIKey]):
    """Keys and authentication. ``authorizer_cache`` (None where no API Gateway is in front, as for
    ``openlqs keys create``) is flushed after a key is disabled, deleted or given another role."""

    kind = API_KEY

    def __init__(
        self,
        repository: ResourceRepository,
        environment: Environment | None = None,
        authorizer_cache: AuthorizerCache | None = None,
    ) -> None:
        super().__init__(repository, environment)
        self.authorizer_cache = authorizer_cache

    def list(self, params: APIKeyListParams) -> tuple[int, list[APIKey]]:
        return list_page(self.repository, API_KEY, params)

    def create(self, request: APIKeyCreateRequest, context: Context) -> APIKey:
        """A new key; the returned copy carries the secret, which is never stored or shown again."""
        owner = request.user_id if "user_id" in request.model_fields_set else context.user_id
        key = self._new(context, {**request.model_dump(), "user_id": owner})
        secret = secrets.token_urlsafe(SECRET_BYTES)
        key._internal[_HASH] = hash_secret(key.id, secret)
        self.repository.create(API_KEY, key, self._ownership(new=owner))
        shown = key.model_copy(update={"secret": secret})
        return shown

    @staticmethod
    def _ownership(*, new: UUID | None = None, old: UUID | None = None) -> WriteConditions:
        """A key counts among its user's keys (a user with keys cannot be deleted)."""
        return WriteConditions(
            increment=(user_keys(new),) if new else (),
            decrement=(user_keys(old),) if old else (),
            requires=((USER, new),) if new else (),
        )

    def update(self, key_id: UUID, request: APIKeyUpdateRequest, context: Context) -> APIKey:
        """Change a key; a request naming ``disabled`` or ``role`` also flushes the cached answers (even
        when the value is the same, so that sending a request again repeats a flush that failed)."""
        key = self.get(key_id)
        new = self._changed(key, request, context, non_nullable=("name", "role", "disabled"))
        owners = WriteConditions()
        if new.user_id != key.user_id:
            owners = self._ownership(new=new.user_id, old=key.user_id)
        stored = self.repository.replace(API_KEY, key, new, owners)
        if request.model_fields_set & _AUTHORIZING_FIELDS:
            self._flush(context, f"API key {key_id} was updated")
        return stored

    def delete(self, key_id: UUID, context: Context) -> None:
        """Delete a key. It is disabled first and the cache flushed before the item goes: if the flush
        fails, the key stays (disabled) and sending the DELETE again finishes it; a retried DELETE of a
        deleted key would only meet a 404 and never flush."""
        key = self.get(key_id)
        if self.authorizer_cache is not None and context.stage is not None and not key.disabled:
            key = self.repository.replace(
                API_KEY, key, self._changed(key, APIKeyUpdateRequest(disabled=True), context)
            )
        self._flush(context, f"API key {key_id} was disabled to be deleted")
        self.repository.delete(API_KEY, key, self._ownership(old=key.user_id))

    def _flush(self, context: Context, done: str) -> None:
        """Flush the cached answers of the stage the request came through (none: nothing is cached)."""
        if self.authorizer_cache is None or context.stage is None:
            return
        try:
            self.authorizer_cache.flush(context.stage)
        except ServiceUnavailable as error:
            raise ServiceUnavailable(
                f"{done}, but API Gateway's cached answers for it could not be flushed ({error.detail}); "
                "until they expire (AuthorizerCacheTtlSeconds) the key may still be accepted as it was. "
                "Send the same request again."
            ) from error

    def authenticate(self, credentials: Credentials | None) -> Principal:
        """The key's principal, or ``Unauthorized`` (the same for every reason)."""
        if credentials is None:
            raise Unauthorized(INVALID_CREDENTIALS)
        try:
            key = self.get(credentials.key_id)
            stored = str(key._internal.get(_HASH, ""))
        except NotFound:
            key, stored = None, ""
        # The hash is computed whatever happened, so that timing says nothing either.
        matches = hmac.compare_digest(stored, hash_secret(credentials.key_id, credentials.secret))
        if key is None or key.disabled or not matches:
            raise Unauthorized(INVALID_CREDENTIALS)
        if key.user_id is None:
            return Principal(key.id, key.role)
        user = self.repository.find(USER, key.user_id)
        if user is None or user.disabled:
            raise Unauthorized(INVALID_CREDENTIALS)
        role = key.role if user.admin or key.role != Role.admin else Role.write
        return Principal(key.id, role, user.id)
