"""Drive ApiFunction's handler in-process with real-shaped API Gateway proxy events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from openlqs.local.apigateway import build_proxy_event, proxy_response_parts
from openlqs.local.functions import InProcessFunction


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
    """Calls the handler as API Gateway would, under ``base`` (``/apps/lqs/{datastore}/api``)."""

    def __init__(self, function: InProcessFunction, base: str) -> None:
        self.function = function
        self.base = base

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
        event = build_proxy_event(method, target, list(all_headers.items()), body)
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
