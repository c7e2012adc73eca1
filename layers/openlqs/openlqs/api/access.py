"""Who may call what: the role each route needs, and the principal API Gateway's authorizer passed on.

The authorizer (``openlqs.api.authorizer``) checks the key and puts its id and role in the request
context; its answer is cached per Authorization header, so it cannot know the route. ApiFunction
checks the role here, for every route, in one place.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from openlqs.domain.api_keys import INVALID_CREDENTIALS, Principal
from openlqs.errors import Forbidden, Unauthorized
from openlqs.models.api_keys import Role

#: Routes anyone may read: the API's description (also public in API Gateway, see template.yaml).
PUBLIC_ROUTES = frozenset({("GET", "/openapi.json"), ("GET", "/docs")})
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ADMIN_PREFIXES = ("/apiKeys", "/users")
#: What any key may read of itself: its own user, and its own key (e.g. for the console to know its role).
_OWN = frozenset({"/users/me", "/apiKeys/me"})
#: Routes whose changes need an admin key (reading them needs a read key).
_AUTOMATION_PREFIXES = ("/workflows", "/hooks", "/callbacks")
_GROUP = re.compile(r"^/groups/[^/]+/?$")


def required_role(method: str, path: str) -> Role | None:
    """The least role for ``method`` on ``path`` (the path below the API prefix); None: public."""
    method = method.upper()
    if (method, path.rstrip("/") or "/") in PUBLIC_ROUTES:
        return None
    if method in _READ_METHODS and path.rstrip("/") in _OWN:
        return Role.read
    if path.startswith(_ADMIN_PREFIXES):
        return Role.admin
    if method in _READ_METHODS:
        return Role.read
    if path.startswith("/objectStores"):
        return Role.admin  # registering stores and writing into them is an administrator's act
    if path.startswith(_AUTOMATION_PREFIXES):
        return Role.admin  # hooks make the service call out, with secrets; workflows steer every process
    if method == "DELETE" and _GROUP.match(path):
        return Role.admin
    return Role.write


def principal_of(event: dict[str, Any]) -> Principal | None:
    """The principal the authorizer attached to a proxy event, if any."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    key_id, role, user_id = authorizer.get("keyId"), authorizer.get("role"), authorizer.get("userId")
    if not key_id or not role:
        return None
    try:
        return Principal(UUID(str(key_id)), Role(str(role)), UUID(str(user_id)) if user_id else None)
    except ValueError:
        return None


def authorize(method: str, path: str, principal: Principal | None) -> None:
    """Raise ``Unauthorized`` without a principal, ``Forbidden`` when its role is not enough."""
    needed = required_role(method, path)
    if needed is None:
        return
    if principal is None:
        raise Unauthorized(INVALID_CREDENTIALS)
    if not principal.role.allows(needed):
        raise Forbidden(f"A {principal.role} key cannot {method.upper()} {path}: it needs the {needed} role.")
