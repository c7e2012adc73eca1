"""Empty moto between tests: what a fresh ``mock_aws`` with the template's tables and bucket would hold.

Building the tables (and a KMS key, and boto3 clients) for every test cost ~0.3 s a test; the
integration tier builds them once per module and empties them before each test through moto's
in-process backends, in microseconds for the few items a test writes.
"""

from __future__ import annotations

from collections.abc import Mapping

from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.s3.models import s3_backends

REGION = "us-east-1"


def empty_moto(environment: Mapping[str, str]) -> None:
    """Empty the template's tables and buckets (named in ``environment``) and drop any other table or
    bucket a test made."""
    ours = set(environment.values())
    dynamodb = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]
    for name in list(dynamodb.tables):
        if name not in ours:
            dynamodb.delete_table(name)
            continue
        table = dynamodb.tables[name]
        table.items.clear()
        if table.stream_shard is not None:
            table.stream_shard.items.clear()
    s3 = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    for name in list(s3.buckets):
        bucket = s3.buckets[name]
        bucket.keys.clear()
        bucket.multiparts.clear()
        if name not in ours:
            s3.delete_bucket(name)
