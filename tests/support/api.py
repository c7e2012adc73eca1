"""Drive ApiFunction's handler in-process with real-shaped API Gateway proxy events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from openlqs.local.apigateway import DEFAULT_STAGE, LOCAL_API_ID, build_proxy_event, proxy_response_parts
from openlqs.local.functions import InProcessFunction

#: The key the in-process API Gateway "authorizer" vouches for unless a test says otherwise.
ADMIN_KEY_ID = UUID("adadadad-0000-4000-8000-000000000001")


def authorizer_context(key_id: UUID, role: str) -> dict[str, Any]:
    """What API Gateway puts in ``requestContext.authorizer`` after our authorizer allowed a key."""
    return {"principalId": str(key_id), "keyId": str(key_id), "role": role, "integrationLatency": 1}


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def data(self) -> Any:
        return self.json()["data"]

    @property
    def message(self) -> str:
        return str(self.json()["message"])


class ApiClient:
    """Calls the handler as API Gateway would, under ``base`` (``/apps/lqs/{datastore}/api``), through
    the stage ``stage`` of the REST API ``api_id`` (``requestContext``)."""

    def __init__(
        self,
        function: InProcessFunction,
        base: str,
        *,
        key_id: UUID | None = ADMIN_KEY_ID,
        role: str = "admin",
        api_id: str = LOCAL_API_ID,
        stage: str = DEFAULT_STAGE,
    ) -> None:
        self.function = function
        self.base = base
        self.key_id = key_id
        self.role = role
        self.api_id = api_id
        self.stage = stage
        #: The authorizer's own answer context, when the client stands for a real key (``authorized_by``).
        self.authorizer: dict[str, Any] | None = None

    def authorized_by(self, answer: dict[str, Any]) -> ApiClient:
        """The same API called with what the authorizer answered for a real key (its ``context``)."""
        client = ApiClient(self.function, self.base, api_id=self.api_id, stage=self.stage)
        client.authorizer = {"principalId": answer["principalId"], **answer["context"]}
        return client

    def acting_as(self, role: str | None, key_id: UUID | None = None) -> ApiClient:
        """The same API called with another role (None: as if no authorizer had run)."""
        stage = {"api_id": self.api_id, "stage": self.stage}
        if role is None:
            return ApiClient(self.function, self.base, key_id=None, **stage)
        key_id = key_id or UUID(int=hash(role) % 2**64)
        return ApiClient(self.function, self.base, key_id=key_id, role=role, **stage)

    def through(self, api_id: str, stage: str) -> ApiClient:
        """The same API and key, called through another REST API id and stage."""
        return ApiClient(
            self.function, self.base, key_id=self.key_id, role=self.role, api_id=api_id, stage=stage
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        json_body: Any = None,
        raw_body: bytes | None = None,
        headers: dict[str, str] | None = None,
        absolute: bool = False,
    ) -> ApiResponse:
        target = path if absolute else self.base + path
        if params:
            target += "?" + urlencode(params, doseq=True)
        body = (
            raw_body
            if raw_body is not None
            else (None if json_body is None else json.dumps(json_body).encode())
        )
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        event = build_proxy_event(
            method, target, list(all_headers.items()), body, api_id=self.api_id, stage=self.stage
        )
        if self.authorizer is not None:
            event["requestContext"]["authorizer"] = dict(self.authorizer)
        elif self.key_id is not None:
            event["requestContext"]["authorizer"] = authorizer_context(self.key_id, self.role)
        status, response_headers, response_body = proxy_response_parts(self.function.invoke(event))
        return ApiResponse(status, {k.lower(): v for k, v in response_headers}, response_body)

    def get(self, path: str, **kwargs: Any) -> ApiResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json_body: Any = None, **kwargs: Any) -> ApiResponse:
        return self.request("POST", path, json_body=json_body, **kwargs)

    def patch(self, path: str, json_body: Any = None, **kwargs: Any) -> ApiResponse:
        return self.request("PATCH", path, json_body=json_body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> ApiResponse:
        return self.request("DELETE", path, **kwargs)
