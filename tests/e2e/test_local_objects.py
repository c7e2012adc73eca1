"""Log objects through the local stack over plain HTTP: presigned multipart upload and ranged reads."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest

from tests.e2e.conftest import LocalStackProcess

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
PART = 10 * MIB


def test_local_stack_uploads_25_mib_in_10_mib_parts_and_reads_ranges(
    local_stack: LocalStackProcess, http: httpx.Client
) -> None:
    base = local_stack.base()
    data = os.urandom(25 * MIB)
    group = http.post(f"{base}/groups", json={"name": "Uploads"}).json()["data"]
    log = http.post(f"{base}/logs", json={"group_id": group["id"], "name": "Big"}).json()["data"]
    objects = f"{base}/logs/{log['id']}/objects"

    # Given an upload driven exactly as the official client drives it
    assert http.post(objects, json={"key": "big.bag", "content_type": None}).status_code == 200
    assert http.get(f"{objects}/big.bag/parts").json()["data"] == []
    for number, start in enumerate(range(0, len(data), PART), start=1):
        chunk = data[start : start + PART]
        part = http.post(f"{objects}/big.bag/parts", json={"part_number": number, "size": len(chunk)}).json()[
            "data"
        ]
        assert not part["presigned_url"].startswith(local_stack.api_url)  # another origin than the API
        put = httpx.put(part["presigned_url"], content=chunk, timeout=60)
        assert put.status_code == 200
        assert http.get(f"{objects}/big.bag/parts/{number}").json()["data"]["size"] == len(chunk)
    completed = http.patch(f"{objects}/big.bag", json={"upload_state": "complete"}).json()["data"]
    assert completed["size"] == len(data)

    # When it is read back whole and by ranges, through the metadata's presigned URL and the redirect
    url = http.get(f"{objects}/big.bag", params={"redirect": "False"}).json()["data"]["presigned_url"]
    whole = httpx.get(url, timeout=60).content
    first = httpx.get(url, headers={"Range": "bytes=0-11"}).content
    middle = httpx.get(url, headers={"Range": f"bytes={12 * MIB}-{13 * MIB - 1}"}).content
    suffix = httpx.get(url, headers={"Range": "bytes=-1000"}).content
    redirected = http.get(
        f"{objects}/big.bag",
        params={"redirect": "True", "offset": PART - 5, "length": 10},
        headers={"Range": f"bytes={PART - 5}-{PART + 4}"},
        follow_redirects=True,
    )

    # Then every byte is where it belongs
    assert hashlib.sha256(whole).hexdigest() == hashlib.sha256(data).hexdigest()
    assert first == data[:12]
    assert middle == data[12 * MIB : 13 * MIB]
    assert suffix == data[-1000:]
    assert redirected.content == data[PART - 5 : PART + 5]
    assert redirected.headers["content-type"] not in ("application/json", "text/plain")
