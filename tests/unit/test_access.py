"""Who may call what: the role per route, the principal in the request context, key hashes."""

from __future__ import annotations

import re
from uuid import UUID

import pytest

from openlqs.api.access import authorize, principal_of, required_role
from openlqs.domain.api_keys import Principal, hash_secret
from openlqs.errors import Forbidden, Unauthorized
from openlqs.models.api_keys import Role

KEY = UUID("12345678-1234-4234-8234-123456789012")


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/groups", Role.read),
        ("HEAD", "/logs/x", Role.read),
        ("GET", "/objectStores", Role.read),
        ("POST", "/groups", Role.write),
        ("PATCH", "/logs/x", Role.write),
        ("DELETE", "/logs/x", Role.write),
        ("DELETE", "/topics/t/records/5", Role.write),
        ("POST", "/logs/x/objects/run.bag/parts", Role.write),
        ("DELETE", "/groups/g", Role.admin),
        ("DELETE", "/groups/g/", Role.admin),
        ("POST", "/objectStores", Role.admin),
        ("POST", "/objectStores/s/objects", Role.admin),
        ("GET", "/apiKeys", Role.admin),
        ("POST", "/apiKeys", Role.admin),
        ("GET", "/apiKeys/me", Role.read),
        ("GET", "/apiKeys/me/", Role.read),
        ("PATCH", "/apiKeys/me", Role.admin),
        ("DELETE", "/apiKeys/me", Role.admin),
        ("GET", "/apiKeys/mine", Role.admin),
        ("GET", "/openapi.json", None),
        ("GET", "/docs", None),
        ("POST", "/openapi.json", Role.write),
    ],
)
def test_required_role_per_route(method: str, path: str, role: Role | None) -> None:
    assert required_role(method, path) == role


def test_roles_are_ordered() -> None:
    assert Role.admin.allows(Role.write) and Role.write.allows(Role.read)
    assert not Role.read.allows(Role.write) and not Role.write.allows(Role.admin)


def test_authorize_refuses_without_a_principal_and_with_a_weak_role() -> None:
    with pytest.raises(Unauthorized):
        authorize("GET", "/groups", None)
    with pytest.raises(Forbidden, match="needs the write role"):
        authorize("POST", "/groups", Principal(KEY, Role.read))
    authorize("GET", "/openapi.json", None)
    authorize("DELETE", "/groups/g", Principal(KEY, Role.admin))


@pytest.mark.parametrize(
    "authorizer",
    [None, {}, {"keyId": str(KEY)}, {"keyId": "nope", "role": "admin"}, {"keyId": str(KEY), "role": "root"}],
)
def test_principal_of_ignores_incomplete_or_odd_contexts(authorizer: dict[str, str] | None) -> None:
    assert principal_of({"requestContext": {"authorizer": authorizer}}) is None


def test_principal_of_reads_the_authorizer_context() -> None:
    event = {"requestContext": {"authorizer": {"keyId": str(KEY), "role": "write", "principalId": "x"}}}

    assert principal_of(event) == Principal(KEY, Role.write)


def test_hash_secret_is_bound_to_the_key() -> None:
    other = UUID(int=KEY.int + 1)

    assert hash_secret(KEY, "s") == hash_secret(KEY, "s")
    assert hash_secret(KEY, "s") != hash_secret(other, "s")
    assert hash_secret(KEY, "s") != hash_secret(KEY, "t")
    assert re.fullmatch(r"[0-9a-f]{64}", hash_secret(KEY, "s"))
