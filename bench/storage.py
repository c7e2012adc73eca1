"""Storage-cost benchmark: DynamoDB requests counted by instrumenting boto3, in moto's mock_aws.

    python -m bench.storage [--records 200000] [--pages 20]

Ingests a generated one-topic bag task by task (plan, every part, finalize: what the state machine
runs), with every DynamoDB call of this process counted through a botocore event hook on boto3's
default session; then lists ``--pages`` pages of 1,000 records at random windows through ApiFunction's
real handler (an API Gateway proxy event, admin principal) and counts the calls each page makes.
Write requests are counted as DynamoDB bills them (every item of a BatchWriteItem is one request;
write units are per started KiB of item). Targets: <= 1 write request per 1,000 records, <= 3 Query
calls per page. Writes bench/results/storage.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
from boto3.dynamodb.types import Binary
from moto import mock_aws

from bench.common import report
from bench.queries import PAGE, PERIOD_NS, START_NS, generate_single_topic_bag

RESULTS = Path(__file__).resolve().parent / "results"
PROJECT_DIR = Path(__file__).resolve().parents[1]
DATASTORE_ID = "0f6c2a53-6d7e-4f1f-9e5a-2b8c7f0d9a11"
ADMIN_KEY_ID = "adadadad-0000-4000-8000-000000000001"
WRITES = ("PutItem", "UpdateItem", "DeleteItem")


def attribute_size(value: Any) -> int:
    """Size of one low-level AttributeValue by DynamoDB's item-size rules (names counted by the caller)."""
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = str(inner).lstrip("-").replace(".", "").lstrip("0")
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(inner.value if isinstance(inner, Binary) else inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(attribute_size(v) + 1 for v in inner)
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: v}) for v in inner)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def low_level(item: dict[str, Any]) -> dict[str, Any]:
    """The item as AttributeValues (the resource layer may hand the hook Python values)."""
    from boto3.dynamodb.types import TypeSerializer

    if all(isinstance(v, dict) and len(v) == 1 and next(iter(v)).isupper() for v in item.values()):
        return item
    serializer = TypeSerializer()
    return {k: serializer.serialize(Decimal(str(v)) if isinstance(v, float) else v) for k, v in item.items()}


class DynamoCounter:
    """Every DynamoDB call of this process, by operation and table; write requests and units as billed."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.write_requests: Counter[str] = Counter()
        self.write_units: Counter[str] = Counter()
        self.write_bytes: Counter[str] = Counter()

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def _write(self, table: str, item: dict[str, Any] | None) -> None:
        self.write_requests[table] += 1
        size = item_size(low_level(item)) if item else 0
        self.write_bytes[table] += size
        self.write_units[table] += max(1, math.ceil(size / 1024))

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        name = model.name
        if name == "BatchWriteItem":
            for table, requests in params.get("RequestItems", {}).items():
                self.calls[(name, table)] += 1
                for request in requests:
                    self._write(table, request.get("PutRequest", {}).get("Item"))
        elif name == "TransactWriteItems":
            for entry in params.get("TransactItems", []):
                ((kind, body),) = entry.items()
                self.calls[(name, body["TableName"])] += 1
                self._write(body["TableName"], body.get("Item") if kind == "Put" else None)
        else:
            table = params.get("TableName", "")
            self.calls[(name, table)] += 1
            if name in WRITES:
                self._write(table, params.get("Item"))

    def total(self, operations: tuple[str, ...]) -> int:
        return sum(n for (name, _), n in self.calls.items() if name in operations)


@contextmanager
def mocked_stack() -> Iterator[dict[str, str]]:
    """moto with the template's tables and bucket, the settings environment pointed at them."""
    from openlqs.api.authorizer import get_keys
    from openlqs.local.cloudformation import load_template
    from openlqs.local.resources import (
        create_buckets,
        create_tables,
        local_resource_names,
        settings_environment,
    )
    from openlqs.services import get_services
    from openlqs.settings import get_settings

    environment = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "openlqs",
        "DATASTORE_ID": DATASTORE_ID,
    }
    os.environ.update(environment)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    template = load_template(PROJECT_DIR / "template.yaml")
    with mock_aws():
        names = local_resource_names(template, prefix="bench")
        create_tables(boto3.client("dynamodb"), template, names)
        create_buckets(boto3.client("s3"), template, names)
        settings = settings_environment(names)
        settings["SECRETS_KEY_ID"] = boto3.client("kms").create_key(Description="secrets")["KeyMetadata"][
            "KeyId"
        ]
        os.environ.update(settings)
        for cached in (get_settings, get_services, get_keys):
            cached.cache_clear()
        yield settings


class Api:
    """ApiFunction's handler called in-process with API Gateway proxy events, as an admin."""

    def __init__(self) -> None:
        from openlqs.local.functions import InProcessFunction

        self.function = InProcessFunction.from_file(
            PROJECT_DIR / "functions" / "api" / "app.py", logical_id="ApiFunction"
        )
        self.base = f"/apps/lqs/{DATASTORE_ID}/api"

    def call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        from urllib.parse import urlencode

        from openlqs.local.apigateway import build_proxy_event, proxy_response_parts

        target = self.base + path + ("?" + urlencode(params) if params else "")
        payload = None if body is None else json.dumps(body).encode()
        event = build_proxy_event(method, target, [("Content-Type", "application/json")], payload)
        event["requestContext"]["authorizer"] = {
            "principalId": ADMIN_KEY_ID,
            "keyId": ADMIN_KEY_ID,
            "role": "admin",
            "integrationLatency": 1,
        }
        status, _, raw = proxy_response_parts(self.function.invoke(event))
        assert status == 200, (status, raw[:500])
        return json.loads(raw)["data"]

    def queue_ingestion(self, path: Path, bucket: str) -> tuple[Any, Any]:
        """A new log with ``path`` as its object, and a queued ingestion of it: (log, ingestion)."""
        group = self.call("POST", "/groups", {"name": "bench"})
        log = self.call("POST", "/logs", {"group_id": group["id"], "name": "bench"})
        boto3.client("s3").upload_file(str(path), bucket, f"lqs/{DATASTORE_ID}/logs/{log['id']}/bench.bag")
        body = {"log_id": log["id"], "object_key": "bench.bag", "state": "queued"}
        return log, self.call("POST", "/ingestions", body)


def measure(path: Path, records: int, pages: int, seed: int) -> dict[str, Any]:
    from tests.support import tasks

    counter = DynamoCounter()
    with mocked_stack() as settings:
        boto3._get_default_session().events.register("provide-client-params.dynamodb.*", counter)
        api = Api()
        log, ingestion = api.queue_ingestion(path, settings["OBJECTS_BUCKET_NAME"])
        counter.reset()
        payload = {"ingestion_id": ingestion["id"], "attempt": 1}
        plan = tasks.plan(payload)
        parts = tasks.parts_of(plan)
        for part in parts:
            tasks.process_part(part)
        tasks.finalize(payload)
        ingest = {
            "parts": len(parts),
            "calls": {f"{op} {table}": n for (op, table), n in sorted(counter.calls.items())},
            "write_requests": dict(counter.write_requests),
            "write_units": dict(counter.write_units),
            "write_bytes": dict(counter.write_bytes),
        }
        assert api.call("GET", f"/ingestions/{ingestion['id']}")["state"] == "completed"
        (topic,) = api.call("GET", "/topics", params={"log_id": log["id"]})
        rng = random.Random(seed)
        page_calls = []
        for _ in range(pages):
            start = START_NS + rng.randrange(records - PAGE) * PERIOD_NS
            counter.reset()
            rows = api.call(
                "GET", f"/topics/{topic['id']}/records", params={"timestamp_gte": start, "limit": PAGE}
            )
            assert len(rows) == PAGE
            page_calls.append({f"{op} {table}": n for (op, table), n in sorted(counter.calls.items())})
        boto3._get_default_session().events.unregister("provide-client-params.dynamodb.*", counter)
        return {"ingest": ingest, "pages": page_calls, "records_table": settings["RECORDS_TABLE_NAME"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    path = generate_single_topic_bag(
        Path(tempfile.gettempdir()) / f"openlqs-bench-queries-{args.records}.bag", args.records
    )
    measured = measure(path, args.records, args.pages, args.seed)
    ingest, records_table = measured["ingest"], measured["records_table"]
    per_k = 1000 / args.records
    all_requests = sum(ingest["write_requests"].values())
    record_requests = ingest["write_requests"].get(records_table, 0)
    record_bytes = ingest["write_bytes"].get(records_table, 0)
    record_units = ingest["write_units"].get(records_table, 0)
    queries = [sum(n for name, n in page.items() if name.startswith("Query ")) for page in measured["pages"]]
    reads = [sum(page.values()) for page in measured["pages"]]
    results: dict[str, Any] = {
        "records": args.records,
        "bag_bytes": path.stat().st_size,
        **measured,
        "records_table_write_requests_per_1000": record_requests * per_k,
        "records_table_write_units_per_1000": record_units * per_k,
        "records_table_write_bytes_per_1000": record_bytes * per_k,
        "all_tables_write_requests_per_1000": all_requests * per_k,
        "query_calls_per_page_max": max(queries),
        "dynamodb_calls_per_page_max": max(reads),
    }
    rows = [
        ("records (one topic)", f"{args.records:,} in {ingest['parts']} part(s)"),
        (
            "RecordsTable write requests / 1,000 records (target <= 1)",
            f"{record_requests * per_k:.3f} ({record_requests} requests)",
        ),
        ("RecordsTable write units / 1,000 records", f"{record_units * per_k:.2f}"),
        ("RecordsTable bytes written / 1,000 records", f"{record_bytes * per_k:,.0f} B"),
        (
            "all tables write requests / 1,000 records",
            f"{all_requests * per_k:.3f} ({all_requests} requests)",
        ),
        (
            "Query calls per page of 1,000 (target <= 3)",
            f"max {max(queries)}, median {sorted(queries)[len(queries) // 2]}",
        ),
        ("all DynamoDB calls per page", f"max {max(reads)}"),
    ]
    report("storage", rows, results, RESULTS)


if __name__ == "__main__":
    main()
