"""SQL query benchmark: DuckDB over record blocks against iterating the bag with rosbags.

    python -m bench.queries_sql [--messages 2000000] [--repeats 3] [--windows 20]

The 2 M-message bench bag (five topics, fixed seed; cached in the temp folder) is indexed as an
ingestion part does (``read_index`` + ``index_chunk_columns``), its records cut per topic into
buckets of ~8,000 records (``bucket_width_for``, blocks of at most 10,000) and encoded by the record
codec: the blobs RecordsTable would hold. The records view reads them through ``bucket_spans`` (at
most 32 spans a topic). Then, in the same run, each answer is computed twice:

- **group-by**: the issue's ``SELECT t.name, count(*), min(timestamp), max(timestamp) FROM records r
  JOIN topics t ON r.topic_id = t.id GROUP BY 1 ORDER BY 1`` through ``queries.engine.run_query``
  over ``queries.views.log_views``: every blob is decoded (``decode_columns``, no decoded-block
  cache) and turned into Arrow inside the timed run. Reference: rosbags ``Reader.messages()`` over
  the whole bag, counting per topic.
- **window count**: ``count(*)`` of ``/imu`` records in a random window of 1-60 s (``--windows``
  windows, the same for both): SQL with the topic and window as parameters (the topic and window
  filters read only the ``/imu`` spans that meet the window; their blocks are decoded). Reference:
  rosbags ``Reader.messages(connections=imu, start, stop)``, which skips chunks by the bag's index.

Both answers are checked equal before timing. Target: >= 20x faster. Writes
bench/results/queries_sql.json.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

import numpy as np
from rosbags.rosbag1 import Reader

from bench.common import generate_small_message_bag, median_seconds, report
from bench.ingest import FileSource
from openlqs.formats.ros1.bag import index_chunk_columns, read_index
from openlqs.ingestion.part_blocks import MAX_BLOCK_RECORDS, bucket_width_for
from openlqs.models.resources import Topic
from openlqs.queries.engine import QueryLimits, run_query
from openlqs.queries.views import RecordSpan, bucket_spans, log_views
from openlqs.records.codec import BlockColumns, decode_columns, encode_columns

RESULTS = Path(__file__).resolve().parent / "results"
LOG_ID = UUID("6d1f3a52-0c4e-4b8e-9d7a-3e2f1c0b9a87")
INGESTION_ID = UUID("5b0b1d6e-8a7e-4f0c-9a55-0f4f4a8a7d21")
GROUP_BY = (
    "SELECT t.name, count(*), min(timestamp), max(timestamp) "
    "FROM records r JOIN topics t ON r.topic_id = t.id GROUP BY 1 ORDER BY 1"
)
WINDOW = "SELECT count(*) FROM records WHERE topic = $topic AND timestamp BETWEEN $low AND $high"
LIMITS = QueryLimits(timeout_s=120.0, memory_limit=1024 * 2**20)


Stored = dict[str, tuple[int, list[tuple[int, bytes]]]]


def stored_blocks(path: Path) -> tuple[list[Topic], Stored]:
    """The bag's records as RecordsTable would hold them: per topic, its bucket width and its blocks
    (bucket, blob), sorted, cut at bucket edges and every 10,000 records, encoded."""
    source = FileSource(path)
    index = read_index(source)
    topic_of = {connection.id: connection.topic for connection in index.connections.values()}
    columns: dict[str, list[list[np.ndarray[Any, Any]]]] = defaultdict(lambda: [[], [], []])
    for chunk in index.chunks:
        for part in index_chunk_columns(source.read(chunk.start, chunk.end), chunk.start):
            assert part.compression is None, "the bench bag is uncompressed"
            ids = np.asarray(part.connection_ids, dtype=np.int64)
            values = [np.asarray(v, dtype=np.int64) for v in (part.timestamps, part.offsets, part.lengths)]
            for connection, topic in topic_of.items():
                mine = ids == connection
                if mine.any():
                    for store, value in zip(columns[topic], values, strict=True):
                        store.append(value[mine])
    topics, stored = [], {}
    for name in sorted(set(topic_of.values())):
        timestamps, offsets, lengths = (np.concatenate(parts) for parts in columns[name])
        order = np.lexsort((offsets, timestamps))
        timestamps, offsets, lengths = timestamps[order], offsets[order], lengths[order]
        topic = Topic(
            id=uuid5(LOG_ID, name),
            created_at=datetime.now(UTC),
            log_id=LOG_ID,
            name=name,
            record_count=len(timestamps),
            start_time=int(timestamps[0]),
            end_time=int(timestamps[-1]),
        )
        width = bucket_width_for(len(timestamps), int(timestamps[-1] - timestamps[0]))
        buckets = timestamps // width
        edges = sorted(
            {0, len(timestamps)}
            | set(np.flatnonzero(np.diff(buckets)) + 1)
            | set(range(0, len(timestamps), MAX_BLOCK_RECORDS))
        )
        blocks = [
            (int(buckets[at]), encode_columns(block_columns(timestamps, offsets, lengths, at, end)))
            for at, end in itertools.pairwise(edges)
        ]
        topics.append(topic)
        stored[str(topic.id)] = (width, blocks)
    return topics, stored


def block_columns(
    timestamps: np.ndarray[Any, Any],
    offsets: np.ndarray[Any, Any],
    lengths: np.ndarray[Any, Any],
    at: int,
    end: int,
) -> BlockColumns:
    n = end - at
    none = np.full(n, -1, dtype=np.int64)
    return BlockColumns(
        timestamps=timestamps[at:end],
        data_offsets=offsets[at:end],
        data_lengths=lengths[at:end],
        chunk_offsets=none,
        chunk_lengths=none,
        compression_ix=np.full(n, -1, dtype=np.int32),
        source_ix=np.full(n, -1, dtype=np.int32),
        ingestion_ix=np.zeros(n, dtype=np.int32),
        ingestions=[INGESTION_ID.hex],
    )


def spans_of(topics: list[Topic], stored: Stored) -> list[RecordSpan]:
    """The records view's spans: each topic along its buckets, blobs decoded when a span is scanned."""
    spans = []
    for topic in topics:
        width, blocks = stored[str(topic.id)]

        def read(first: int | None, last: int | None, blocks: list[tuple[int, bytes]] = blocks) -> Any:
            return (
                decode_columns(blob)
                for bucket, blob in blocks
                if (first is None or bucket >= first) and (last is None or bucket <= last)
            )

        spans += bucket_spans(
            topic.id, topic.name, bucket_width_ns=width, buckets=[b for b, _ in blocks], read=read
        )
    return spans


def sql(topics: list[Topic], stored: Stored, statement: str, **parameters: Any) -> list[Any]:
    """``statement`` over the log's views, every blob decoded when its span is scanned."""
    views = log_views(topics=topics, spans=spans_of(topics, stored))
    result = run_query(statement, parameters or None, views, LIMITS)
    assert result.error is None, result.error
    return result.rows


def rosbags_group_by(path: Path) -> list[list[Any]]:
    found: dict[str, list[int]] = {}
    with Reader(path) as reader:
        for connection, timestamp, _ in reader.messages():
            stats = found.setdefault(connection.topic, [0, timestamp, timestamp])
            stats[0] += 1
            stats[1] = min(stats[1], timestamp)
            stats[2] = max(stats[2], timestamp)
    return [[name, *stats] for name, stats in sorted(found.items())]


def rosbags_window(path: Path, topic: str, low: int, high: int) -> int:
    with Reader(path) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        return sum(1 for _ in reader.messages(connections=connections, start=low, stop=high + 1))


def measure(
    path: Path, repeats: int, windows: int, seed: int
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    started = time.perf_counter()
    topics, blobs = stored_blocks(path)
    prepare_s = time.perf_counter() - started
    records = sum(topic.record_count for topic in topics)
    block_count = sum(len(b) for _, b in blobs.values())

    expected = rosbags_group_by(path)
    assert sql(topics, blobs, GROUP_BY) == expected
    rosbags_s = median_seconds(lambda: rosbags_group_by(path), repeats)
    sql_s = median_seconds(lambda: sql(topics, blobs, GROUP_BY), repeats)

    rng = random.Random(seed)
    imu = next(topic for topic in topics if topic.name == "/imu")
    assert imu.start_time is not None and imu.end_time is not None
    spans = []
    for _ in range(windows):
        width = rng.randrange(1, 61) * 10**9
        low = rng.randrange(imu.start_time, max(imu.start_time + 1, imu.end_time - width))
        spans.append((low, low + width))
    window_sql, window_rosbags, ratios = [], [], []
    for low, high in spans:
        assert sql(topics, blobs, WINDOW, topic="/imu", low=low, high=high) == [
            [rosbags_window(path, "/imu", low, high)]
        ]
        a = median_seconds(
            lambda low=low, high=high: sql(topics, blobs, WINDOW, topic="/imu", low=low, high=high), 1
        )
        b = median_seconds(lambda low=low, high=high: rosbags_window(path, "/imu", low, high), 1)
        window_sql.append(a)
        window_rosbags.append(b)
        ratios.append(b / a)
    window_sql_s, window_rosbags_s = statistics.median(window_sql), statistics.median(window_rosbags)

    results = {
        "records": records,
        "topics": len(topics),
        "blocks": block_count,
        "blob_bytes": sum(len(blob) for _, b in blobs.values() for _, blob in b),
        "prepare_s": prepare_s,
        "group_by": {"rosbags_s": rosbags_s, "sql_s": sql_s, "speedup": rosbags_s / sql_s},
        "window_count": {
            "windows": windows,
            "rosbags_p50_s": window_rosbags_s,
            "sql_p50_s": window_sql_s,
            "speedup_at_p50": window_rosbags_s / window_sql_s,
            "speedup_median_of_ratios": statistics.median(ratios),
        },
    }
    rows = [
        ("records / topics / blocks", f"{records:,} / {len(topics)} / {block_count:,}"),
        ("group-by: rosbags Reader.messages()", f"{rosbags_s:.2f} s"),
        ("group-by: SQL over blocks (decode included)", f"{sql_s:.3f} s"),
        ("group-by speed-up (target >= 20x)", f"{rosbags_s / sql_s:.1f}x"),
        (f"window count /imu, {windows} windows: rosbags p50", f"{window_rosbags_s * 1000:.0f} ms"),
        ("window count: SQL p50", f"{window_sql_s * 1000:.0f} ms"),
        (
            "window speed-up at p50 (median of ratios)",
            f"{window_rosbags_s / window_sql_s:.1f}x ({statistics.median(ratios):.1f}x)",
        ),
    ]
    return results, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--windows", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    path = generate_small_message_bag(
        Path(tempfile.gettempdir()) / f"openlqs-bench-{args.messages}.bag", args.messages
    )
    results, rows = measure(path, args.repeats, args.windows, args.seed)
    report(
        "queries_sql",
        [("messages", f"{args.messages:,}"), *rows],
        {"messages": args.messages, **results},
        RESULTS,
    )


if __name__ == "__main__":
    main()
