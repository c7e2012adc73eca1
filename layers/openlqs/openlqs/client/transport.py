"""HTTP for the client: URLs, the LogQS credential header, retries with back-off, errors.

Errors come back as the server's own vocabulary (``openlqs.errors``): the bracketed name of a LogQS
message (``[NotFound] ...``) picks the class, the status code when the name is unknown. Every raised
error carries ``status`` (the HTTP status) as well.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from enum import Enum
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx
from pydantic_core import to_jsonable_python

from openlqs import errors
from openlqs.auth import format_authorization
from openlqs.client.config import ClientConfig
from openlqs.client.errors import ApiUnreachable

#: Statuses that mean the request was not processed: any method may be sent again.
_RETRY_ANY_METHOD = frozenset({429, 503})
#: Statuses worth a retry for requests that are safe to repeat.
_RETRY_IDEMPOTENT = frozenset({500, 502, 504})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
#: "[Errno 111] " before an OS error's text.
_ERRNO = re.compile(r"\[Errno -?\d+\]\s*")


def _error_classes() -> dict[str, type[errors.OpenLQSError]]:
    found: dict[str, type[errors.OpenLQSError]] = {}
    pending: list[type[errors.OpenLQSError]] = [errors.OpenLQSError]
    while pending:
        cls = pending.pop()
        found[cls.name()] = cls
        pending.extend(cls.__subclasses__())
    return found


_ERRORS_BY_NAME = _error_classes()
_ERRORS_BY_STATUS: dict[int, type[errors.OpenLQSError]] = {
    400: errors.BadRequest,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.ContentTooLarge,
    423: errors.Locked,
    429: errors.TooManyRequests,
}


def error_from_response(response: httpx.Response) -> errors.OpenLQSError:
    """The ``openlqs.errors`` exception a failed response stands for."""
    try:
        body = response.json()
        message = str(body.get("message", body)) if isinstance(body, dict) else str(body)
    except ValueError:
        message = response.text or response.reason_phrase
    name, detail = "", message
    if message.startswith("[") and "]" in message:
        name, _, detail = message[1:].partition("]")
        detail = detail.strip()
    cls = _ERRORS_BY_NAME.get(name)
    if cls is None or cls is errors.OpenLQSError:
        cls = _ERRORS_BY_STATUS.get(response.status_code)
    if cls is None:
        cls = errors.InternalServerError if response.status_code >= 500 else errors.BadRequest
    error = cls(detail)
    error.status = response.status_code  # type: ignore[attr-defined]
    return error


def query_params(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Query parameters as LogQS expects them: lists repeat the key, dicts are JSON, None is left out."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        values = value if isinstance(value, list | tuple | set | frozenset) else [value]
        pairs.extend((key, _param_text(item)) for item in values)
    return pairs


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return json.dumps(to_jsonable_python(value))
    return str(value)


def quote_key(object_key: str) -> str:
    """An object key as a path: ``/`` kept, everything else that is not URL-safe percent-encoded."""
    return quote(object_key, safe="/")


class Transport:
    """One HTTP connection pool for one client, shared by its threads (httpx clients are thread-safe)."""

    def __init__(self, config: ClientConfig, http: httpx.Client | None = None) -> None:
        self.config = config
        self._http = http or httpx.Client(timeout=config.api_request_timeout)
        self._sleep = time.sleep

    def close(self) -> None:
        self._http.close()

    @property
    def base_url(self) -> str:
        datastore = f"/{self.config.datastore_id}" if self.config.datastore_id else ""
        return f"{self.config.api_url}{self.config.api_endpoint_prefix}/lqs{datastore}/api"

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.config.api_key_id is not None and self.config.api_key_secret is not None:
            headers["Authorization"] = format_authorization(
                self.config.api_key_id, self.config.api_key_secret
            )
        headers.update(self.config.additional_headers)
        return headers

    def api(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        allow_redirect_status: bool = False,
    ) -> httpx.Response:
        """Call the API; a failure (after retries) raises the matching ``openlqs.errors`` exception."""
        response = self.send(
            method,
            f"{self.base_url}/{path}",
            params=query_params(params or {}),
            json=None if body is None else to_jsonable_python(body),
            headers=self.headers(),
        )
        if response.is_success or (allow_redirect_status and response.is_redirect):
            return response
        raise error_from_response(response)

    def send(self, method: str, url: str, retry_count: int | None = None, **kwargs: Any) -> httpx.Response:
        """One request with retries: connection failures, throttling and, when safe, server errors.

        ``retry_count`` overrides the configured count (0: the caller retries in its own way). A
        request that cannot be sent, or gets no answer, raises ``ApiUnreachable`` naming the URL.
        """
        retries = self.config.retry_count if retry_count is None else retry_count
        attempt = 0
        while True:
            try:
                response = self._http.request(method, url, **kwargs)
            except httpx.TransportError as error:
                unsent = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
                if attempt >= retries or not (unsent or method in _IDEMPOTENT_METHODS):
                    raise self.unreachable(url, error) from error
            else:
                retryable = response.status_code in _RETRY_ANY_METHOD or (
                    method in _IDEMPOTENT_METHODS and response.status_code in _RETRY_IDEMPOTENT
                )
                if attempt >= retries or not retryable:
                    return response
            self.pause(attempt)
            attempt += 1

    @contextmanager
    def stream(self, method: str, url: str) -> Iterator[httpx.Response]:
        """A streamed response from ``url`` (a presigned URL: no API headers), read as it arrives."""
        try:
            with self._http.stream(method, url) as response:
                yield response
        except httpx.TransportError as error:
            raise self.unreachable(url, error) from error

    def unreachable(self, url: str, error: httpx.TransportError) -> ApiUnreachable:
        """The error for a request to ``url`` that failed with ``error``: which URL, why, what to check."""
        reason = _ERRNO.sub("", str(error)).strip() or type(error).__name__
        if isinstance(error, httpx.TimeoutException) and not isinstance(error, httpx.ConnectTimeout):
            reason = f"no answer within {self.config.api_request_timeout:g} s"
        if url.startswith(self.config.api_url):
            return ApiUnreachable(
                f"Cannot reach the API at {self.config.api_url} ({reason}). {self.config.describe_api_url()}"
            )
        target = httpx.URL(url)
        origin = f"{target.scheme}://{target.host}" + (f":{target.port}" if target.port else "")
        return ApiUnreachable(
            f"Cannot reach the storage at {origin} ({reason}), where a presigned URL from the API points. "
            "For a local stack that is its S3 endpoint (OPENLQS_S3_ENDPOINT): check that `make local` "
            "still runs."
        )

    def pause(self, attempt: int) -> None:
        """Wait before retry number ``attempt + 1``."""
        self._sleep(self._backoff(attempt))

    def _backoff(self, attempt: int) -> float:
        """Exponential back-off with full jitter (the AWS SDKs' strategy)."""
        ceiling = min(self.config.retry_max_delay, self.config.retry_delay * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)
