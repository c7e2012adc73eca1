"""Empty moto between tests: what a fresh ``mock_aws`` with the template's tables and bucket would hold.

Building the tables (and a KMS key, and boto3 clients) for every test cost ~0.3 s a test; the
integration tier builds them once per module and empties them before each test through moto's
in-process backends, in microseconds for the few items a test writes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.responses import DynamoHandler
from moto.s3.models import s3_backends
from moto.sqs.models import sqs_backends

REGION = "us-east-1"


def empty_moto(environment: Mapping[str, str]) -> None:
    """Empty the template's tables and buckets (named in ``environment``), drop any other table or bucket a
    test made, and empty every queue."""
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
    # Queues keep their attributes (a module creates them once); their messages go, as a purge would
    # (SQS allows one PurgeQueue a minute).
    for queue in sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues.values():
        queue._messages = []
        queue._pending_messages = set()


@contextmanager
def atomic_dynamodb_requests() -> Iterator[None]:
    """DynamoDB applies each request (a conditional write, a transaction) atomically; moto's in-process
    backend does not (a transaction checks its conditions, copies the table and writes, while other
    threads write too). Tests of concurrent writers run moto's DynamoDB requests one at a time meanwhile,
    so that they test openlqs's conditions, not moto's lack of isolation."""
    lock = threading.Lock()
    original = DynamoHandler.call_action

    def call_action(self: DynamoHandler) -> Any:
        with lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoHandler.call_action = original  # type: ignore[method-assign]
