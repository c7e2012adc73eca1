"""Users (contract §6): ``users/me``, users CRUD (admin), keys owned by users, created_by = the user."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from openlqs.api.authorizer import handle as authorize_request
from openlqs.auth import format_authorization
from openlqs.domain.common import Context
from openlqs.domain.users import password_matches
from openlqs.local.keys import ensure_admin_key
from openlqs.models.api_keys import APIKeyCreateRequest, Role
from openlqs.models.users import UserListParams
from openlqs.services import get_services
from tests.support.api import ApiClient
from tests.support.events import load_event
from tests.support.resources import create_group, stored_items

REQUEST_EVENT = load_event("authorizer/api_key_request.json")


def _user(api: ApiClient, username: str, **fields: Any) -> dict[str, Any]:
    response = api.post("/users", {"username": username, **fields})
    assert response.status == 200, response.body
    return dict(response.data)


def _key(api: ApiClient, role: str, **fields: Any) -> dict[str, Any]:
    response = api.post("/apiKeys", {"name": f"{role} key", "role": role, **fields})
    assert response.status == 200, response.body
    return dict(response.data)


def _authorize(key: dict[str, Any]) -> dict[str, Any]:
    event = copy.deepcopy(REQUEST_EVENT)
    event["headers"]["Authorization"] = format_authorization(UUID(key["id"]), key["secret"])
    return authorize_request(event)


def _as(api: ApiClient, key: dict[str, Any]) -> ApiClient:
    return api.authorized_by(_authorize(key))


def test_users_me_is_the_user_owning_the_calling_key(api: ApiClient) -> None:
    bob = _user(api, "bob")
    key = _key(api, "write", user_id=bob["id"])

    me = _as(api, key).get("/users/me")

    assert me.status == 200
    assert me.data == bob
    assert set(bob) >= {"username", "admin", "disabled", "managed", "role_id", "external_id"}
    assert "password" not in bob


def test_api_keys_me_is_the_calling_key_also_when_a_user_owns_it(api: ApiClient) -> None:
    # The console signs in with GET /apiKeys/me: a user's key is the key, not its user
    carol = _user(api, "carol")
    key = _key(api, "read", user_id=carol["id"])

    me = _as(api, key).get("/apiKeys/me")

    assert me.status == 200, me.body
    assert (me.data["id"], me.data["role"], me.data["user_id"]) == (key["id"], "read", carol["id"])
    assert me.data["secret"] is None


def test_users_me_is_null_for_a_key_made_before_users(api: ApiClient) -> None:
    legacy = get_services().api_keys.create(APIKeyCreateRequest(name="old", role=Role.read), Context())

    me = _as(api, legacy.model_dump(mode="json")).get("/users/me")

    assert (me.status, me.json()) == (200, {"data": None})


def test_users_created_by_carries_the_user_id_not_the_key_id(api: ApiClient) -> None:
    alice = _user(api, "alice")
    key = _key(api, "write", user_id=alice["id"])
    alice_api = _as(api, key)

    group = alice_api.post("/groups", {"name": "Alice's"}).data
    renamed = alice_api.patch(f"/groups/{group['id']}", {"note": "n"}).data

    assert group["created_by"] == alice["id"]
    assert renamed["updated_by"] == alice["id"]


def test_users_a_key_made_by_a_user_belongs_to_that_user(api: ApiClient) -> None:
    admin = _user(api, "root", admin=True)
    admin_api = _as(api, _key(api, "admin", user_id=admin["id"]))

    made = admin_api.post("/apiKeys", {"name": "ci", "role": "read"}).data

    assert made["user_id"] == admin["id"]
    assert made["created_by"] == admin["id"]


def test_users_routes_are_for_admins_but_me_is_for_every_key(api: ApiClient) -> None:
    reader = _as(api, _key(api, "read", user_id=_user(api, "reader")["id"]))

    assert reader.get("/users").status == 403
    assert reader.post("/users", {"username": "x"}).status == 403
    assert reader.get("/users/me").status == 200


def test_users_password_is_write_only_and_stored_as_a_slow_hash(api: ApiClient, aws: dict[str, str]) -> None:
    password = "correct horse battery staple"
    user = _user(api, "carol", password=password)

    stored = json.dumps(stored_items(aws), default=str)
    hashed = get_services().users.get(UUID(user["id"]))._internal["password_hash"]

    assert password not in stored and password not in json.dumps(user)
    assert hashed.startswith("scrypt$") and password_matches(password, hashed)
    assert not password_matches("wrong password!!", hashed)
    assert api.post("/users", {"username": "dave", "password": "short"}).status == 400


def test_users_usernames_are_unique(api: ApiClient, aws: dict[str, str]) -> None:
    _user(api, "erin")
    before = stored_items(aws)

    assert api.post("/users", {"username": "erin"}).status == 409
    assert stored_items(aws) == before


def test_users_fetch_by_username_filter_as_the_official_client_does(api: ApiClient) -> None:
    frank = _user(api, "frank")
    _user(api, "grace")

    found = api.get("/users", params={"username": "frank"}).json()

    assert [user["id"] for user in found["data"]] == [frank["id"]]


def test_users_disabled_user_keys_are_refused(api: ApiClient, authorizer_flushes: list[Any]) -> None:
    heidi = _user(api, "heidi")
    key = _key(api, "write", user_id=heidi["id"])
    _authorize(key)

    assert api.patch(f"/users/{heidi['id']}", {"disabled": True}).status == 200
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        _authorize(key)
    assert authorizer_flushes  # the cached answers went at once


def test_users_admin_keys_of_a_non_admin_user_act_as_write(api: ApiClient) -> None:
    ivan = _user(api, "ivan")
    key = _key(api, "admin", user_id=ivan["id"])

    answer = _authorize(key)
    assert answer["context"]["role"] == "write"
    assert api.patch(f"/users/{ivan['id']}", {"admin": True}).status == 200
    assert _authorize(key)["context"]["role"] == "admin"


def test_users_with_keys_cannot_be_deleted(api: ApiClient) -> None:
    judy = _user(api, "judy")
    key = _key(api, "read", user_id=judy["id"])

    assert api.delete(f"/users/{judy['id']}").status == 409
    assert api.delete(f"/apiKeys/{key['id']}").status == 204
    assert api.delete(f"/users/{judy['id']}").status == 204


def test_users_keys_need_an_existing_user_and_can_be_given_to_one(api: ApiClient) -> None:
    unknown = "6e7c7138-a9ca-439b-a3a3-c0aea4d894b8"
    assert api.post("/apiKeys", {"name": "x", "user_id": unknown}).status == 404
    legacy = _key(api, "write")
    kim = _user(api, "kim")

    given = api.patch(f"/apiKeys/{legacy['id']}", {"user_id": kim["id"]}).data

    assert given["user_id"] == kim["id"]
    assert api.delete(f"/users/{kim['id']}").status == 409
    assert create_group(_as(api, legacy), "Kim's")["created_by"] == kim["id"]


def test_users_a_local_data_directory_from_before_users_is_migrated(api: ApiClient, tmp_path: Path) -> None:
    # A data directory whose admin key was made before users existed
    services = get_services()
    legacy = services.api_keys.create(
        APIKeyCreateRequest(name="openlqs local admin", role=Role.admin), Context()
    )
    assert legacy.secret is not None
    (tmp_path / "admin-key.json").write_text(
        json.dumps({"api_key_id": str(legacy.id), "api_key_secret": legacy.secret})
    )

    # When the local stack starts on it (twice)
    for _ in range(2):
        credentials = ensure_admin_key(tmp_path, services.api_keys, services.users)

    # Then the same key is kept, now of the admin user, and acts as it
    (admin,) = services.users.list(UserListParams(username="admin"))[1]
    assert credentials.key_id == legacy.id
    assert admin.admin is True
    assert services.api_keys.get(legacy.id).user_id == admin.id
    assert services.api_keys.authenticate(credentials).user_id == admin.id
