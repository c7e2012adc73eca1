"""``lqs.fetch.log_object(..., redirect=True)``: the API's redirect, then a ranged read of the storage."""

from __future__ import annotations

import re
from uuid import UUID

import httpx
import pytest

from tests.support.client import BASE
from tests.support.client import offline_client as client_over

STORAGE = "http://storage.test/bucket/demo.bag"
LOG_ID = UUID("1a1a1a1a-1111-2222-3333-444444444444")
CONTENT = bytes(range(100))


class RedirectingApi:
    """The API redirects to the storage, which honours ``Range`` as S3 does (206), unless told not to."""

    def __init__(self, honour_range: bool = True) -> None:
        self.honour_range = honour_range
        self.storage_requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url).startswith(BASE):
            assert request.url.params["redirect"] == "true"
            return httpx.Response(302, headers={"Location": STORAGE})
        self.storage_requests.append(request)
        wanted = request.headers.get("Range")
        if wanted is None or not self.honour_range:
            return httpx.Response(200, content=CONTENT)
        suffix = re.fullmatch(r"bytes=-(\d+)", wanted)
        if suffix:
            return httpx.Response(206, content=CONTENT[-int(suffix.group(1)) :])
        bounded = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted)
        if bounded is None:
            return httpx.Response(200, content=CONTENT)  # S3 ignores a malformed Range
        start, end = int(bounded.group(1)), int(bounded.group(2) or len(CONTENT) - 1)
        if end < start:
            return httpx.Response(200, content=CONTENT)  # so does S3 an unsatisfiable one
        return httpx.Response(206, content=CONTENT[start : end + 1])


def _read(api: RedirectingApi, offset: int | None = None, length: int | None = None) -> bytes:
    data = client_over(api).fetch.log_object("demo.bag", LOG_ID, redirect=True, offset=offset, length=length)
    assert isinstance(data, bytes)
    return data


@pytest.mark.parametrize(
    ("offset", "length", "range_header"),
    [(0, 12, "bytes=0-11"), (40, None, "bytes=40-"), (-10, None, "bytes=-10"), (None, 5, "bytes=0-4")],
)
def test_fetch_log_object_sends_the_range_to_the_storage(
    offset: int | None, length: int | None, range_header: str
) -> None:
    api = RedirectingApi()

    _read(api, offset, length)

    assert api.storage_requests[0].headers["Range"] == range_header
    assert "Authorization" not in api.storage_requests[0].headers


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [
        (0, 12, CONTENT[:12]),
        (90, None, CONTENT[90:]),
        (-10, None, CONTENT[-10:]),
        (-10, 4, CONTENT[-10:-6]),
        (-3, 10, CONTENT[-3:]),
        (7, 0, b""),
        (None, None, CONTENT),
    ],
    ids=["head", "from-offset", "suffix", "suffix-bounded", "suffix-past-end", "empty", "whole"],
)
@pytest.mark.parametrize("honour_range", [True, False], ids=["storage-ranges", "storage-sends-all"])
def test_fetch_log_object_returns_exactly_the_window(
    offset: int | None, length: int | None, expected: bytes, honour_range: bool
) -> None:
    assert _read(RedirectingApi(honour_range), offset, length) == expected


@pytest.mark.parametrize(
    ("offset", "length", "expected"), [(-3, 10, CONTENT[-3:]), (5, 0, b"")], ids=["suffix", "empty"]
)
def test_fetch_log_object_served_by_the_api_itself_is_sliced(
    offset: int, length: int, expected: bytes
) -> None:
    # A server may answer the redirect request with the bytes themselves (200 holding the object).
    lqs = client_over(lambda request: httpx.Response(200, content=CONTENT))

    assert lqs.fetch.log_object("demo.bag", LOG_ID, redirect=True, offset=offset, length=length) == expected
