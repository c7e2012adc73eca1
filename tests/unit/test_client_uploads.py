"""``lqs.utils.upload_log_object`` against a fake multipart upload: planning, resuming, refusing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from uuid import UUID

import httpx
import pytest

from openlqs.client.uploads import MIN_PART_SIZE
from openlqs.errors import Conflict, Forbidden
from tests.support.client import BASE, data
from tests.support.client import offline_client as client_over

LOG_ID = UUID("1a1a1a1a-1111-2222-3333-444444444444")
STORAGE = "http://storage.test/part"
PART = MIN_PART_SIZE


class FakeMultipartUpload:
    """One log's objects: the API routes of a multipart upload, and the storage parts are PUT to."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.parts: dict[str, dict[int, bytes]] = {}
        self.put_numbers: list[int] = []
        self.methods: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url.copy_with(query=None))
        if url.startswith(STORAGE):
            key, number = request.url.params["key"], int(request.url.params["part"])
            self.put_numbers.append(number)
            self.parts[key][number] = request.content
            return httpx.Response(200)
        self.methods.append(request.method)
        path = unquote(url.removeprefix(f"{BASE}/logs/{LOG_ID}/objects"))
        if path == "" and request.method == "POST":
            key = json.loads(request.content)["key"]
            self.states[key], self.parts[key] = "processing", {}
            return data(self._object(key))
        key = path.removeprefix("/").partition("/parts")[0]
        if key not in self.states:
            return httpx.Response(404, json={"message": f"[NotFound] No object {key}."})
        if "/parts" not in path and request.method == "GET":
            return data(self._object(key))
        if "/parts" not in path and request.method == "PATCH":
            self.states[key] = json.loads(request.content)["upload_state"]
            return data(self._object(key))
        if request.method == "POST":
            number = json.loads(request.content)["part_number"]
            url = f"{STORAGE}?key={key}&part={number}"
            return data(self._part(number, b"") | {"presigned_url": url})
        if self.states[key] != "processing":
            return httpx.Response(404, json={"message": "[NotFound] The upload is over."})
        parts = [self._part(number, body) for number, body in sorted(self.parts[key].items())]
        body = {"part_number_marker": None, "next_part_number_marker": None, "max_parts": 1000}
        return httpx.Response(200, json=body | {"is_truncated": False, "data": parts})

    def _object(self, key: str) -> dict[str, Any]:
        size = sum(len(body) for body in self.parts[key].values())
        return {"key": key, "upload_state": self.states[key], "size": size}

    @staticmethod
    def _part(number: int, body: bytes) -> dict[str, Any]:
        part = {"part_number": number, "etag": f"e{number}", "size": len(body)}
        return part | {"last_modified": None, "presigned_url": None}

    def content(self, key: str) -> bytes:
        return b"".join(body for _, body in sorted(self.parts[key].items()))


@pytest.fixture
def file_of_2_5_parts(tmp_path: Path) -> Path:
    path = tmp_path / "run.bag"
    path.write_bytes(bytes(range(256)) * ((2 * PART + PART // 2) // 256))
    return path


def test_upload_log_object_sends_every_part_and_completes(file_of_2_5_parts: Path) -> None:
    fake = FakeMultipartUpload()

    obj, parts = client_over(fake).utils.upload_log_object(
        LOG_ID, str(file_of_2_5_parts), object_key="runs/a b.bag", part_size=PART
    )

    assert sorted(fake.put_numbers) == [1, 2, 3]
    assert [(p.part_number, p.size) for p in parts] == [(1, PART), (2, PART), (3, PART // 2)]
    assert fake.content("runs/a b.bag") == file_of_2_5_parts.read_bytes()
    assert (obj.upload_state, fake.methods[-1]) == ("complete", "PATCH")


def test_upload_log_object_names_the_object_after_the_file(file_of_2_5_parts: Path) -> None:
    fake = FakeMultipartUpload()

    client_over(fake).utils.upload_log_object(LOG_ID, str(file_of_2_5_parts), part_size=PART)

    assert list(fake.states) == ["run.bag"]


def test_upload_log_object_continue_upload_resends_missing_and_wrong_sized_parts(
    file_of_2_5_parts: Path,
) -> None:
    content = file_of_2_5_parts.read_bytes()
    fake = FakeMultipartUpload()
    fake.states["run.bag"] = "processing"
    fake.parts["run.bag"] = {1: content[:PART], 2: content[PART : PART + 10]}  # part 2 was cut short

    client_over(fake).utils.upload_log_object(
        LOG_ID, str(file_of_2_5_parts), part_size=PART, continue_upload=True
    )

    assert sorted(fake.put_numbers) == [2, 3]
    assert fake.content("run.bag") == content


def test_upload_log_object_refuses_an_interrupted_upload_without_continue(file_of_2_5_parts: Path) -> None:
    fake = FakeMultipartUpload()
    fake.states["run.bag"], fake.parts["run.bag"] = "processing", {}

    with pytest.raises(Conflict, match="continue_upload=True"):
        client_over(fake).utils.upload_log_object(LOG_ID, str(file_of_2_5_parts), part_size=PART)

    assert fake.put_numbers == []


def test_upload_log_object_skip_if_exists_returns_the_complete_object(file_of_2_5_parts: Path) -> None:
    fake = FakeMultipartUpload()
    fake.states["run.bag"], fake.parts["run.bag"] = "complete", {1: b"old"}

    obj, parts = client_over(fake).utils.upload_log_object(
        LOG_ID, str(file_of_2_5_parts), part_size=PART, skip_if_exists=True
    )

    assert (obj.upload_state, obj.size, parts) == ("complete", 3, [])
    assert set(fake.methods) == {"GET"}


def test_upload_log_object_over_a_complete_object_is_a_conflict(file_of_2_5_parts: Path) -> None:
    fake = FakeMultipartUpload()
    fake.states["run.bag"], fake.parts["run.bag"] = "complete", {1: b"old"}

    with pytest.raises(Conflict, match="skip_if_exists=True"):
        client_over(fake).utils.upload_log_object(LOG_ID, str(file_of_2_5_parts), part_size=PART)

    assert fake.content("run.bag") == b"old"


def test_upload_log_object_refuses_parts_smaller_than_s3_allows(file_of_2_5_parts: Path) -> None:
    fake = FakeMultipartUpload()

    with pytest.raises(ValueError, match="part_size must be at least"):
        client_over(fake).utils.upload_log_object(LOG_ID, str(file_of_2_5_parts), part_size=PART - 1)

    assert fake.methods == []


class FlakyStorage(FakeMultipartUpload):
    """Storage that answers the first ``failures`` part PUTs with a 403 (an expired URL)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.part_urls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url).startswith(STORAGE):
            if self.failures > 0:
                self.failures -= 1
                self.put_numbers.append(-1)
                return httpx.Response(403, text="Request has expired")
        elif request.method == "POST" and "/parts" in str(request.url):
            self.part_urls += 1
        return super().__call__(request)


def test_upload_log_object_retries_a_failed_part_with_a_fresh_url(tmp_path: Path) -> None:
    path = tmp_path / "small.bag"
    path.write_bytes(b"x" * 100)
    fake = FlakyStorage(failures=2)

    client_over(fake, retry_count=2).utils.upload_log_object(LOG_ID, str(path))

    assert fake.put_numbers == [-1, -1, 1]
    assert fake.part_urls == 3
    assert fake.content("small.bag") == b"x" * 100


def test_upload_log_object_gives_up_after_retry_count_attempts(tmp_path: Path) -> None:
    path = tmp_path / "small.bag"
    path.write_bytes(b"x" * 100)
    fake = FlakyStorage(failures=100)

    with pytest.raises(Forbidden):
        client_over(fake, retry_count=2).utils.upload_log_object(LOG_ID, str(path))

    assert fake.put_numbers == [-1, -1, -1]
    assert fake.states["small.bag"] == "processing"
