"""API keys and roles: the apiKeys routes, the authorizer over the real table, and the role per route."""

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
from openlqs.models.api_keys import APIKeyCreateRequest, APIKeyUpdateRequest
from openlqs.services import get_services
from tests.support.api import ADMIN_KEY_ID, ApiClient
from tests.support.events import load_event
from tests.support.resources import create_group, stored_items

PROJECT_DIR = Path(__file__).resolve().parents[2]
REQUEST_EVENT = load_event("authorizer/api_key_request.json")


def authorizer_event(authorization: str | None) -> dict[str, Any]:
    event = copy.deepcopy(REQUEST_EVENT)
    event["headers"].pop("Authorization")
    if authorization is not None:
        event["headers"]["authorization"] = authorization
    return event


def create_key(api: ApiClient, role: str = "read", name: str | None = None) -> dict[str, Any]:
    response = api.post("/apiKeys", {"name": name or f"{role} key", "role": role})
    assert response.status == 200, response.body
    return dict(response.data)


# -- the apiKeys routes ------------------------------------------------------------------------------


def test_api_keys_create_returns_the_secret_once(api: ApiClient, aws: dict[str, str]) -> None:
    key = create_key(api, "write", "CI uploader")

    fetched = api.get(f"/apiKeys/{key['id']}").data
    listed = api.get("/apiKeys").json()["data"]

    assert key["role"] == "write"
    assert key["disabled"] is False
    assert len(key["secret"]) >= 43  # 256 bits, URL-safe base64
    assert fetched["secret"] is None
    assert [item["secret"] for item in listed] == [None]
    assert key["secret"] not in json.dumps(stored_items(aws), default=str)


def test_api_keys_default_to_the_read_role(api: ApiClient) -> None:
    response = api.post("/apiKeys", {"name": "viewer"})

    assert response.data["role"] == "read"


def test_api_keys_unknown_role_is_400(api: ApiClient) -> None:
    response = api.post("/apiKeys", {"name": "root", "role": "root"})

    assert response.status == 400
    assert "role" in response.message


def test_api_keys_record_who_created_them(api: ApiClient) -> None:
    key = create_key(api)

    assert key["created_by"] == str(ADMIN_KEY_ID)


# -- the authorizer ------------------------------------------------------------------------------------


def test_authorizer_allows_a_valid_key_with_its_role(api: ApiClient) -> None:
    key = create_key(api, "write")

    answer = authorize_request(authorizer_event(format_authorization(UUID(key["id"]), key["secret"])))

    assert answer["principalId"] == key["id"]
    assert answer["context"] == {"keyId": key["id"], "role": "write", "userId": ""}
    (statement,) = answer["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "execute-api:Invoke"
    # Cached per header across routes: the policy covers the whole stage.
    assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/v1/*/*"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer !!!not-base64!!!",
        "Bearer bm8tY29sb24taGVyZQ==",  # no colon
        "Bearer bm90LWEtdXVpZDpzZWNyZXQ=",  # not-a-uuid:secret
    ],
)
def test_authorizer_refuses_malformed_credentials(aws: dict[str, str], authorization: str | None) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize_request(authorizer_event(authorization))


def test_authorizer_refuses_unknown_keys_wrong_secrets_and_disabled_or_deleted_keys(api: ApiClient) -> None:
    disabled, deleted, valid = create_key(api), create_key(api), create_key(api)
    api.patch(f"/apiKeys/{disabled['id']}", {"disabled": True})
    api.delete(f"/apiKeys/{deleted['id']}")
    refused = [
        format_authorization(UUID(int=7), valid["secret"]),
        format_authorization(UUID(valid["id"]), valid["secret"] + "x"),
        format_authorization(UUID(valid["id"]), disabled["secret"]),
        format_authorization(UUID(disabled["id"]), disabled["secret"]),
        format_authorization(UUID(deleted["id"]), deleted["secret"]),
    ]

    for header in refused:
        with pytest.raises(Exception, match=r"^Unauthorized$"):
            authorize_request(authorizer_event(header))


def test_authorizer_accepts_a_re_enabled_key(api: ApiClient) -> None:
    key = create_key(api)
    api.patch(f"/apiKeys/{key['id']}", {"disabled": True})
    api.patch(f"/apiKeys/{key['id']}", {"disabled": False})

    answer = authorize_request(authorizer_event(format_authorization(UUID(key["id"]), key["secret"])))

    assert answer["context"]["keyId"] == key["id"]


# -- revocation flushes API Gateway's cached answers -------------------------------------------------


def test_api_keys_disabling_deleting_or_re_roling_flushes_the_stage_authorizer_cache(
    api: ApiClient, authorizer_flushes: list[tuple[str, str]]
) -> None:
    key = create_key(api, "write")
    path = f"/apiKeys/{key['id']}"

    renamed = api.patch(path, {"name": "renamed"})
    after_rename = list(authorizer_flushes)
    changes = [api.patch(path, {"role": "read"}), api.patch(path, {"disabled": True}), api.delete(path)]

    # Only the changes that decide what a key may do flush, each the stage the request came through.
    assert renamed.status == 200 and after_rename == []
    assert [response.status for response in changes] == [200, 200, 204]
    assert authorizer_flushes == [("local", "local")] * 3
    assert api.get(path).status == 404


def test_api_keys_a_failed_flush_is_503_and_the_delete_can_be_sent_again(
    api: ApiClient, authorizer_flushes: list[tuple[str, str]]
) -> None:
    # Given a stage whose cache cannot be flushed (moto answers FlushStageAuthorizersCache with a 404)
    key = create_key(api, "write")
    path = f"/apiKeys/{key['id']}"
    elsewhere = api.through("a1b2c3d4e5", "v1")

    # When the key is deleted through it, then through a stage that flushes
    failed = elsewhere.delete(path)
    left = api.get(path).data
    retried = api.delete(path)

    # Then the first answer says what happened; the key stayed, disabled, until the flush worked
    assert failed.status == 503
    assert failed.message.startswith(f"[ServiceUnavailable] API key {key['id']} was disabled to be deleted")
    assert "Send the same request again." in failed.message
    assert left["disabled"] is True
    assert retried.status == 204 and authorizer_flushes == [("local", "local")]
    assert api.get(path).status == 404


def test_api_keys_a_change_outside_api_gateway_flushes_nothing(aws: dict[str, str]) -> None:
    # openlqs keys create (and any call without a stage) has no cache in front of it: a flush would fail
    # here, since nothing answers FlushStageAuthorizersCache.
    keys = get_services().api_keys
    key = keys.create(APIKeyCreateRequest(name="cli"), Context())

    keys.update(key.id, APIKeyUpdateRequest(disabled=True), Context())
    keys.delete(key.id, Context())

    assert keys.repository.find(keys.kind, key.id) is None


# -- roles per route -------------------------------------------------------------------------------------


def test_roles_read_key_reads_but_cannot_write(api: ApiClient, aws: dict[str, str]) -> None:
    group = create_group(api, "Fleet")
    reader = api.acting_as("read")
    before = stored_items(aws)

    listed = reader.get("/groups")
    created = reader.post("/groups", {"name": "Nope"})
    changed = reader.patch(f"/groups/{group['id']}", {"note": "nope"})

    assert listed.status == 200
    assert (created.status, changed.status) == (403, 403)
    assert created.message.startswith("[Forbidden]")
    assert stored_items(aws) == before


def test_roles_write_key_changes_data_but_not_keys_stores_or_group_deletes(api: ApiClient) -> None:
    group = create_group(api, "Fleet")
    writer = api.acting_as("write")

    log = writer.post("/logs", {"group_id": group["id"], "name": "Run 1"})
    key = writer.post("/apiKeys", {"name": "escalate", "role": "admin"})
    keys = writer.get("/apiKeys")
    store = writer.post("/objectStores", {"bucket_name": "other-bucket", "name": "other"})
    delete_group = writer.delete(f"/groups/{group['id']}")
    delete_log = writer.delete(f"/logs/{log.data['id']}")

    assert log.status == 200
    assert [key.status, keys.status, store.status, delete_group.status] == [403, 403, 403, 403]
    assert delete_log.status == 204


def test_roles_admin_key_does_everything(api: ApiClient) -> None:
    group = create_group(api, "Fleet")
    admin = api.acting_as("admin")

    key = admin.post("/apiKeys", {"name": "another"})
    store = admin.post("/objectStores", {"bucket_name": "other-bucket", "name": "other"})
    deleted = admin.delete(f"/groups/{group['id']}")

    assert [key.status, store.status, deleted.status] == [200, 200, 204]


def test_roles_created_and_updated_by_carry_the_key_id(api: ApiClient) -> None:
    group = create_group(api, "Fleet")
    writer_id = UUID("11111111-2222-4333-8444-555555555555")
    writer = api.acting_as("write", key_id=writer_id)

    log = writer.post("/logs", {"group_id": group["id"], "name": "Run 1"}).data
    renamed = writer.patch(f"/logs/{log['id']}", {"note": "renamed"}).data

    assert log["created_by"] == str(writer_id)
    assert renamed["updated_by"] == str(writer_id)


def test_roles_openapi_document_is_public(api: ApiClient) -> None:
    response = api.acting_as(None).get("/openapi.json")

    assert response.status == 200
    assert "/apiKeys" in response.json()["paths"]
