"""The LogQS API of a running local stack, over real HTTP with its admin key: what a user does."""

from __future__ import annotations

import time
from typing import Any

import httpx

from openlqs.auth import format_authorization
from openlqs.local import LocalStack

#: Generous upper bound for an ingestion to end, so a slow machine does not hang the suite.
INGESTION_LIMIT_S = 120


class StackApi:
    """httpx against ``stack``'s API, the admin key on every request to it (never on presigned URLs)."""

    def __init__(self, stack: LocalStack, timeout_s: float = 60) -> None:
        assert stack.admin_key is not None
        self._open(
            f"{stack.api_url}/apps/lqs/{stack.datastore_id}/api",
            format_authorization(stack.admin_key.key_id, stack.admin_key.secret),
            timeout_s,
        )

    @classmethod
    def at(cls, base: str, authorization: str, timeout_s: float = 60) -> StackApi:
        """The API of a stack running in another process: ``base`` is its ``.../api`` URL."""
        api = cls.__new__(cls)
        api._open(base, authorization, timeout_s)
        return api

    def _open(self, base: str, authorization: str, timeout_s: float) -> None:
        self.base = base
        self.http = httpx.Client(timeout=timeout_s, headers={"Authorization": authorization})

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, f"{self.base}{path}", **kwargs)

    def data(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """The ``data`` of a 200 answer (anything else fails the test with the answer)."""
        response = self.request(method, path, **kwargs)
        assert response.status_code == 200, (method, path, response.status_code, response.text)
        data: dict[str, Any] = response.json()["data"]
        return data

    def items(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """The ``data`` of a list (one page of up to 1,000)."""
        response = self.request("GET", path, params={"limit": 1000, **params})
        assert response.status_code == 200, (path, response.status_code, response.text)
        items: list[dict[str, Any]] = response.json()["data"]
        return items

    def group_and_log(self, group: str, log: str) -> tuple[dict[str, Any], dict[str, Any]]:
        created = self.data("POST", "/groups", json={"name": group})
        return created, self.data("POST", "/logs", json={"group_id": created["id"], "name": log})

    def upload(self, log_id: str, key: str, body: bytes) -> None:
        """Upload a log object as the client does: create, one presigned part, complete."""
        objects = f"/logs/{log_id}/objects"
        self.data("POST", objects, json={"key": key})
        part = self.data("POST", f"{objects}/{key}/parts", json={"part_number": 1, "size": len(body)})
        assert httpx.put(part["presigned_url"], content=body, timeout=60).status_code == 200
        self.data("PATCH", f"{objects}/{key}", json={"upload_state": "complete"})

    def queue(self, log_id: str, key: str) -> dict[str, Any]:
        return self.data("POST", "/ingestions", json={"log_id": log_id, "object_key": key, "state": "queued"})

    def wait(self, ingestion_id: str, limit_s: float = INGESTION_LIMIT_S) -> dict[str, Any]:
        """The ingestion once it is completed or failed; fails the test when it is still running."""
        deadline = time.monotonic() + limit_s
        ingestion = self.data("GET", f"/ingestions/{ingestion_id}")
        while ingestion["state"] not in ("completed", "failed", "cancelled") and time.monotonic() < deadline:
            time.sleep(0.1)
            ingestion = self.data("GET", f"/ingestions/{ingestion_id}")
        assert ingestion["state"] in ("completed", "failed", "cancelled"), (
            f"ingestion {ingestion_id} still {ingestion['state']} after {limit_s} s"
        )
        return ingestion

    def ingest(self, log_id: str, key: str, body: bytes) -> dict[str, Any]:
        """Upload, queue and wait: the finished ingestion."""
        self.upload(log_id, key, body)
        return self.wait(self.queue(log_id, key)["id"])
