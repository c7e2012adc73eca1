"""Digestion benchmark: two topics over a 10-minute window, with export, vs rosbags reading and writing them.

    python -m bench.digest [--messages 2000000] [--minutes 10] [--format bag,mcap] [--repeats 3]

The 2 M-message bench bag (``bench.common.generate_small_message_bag``, fixed seed; ~69 minutes of
``/imu`` at ~400 Hz, ``/odom`` at ~50 Hz and three more topics) is ingested once into a local stack.
Then, for each export format, a digestion of ``/imu`` and ``/odom`` over a window of ``--minutes``
from the bag's 20th minute, with ``context.export``: the time from its creation (the POST) until it
records itself ``completed`` (its ``updated_at``; polled every half second, since the API answering the
polls runs in the stack's process), its export written. The reference, in the same run: rosbags
reading the same messages from the bag (``Reader.messages`` with those connections and that window)
and writing the same file with its own writer (rosbags' bag ``Writer`` with lz4 chunks for a bag; the
``mcap`` package's ``Writer`` with zstd chunks for MCAP, ROS 1 schemas). Medians of ``--repeats``;
target: openlqs at most 0.5x the reference. The exported file is checked to hold exactly the
reference's messages. Writes bench/results/digest.json.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from mcap.reader import make_reader
from mcap.writer import CompressionType
from mcap.writer import Writer as McapWriter
from rosbags.rosbag1 import Reader, Writer

from bench.common import (
    SLOW_POLL_S,
    admin_stack,
    data,
    generate_small_message_bag,
    ingest,
    recorded_seconds,
    report,
    wait_for_end,
)

RESULTS = Path(__file__).resolve().parent / "results"
TOPICS = ("/imu", "/odom")
#: Where the window starts, from the bag's first message.
WINDOW_OFFSET_S = 20 * 60


def window_of(path: Path, minutes: float, offset_s: float = WINDOW_OFFSET_S) -> tuple[int, int]:
    """``minutes`` from ``offset_s`` into the bag (earlier when the bag is too short for that)."""
    with Reader(path) as reader:
        length = reader.end_time - reader.start_time
        offset = min(int(offset_s * 1e9), max(0, length - int(minutes * 60 * 1e9)) // 2)
        start = reader.start_time + offset
    return start, start + int(minutes * 60 * 1e9)


def rosbags_bag(path: Path, out: Path, start: int, end: int) -> int:
    """rosbags reads the window's messages of the two topics and writes them into an lz4 bag."""
    out.unlink(missing_ok=True)
    count = 0
    with Reader(path) as reader:
        connections = [c for c in reader.connections if c.topic in TOPICS]
        writer = Writer(out)
        writer.set_compression(Writer.CompressionFormat.LZ4)
        with writer:
            added = {
                c.id: writer.add_connection(c.topic, c.msgtype, msgdef=c.msgdef.data, md5sum=c.digest)
                for c in connections
            }
            for connection, timestamp, raw in reader.messages(connections, start=start, stop=end + 1):
                writer.write(added[connection.id], timestamp, raw)
                count += 1
    return count


def rosbags_mcap(path: Path, out: Path, start: int, end: int) -> int:
    """rosbags reads the window's messages of the two topics; the mcap package writes them (zstd)."""
    count = 0
    with Reader(path) as reader, out.open("wb") as stream:
        connections = [c for c in reader.connections if c.topic in TOPICS]
        writer = McapWriter(stream, compression=CompressionType.ZSTD)
        writer.start(profile="ros1", library="rosbags + mcap")
        channels = {}
        for connection in connections:
            schema = writer.register_schema(
                name=connection.msgtype.replace("/msg/", "/"),
                encoding="ros1msg",
                data=connection.msgdef.data.encode(),
            )
            channels[connection.id] = writer.register_channel(connection.topic, "ros1", schema)
        for connection, timestamp, raw in reader.messages(connections, start=start, stop=end + 1):
            writer.add_message(channels[connection.id], timestamp, bytes(raw), timestamp)
            count += 1
        writer.finish()
    return count


def digest(http: httpx.Client, base: str, log_id: str, export: str, start: int, end: int) -> dict[str, Any]:
    """A digestion of the two topics with an export: seconds from its POST to completed."""
    topics = {t["name"]: t for t in data(http.get(f"{base}/topics", params={"log_id": log_id}))}
    began = time.time()
    digestion = data(
        http.post(f"{base}/digestions", json={"log_id": log_id, "context": {"export": {"format": export}}})
    )
    for name in TOPICS:
        body = {"topic_id": topics[name]["id"], "start_time": start, "end_time": end}
        data(http.post(f"{base}/digestions/{digestion['id']}/topics", json=body))
    data(http.patch(f"{base}/digestions/{digestion['id']}", json={"state": "queued"}))
    digestion = wait_for_end(http, f"{base}/digestions/{digestion['id']}", SLOW_POLL_S)
    seconds = recorded_seconds(digestion, began)
    if digestion["state"] != "completed":
        raise RuntimeError(f"digestion {digestion['id']} {digestion['state']}: {digestion['error_message']}")
    parts = http.get(f"{base}/digestions/{digestion['id']}/parts", params={"limit": 1}).json()["count"]
    return {"seconds": seconds, "parts": parts, "digestion": digestion}


def exported_messages(
    http: httpx.Client, base: str, log_id: str, digestion: dict[str, Any], export: str
) -> list[Any]:
    """The messages of the digestion's export, as (topic, time, bytes), read with rosbags or mcap."""
    key = digestion["context"]["export"]["key"]
    url = data(http.get(f"{base}/logs/{log_id}/objects/{key}"))["presigned_url"]
    body = httpx.get(url, timeout=600).content
    if export == "mcap":
        reader = make_reader(io.BytesIO(body))
        return [(c.topic, m.log_time, m.data) for _, c, m in reader.iter_messages(log_time_order=True)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.bag"
        path.write_bytes(body)
        with Reader(path) as reader:
            return [(c.topic, t, bytes(d)) for c, t, d in reader.messages()]


def reference_messages(path: Path, start: int, end: int) -> list[Any]:
    with Reader(path) as reader:
        connections = [c for c in reader.connections if c.topic in TOPICS]
        return [(c.topic, t, bytes(d)) for c, t, d in reader.messages(connections, start=start, stop=end + 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2_000_000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--format", default="bag,mcap", help="comma-separated export formats: bag, mcap")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    path = generate_small_message_bag(
        Path(tempfile.gettempdir()) / f"openlqs-bench-{args.messages}.bag", args.messages
    )
    start, end = window_of(path, args.minutes)
    expected = reference_messages(path, start, end)
    results: dict[str, Any] = {
        "messages": args.messages,
        "window_s": args.minutes * 60,
        "selected": len(expected),
    }
    rows = [
        ("bag", f"{args.messages:,} messages, {path.stat().st_size / 2**20:.0f} MiB"),
        ("selected", f"{len(expected):,} messages of {', '.join(TOPICS)} in {args.minutes:g} min"),
    ]
    references = {"bag": rosbags_bag, "mcap": rosbags_mcap}
    with admin_stack() as (stack, http, base), tempfile.TemporaryDirectory() as folder:
        ingested = ingest(stack, http, base, path, "bench-digest")
        for export in args.format.split(","):
            out = Path(folder) / f"reference.{export}"
            write = references[export]
            reference_s = statistics.median(_timed(write, path, out, start, end) for _ in range(args.repeats))
            runs = [digest(http, base, ingested.log_id, export, start, end) for _ in range(args.repeats)]
            got = exported_messages(http, base, ingested.log_id, runs[0]["digestion"], export)
            assert sorted(got) == sorted(expected), (
                f"{export}: the export does not hold the window's messages"
            )
            seconds = statistics.median(run["seconds"] for run in runs)
            results[export] = {
                "reference_s": reference_s,
                "reference_size": out.stat().st_size,
                "digestion_s": seconds,
                "runs": [run["seconds"] for run in runs],
                "parts": runs[0]["parts"],
                "export_size": runs[0]["digestion"]["context"]["export"]["size"],
                "ratio": seconds / reference_s,
            }
            rows += [
                (f"{export}", ""),
                (
                    f"  rosbags read + {'rosbags' if export == 'bag' else 'mcap'} write",
                    f"{reference_s:.2f} s ({out.stat().st_size / 2**20:.1f} MiB)",
                ),
                (
                    "  openlqs digestion POST → completed (median)",
                    f"{seconds:.2f} s ({runs[0]['parts']} parts, "
                    f"{results[export]['export_size'] / 2**20:.1f} MiB)",
                ),
                ("  openlqs / reference (target <= 0.5x)", f"{seconds / reference_s:.2f}x"),
            ]
    report("digest", rows, results, RESULTS)


def _timed(run: Any, *args: Any) -> float:
    began = time.perf_counter()
    run(*args)
    return time.perf_counter() - began


if __name__ == "__main__":
    main()
