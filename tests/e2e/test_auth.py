"""Authentication and roles through the local stack: the same authorizer and checks as on AWS."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from openlqs.auth import format_authorization
from openlqs.client import ClientConfig, LogQS
from openlqs.errors import Forbidden, Unauthorized
from tests.e2e.conftest import LocalStackProcess

pytestmark = pytest.mark.e2e

UNAUTHORIZED_BODY = {
    "message": "[Unauthorized] Missing or invalid credentials. Expected the header Authorization: "
    "Bearer base64(key_id:secret), with an API key of this datastore."
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    process = LocalStackProcess(tmp_path_factory.mktemp("auth") / "openlqs-data")
    process.start()
    yield process
    process.stop()


def client(stack: LocalStackProcess, key_id: str | UUID, secret: str) -> LogQS:
    config = ClientConfig(
        api_url=stack.api_url,
        datastore_id=stack.datastore_id,
        api_key_id=key_id,
        api_key_secret=secret,
        retry_count=0,
        progress=False,
    )
    return LogQS(config)


@pytest.fixture(scope="module")
def admin(stack: LocalStackProcess) -> LogQS:
    return client(stack, stack.api_key_id, stack.api_key_secret)


@pytest.fixture(scope="module")
def keys(admin: LogQS) -> dict[str, tuple[str, str]]:
    """A key of each role: id and secret."""
    made = {}
    for role in ("read", "write", "admin"):
        key = admin.create.api_key(name=f"{role} key", role=role).data
        assert key.secret is not None
        made[role] = (str(key.id), key.secret)
    return made


def call(
    stack: LocalStackProcess, method: str, path: str, authorization: str | None, **kwargs: Any
) -> httpx.Response:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return httpx.request(method, f"{stack.base()}{path}", headers=headers, timeout=30, **kwargs)


def bearer(key: tuple[str, str]) -> str:
    return format_authorization(UUID(key[0]), key[1])


# -- 401: never says which part was wrong ------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic dXNlcjpwYXNz",
        "Bearer !!!",
        format_authorization(UUID(int=1), "a-secret-nobody-has"),
    ],
    ids=["missing", "not-bearer", "not-base64", "unknown-key"],
)
def test_auth_missing_or_malformed_credentials_are_401(
    stack: LocalStackProcess, authorization: str | None
) -> None:
    response = call(stack, "GET", "/groups", authorization)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.json() == UNAUTHORIZED_BODY


def test_auth_wrong_secret_is_the_same_401(
    stack: LocalStackProcess, keys: dict[str, tuple[str, str]]
) -> None:
    key_id, secret = keys["read"]

    response = call(stack, "GET", "/groups", bearer((key_id, secret[::-1])))

    assert (response.status_code, response.json()) == (401, UNAUTHORIZED_BODY)


def test_auth_disabled_then_deleted_key_is_401(stack: LocalStackProcess, admin: LogQS) -> None:
    key = admin.create.api_key(name="short-lived", role="write").data
    assert key.secret is not None
    header = format_authorization(key.id, key.secret)

    admin.update.api_key(key.id, data={"disabled": True})
    disabled = call(stack, "GET", "/groups", header)
    admin.delete.api_key(key.id)
    # A new header spelling of the same credentials: the gateway caches answers per header value.
    deleted = call(stack, "GET", "/groups", header.replace("Bearer ", "bearer "))

    assert (disabled.status_code, disabled.json()) == (401, UNAUTHORIZED_BODY)
    assert (deleted.status_code, deleted.json()) == (401, UNAUTHORIZED_BODY)


def test_auth_revocation_of_a_key_in_the_gateway_cache_is_immediate(
    stack: LocalStackProcess, admin: LogQS
) -> None:
    # Given three write keys, each used just now: their answers are in the authorizer cache (300 s)
    made = [admin.create.api_key(name=f"cached {n}", role="write").data for n in range(3)]
    disabled, deleted, lowered = (format_authorization(key.id, str(key.secret)) for key in made)
    for header in (disabled, deleted, lowered):
        assert call(stack, "POST", "/groups", header, json={"name": f"cached-{uuid4()}"}).status_code == 200

    # When an administrator disables one, deletes one and makes one a read key, each used at once after
    started = time.monotonic()
    admin.update.api_key(made[0].id, data={"disabled": True})
    after_disable = call(stack, "GET", "/groups", disabled)
    admin.delete.api_key(made[1].id)
    after_delete = call(stack, "GET", "/groups", deleted)
    admin.update.api_key(made[2].id, data={"role": "read"})
    after_lowering = call(stack, "POST", "/groups", lowered, json={"name": f"lowered-{uuid4()}"})
    elapsed = time.monotonic() - started

    # Then the very next request with each key gets the new answer, the same header as before
    assert (after_disable.status_code, after_disable.json()) == (401, UNAUTHORIZED_BODY)
    assert (after_delete.status_code, after_delete.json()) == (401, UNAUTHORIZED_BODY)
    assert after_lowering.status_code == 403
    assert after_lowering.json()["message"].startswith("[Forbidden] A read key")
    assert call(stack, "GET", "/groups", lowered).status_code == 200
    # ...within the time of six requests, not the cache's 300 s.
    assert elapsed < 30


def test_auth_api_description_is_public(stack: LocalStackProcess) -> None:
    openapi = call(stack, "GET", "/openapi.json", None)
    docs = call(stack, "GET", "/docs", None)

    assert openapi.status_code == 200
    assert "/apiKeys" in openapi.json()["paths"]
    assert docs.status_code == 200


# -- 403: the role matrix ------------------------------------------------------------------------------


def _attempts(stack: LocalStackProcess, admin: LogQS, header: str) -> dict[str, int]:
    """One request per (verb, resource family), each on fresh resources made by the admin."""
    group = admin.create.group(name=f"g-{uuid4()}").data
    log = admin.create.log(group_id=group.id, name="log").data
    other_log = admin.create.log(group_id=group.id, name="other").data
    empty_group = admin.create.group(name=f"e-{uuid4()}").data
    return {
        "GET groups": call(stack, "GET", "/groups", header).status_code,
        "GET log": call(stack, "GET", f"/logs/{log.id}", header).status_code,
        "POST group": call(stack, "POST", "/groups", header, json={"name": f"n-{uuid4()}"}).status_code,
        "PATCH log": call(stack, "PATCH", f"/logs/{log.id}", header, json={"note": "x"}).status_code,
        "DELETE log": call(stack, "DELETE", f"/logs/{other_log.id}", header).status_code,
        "DELETE group": call(stack, "DELETE", f"/groups/{empty_group.id}", header).status_code,
        "GET apiKeys": call(stack, "GET", "/apiKeys", header).status_code,
        "POST apiKeys": call(stack, "POST", "/apiKeys", header, json={"name": "more"}).status_code,
        "GET objectStores": call(stack, "GET", "/objectStores", header).status_code,
        "POST objectStores": call(
            stack, "POST", "/objectStores", header, json={"bucket_name": "elsewhere", "name": f"s-{uuid4()}"}
        ).status_code,
    }


EXPECTED = {
    "read": {
        "GET groups": 200,
        "GET log": 200,
        "POST group": 403,
        "PATCH log": 403,
        "DELETE log": 403,
        "DELETE group": 403,
        "GET apiKeys": 403,
        "POST apiKeys": 403,
        "GET objectStores": 200,
        "POST objectStores": 403,
    },
    "write": {
        "GET groups": 200,
        "GET log": 200,
        "POST group": 200,
        "PATCH log": 200,
        "DELETE log": 204,
        "DELETE group": 403,
        "GET apiKeys": 403,
        "POST apiKeys": 403,
        "GET objectStores": 200,
        "POST objectStores": 403,
    },
    "admin": {
        "GET groups": 200,
        "GET log": 200,
        "POST group": 200,
        "PATCH log": 200,
        "DELETE log": 204,
        "DELETE group": 204,
        "GET apiKeys": 200,
        "POST apiKeys": 200,
        "GET objectStores": 200,
        "POST objectStores": 200,
    },
}


@pytest.mark.parametrize("role", ["read", "write", "admin"])
def test_auth_role_matrix(
    stack: LocalStackProcess, admin: LogQS, keys: dict[str, tuple[str, str]], role: str
) -> None:
    assert _attempts(stack, admin, bearer(keys[role])) == EXPECTED[role]


def test_auth_forbidden_body_names_the_role(
    stack: LocalStackProcess, keys: dict[str, tuple[str, str]]
) -> None:
    response = call(stack, "POST", "/groups", bearer(keys["read"]), json={"name": "nope"})

    assert response.status_code == 403
    assert response.json()["message"].startswith("[Forbidden] A read key")


def test_auth_resources_record_the_user_of_the_key_that_made_them(
    stack: LocalStackProcess, keys: dict[str, tuple[str, str]], admin: LogQS
) -> None:
    writer = client(stack, *keys["write"])
    user_id = admin.fetch.api_key(keys["write"][0]).data.user_id  # the admin user, who made the key

    group = writer.create.group(name=f"made-{uuid4()}").data
    updated = writer.update.group(group.id, data={"note": "mine"}).data

    assert user_id is not None
    assert group.created_by == user_id
    assert updated.updated_by == user_id


def test_auth_clients_raise_the_matching_errors(
    stack: LocalStackProcess, keys: dict[str, tuple[str, str]]
) -> None:
    reader = client(stack, *keys["read"])
    stranger = client(stack, UUID(int=5), "nope")

    assert reader.list.group().count is not None
    with pytest.raises(Forbidden):
        reader.create.group(name="nope")
    with pytest.raises(Unauthorized):
        stranger.list.group()


def test_auth_list_and_fetch_never_show_a_secret(admin: LogQS, keys: dict[str, tuple[str, str]]) -> None:
    listed = admin.list.api_key(limit=1000).data
    fetched = admin.fetch.api_key(keys["write"][0]).data

    assert listed
    assert all(key.secret is None for key in listed)
    assert fetched.secret is None
    assert fetched.role == "write"


def test_auth_keys_create_command_writes_a_working_key(stack: LocalStackProcess) -> None:
    env = {**os.environ, "OPENLQS_DATA_DIR": str(stack.data_dir)}

    made = subprocess.run(
        [sys.executable, "-m", "openlqs.cli", "keys", "create", "--local", "--name", "ci", "--role", "write"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )

    assert made.returncode == 0, made.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in made.stdout.splitlines())
    header = format_authorization(UUID(exports["LQS_API_KEY_ID"]), exports["LQS_API_KEY_SECRET"])
    assert call(stack, "POST", "/groups", header, json={"name": f"ci-{uuid4()}"}).status_code == 200
    assert call(stack, "GET", "/apiKeys", header).status_code == 403
