"""MCAP benchmark: openlqs's MCAP indexer vs the ``mcap`` package iterating the same file, the local
stack end to end, RecordsTable writes, and pages of MCAP records over HTTP.

    python -m bench.mcap [--messages 2000000] [--compression zstd,lz4] [--repeats 3] [--requests 30]
                         [--skip-e2e] [--skip-storage]

For each chunk compression, a generated MCAP file (``mcap`` package writer, ``ros2`` profile, its
default 1 MiB chunks, fixed seed) of small ROS 2 ``std_msgs/msg/String`` messages (CDR) on five topics,
as ``bench.ingest`` writes its bags (``/imu`` ~400 Hz, ``/odom``, ``/tf``, ``/gps``, ``/diagnostics``):

- the reference: ``mcap.reader.make_reader(file).iter_messages()`` over the whole file;
- openlqs's indexer (``McapFormat.read_index`` + ``index_columns`` span by span: what plan and parts do
  before writing), median of ``--repeats``; target >= 10x faster than the reference;
- the local stack from the queued POST to ``completed`` (a fresh stack each run, median of
  ``--repeats``); target <= 0.5x the reference's time;
- on the last of those stacks, ``--requests`` pages of 1,000 ``/imu`` records in random 40 s windows
  (``timestamp_gte``/``timestamp_lte``, ``limit=1000``) over HTTP with the admin key; target p50 <= 20 ms.
  The same messages as a ROS 1 bag (``bench.ingest``'s bag: same seed, so the same times and topics)
  are then ingested on that stack too, and both logs paged in other windows, request for request, as a
  reference that the machine's load falls on alike (``--no-ros1-pages`` leaves it out);
- RecordsTable write requests per 1,000 records, counted as ``bench.storage`` counts them (the tasks run
  one by one in moto's ``mock_aws``, every DynamoDB call of the process counted); target <= 1.

Writes bench/results/mcap.json.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from mcap.reader import make_reader
from mcap.writer import CompressionType, Writer
from rosbags.typesys import Stores, get_typestore

from bench.common import admin_stack, generate_small_message_bag, ingest, median_seconds, report
from bench.queries import PAGE, percentile
from bench.storage import Api, DynamoCounter, mocked_stack
from openlqs.formats.mcap import McapFormat

RESULTS = Path(__file__).resolve().parent / "results"
ROS2 = get_typestore(Stores.LATEST)
TOPICS = ("/imu", "/odom", "/tf", "/gps", "/diagnostics")
WEIGHTS = (400, 50, 100, 10, 1)
START_NS = 1_700_000_000_000_000_000
WINDOW_NS = 40 * 1_000_000_000
COMPRESSIONS = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4, "none": CompressionType.NONE}


def string_payloads(rng: random.Random, count: int = 64) -> list[bytes]:
    """CDR ``std_msgs/msg/String`` messages of 8 to 39 characters, for the file to cycle through."""
    string = ROS2.types["std_msgs/msg/String"]
    return [
        bytes(ROS2.serialize_cdr(string(data="x" * rng.randrange(8, 40)), "std_msgs/msg/String"))
        for _ in range(count)
    ]


def generate_mcap(path: Path, messages: int, compression: str, *, seed: int = 7) -> Path:
    """Small ROS 2 messages on five topics at the rates of ``bench.ingest``'s bag (cached by name)."""
    if path.exists():
        return path
    rng = random.Random(seed)
    payloads = string_payloads(rng)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as stream:
        writer = Writer(stream, compression=COMPRESSIONS[compression])
        writer.start(profile="ros2", library="openlqs bench")
        schema = writer.register_schema("std_msgs/msg/String", "ros2msg", b"string data\n")
        channels = [writer.register_channel(topic, "cdr", schema) for topic in TOPICS]
        timestamp = START_NS
        for i in range(messages):
            timestamp += rng.randrange(100_000, 4_000_000)
            channel = rng.choices(channels, WEIGHTS)[0]
            writer.add_message(channel, timestamp, payloads[i % len(payloads)], timestamp, i)
        writer.finish()
    partial.rename(path)
    return path


class FileSource:
    def __init__(self, data: bytes) -> None:
        self.data = data

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, start: int, end: int) -> bytes:
        return self.data[start:end]


def mcap_iteration(path: Path) -> int:
    """The ``mcap`` package's reader over the whole file (its seeking reader, in log-time order)."""
    with path.open("rb") as stream:
        return sum(1 for _ in make_reader(stream).iter_messages())


def openlqs_indexer(path: Path) -> int:
    """What plan and parts do before writing: the index from the summary, then every span's messages
    as columns."""
    source = FileSource(path.read_bytes())
    mcap = McapFormat()
    index = mcap.read_index(source)
    return sum(
        len(columns.timestamps)
        for span in index.spans
        for columns in mcap.index_columns(source.read(span.start, span.end), span.start)
    )


def pages(http: Any, base: str, log_ids: dict[str, str], requests: int, seed: int) -> dict[str, list[float]]:
    """Seconds per page of 1,000 ``/imu`` records in random 40 s windows, until the answer is received,
    for each log of ``log_ids`` (by name), the logs' requests alternating window by window so that the
    machine's noise falls on them alike."""
    urls, topics = {}, {}
    for name, log_id in log_ids.items():
        (topic,) = http.get(f"{base}/topics", params={"log_id": log_id, "name": "/imu"}).json()["data"]
        urls[name], topics[name] = f"{base}/topics/{topic['id']}/records", topic
    start_time = max(topic["start_time"] for topic in topics.values())
    end_time = min(topic["end_time"] for topic in topics.values())
    rng = random.Random(seed)
    windows = [
        (start, start + WINDOW_NS)
        for start in (rng.randrange(start_time, end_time - WINDOW_NS) for _ in range(requests + 1))
    ]
    times: dict[str, list[float]] = {name: [] for name in log_ids}
    for i, (start, end) in enumerate(windows):
        for name, url in urls.items():
            gc.collect()
            began = time.perf_counter()
            response = http.get(url, params={"timestamp_gte": start, "timestamp_lte": end, "limit": PAGE})
            elapsed = time.perf_counter() - began
            response.raise_for_status()
            assert len(response.json()["data"]) == PAGE
            if i:  # the first window warms the function's caches, as a warm Lambda's would be
                times[name].append(elapsed)
    return times


def storage(path: Path) -> dict[str, Any]:
    """Write requests of an ingestion of ``path``, task by task in moto, per table."""
    import boto3
    from tests.support import tasks

    counter = DynamoCounter()
    with mocked_stack() as settings:
        boto3._get_default_session().events.register("provide-client-params.dynamodb.*", counter)
        try:
            _, ingestion = Api().queue_ingestion(path, settings["OBJECTS_BUCKET_NAME"])
            counter.reset()
            payload = {"ingestion_id": ingestion["id"], "attempt": 1}
            plan = tasks.plan(payload)
            for part in plan["parts"]:
                tasks.process_part(part)
            tasks.finalize(payload)
        finally:
            boto3._get_default_session().events.unregister("provide-client-params.dynamodb.*", counter)
        return {
            "parts": len(plan["parts"]),
            "write_requests": dict(counter.write_requests),
            "records_table": settings["RECORDS_TABLE_NAME"],
        }


Rows = list[tuple[str, str]]


def measure(path: Path, messages: int, args: argparse.Namespace) -> tuple[dict[str, Any], Rows]:
    assert openlqs_indexer(path) == mcap_iteration(path) == messages
    reference_s = median_seconds(lambda: mcap_iteration(path), args.repeats)
    indexer_s = median_seconds(lambda: openlqs_indexer(path), args.repeats)
    results: dict[str, Any] = {
        "file_bytes": path.stat().st_size,
        "mcap_iteration_s": reference_s,
        "indexer_s": indexer_s,
        "indexer_speedup": reference_s / indexer_s,
    }
    rows = [
        (
            "  mcap make_reader().iter_messages()",
            f"{reference_s:.2f} s ({messages / reference_s / 1e6:.2f} M msg/s)",
        ),
        ("  openlqs MCAP indexer", f"{indexer_s:.3f} s ({messages / indexer_s / 1e6:.2f} M msg/s)"),
        ("  indexer speed-up (target >= 10x)", f"{reference_s / indexer_s:.1f}x"),
    ]
    if not args.skip_e2e:
        runs = []
        page_times: dict[str, list[float]] = {}
        for run in range(args.repeats):
            with admin_stack() as (stack, http, base):
                ingested = ingest(stack, http, base, path, "bench", object_key="bench.mcap")
                assert ingested.records == messages, ingested
                runs.append({"seconds": ingested.seconds, "parts": ingested.parts})
                if run == args.repeats - 1:
                    # The stack holds this log only, as bench.queries' stack holds its bag only (moto's
                    # Query goes through the whole table, so other logs' blocks slow every page).
                    logs = {"mcap": ingested.log_id}
                    page_times = pages(http, base, logs, args.requests, args.seed)
                    if args.ros1_pages:
                        # The same messages as a ROS 1 bag (bench.ingest's, same seed: same times and
                        # topics) on the same stack, paged in the same windows as the MCAP log again,
                        # request for request: what MCAP records cost against ROS 1's.
                        bag = generate_small_message_bag(
                            Path(tempfile.gettempdir()) / f"openlqs-bench-{messages}.bag", messages
                        )
                        logs["ros1"] = ingest(stack, http, base, bag, "bench ros1").log_id
                        beside = pages(http, base, logs, args.requests, args.seed + 1)
                        page_times |= {"mcap beside ros1": beside["mcap"], "ros1": beside["ros1"]}
        seconds = statistics.median(run["seconds"] for run in runs)
        results |= {
            "local_end_to_end": runs,
            "local_end_to_end_s": seconds,
            "end_to_end_vs_mcap": seconds / reference_s,
        }
        rows += [
            (
                "  local queued→completed (median)",
                f"{seconds:.2f} s ({messages:,} records, {runs[0]['parts']} parts)",
            ),
            ("  end-to-end / mcap reader (target <= 0.5x)", f"{seconds / reference_s:.2f}x"),
        ]
        for name, times in page_times.items():
            p50, p95 = statistics.median(times), percentile(times, 0.95)
            key = name.replace(" ", "_")
            results |= {f"{key}_page_p50_s": p50, f"{key}_page_p95_s": p95, f"{key}_page_times": times}
            what = {
                "mcap": "MCAP, alone in the table",
                "mcap beside ros1": "MCAP, with the ROS 1 log in the table",
                "ros1": "the same messages as a ROS 1 bag, alternating",
            }[name]
            target = " (target p50 <= 20 ms)" if name == "mcap" else ""
            rows.append(
                (
                    f"  page of 1,000 /imu records, {what}: p50 / p95{target}",
                    f"{p50 * 1e3:.1f} / {p95 * 1e3:.1f} ms",
                )
            )
    if not args.skip_storage:
        written = storage(path)
        requests = written["write_requests"].get(written["records_table"], 0)
        per_k = requests * 1000 / messages
        results |= {"storage": written, "records_table_write_requests_per_1000": per_k}
        rows.append(
            ("  RecordsTable write requests / 1,000 records (target <= 1)", f"{per_k:.3f} ({requests})")
        )
    return results, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2_000_000)
    parser.add_argument("--compression", default="zstd,lz4", help="comma-separated: zstd, lz4, none")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--skip-storage", action="store_true")
    parser.add_argument(
        "--no-ros1-pages", dest="ros1_pages", action="store_false", help="time MCAP pages only"
    )
    args = parser.parse_args()
    results: dict[str, Any] = {"messages": args.messages, "repeats": args.repeats}
    rows = [("messages", f"{args.messages:,}")]
    for compression in args.compression.split(","):
        path = generate_mcap(
            Path(tempfile.gettempdir()) / f"openlqs-bench-{args.messages}-{compression}.mcap",
            args.messages,
            compression,
        )
        measured, measured_rows = measure(path, args.messages, args)
        results[compression] = measured
        rows += [(f"{compression} chunks ({path.stat().st_size / 2**20:.0f} MiB)", ""), *measured_rows]
    report("mcap", rows, results, RESULTS)


if __name__ == "__main__":
    main()
