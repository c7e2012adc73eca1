"""S3BlobStore turns S3's answers that are the caller's doing into domain errors (fakes, no network)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from openlqs.adapters.objects import S3BlobStore
from openlqs.errors import BadRequest, Forbidden, NotFound


class RefusingS3:
    """An S3 client whose every call fails with one error code."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.calls.append(name)
            raise ClientError({"Error": {"Code": self.code, "Message": "refused"}}, name)

        return call


def _store(code: str) -> tuple[S3BlobStore, RefusingS3]:
    client = RefusingS3(code)
    return S3BlobStore("fleet-bucket", lambda: client), client


def _list(store: S3BlobStore, token: str | None = None) -> Any:
    return store.list_objects(
        prefix="", delimiter=None, start_after=None, continuation_token=token, max_keys=10
    )


def test_s3_blob_store_missing_bucket_is_not_found_naming_it() -> None:
    store, _ = _store("NoSuchBucket")

    with pytest.raises(NotFound, match="Bucket 'fleet-bucket' does not exist"):
        store.create_upload("run.bag", None)


@pytest.mark.parametrize("code", ["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"])
def test_s3_blob_store_refused_credentials_are_forbidden(code: str) -> None:
    store, _ = _store(code)

    with pytest.raises(Forbidden, match=f"refused access \\({code}\\)"):
        store.head("run.bag")


def test_s3_blob_store_token_s3_did_not_issue_is_a_bad_request() -> None:
    store, client = _store("InvalidArgument")

    with pytest.raises(BadRequest, match="continuation_token is not a token this listing issued"):
        _list(store, "made-up")
    assert client.calls == ["list_objects_v2"]


def test_s3_blob_store_other_errors_reach_the_caller_unchanged() -> None:
    store, _ = _store("InternalError")

    with pytest.raises(ClientError):
        _list(store)


def test_s3_blob_store_missing_key_is_still_none() -> None:
    store, _ = _store("NoSuchKey")

    assert store.head("run.bag") is None


def test_s3_blob_store_read_of_a_missing_object_is_not_found() -> None:
    store, _ = _store("NoSuchKey")

    with pytest.raises(NotFound, match=r"Object 'run\.bag' not found"):
        store.read("run.bag", 0, 9)


def test_s3_blob_store_read_starting_past_the_end_is_empty() -> None:
    # S3 answers 416 InvalidRange; a range that only ends past the end gives the bytes there are
    store, client = _store("InvalidRange")

    assert store.read("run.bag", 1000, 1009) == b""
    assert client.calls == ["get_object"]
