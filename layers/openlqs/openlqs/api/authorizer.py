"""The REQUEST authorizer of the REST API: is this a valid, enabled key, and with which role?

API Gateway caches the answer per ``Authorization`` header (``AuthorizerCacheTtlSeconds``), so the
policy allows every route of the stage and the role travels in the context; ApiFunction enforces it
per route (``openlqs.api.access``). Every failure is the same 401, whatever was wrong.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from openlqs.adapters.resources import DynamoResourceRepository
from openlqs.auth import parse_authorization
from openlqs.domain.api_keys import ApiKeyService
from openlqs.errors import Unauthorized
from openlqs.settings import get_settings

#: What API Gateway expects an authorizer to raise for a 401 (the exact message matters).
UNAUTHORIZED = "Unauthorized"


@lru_cache(maxsize=1)
def get_keys() -> ApiKeyService:
    return ApiKeyService(DynamoResourceRepository(get_settings().resources_table_name))


def stage_arn(method_arn: str) -> str:
    """``arn:…:{api}/{stage}/GET/groups`` → ``arn:…:{api}/{stage}/*/*`` (every method and path)."""
    api, _, rest = method_arn.partition("/")
    stage = rest.split("/", 1)[0]
    return f"{api}/{stage}/*/*"


def header(event: dict[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def handle(event: dict[str, Any], context: Any = None, keys: ApiKeyService | None = None) -> dict[str, Any]:
    """The authorizer's answer: an Allow policy with the key's id and role, or a 401."""
    keys = keys or get_keys()
    try:
        principal = keys.authenticate(parse_authorization(header(event, "authorization")))
    except Unauthorized:
        raise Exception(UNAUTHORIZED) from None  # the exact exception API Gateway turns into a 401
    return {
        "principalId": str(principal.key_id),
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": stage_arn(event["methodArn"])}
            ],
        },
        # userId is empty for a key made before users existed.
        "context": {
            "keyId": str(principal.key_id),
            "role": str(principal.role),
            "userId": str(principal.user_id or ""),
        },
    }
