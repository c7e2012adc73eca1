"""Ingestion benchmark: openlqs's indexer vs rosbags iterating the same bag, and the local stack end to end.

    python -m bench.ingest [--messages 2000000] [--skip-e2e]

Prints ratios (targets: indexer >= 10x faster than rosbags' Reader.messages(); local end-to-end
ingestion <= 0.5x rosbags' iteration time; <= 1 DynamoDB write request per 1,000 records) and writes
bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from rosbags.rosbag1 import Reader

from bench.common import admin_http, generate_small_message_bag, median_seconds, report
from openlqs.bags.ros1 import index_chunk_columns, read_index

RESULTS = Path(__file__).resolve().parent / "results"


class FileSource:
    def __init__(self, path: Path) -> None:
        self.data = path.read_bytes()

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, start: int, end: int) -> bytes:
        return self.data[start:end]


def rosbags_iteration(path: Path) -> int:
    with Reader(path) as reader:
        return sum(1 for _ in reader.messages())


def openlqs_indexer(path: Path) -> int:
    """What a part processor does before writing: index every chunk into message columns."""
    source = FileSource(path)
    index = read_index(source)
    return sum(
        len(columns.timestamps)
        for chunk in index.chunks
        for columns in index_chunk_columns(source.read(chunk.start, chunk.end), chunk.start)
    )


class WriteCounter:
    """Counts DynamoDB write requests made through boto3 in this process (instrumented, not estimated)."""

    WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")

    def __init__(self, table: str) -> None:
        self.table = table
        self.requests = 0

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name not in self.WRITES:
            return
        names = {params.get("TableName")} | set(params.get("RequestItems", {}))
        if self.table in names:
            self.requests += 1


def local_end_to_end(path: Path) -> dict[str, Any]:
    from openlqs.local.stack import LocalStack

    with (
        tempfile.TemporaryDirectory() as data_dir,
        LocalStack(port=0, moto_port=0, data_dir=Path(data_dir)) as stack,
    ):
        counter = WriteCounter(stack.names["RecordsTable"])
        boto3._get_default_session().events.register("provide-client-params.dynamodb.*", counter)
        http, base = admin_http(stack)
        with http:
            group = http.post(f"{base}/groups", json={"name": "bench"}).json()["data"]
            log = http.post(f"{base}/logs", json={"group_id": group["id"], "name": "bench"}).json()["data"]
            stack.client("s3").upload_file(
                str(path), stack.bucket_name, f"lqs/{stack.datastore_id}/logs/{log['id']}/bench.bag"
            )
            start = time.perf_counter()
            ingestion = http.post(
                f"{base}/ingestions", json={"log_id": log["id"], "object_key": "bench.bag", "state": "queued"}
            ).json()["data"]
            while True:
                state = http.get(f"{base}/ingestions/{ingestion['id']}").json()["data"]
                if state["state"] in ("completed", "failed"):
                    break
                time.sleep(0.2)
            elapsed = time.perf_counter() - start
            records = http.get(f"{base}/logs/{log['id']}").json()["data"]["record_count"]
        return {
            "state": state["state"],
            "seconds": elapsed,
            "records": records,
            "write_requests": counter.requests,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args()
    path = generate_small_message_bag(
        Path(tempfile.gettempdir()) / f"openlqs-bench-{args.messages}.bag", args.messages
    )
    assert openlqs_indexer(path) == rosbags_iteration(path) == args.messages
    rosbags_s = median_seconds(lambda: rosbags_iteration(path), args.repeats)
    indexer_s = median_seconds(lambda: openlqs_indexer(path), args.repeats)
    results: dict[str, Any] = {
        "messages": args.messages,
        "bag_bytes": path.stat().st_size,
        "rosbags_iteration_s": rosbags_s,
        "indexer_s": indexer_s,
        "indexer_speedup": rosbags_s / indexer_s,
    }
    rows = [
        ("messages", f"{args.messages:,}"),
        ("rosbags Reader.messages()", f"{rosbags_s:.2f} s ({args.messages / rosbags_s / 1e6:.2f} M msg/s)"),
        ("openlqs indexer", f"{indexer_s:.2f} s ({args.messages / indexer_s / 1e6:.2f} M msg/s)"),
        ("indexer speed-up (target >= 10x)", f"{rosbags_s / indexer_s:.1f}x"),
    ]
    if not args.skip_e2e:
        e2e = local_end_to_end(path)
        results["local_end_to_end"] = e2e
        results["end_to_end_vs_rosbags"] = e2e["seconds"] / rosbags_s
        rows += [
            (
                "local queued→completed",
                f"{e2e['seconds']:.2f} s ({e2e['state']}, {e2e['records']:,} records)",
            ),
            ("end-to-end / rosbags (target <= 0.5x)", f"{e2e['seconds'] / rosbags_s:.2f}x"),
            (
                "RecordsTable write requests per 1,000 records (target <= 1)",
                f"{1000 * e2e['write_requests'] / max(e2e['records'], 1):.3f}",
            ),
        ]
    report("ingest", rows, results, RESULTS)


if __name__ == "__main__":
    main()
