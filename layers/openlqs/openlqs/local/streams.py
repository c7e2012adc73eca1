"""DynamoDB stream records for in-process functions, as a Lambda event source mapping delivers them.

On AWS, Lambda polls a table's stream and invokes the function with batches of records that pass the
mapping's ``FilterCriteria``. moto keeps the stream but cannot invoke an in-process function, so a
:class:`DynamoDBStreamSource` reads the stream's one shard and hands batches to a
:class:`~openlqs.local.triggers.TriggerPoller`, which invokes the function. It reads the records from
moto's backend in this process (``moto_fence.stream_records``), in the form GetRecords sends them:
through the server, moto's serializer and botocore's parser, a busy table's records cost the local
stack a tenth of its time. Having read everything, it waits for moto's next append to the stream
(``moto_fence.wait_for_stream_write``), or at most its idle wait. Like Lambda, it:

- starts at the mapping's ``StartingPosition`` (``LATEST`` for openlqs), taken when the source is
  created: the local stack creates it as soon as the stream is turned on, after the snapshot restore,
  so restored items are never delivered and nothing written afterwards is missed;
- drops the records no filter pattern matches (see :mod:`openlqs.local.filters`), then delivers the
  others in order, in batches of at most ``BatchSize``, each batch as
  ``{"Records": [{"eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb",
  "eventSourceARN"}]}``;
- retries a failed batch before anything after it (records of a shard stay in order), with a delay
  growing with the attempt; unlike Lambda's default (retry until the records expire), the poller gives
  a batch up after a bounded number of attempts.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any

from openlqs.local.cloudformation import LOCAL_REGION
from openlqs.local.filters import FilterCriteria
from openlqs.local.moto_fence import stream_records, stream_shard, stream_writes, wait_for_stream_write
from openlqs.local.resources import DEFAULT_STREAM_BATCH_SIZE
from openlqs.local.triggers import DEFAULT_RETRY_DELAY_S, MAX_IDLE_WAIT_S, MIN_IDLE_WAIT_S, Delivery

#: The most records one GetRecords call returns.
GET_RECORDS_LIMIT = 1000
#: The version of the record format Lambda delivers (the stream API says 1.0, Lambda says 1.1).
LAMBDA_EVENT_VERSION = "1.1"


class DynamoDBStreamSource:
    """A table's stream, as an :class:`~openlqs.local.triggers.EventSource` of Lambda batches.

    ``stream_arn`` is the table's ``LatestStreamArn``, whose table is in this process's moto; ``reading``
    enters the moto server's DynamoDB read lock (``RequestGate.locks``), held while the shard is read.
    ``starting_position`` is ``LATEST`` (the records written from now on) or ``TRIM_HORIZON`` (all of
    them). A failed batch comes back after ``retry_delay_s`` times its attempt number.
    """

    def __init__(
        self,
        stream_arn: str,
        *,
        reading: Callable[[], AbstractContextManager[Any]] = nullcontext,
        filters: FilterCriteria | None = None,
        batch_size: int = DEFAULT_STREAM_BATCH_SIZE,
        starting_position: str = "LATEST",
        retry_delay_s: float = DEFAULT_RETRY_DELAY_S,
        bisect: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"BatchSize must be at least 1, not {batch_size}")
        if starting_position not in ("LATEST", "TRIM_HORIZON"):
            raise ValueError(f"StartingPosition {starting_position} is not LATEST or TRIM_HORIZON")
        self.stream_arn = stream_arn
        self._reading = reading
        self.filters = filters or FilterCriteria()
        self.batch_size = batch_size
        self.retry_delay_s = retry_delay_s
        self.table_name = stream_arn.split(":table/", 1)[-1].split("/stream/", 1)[0]
        self.description = f"the stream of table {self.table_name}"
        with reading():
            shard = stream_shard(self.table_name)
        self.shard_id = shard.shard_id
        #: Where the next read starts: the index of a record in the shard.
        self._position = shard.length if starting_position == "LATEST" else 0
        self.bisect = bisect
        self._buffer: deque[dict[str, Any]] = deque()
        #: Halves of a failed batch, delivered before anything after it.
        self._halves: deque[Delivery] = deque()
        self._unsettled: Delivery | None = None
        self._retry_at = 0.0
        self._idle_wait_s = MIN_IDLE_WAIT_S

    def receive(self) -> list[Delivery]:
        """The next batch: a failed one once its retry is due, else the next records that pass the filters.

        Returns at most one batch, and none while the previous one is neither handled nor given up, so
        that batches reach the function in stream order. Waits about a second at most.
        """
        if self._unsettled is not None:
            return self._due_retry()
        if self._halves:
            self._unsettled = self._halves.popleft()
            return [self._unsettled]
        if not self._buffer:
            seen = stream_writes(self.table_name)
            had_records = self._read()
            if not self._buffer:
                if not had_records:
                    self._wait_idle(seen)
                return []  # records came but none passed the filters: read again at once
        batch = [self._buffer.popleft() for _ in range(min(self.batch_size, len(self._buffer)))]
        delivery = Delivery(
            event={"Records": batch},
            attempt=1,
            description=self._describe(batch),
            receipt=batch[-1]["dynamodb"].get("SequenceNumber"),
        )
        self._unsettled = delivery
        return [delivery]

    def succeeded(self, delivery: Delivery) -> None:
        """The function handled the batch: go on with the next records."""
        self._unsettled = None

    def failed(self, delivery: Delivery, *, retry: bool) -> bool:
        """Deliver the batch again after a delay (``retry``), or give it up and go on.

        With ``bisect`` (``BisectBatchOnFunctionError``) a failed batch of several records is split in
        two halves, each delivered (and retried) on its own, so that one bad record is isolated; as on
        Lambda, a split does not count as a retry.
        """
        records = delivery.event["Records"]
        if self.bisect and len(records) > 1:
            middle = len(records) // 2
            self._halves.extendleft(
                reversed([self._part(delivery, records[:middle]), self._part(delivery, records[middle:])])
            )
            self._unsettled = None
            return False
        if not retry:
            self._unsettled = None
            return True
        self._unsettled = dataclasses.replace(delivery, attempt=delivery.attempt + 1)
        self._retry_at = time.monotonic() + self.retry_delay_s * delivery.attempt
        return False

    def _part(self, delivery: Delivery, records: list[dict[str, Any]]) -> Delivery:
        return Delivery(
            event={"Records": records},
            attempt=delivery.attempt,
            description=self._describe(records),
            receipt=records[-1]["dynamodb"].get("SequenceNumber"),
        )

    def failure_record(self, delivery: Delivery, function_arn: str) -> dict[str, Any]:
        """What Lambda sends an on-failure destination for a stream batch it gave up on."""
        records = delivery.event["Records"]
        return {
            "requestContext": {
                "requestId": records[0].get("eventID"),
                "functionArn": function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": delivery.attempt,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": self.shard_id,
                "startSequenceNumber": records[0]["dynamodb"].get("SequenceNumber"),
                "endSequenceNumber": records[-1]["dynamodb"].get("SequenceNumber"),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }

    def _due_retry(self) -> list[Delivery]:
        assert self._unsettled is not None
        wait = self._retry_at - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, MAX_IDLE_WAIT_S))
            if self._retry_at > time.monotonic():
                return []
        return [self._unsettled]

    def _read(self) -> bool:
        """Read what the stream has into the buffer; returns whether it had any record."""
        with self._reading():
            records = stream_records(self.table_name, self._position, GET_RECORDS_LIMIT)
        self._position += len(records)
        for record in records:
            lambda_record = lambda_dynamodb_record(record, self.stream_arn)
            if self.filters.matches(lambda_record):
                self._buffer.append(lambda_record)
        if records:
            self._idle_wait_s = MIN_IDLE_WAIT_S
        return bool(records)

    def _wait_idle(self, seen: int) -> None:
        """Wait for the next write to the stream (``seen``: the writes counted before the last read), at
        most the idle wait, which grows while nothing comes."""
        if wait_for_stream_write(self.table_name, seen, self._idle_wait_s):
            self._idle_wait_s = MIN_IDLE_WAIT_S
        else:
            self._idle_wait_s = min(MAX_IDLE_WAIT_S, self._idle_wait_s * 2)

    def _describe(self, batch: list[dict[str, Any]]) -> str:
        first = batch[0]["dynamodb"].get("SequenceNumber")
        last = batch[-1]["dynamodb"].get("SequenceNumber")
        span = first if first == last else f"{first}..{last}"
        return f"{len(batch)} stream record(s) {span} of table {self.table_name}"


def lambda_dynamodb_record(stream_record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """The record Lambda gives a function, from one record as GetRecords sends it.

    Attribute values stay DynamoDB JSON (binary as base64), ``ApproximateCreationDateTime`` becomes
    whole epoch seconds, and Lambda's ``eventVersion`` and ``eventSourceARN`` are set.
    """
    change = stream_record.get("dynamodb") or {}
    dynamodb: dict[str, Any] = {}
    created = change.get("ApproximateCreationDateTime")
    if created is not None:
        dynamodb["ApproximateCreationDateTime"] = int(created)
    for name in ("Keys", "NewImage", "OldImage", "SequenceNumber", "SizeBytes", "StreamViewType"):
        if name in change:
            dynamodb[name] = change[name]
    record = {
        "eventID": stream_record.get("eventID"),
        "eventName": stream_record.get("eventName"),
        "eventVersion": LAMBDA_EVENT_VERSION,
        "eventSource": stream_record.get("eventSource", "aws:dynamodb"),
        "awsRegion": stream_record.get("awsRegion", LOCAL_REGION),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in stream_record:
        record["userIdentity"] = dict(stream_record["userIdentity"])
    return record
