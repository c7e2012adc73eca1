"""DynamoDB repository of every id-keyed resource (ResourcesTable, single-table design)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from openlqs.adapters import keys
from openlqs.adapters.dynamodb import DynamoTable
from openlqs.adapters.items import MAX_ITEM_BYTES, from_attributes, item_size, to_attributes
from openlqs.domain.common import VersionedUpdates
from openlqs.domain.ports import Counter, LabelledLog, ResourceKind, WriteConditions
from openlqs.errors import ConcurrentChange, Conflict, ContentTooLarge, LimitExceeded, NotFound
from openlqs.models.common import CommonModel, ProcessState

_BOOKKEEPING = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "version", "kind"})
_INTERNAL = "x_"
_INTERNAL_JSON = "xj_"
#: Items per BatchWriteItem request (DynamoDB's limit).
BATCH_WRITE_ITEMS = 25
#: Waits before sending a batch's unprocessed (throttled) requests again: doubling, capped.
UNPROCESSED_BACKOFF_S = 0.05
UNPROCESSED_BACKOFF_MAX_S = 2.0

M = TypeVar("M", bound=CommonModel)


class DynamoResourceRepository(VersionedUpdates, DynamoTable):
    """Implements ``ResourceRepository`` on ResourcesTable.

    Creates, renames and deletes are single ``TransactWriteItems`` calls so that uniqueness guards,
    counters (limits, "still has children") and parent existence hold together or not at all.
    """

    @property
    def _client(self) -> Any:
        return self.table.meta.client

    # -- conversion ------------------------------------------------------------------------------
    def _to_item(self, kind: ResourceKind[M], resource: M, version: int) -> dict[str, Any]:
        item = to_attributes(resource)
        for name, value in resource._internal.items():
            if value is None:
                continue
            if isinstance(value, dict | list):
                # Nested structures as JSON text: exact numbers, no DynamoDB map/Decimal conversions.
                item[_INTERNAL_JSON + name] = json.dumps(value, separators=(",", ":"))
            else:
                item[_INTERNAL + name] = value
        sort_key = keys.created_sort_key(resource.created_at, resource.id)
        item.update(
            pk=keys.entity_pk(kind.name, resource.id),
            sk=keys.SINGLE,
            kind=kind.name,
            version=version,
            gsi1pk=keys.by_type(kind.name),
            gsi1sk=sort_key,
        )
        if kind.parent_field is not None:
            item.update(
                gsi2pk=keys.by_parent(kind.name, getattr(resource, kind.parent_field)), gsi2sk=sort_key
            )
        size = item_size(item)
        if size > MAX_ITEM_BYTES:
            # Each field is capped by the request models; only several large fields at once get here.
            raise ContentTooLarge(
                f"This {kind.name} would take {size} bytes, more than the {MAX_ITEM_BYTES} a stored "
                "resource can hold; shorten its largest fields (note, context, type_data, ...)."
            )
        return item

    @staticmethod
    def _from_item(kind: ResourceKind[M], item: dict[str, Any]) -> M:
        values = from_attributes(item)
        internal: dict[str, Any] = {}
        fields: dict[str, Any] = {}
        for name, value in values.items():
            if name.startswith(_INTERNAL_JSON):
                internal[name[len(_INTERNAL_JSON) :]] = json.loads(value)
            elif name.startswith(_INTERNAL):
                internal[name[len(_INTERNAL) :]] = value
            elif name not in _BOOKKEEPING:
                fields[name] = value
        resource = kind.model.model_validate(fields)
        resource._version = int(values.get("version", 0))
        resource._internal = internal
        return resource

    # -- reads -----------------------------------------------------------------------------------
    def find(self, kind: ResourceKind[M], resource_id: UUID) -> M | None:
        response = self.table.get_item(
            Key={"pk": keys.entity_pk(kind.name, resource_id), "sk": keys.SINGLE}, ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else self._from_item(kind, item)

    def get(self, kind: ResourceKind[M], resource_id: UUID) -> M:
        resource = self.find(kind, resource_id)
        if resource is None:
            raise NotFound(f"{kind.title} {resource_id} not found.")
        return resource

    def list_resources(self, kind: ResourceKind[M], parent_id: UUID | None = None) -> list[M]:
        if parent_id is not None and kind.parent_field is not None:
            items = self._query(
                IndexName=keys.BY_PARENT_INDEX,
                KeyConditionExpression=Key("gsi2pk").eq(keys.by_parent(kind.name, parent_id)),
            )
        else:
            items = self._query(
                IndexName=keys.BY_TYPE_INDEX, KeyConditionExpression=Key("gsi1pk").eq(keys.by_type(kind.name))
            )
        return [self._from_item(kind, item) for item in items]

    def count(self, counter: Counter) -> int:
        response = self.table.get_item(
            Key={"pk": keys.counter_pk(counter.scope, counter.kind), "sk": keys.SINGLE}, ConsistentRead=True
        )
        return int(response.get("Item", {}).get("n", 0))

    def labelled_logs(self, label_id: UUID) -> set[UUID]:
        items = self._query(
            IndexName=keys.BY_PARENT_INDEX,
            KeyConditionExpression=Key("gsi2pk").eq(keys.logs_of_label(label_id)),
        )
        return {UUID(str(item["gsi2sk"])) for item in items if int(item.get("n", 0)) > 0}

    def forget_labelled_log(self, entry: LabelledLog) -> None:
        try:
            self.table.delete_item(
                Key={"pk": keys.label_log_pk(entry.label_id, entry.log_id), "sk": keys.SINGLE},
                ConditionExpression="attribute_not_exists(n) OR n <= :zero",
                ExpressionAttributeValues={":zero": 0},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise  # else a tag of that label was added meanwhile: the entry stays

    # -- writes ----------------------------------------------------------------------------------
    def create(
        self, kind: ResourceKind[M], resource: M, conditions: WriteConditions = WriteConditions()
    ) -> None:
        operations: list[tuple[dict[str, Any], Callable[[], Exception]]] = [
            (
                {
                    "Put": {
                        "Item": self._to_item(kind, resource, 1),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                lambda: Conflict(f"{kind.title} {resource.id} already exists."),
            )
        ]
        guard = self._guard(kind, resource)
        if guard is not None:
            operations.append(self._put_guard(kind, resource, guard))
        operations += self._conditions(conditions, resource.id)
        self._transact(operations)
        resource._version = 1

    def replace(
        self, kind: ResourceKind[M], old: M, new: M, conditions: WriteConditions = WriteConditions()
    ) -> M:
        new._internal = {**old._internal, **new._internal}
        operations: list[tuple[dict[str, Any], Callable[[], Exception]]] = [
            (
                {
                    "Put": {
                        "Item": self._to_item(kind, new, old._version + 1),
                        "ConditionExpression": "version = :v",
                        "ExpressionAttributeValues": {":v": old._version},
                    }
                },
                lambda: ConcurrentChange(f"{kind.title} {old.id} was changed by another request; try again."),
            )
        ]
        old_guard, new_guard = self._guard(kind, old), self._guard(kind, new)
        if old_guard != new_guard:
            if old_guard is not None:
                operations.append(self._delete_guard(old_guard))
            if new_guard is not None:
                operations.append(self._put_guard(kind, new, new_guard))
        operations += self._conditions(conditions, new.id)
        self._transact(operations)
        new._version = old._version + 1
        return new

    def delete(
        self, kind: ResourceKind[M], resource: M, conditions: WriteConditions = WriteConditions()
    ) -> None:
        operations: list[tuple[dict[str, Any], Callable[[], Exception]]] = [
            (
                {
                    "Delete": {
                        "Key": {"pk": keys.entity_pk(kind.name, resource.id), "sk": keys.SINGLE},
                        "ConditionExpression": "version = :v",
                        "ExpressionAttributeValues": {":v": resource._version},
                    }
                },
                lambda: ConcurrentChange(
                    f"{kind.title} {resource.id} was changed by another request; try again."
                ),
            )
        ]
        guard = self._guard(kind, resource)
        if guard is not None:
            operations.append(self._delete_guard(guard))
        operations += self._conditions(conditions, resource.id)
        self._transact(operations)

    def create_many(
        self, kind: ResourceKind[M], resources: Sequence[M], counter: Counter | None = None
    ) -> None:
        self._check_batchable(kind, counter)
        for start in range(0, len(resources), BATCH_WRITE_ITEMS):
            batch = resources[start : start + BATCH_WRITE_ITEMS]
            self._batch_write([{"PutRequest": {"Item": self._to_item(kind, r, 1)}} for r in batch])
            for resource in batch:
                resource._version = 1
            if counter is not None:
                self.add_to_counter(counter, len(batch))

    def delete_many(
        self, kind: ResourceKind[M], resources: Sequence[M], counter: Counter | None = None
    ) -> None:
        self._check_batchable(kind, counter)
        for start in range(0, len(resources), BATCH_WRITE_ITEMS):
            batch = resources[start : start + BATCH_WRITE_ITEMS]
            if counter is not None:
                self.add_to_counter(counter, -len(batch))
            self._batch_write(
                [
                    {"DeleteRequest": {"Key": {"pk": keys.entity_pk(kind.name, r.id), "sk": keys.SINGLE}}}
                    for r in batch
                ]
            )

    @staticmethod
    def _check_batchable(kind: ResourceKind[Any], counter: Counter | None) -> None:
        if kind.unique_field is not None:
            raise ValueError(f"{kind.name} names are unique: they are written one transaction at a time")
        if counter is not None and counter.maximum is not None:
            raise ValueError(f"{counter.limit_name} is a limit: a batch write cannot hold it")

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        """One BatchWriteItem of at most 25 requests, sent again until DynamoDB has processed them all
        (throttled requests come back as ``UnprocessedItems``; botocore's retries back off)."""
        pending = {self._table_name: requests}
        for attempt in itertools.count():
            response = self._client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(min(UNPROCESSED_BACKOFF_MAX_S, UNPROCESSED_BACKOFF_S * 2**attempt))

    def add_to_counter(self, counter: Counter, amount: int) -> int:
        response = self.table.update_item(
            Key={"pk": keys.counter_pk(counter.scope, counter.kind), "sk": keys.SINGLE},
            UpdateExpression="ADD n :amount",
            ExpressionAttributeValues={":amount": amount},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["n"])

    def raise_progress(
        self, kind: ResourceKind[M], resource_id: UUID, progress: float, *, state: ProcessState, attempt: int
    ) -> bool:
        try:
            self.table.update_item(
                Key={"pk": keys.entity_pk(kind.name, resource_id), "sk": keys.SINGLE},
                UpdateExpression="SET progress = :progress",
                ConditionExpression=(
                    "#state = :state AND #attempt = :attempt "
                    "AND (attribute_not_exists(progress) OR progress < :progress)"
                ),
                ExpressionAttributeNames={"#state": "state", "#attempt": _INTERNAL + "attempt"},
                ExpressionAttributeValues={
                    ":progress": Decimal(repr(float(progress))),
                    ":state": str(ProcessState(state)),
                    ":attempt": attempt,
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # -- transaction pieces -----------------------------------------------------------------------
    @staticmethod
    def _guard(kind: ResourceKind[Any], resource: CommonModel) -> str | None:
        if kind.unique_field is None:
            return None
        scope_value = getattr(resource, kind.unique_scope_field) if kind.unique_scope_field else None
        scope = "" if scope_value is None else str(scope_value)
        return keys.unique_pk(kind.name, scope, str(getattr(resource, kind.unique_field)))

    def _put_guard(
        self, kind: ResourceKind[Any], resource: CommonModel, guard: str
    ) -> tuple[dict[str, Any], Callable[[], Exception]]:
        name = getattr(resource, kind.unique_field or "")
        scope = getattr(resource, kind.unique_scope_field) if kind.unique_scope_field else None
        where = (
            f" in {(kind.unique_scope_field or '').removesuffix('_id')} {scope}" if scope is not None else ""
        )
        return (
            {
                "Put": {
                    "Item": {"pk": guard, "sk": keys.SINGLE, "target_id": str(resource.id)},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            lambda: Conflict(f"A {kind.name} named {name!r} already exists{where}."),
        )

    def _delete_guard(self, guard: str) -> tuple[dict[str, Any], Callable[[], Exception]]:
        return (
            {"Delete": {"Key": {"pk": guard, "sk": keys.SINGLE}}},
            lambda: ConcurrentChange("A uniqueness guard changed concurrently; try again."),
        )

    def _conditions(
        self, conditions: WriteConditions, resource_id: UUID
    ) -> list[tuple[dict[str, Any], Callable[[], Exception]]]:
        operations: list[tuple[dict[str, Any], Callable[[], Exception]]] = []
        for counter in conditions.increment:
            update: dict[str, Any] = {
                "Key": {"pk": keys.counter_pk(counter.scope, counter.kind), "sk": keys.SINGLE},
                "UpdateExpression": "ADD n :one",
                "ExpressionAttributeValues": {":one": 1},
            }
            if counter.maximum is not None:
                update["ConditionExpression"] = "attribute_not_exists(n) OR n < :max"
                update["ExpressionAttributeValues"][":max"] = counter.maximum
            operations.append(({"Update": update}, _limit_error(counter)))
        for counter in conditions.decrement:
            operations.append(
                (
                    {
                        "Update": {
                            "Key": {"pk": keys.counter_pk(counter.scope, counter.kind), "sk": keys.SINGLE},
                            "UpdateExpression": "ADD n :minus",
                            "ExpressionAttributeValues": {":minus": -1},
                        }
                    },
                    lambda: ConcurrentChange("A counter changed concurrently; try again."),
                )
            )
        for counter in conditions.require_empty:
            # Deleted, not only checked: it counts for the resource being deleted, and would outlive it.
            operations.append(
                (
                    {
                        "Delete": {
                            "Key": {"pk": keys.counter_pk(counter.scope, counter.kind), "sk": keys.SINGLE},
                            "ConditionExpression": "attribute_not_exists(n) OR n <= :zero",
                            "ExpressionAttributeValues": {":zero": 0},
                        }
                    },
                    _in_use_error(counter, resource_id),
                )
            )
        for counter in conditions.discard:
            key = {"pk": keys.counter_pk(counter.scope, counter.kind), "sk": keys.SINGLE}
            operations.append(
                (
                    {"Delete": {"Key": key}},
                    lambda: ConcurrentChange("A counter changed concurrently; try again."),
                )
            )
        for entry, delta in conditions.labelled_logs:
            operations.append(
                (
                    {
                        "Update": {
                            "Key": {"pk": keys.label_log_pk(entry.label_id, entry.log_id), "sk": keys.SINGLE},
                            "UpdateExpression": "ADD n :delta SET gsi2pk = :index, gsi2sk = :log",
                            "ExpressionAttributeValues": {
                                ":delta": delta,
                                ":index": keys.logs_of_label(entry.label_id),
                                ":log": str(entry.log_id),
                            },
                        }
                    },
                    lambda: Conflict("The label index changed concurrently; try again."),
                )
            )
        for kind, required_id in conditions.requires:
            operations.append(
                (
                    {
                        "ConditionCheck": {
                            "Key": {"pk": keys.entity_pk(kind.name, required_id), "sk": keys.SINGLE},
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    _missing_error(kind, required_id),
                )
            )
        return operations

    def _transact(self, operations: list[tuple[dict[str, Any], Callable[[], Exception]]]) -> None:
        items = []
        for operation, _ in operations:
            ((action, body),) = operation.items()
            items.append({action: {"TableName": self._table_name, **body}})
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons", [])
            for (_, make_error), reason in zip(operations, reasons, strict=False):
                if reason.get("Code") == "ConditionalCheckFailed":
                    raise make_error() from None
            raise ConcurrentChange("A concurrent request changed the same resources; try again.") from error


def _limit_error(counter: Counter) -> Callable[[], Exception]:
    return lambda: LimitExceeded(
        f"{counter.limit_name} ({counter.maximum}) reached: no more {counter.kind}s can be created."
    )


def _in_use_error(counter: Counter, resource_id: UUID) -> Callable[[], Exception]:
    return lambda: Conflict(f"{resource_id} still has {counter.kind}s; delete them first.")


def _missing_error(kind: ResourceKind[Any], resource_id: UUID) -> Callable[[], Exception]:
    return lambda: NotFound(f"{kind.title} {resource_id} not found.")
