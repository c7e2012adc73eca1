"""moto's TransactWriteItems as the local stack runs it: all or nothing, and nothing else disturbed.

DynamoDB checks every condition of a transaction and then writes all of it or none of it. moto 5.2 did
it by copying whole tables and putting the copies back on a cancel, which lost concurrent writes, cost
time in proportion to the table and replaced the table's stream shard (local/moto_fence.py).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table

from openlqs.local.moto_fence import install_transactions

TABLE = "things"


@pytest.fixture
def dynamodb(aws_credentials: None) -> Iterator[Any]:
    install_transactions()
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        yield client


def _put(pk: str, n: int = 0, condition: str | None = None) -> dict[str, Any]:
    put: dict[str, Any] = {"TableName": TABLE, "Item": {"pk": {"S": pk}, "n": {"N": str(n)}}}
    if condition:
        put["ConditionExpression"] = condition
    return {"Put": put}


def _table() -> Table:
    table: Table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[TABLE]
    return table


def _keys(client: Any) -> set[str]:
    return {item["pk"]["S"] for item in client.scan(TableName=TABLE)["Items"]}


def test_moto_transaction_cancelled_writes_nothing_and_names_the_failed_condition(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "taken"}, "n": {"N": "1"}})

    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(
            TransactItems=[_put("new"), _put("taken", condition="attribute_not_exists(pk)")]
        )

    reasons = [reason["Code"] for reason in raised.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed"]
    assert _keys(dynamodb) == {"taken"}


def test_moto_transaction_writes_everything_when_every_condition_holds(dynamodb: Any) -> None:
    dynamodb.transact_write_items(
        TransactItems=[
            _put("a", condition="attribute_not_exists(pk)"),
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"pk": {"S": "counter"}},
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
        ]
    )

    assert _keys(dynamodb) == {"a", "counter"}


def test_moto_transaction_keeps_the_tables_stream_shard(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "taken"}})
    shard = _table().stream_shard

    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=[_put("taken", condition="attribute_not_exists(pk)")])
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "after"}})

    assert _table().stream_shard is shard
    assert [record.record["dynamodb"]["Keys"]["pk"]["S"] for record in shard.items] == ["taken", "after"]


def test_moto_transaction_copies_no_table(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(50):
        dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": f"item-{i}"}})
    copied: list[type] = []
    deepcopy = copy.deepcopy

    def spy(value: Any, *args: Any) -> Any:
        copied.append(type(value))
        return deepcopy(value, *args)

    monkeypatch.setattr(copy, "deepcopy", spy)

    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=[_put("item-1", condition="attribute_not_exists(pk)")])
    dynamodb.transact_write_items(TransactItems=[_put("item-1", n=2)])

    assert Table not in copied


def test_moto_transaction_cancelled_loses_no_concurrent_write(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "taken"}})
    written: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        client = boto3.client("dynamodb")
        while not stop.is_set() and len(written) < 300:
            key = f"w-{len(written)}"
            client.put_item(TableName=TABLE, Item={"pk": {"S": key}})
            written.append(key)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(100):
            with pytest.raises(ClientError):
                dynamodb.transact_write_items(
                    TransactItems=[_put("x"), _put("taken", condition="attribute_not_exists(pk)")]
                )
    finally:
        stop.set()
        thread.join()

    assert set(written) <= _keys(dynamodb)
    assert "x" not in _keys(dynamodb)
