"""Ingestion benchmark: openlqs's indexer vs rosbags iterating the same bag, and the local stack end to end.

    python -m bench.ingest [--messages 2000000] [--compression none,lz4] [--repeats 3] [--skip-e2e]

For each compression, a generated bag of small messages on five topics (fixed seed): rosbags'
``Reader.messages()`` over the whole file, openlqs's indexer (``read_index`` + ``index_chunk_columns``)
over the same file, and the local stack from the queued ingestion to ``completed`` (a fresh stack each
run); medians of ``--repeats``. Targets: indexer >= 10x faster than rosbags; local end-to-end <= 0.5x
rosbags' iteration time. DynamoDB requests are counted by ``bench.storage``. Writes
bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

from rosbags.rosbag1 import Reader

from bench.common import admin_stack, generate_small_message_bag, ingest, median_seconds, report
from openlqs.formats.ros1.bag import index_chunk_columns, read_index

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


def local_end_to_end(path: Path) -> dict[str, Any]:
    """A fresh local stack ingests the bag: seconds from the queued POST to completed, and records."""
    with admin_stack() as (stack, http, base):
        ingested = ingest(stack, http, base, path, "bench")
    return {"seconds": ingested.seconds, "records": ingested.records}


Rows = list[tuple[str, str]]


def measure(path: Path, messages: int, repeats: int, *, e2e: bool) -> tuple[dict[str, Any], Rows]:
    """Indexer and (optionally) local end-to-end ingestion of one bag, each against rosbags' iteration."""
    assert openlqs_indexer(path) == rosbags_iteration(path) == messages
    rosbags_s = median_seconds(lambda: rosbags_iteration(path), repeats)
    indexer_s = median_seconds(lambda: openlqs_indexer(path), repeats)
    results: dict[str, Any] = {
        "bag_bytes": path.stat().st_size,
        "rosbags_iteration_s": rosbags_s,
        "indexer_s": indexer_s,
        "indexer_speedup": rosbags_s / indexer_s,
    }
    rows = [
        ("  rosbags Reader.messages()", f"{rosbags_s:.2f} s ({messages / rosbags_s / 1e6:.2f} M msg/s)"),
        ("  openlqs indexer", f"{indexer_s:.3f} s ({messages / indexer_s / 1e6:.2f} M msg/s)"),
        ("  indexer speed-up (target >= 10x)", f"{rosbags_s / indexer_s:.1f}x"),
    ]
    if e2e:
        runs = [local_end_to_end(path) for _ in range(repeats)]
        assert all(run["records"] == messages for run in runs), runs
        seconds = statistics.median(run["seconds"] for run in runs)
        results["local_end_to_end"] = runs
        results["local_end_to_end_s"] = seconds
        results["end_to_end_vs_rosbags"] = seconds / rosbags_s
        rows += [
            ("  local queued→completed (median)", f"{seconds:.2f} s ({messages:,} records)"),
            ("  end-to-end / rosbags (target <= 0.5x)", f"{seconds / rosbags_s:.2f}x"),
        ]
    return results, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compression", default="none,lz4", help="comma-separated: none, lz4, bz2")
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"messages": args.messages, "repeats": args.repeats}
    rows = [("messages", f"{args.messages:,}")]
    for compression in args.compression.split(","):
        name = "" if compression == "none" else f"-{compression}"
        path = generate_small_message_bag(
            Path(tempfile.gettempdir()) / f"openlqs-bench-{args.messages}{name}.bag",
            args.messages,
            compression=None if compression == "none" else compression,
        )
        measured, measured_rows = measure(path, args.messages, args.repeats, e2e=not args.skip_e2e)
        results[compression] = measured
        rows += [(f"{compression} ({path.stat().st_size / 2**20:.0f} MiB)", ""), *measured_rows]
    report("ingest", rows, results, RESULTS)


if __name__ == "__main__":
    main()
