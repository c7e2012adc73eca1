"""Query benchmark: a page of 1,000 records in a random time window, over HTTP vs rosbags on the bag.

    python -m bench.queries [--records 1200000] [--requests 30]

Generates a bag with one topic of ``--records`` small messages, ingests it on the local stack (in this
process, data in a temporary directory), then times ``--requests`` list requests of a page of 1,000
records in random time windows of 1,000 to 10,000 records (``timestamp_gte`` and ``timestamp_lte``) over
HTTP with the administrator key: with the default ``include_count=true``, with ``include_count=false``,
and with ``timestamp_gte`` only (the count then runs to the topic's end). The reference is the same
windows' first 1,000 messages read by opening the bag with rosbags and iterating
``Reader.messages(start=..., stop=...)``. Targets: p50 <= 20 ms and >= 100x faster than rosbags. Writes
bench/results/queries.json.

The function keeps decoded blocks while warm (``codec.decoded_blocks``, ~75 buckets of 8,000 records
of this topic's 150): the table says how often a variant found its blocks kept. The targeted variant is
each window's first request, so it finds only what earlier windows decoded.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rosbags.rosbag1 import Reader, Writer

from bench.common import TYPESTORE, admin_stack, ingest, report, string_payloads
from openlqs.records.codec import decoded_blocks

RESULTS = Path(__file__).resolve().parent / "results"
TOPIC = "/imu"
PAGE = 1_000
START_NS = 1_700_000_000_000_000_000
PERIOD_NS = 2_500_000  # 400 Hz


def generate_single_topic_bag(path: Path, records: int, *, seed: int = 11) -> Path:
    """One topic of ``records`` small std_msgs/String messages at a steady 400 Hz, fixed seed."""
    if path.exists():
        return path
    payloads = string_payloads(random.Random(seed))
    with Writer(path) as writer:
        connection = writer.add_connection(TOPIC, "std_msgs/msg/String", typestore=TYPESTORE)
        for i in range(records):
            writer.write(connection, START_NS + i * PERIOD_NS, payloads[i % len(payloads)])
    return path


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


Window = tuple[int, int]


def timed(run: Callable[[Window], Callable[[], int]], windows: list[Window]) -> list[float]:
    """Wall time of ``run(window)`` for every window. ``run`` returns how to count what it got, which
    is done after the clock stops and must give a full page."""
    times = []
    for window in windows:
        gc.collect()  # no measurement pays for the garbage of the one before
        began = time.perf_counter()
        count = run(window)
        times.append(time.perf_counter() - began)
        assert count() == PAGE, (window, count())
    return times


def rosbags_window(path: Path, window: Window) -> Callable[[], int]:
    """Open the bag and read the window's first 1,000 messages (what a script does today)."""
    start, stop = window
    with Reader(path) as reader:
        read = sum(1 for _ in itertools.islice(reader.messages(start=start, stop=stop + 1), PAGE))
    return lambda: read


def serve_and_time(path: Path, windows: list[Window]) -> dict[str, Any]:
    with admin_stack() as (stack, http, base):
        ingested = ingest(stack, http, base, path, "bench")
        (topic,) = http.get(f"{base}/topics", params={"log_id": ingested.log_id}).json()["data"]
        url = f"{base}/topics/{topic['id']}/records"

        def page(window: Window, *, count: bool = True, bounded: bool = True) -> Callable[[], int]:
            """The request, until the whole answer is received; decoding its JSON is the client's
            work (~4 ms in Python for 1,000 records) and is done after the clock stops."""
            params: dict[str, str | int] = {
                "timestamp_gte": window[0],
                "limit": PAGE,
                "include_count": str(count).lower(),
            }
            if bounded:
                params["timestamp_lte"] = window[1]
            response = http.get(url, params=params)
            response.raise_for_status()
            return lambda: len(response.json()["data"])

        page(windows[0])  # warm the handler's caches once, as a warm Lambda would be
        # Window by window, every variant and the reference back to back, so that the machine's
        # noise falls on all of them alike.
        variants: dict[str, Callable[[Window], Callable[[], int]]] = {
            "times": page,
            "uncounted_times": lambda window: page(window, count=False),
            "open_times": lambda window: page(window, bounded=False),
            "rosbags_times": lambda window: rosbags_window(path, window),
        }
        measured: dict[str, list[float]] = {name: [] for name in variants}
        # How often the warm function's decoded blocks (codec.decoded_blocks) spared a decode, per
        # variant: a window's first request finds only what earlier windows decoded.
        hits = {name: [0, 0] for name in variants}
        decoded_blocks.clear()
        for window in windows:
            for name, run in variants.items():
                before = decoded_blocks.hits, decoded_blocks.misses
                measured[name] += timed(run, [window])
                hits[name][0] += decoded_blocks.hits - before[0]
                hits[name][1] += decoded_blocks.misses - before[1]
    hit_ratios = {
        name: kept / (kept + missed) if kept + missed else None for name, (kept, missed) in hits.items()
    }
    return {"ingest_s": ingested.seconds, **measured, "decoded_block_hit_ratio": hit_ratios}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_200_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    path = generate_single_topic_bag(
        Path(tempfile.gettempdir()) / f"openlqs-bench-queries-{args.records}.bag", args.records
    )
    rng = random.Random(args.seed)
    # A window of 2.5 to 25 s (1,000 to 10,000 records at 400 Hz) at a random place in the topic.
    windows = []
    for _ in range(args.requests):
        span = rng.randrange(PAGE, 10 * PAGE)
        first = rng.randrange(args.records - span)
        windows.append((START_NS + first * PERIOD_NS, START_NS + (first + span) * PERIOD_NS))

    served = serve_and_time(path, windows)
    rosbags_times = served["rosbags_times"]
    http_times = served["times"]
    http_p50, http_p95 = statistics.median(http_times), percentile(http_times, 0.95)
    uncounted = served["uncounted_times"]
    bare_p50, bare_p95 = statistics.median(uncounted), percentile(uncounted, 0.95)
    open_times = served["open_times"]
    open_p50, open_p95 = statistics.median(open_times), percentile(open_times, 0.95)
    bag_p50, bag_p95 = statistics.median(rosbags_times), percentile(rosbags_times, 0.95)
    results: dict[str, Any] = {
        "records": args.records,
        "requests": args.requests,
        "page": PAGE,
        "bag_bytes": path.stat().st_size,
        "ingest_s": served["ingest_s"],
        "http_p50_s": http_p50,
        "http_p95_s": http_p95,
        "rosbags_p50_s": bag_p50,
        "rosbags_p95_s": bag_p95,
        "speedup_p50": bag_p50 / http_p50,
        "speedup_median_per_window": statistics.median(
            bag / http for bag, http in zip(rosbags_times, http_times, strict=True)
        ),
        "http_no_count_p50_s": bare_p50,
        "http_no_count_p95_s": bare_p95,
        "http_open_ended_p50_s": open_p50,
        "http_open_ended_p95_s": open_p95,
        "speedup_no_count_p50": bag_p50 / bare_p50,
        "decoded_block_hit_ratio": served["decoded_block_hit_ratio"],
        "http_times_s": http_times,
        "http_no_count_times_s": uncounted,
        "http_open_ended_times_s": open_times,
        "rosbags_times_s": rosbags_times,
    }
    ratios = served["decoded_block_hit_ratio"]
    kept = ["-" if ratios[name] is None else f"{ratios[name]:.0%}" for name in list(ratios)[:3]]
    rows = [
        ("records in the topic", f"{args.records:,} ({path.stat().st_size / 2**20:.0f} MiB bag)"),
        ("requests (page of 1,000)", f"{args.requests}"),
        ("local ingestion", f"{served['ingest_s']:.1f} s"),
        ("HTTP p50 / p95 (target p50 <= 20 ms)", f"{http_p50 * 1e3:.1f} / {http_p95 * 1e3:.1f} ms"),
        ("rosbags open + window p50 / p95", f"{bag_p50 * 1e3:.1f} / {bag_p95 * 1e3:.1f} ms"),
        ("speed-up at p50 (target >= 100x)", f"{bag_p50 / http_p50:.1f}x"),
        ("speed-up, median over windows", f"{results['speedup_median_per_window']:.1f}x"),
        ("HTTP include_count=false p50 / p95", f"{bare_p50 * 1e3:.1f} / {bare_p95 * 1e3:.1f} ms"),
        ("speed-up at p50, include_count=false", f"{bag_p50 / bare_p50:.1f}x"),
        ("HTTP timestamp_gte only p50 / p95", f"{open_p50 * 1e3:.1f} / {open_p95 * 1e3:.1f} ms"),
        ("decoded blocks found kept (count / no count / open)", " / ".join(kept)),
    ]
    report("queries", rows, results, RESULTS)


if __name__ == "__main__":
    main()
