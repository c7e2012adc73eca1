"""API keys: creation (the secret is shown once), storage as a keyed hash, and authentication.

Secrets are 256 bits from ``secrets``: no one can guess or brute-force them, so a slow password hash
adds nothing. What is stored is HMAC-SHA256 keyed with the key's id, compared in constant time; the
hash is useless for another key and reveals nothing about the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from uuid import UUID

from openlqs.auth import Credentials
from openlqs.domain.common import Context
from openlqs.domain.ports import ResourceKind
from openlqs.domain.resources import ResourceService, list_page
from openlqs.errors import NotFound, Unauthorized
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


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a key and its role."""

    key_id: UUID
    role: Role


def hash_secret(key_id: UUID, secret: str) -> str:
    return hmac.new(key_id.bytes, secret.encode("utf-8"), hashlib.sha256).hexdigest()


class ApiKeyService(ResourceService):
    kind = API_KEY

    def list(self, params: APIKeyListParams) -> tuple[int, list[APIKey]]:
        return list_page(self.repository, API_KEY, params)

    def create(self, request: APIKeyCreateRequest, context: Context) -> APIKey:
        """A new key; the returned copy carries the secret, which is never stored or shown again."""
        key = self._new(context, request.model_dump())
        secret = secrets.token_urlsafe(SECRET_BYTES)
        key._internal[_HASH] = hash_secret(key.id, secret)
        self.repository.create(API_KEY, key)
        shown = key.model_copy(update={"secret": secret})
        return shown

    def update(self, key_id: UUID, request: APIKeyUpdateRequest, context: Context) -> APIKey:
        key = self.get(key_id)
        new = self._changed(key, request, context, non_nullable=("name", "role", "disabled"))
        return self.repository.replace(API_KEY, key, new)

    def delete(self, key_id: UUID, context: Context) -> None:
        self.repository.delete(API_KEY, self.get(key_id))

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
        return Principal(key.id, key.role)
