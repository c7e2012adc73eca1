"""The openlqs client over an in-memory HTTP handler (``httpx.MockTransport``): no network, no environment.

``offline_client`` builds a ``LogQS`` from an explicit ``ClientConfig`` (so neither ``LQS_*`` variables nor
a ``logqs-config.json`` leak in) whose retries do not sleep. ``ScriptedApi`` answers requests with a
script and keeps them, so a test can say what was sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx

from openlqs.client import ClientConfig, LogQS

API_URL = "http://lqs.test"
DATASTORE_ID = UUID("724d8379-9220-44b6-a921-6c988c850f13")
BASE = f"{API_URL}/apps/lqs/{DATASTORE_ID}/api"
CREATED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

Handler = Callable[[httpx.Request], httpx.Response]


def offline_client(handler: Handler, **settings: Any) -> LogQS:
    """A client for ``BASE`` whose every request goes to ``handler``."""
    values: dict[str, Any] = {
        "api_url": API_URL,
        "datastore_id": DATASTORE_ID,
        "retry_delay": 0,
        "progress": False,
    }
    config = ClientConfig(**(values | settings))
    return LogQS(config, http_client=httpx.Client(transport=httpx.MockTransport(handler)))


class ScriptedApi:
    """Answers the n-th request with the n-th scripted answer (an exception is raised instead)."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.answers:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def calls(self) -> list[tuple[str, str]]:
        """``(method, path)`` of every request, the path relative to ``BASE``."""
        return [(r.method, str(r.url.copy_with(query=None)).removeprefix(BASE)) for r in self.requests]


def data(resource: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"data": resource})


def page(*resources: dict[str, Any], offset: int = 0, limit: int = 100) -> httpx.Response:
    body = {"offset": offset, "limit": limit, "order": "created_at", "sort": "ASC", "count": None}
    return httpx.Response(200, json=body | {"data": list(resources)})


def error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"message": message})


def group_json(group_id: UUID, name: str = "Demo Group", **fields: Any) -> dict[str, Any]:
    return {"id": str(group_id), "created_at": CREATED_AT.isoformat(), "name": name, **fields}
