"""moto's GetObject with a Range, as the local stack runs it: S3's answers, without reading the rest.

moto 5.2 answers a ranged GET by copying the whole object out of its buffer and slicing the range
from the copy (local/moto_fence.py). The fence reads only the range; every answer must stay S3's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.s3.models import FakeKey

from openlqs.local.moto_fence import install_ranged_reads

BUCKET = "objects"
BODY = bytes(range(256)) * 40  # 10,240 bytes


@pytest.fixture
def s3(aws_credentials: None) -> Iterator[Any]:
    install_ranged_reads()
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key="blob", Body=BODY)
        yield client


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=100-4195", 100, 4195),
        ("bytes=10000-", 10000, 10239),
        ("bytes=10000-99999", 10000, 10239),
        ("bytes=10239-10239", 10239, 10239),
        ("bytes=-16", 10224, 10239),
    ],
)
def test_a_ranged_get_answers_as_s3_does(s3: Any, header: str, first: int, last: int) -> None:
    answer = s3.get_object(Bucket=BUCKET, Key="blob", Range=header)

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert answer["Body"].read() == BODY[first : last + 1]
    assert answer["ContentLength"] == last + 1 - first
    assert answer["ContentRange"] == f"bytes {first}-{last}/{len(BODY)}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=7-3", "bytes=x-y"])
def test_a_range_s3_does_not_serve_gets_the_whole_object(s3: Any, header: str) -> None:
    answer = s3.get_object(Bucket=BUCKET, Key="blob", Range=header)

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["Body"].read() == BODY


def test_a_range_past_the_end_is_refused_and_a_missing_key_is_not_found(s3: Any) -> None:
    with pytest.raises(ClientError) as past:
        s3.get_object(Bucket=BUCKET, Key="blob", Range=f"bytes={len(BODY)}-{len(BODY) + 10}")
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=BUCKET, Key="nothing", Range="bytes=0-9")

    assert past.value.response["Error"]["Code"] == "InvalidRange"
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"


def test_a_ranged_get_reads_only_its_range_and_a_whole_get_reads_everything(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole_reads: list[int] = []
    value: property = FakeKey.value  # type: ignore[assignment]

    def counted(key: Any) -> Any:
        data = value.__get__(key)
        if isinstance(data, bytes):
            whole_reads.append(len(data))
        return data

    monkeypatch.setattr(FakeKey, "value", property(counted, value.fset))

    ranged = s3.get_object(Bucket=BUCKET, Key="blob", Range="bytes=20-29")["Body"].read()
    assert (ranged, whole_reads) == (BODY[20:30], [])
    whole = s3.get_object(Bucket=BUCKET, Key="blob")["Body"].read()
    assert (whole, whole_reads) == (BODY, [len(BODY)])
