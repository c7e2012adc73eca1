"""DynamoDB store of digestion part indexes (``DigestionIndexStore``): one item per part in
ResourcesTable, ``pk = "digestion_index#{part id}"``, holding the encoded index as a binary attribute.

An index of 10,000 records is a few tens of kilobytes encoded (``records.part_index``); kept in the
part's own item it would be read by every list of parts (the official client lists 1,000 at a time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from openlqs.adapters import keys
from openlqs.adapters.dynamodb import DynamoTable
from openlqs.adapters.items import MAX_ITEM_BYTES
from openlqs.errors import ContentTooLarge


class DynamoDigestionIndexRepository(DynamoTable):
    """Implements ``DigestionIndexStore`` on ResourcesTable."""

    def put(self, part_id: UUID, digestion_id: UUID, blob: bytes) -> None:
        self.table.put_item(Item=_item(part_id, digestion_id, blob))

    def put_many(self, indexes: Sequence[tuple[UUID, UUID, bytes]]) -> None:
        """BatchWriteItem, 25 items at a time (an index is at most ~400 KB: 10 MB a request, of 16);
        boto3's batch writer sends unprocessed items again."""
        items = [_item(*index) for index in indexes]
        with self.table.batch_writer() as batch:
            for item in items:
                batch.put_item(Item=item)

    def get(self, part_id: UUID) -> bytes | None:
        response = self.table.get_item(
            Key={"pk": keys.digestion_index_pk(part_id), "sk": keys.SINGLE}, ConsistentRead=True
        )
        item = response.get("Item")
        if item is None:
            return None
        value = item["index"]
        return bytes(value.value if hasattr(value, "value") else value)

    def delete(self, part_id: UUID) -> None:
        self.table.delete_item(Key={"pk": keys.digestion_index_pk(part_id), "sk": keys.SINGLE})


def _item(part_id: UUID, digestion_id: UUID, blob: bytes) -> dict[str, Any]:
    if len(blob) > MAX_ITEM_BYTES - 1024:
        raise ContentTooLarge(
            f"The index of digestion part {part_id} is {len(blob)} bytes encoded, more than an item "
            "holds; give the part fewer records."
        )
    return {
        "pk": keys.digestion_index_pk(part_id),
        "sk": keys.SINGLE,
        "kind": "digestion_index",
        "digestion_id": str(digestion_id),
        "index": blob,
    }
