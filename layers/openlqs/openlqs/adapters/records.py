"""DynamoDB repository of record blocks (RecordsTable)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from openlqs.adapters import keys
from openlqs.adapters.dynamodb import DynamoTable
from openlqs.adapters.items import MAX_ITEM_BYTES, item_size
from openlqs.domain.ports import BlockStream
from openlqs.errors import ConcurrentChange, ContentTooLarge
from openlqs.records.blocks import RecordBlock
from openlqs.records.rows import BlockStats, RecordRow, RecordSummary

_BUCKET_CHANGED = "Records of this time bucket were changed concurrently; try again."

#: The RecordsTable index holding only each block's keys, ``n``, ``min_ts`` and ``max_ts`` (template.yaml).
BLOCK_STATS_INDEX = "BlockStats"
#: ``Limit`` of the successive Query calls of a windowed read: a page of records usually lies in the
#: first few blocks, so the first call reads only those; later calls read more (the last: 1 MB pages).
_QUERY_LIMITS = (4, 16, 64)


class DynamoRecordRepository(DynamoTable):
    """Implements ``RecordRepository``: one item per (topic, time bucket, segment)."""

    @staticmethod
    def _to_block(item: dict[str, Any]) -> RecordBlock:
        bucket, segment = keys.parse_record_block_sk(item["sk"])
        blob = bytes(item["rows"].value if hasattr(item["rows"], "value") else item["rows"])
        n = item.get("n")
        return RecordBlock(
            UUID(item["pk"]),
            bucket,
            segment,
            None,
            datetime.fromisoformat(item["created_at"]),
            int(item.get("version", 0)),
            len(blob),
            blob=blob,
            n=None if n is None else int(n),
            min_ts=None if n is None else int(item["min_ts"]),
            max_ts=None if n is None else int(item["max_ts"]),
        )

    @staticmethod
    def _bucket_condition(topic_id: UUID, first_bucket: int | None, last_bucket: int | None) -> Any | None:
        """The key condition of buckets [first_bucket, last_bucket]; None when that range is empty."""
        condition = Key("pk").eq(str(topic_id))
        if last_bucket is not None and last_bucket < max(first_bucket or 0, 0):
            # No bucket lies below 0; DynamoDB rejects a BETWEEN whose upper bound is below its lower one.
            return None
        if first_bucket is not None or last_bucket is not None:
            low = keys.record_bucket_prefix(max(first_bucket or 0, 0))
            high = (
                keys.record_bucket_prefix(last_bucket if last_bucket is not None else 10**20 - 1) + "\uffff"
            )
            condition = condition & Key("sk").between(low, high)
        return condition

    def blocks(
        self,
        topic_id: UUID,
        first_bucket: int | None,
        last_bucket: int | None,
        *,
        descending: bool = False,
    ) -> BlockStream:
        condition = self._bucket_condition(topic_id, first_bucket, last_bucket)
        query = {"KeyConditionExpression": condition, "ScanIndexForward": not descending}
        return _BlockStream(self.table, self._to_block, None if condition is None else query)

    def block_stats(
        self, topic_id: UUID, first_bucket: int | None, last_bucket: int | None
    ) -> Iterator[BlockStats]:
        """The row count and time range of every block in [first_bucket, last_bucket], from the
        ``BlockStats`` index: ~60 bytes per block, so a Query call covers ~15,000 blocks (eventually
        consistent, like every index)."""
        condition = self._bucket_condition(topic_id, first_bucket, last_bucket)
        if condition is None:
            return
        for item in self._query(KeyConditionExpression=condition, IndexName=BLOCK_STATS_INDEX):
            if "n" not in item:
                continue
            bucket, segment = keys.parse_record_block_sk(item["sk"])
            yield BlockStats(bucket, segment, int(item["n"]), int(item["min_ts"]), int(item["max_ts"]))

    def bucket_blocks(self, topic_id: UUID, bucket: int) -> list[RecordBlock]:
        items = self._query(
            KeyConditionExpression=Key("pk").eq(str(topic_id))
            & Key("sk").begins_with(keys.record_bucket_prefix(bucket)),
            ConsistentRead=True,
        )
        return [self._to_block(item) for item in items]

    @staticmethod
    def _item(block: RecordBlock) -> tuple[dict[str, Any], bytes]:
        block.sort()
        columns = block.columns
        blob = block.encoded()
        item = {
            "pk": str(block.topic_id),
            "sk": keys.record_block_sk(block.bucket, block.segment),
            "rows": blob,
            "n": len(columns),
            "bytes": columns.message_bytes(),
            "min_ts": int(columns.timestamps[0]) if len(columns) else 0,
            "max_ts": int(columns.timestamps[-1]) if len(columns) else 0,
            "created_at": block.created_at.isoformat(),
            "version": block.version + 1,
        }
        size = item_size(item)
        if size > MAX_ITEM_BYTES:
            raise ContentTooLarge(
                f"The records stored with this one would take {size} bytes, more than the {MAX_ITEM_BYTES} "
                "one block can hold; shorten its note, context, query_data or auxiliary_data."
            )
        return item, blob

    def put_block(self, block: RecordBlock, expected_version: int | None) -> None:
        item, blob = self._item(block)
        kwargs: dict[str, Any] = {"Item": item}
        if expected_version is None:
            kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            kwargs["ConditionExpression"] = "version = :v"
            kwargs["ExpressionAttributeValues"] = {":v": expected_version}
        try:
            self.table.put_item(**kwargs)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConcurrentChange(_BUCKET_CHANGED) from None
            raise
        block.version += 1
        block.size = len(blob)

    def delete_block(self, block: RecordBlock) -> None:
        try:
            self.table.delete_item(
                Key={"pk": str(block.topic_id), "sk": keys.record_block_sk(block.bucket, block.segment)},
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":v": block.version},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConcurrentChange(_BUCKET_CHANGED) from None
            raise

    def put_blocks(self, blocks: list[RecordBlock]) -> None:
        """Write (or overwrite) blocks in batches: one request per 25 blocks of ~1,000 records."""
        with self.table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for block in blocks:
                item, blob = self._item(block)
                batch.put_item(Item=item)
                block.version += 1
                block.size = len(blob)

    def delete_segments(self, topic_id: UUID, segment_prefix: str) -> int:
        """Delete a topic's blocks whose segment starts with ``segment_prefix`` (one writer's records)."""
        deleted = 0
        with self.table.batch_writer() as batch:
            for item in self._query(
                KeyConditionExpression=Key("pk").eq(str(topic_id)), ProjectionExpression="pk, sk"
            ):
                if keys.parse_record_block_sk(item["sk"])[1].startswith(segment_prefix):
                    batch.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
                    deleted += 1
        return deleted

    def topic_summary(self, topic_id: UUID) -> RecordSummary:
        """Count, size and time range of a topic's records, from block attributes (no decoding)."""
        summary = RecordSummary()
        for item in self._query(
            KeyConditionExpression=Key("pk").eq(str(topic_id)),
            ProjectionExpression="n, #b, min_ts, max_ts",
            ExpressionAttributeNames={"#b": "bytes"},
            ConsistentRead=True,
        ):
            if int(item.get("n", 0)):
                summary = summary + RecordSummary(
                    int(item["n"]), int(item.get("bytes", 0)), int(item["min_ts"]), int(item["max_ts"])
                )
        return summary

    def delete_topic(self, topic_id: UUID) -> int:
        deleted = 0
        with self.table.batch_writer() as batch:
            for item in self._query(
                KeyConditionExpression=Key("pk").eq(str(topic_id)), ProjectionExpression="pk, sk"
            ):
                batch.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
                deleted += 1
        return deleted

    def _edge(self, topic_id: UUID, *, last: bool) -> RecordRow | None:
        # The first (last) bucket may hold several segments: read the whole bucket.
        response = self.table.query(
            KeyConditionExpression=Key("pk").eq(str(topic_id)),
            ScanIndexForward=not last,
            Limit=1,
            ProjectionExpression="sk",
            ConsistentRead=True,
        )
        items = response.get("Items", [])
        if not items:
            return None
        bucket, _ = keys.parse_record_block_sk(items[0]["sk"])
        rows = [row for block in self.bucket_blocks(topic_id, bucket) for row in block.rows]
        if not rows:
            return None
        return max(rows, key=RecordRow.order_key) if last else min(rows, key=RecordRow.order_key)

    def first_and_last(self, topic_id: UUID) -> tuple[RecordRow | None, RecordRow | None]:
        return self._edge(topic_id, last=False), self._edge(topic_id, last=True)


class _BlockStream:
    """Blocks of a windowed Query, read lazily with a small ``Limit`` first (a reader that stops early
    reads few items); ``buffered()`` tells how many blocks are already read and not yet taken."""

    def __init__(self, table: Any, to_block: Any, query: dict[str, Any] | None) -> None:
        self._table, self._to_block, self._query = table, to_block, query
        self._items: list[dict[str, Any]] = []
        self._calls = 0

    def __iter__(self) -> _BlockStream:
        return self

    def buffered(self) -> int:
        return len(self._items)

    def exhausted(self) -> bool:
        """Every block was taken and no more are left to read."""
        return not self._items and self._query is None

    def __next__(self) -> RecordBlock:
        while not self._items:
            if self._query is None:
                raise StopIteration
            if self._calls < len(_QUERY_LIMITS):
                self._query["Limit"] = _QUERY_LIMITS[self._calls]
            else:
                self._query.pop("Limit", None)
            response = self._table.query(**self._query)
            self._calls += 1
            self._items = list(reversed(response.get("Items", [])))
            if "LastEvaluatedKey" in response:
                self._query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            else:
                self._query = None
        return cast(RecordBlock, self._to_block(self._items.pop()))
