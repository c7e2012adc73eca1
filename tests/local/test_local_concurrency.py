"""The local stack answers many clients at once, as API Gateway and Lambda do: no resets, no mix-ups."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import httpx
import pytest

from openlqs.auth import format_authorization
from openlqs.local import LocalStack
from tests.support.paths import PROJECT_DIR
from tests.support.stack_api import StackApi

CLIENTS = 16


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackApi]:
    data_dir = tmp_path_factory.mktemp("concurrency") / "data"
    with LocalStack(port=0, moto_port=0, data_dir=data_dir, project_dir=PROJECT_DIR) as stack:
        client = StackApi(stack)
        yield client
        client.close()


def _as(api: StackApi, key: dict[str, Any]) -> httpx.Client:
    return httpx.Client(
        timeout=60, headers={"Authorization": format_authorization(UUID(key["id"]), key["secret"])}
    )


def test_local_concurrent_requests_each_act_as_their_own_key(api: StackApi) -> None:
    users = [api.data("POST", "/users", json={"username": f"writer {i}"}) for i in range(4)]
    keys = [
        api.data("POST", "/apiKeys", json={"name": f"writer {i}", "role": "write", "user_id": user["id"]})
        for i, user in enumerate(users)
    ]
    clients = [_as(api, key) for key in keys]

    def create(i: int) -> tuple[int, str, str, dict[str, Any]]:
        key = keys[i % len(keys)]
        response = clients[i % len(clients)].post(f"{api.base}/groups", json={"name": f"group {i}"})
        return response.status_code, key["user_id"], f"group {i}", response.json().get("data") or {}

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(create, range(4 * CLIENTS)))

    # Then every request was answered as its own: its body, its key's user
    assert [status for status, _, _, _ in results] == [200] * len(results), results
    assert all(group["name"] == name for _, _, name, group in results)
    assert all(group["created_by"] == key_id for _, key_id, _, group in results)
    for client in clients:
        client.close()


def test_local_concurrent_creates_of_one_name_have_one_winner(api: StackApi) -> None:
    def create(_: int) -> int:
        return api.request("POST", "/groups", json={"name": "contested"}).status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(create, range(20)))

    assert sorted(statuses) == [200] + [409] * 19
    assert len(api.items("/groups", name="contested")) == 1


def test_local_burst_of_connections_is_accepted(api: StackApi) -> None:
    # 50 clients connecting at once (the listen backlog of 5 reset half of them)
    def fetch(_: int) -> int:
        with httpx.Client(timeout=60, headers=dict(api.http.headers)) as client:
            return client.get(f"{api.base}/groups", params={"limit": 1}).status_code

    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(fetch, range(50)))

    assert statuses == [200] * 50
