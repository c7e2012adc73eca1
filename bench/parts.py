"""Part benchmark: what one ingestion part costs, by chunk compression, to size parts (PartSizing).

    python -m bench.parts [--messages 800000] [--image-megabytes 64] [--compression none,lz4,bz2]

For every compression it generates (once, kept in the system temporary folder) two bags: the
small-message bag of benchmark 1 (five topics of ``std_msgs/String``, ~85 bytes a message) and the
image bag of benchmark 5 (640x480 rgb8 frames at 10 Hz plus a 100 Hz string topic). It takes the first
part of each as the planner would cut it with bytes as the only bound (64 MiB), and runs, in a fresh
child process each, what "Process part" computes for it: index the chunks (``index_columns``), make the
numpy columns, sort and cut them into record blocks and encode them (``BlockBuilder.build``). That is
the CPU work of a part; reading it from S3 and writing the blocks to DynamoDB are not in it (moto would
dominate; docs/performance.md states what is assumed for them on AWS). Timing is the median of
``--repeats`` runs; memory is a separate run under ``tracemalloc`` (numpy's buffers included): the
part's bytes, its decompressed chunks and columns, as a Lambda would hold them.

From the two bags of a compression it solves ``seconds = bytes / byte_rate + messages / message_rate``
for that compression's two rates. Writes bench/results/parts.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np

from bench.common import generate_small_message_bag, report
from bench.fanout import generate_image_bag
from openlqs.formats.ros1 import Ros1Format
from openlqs.ingestion.part_blocks import BlockBuilder, bucket_width_for, part_columns
from openlqs.ingestion.part_sizes import MIB, PartSizing

RESULTS = Path(__file__).resolve().parent / "results"
PART_BYTES = 64 * MIB
INGESTION = UUID("00000000-0000-4000-8000-00000000beef")


class RangeFile:
    """A ``ByteSource`` over a file that reads only the ranges asked for (as S3 range reads would)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size

    def read(self, start: int, end: int) -> bytes:
        with self.path.open("rb") as file:
            file.seek(start)
            return file.read(max(0, min(end, self.size) - start))


def first_part(path: Path) -> tuple[int, int, int]:
    """(start, end, messages) of the first part the planner would make with only 64 MiB as bound."""
    index = Ros1Format().read_index(RangeFile(path))
    sizing = PartSizing(max_bytes=PART_BYTES, max_messages=10**12, target_seconds=10**12)
    spans = sizing.split(index.spans)[0]
    return spans[0].start, spans[-1].end, sum(span.message_count for span in spans)


def process(path: Path, start: int, end: int) -> int:
    """What "Process part" computes for bytes ``start`` to ``end`` of ``path``; the blocks made."""
    data = RangeFile(path).read(start, end)
    index = Ros1Format().read_index(RangeFile(path))
    topics = sorted({channel.topic for channel in index.channels.values()})
    topic_index = {name: i for i, name in enumerate(topics)}
    channels = {cid: topic_index[channel.topic] for cid, channel in index.channels.items()}
    topic_ids = [UUID(int=i + 1) for i in range(len(topics))]
    duration = max(1, index.spans[-1].end_time - index.spans[0].start_time)
    count = sum(span.message_count for span in index.spans)
    widths = {topic_id: bucket_width_for(count // len(topics), duration) for topic_id in topic_ids}
    chunks = Ros1Format().index_columns(data, start)
    builder = BlockBuilder(
        ingestion_id=INGESTION,
        segment=f"i{INGESTION}-00000-{{:03d}}".format,
        created_at=datetime.now(UTC),
    )
    built = builder.build(part_columns(chunks, channels), topic_ids, widths)
    return len(built.blocks)


def child(path: Path, start: int, end: int, repeats: int) -> dict[str, Any]:
    process(path, start, end)  # warm: imports, numpy, the page cache
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        blocks = process(path, start, end)
        times.append(time.perf_counter() - began)
    tracemalloc.start()
    process(path, start, end)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"seconds": statistics.median(times), "all_seconds": times, "peak_bytes": peak, "blocks": blocks}


def measure(path: Path, repeats: int) -> dict[str, Any]:
    start, end, messages = first_part(path)
    output = subprocess.run(
        [sys.executable, "-m", "bench.parts", "--child", str(path), str(start), str(end), str(repeats)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    measured = json.loads(output.strip().splitlines()[-1])
    part_bytes = end - start
    return {
        "bag": path.name,
        "part_bytes": part_bytes,
        "messages": messages,
        **measured,
        "mib_per_s": part_bytes / MIB / measured["seconds"],
        "messages_per_s": messages / measured["seconds"],
        "peak_mib": measured["peak_bytes"] / MIB,
    }


def rates(small: dict[str, Any], images: dict[str, Any]) -> dict[str, float]:
    """Solve seconds = bytes / byte_rate + messages / message_rate for both bags of a compression."""
    matrix = np.array([[run["part_bytes"], run["messages"]] for run in (small, images)], dtype=float)
    seconds = np.array([small["seconds"], images["seconds"]])
    per_byte, per_message = np.linalg.solve(matrix, seconds)
    return {
        "byte_rate_mib_s": (1 / per_byte / MIB) if per_byte > 0 else float("inf"),
        "message_rate": (1 / per_message) if per_message > 0 else float("inf"),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=800_000)
    parser.add_argument("--image-megabytes", type=int, default=64)
    parser.add_argument("--compression", type=lambda text: text.split(","), default=["none", "lz4", "bz2"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=4)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.child:
        path, start, end, repeats = args.child
        print(json.dumps(child(Path(path), int(start), int(end), int(repeats))))
        return
    temp = Path(tempfile.gettempdir())
    results: dict[str, Any] = {"messages": args.messages, "image_megabytes": args.image_megabytes}
    rows: list[tuple[str, str]] = []
    for compression in args.compression:
        codec = None if compression == "none" else compression
        small_bag = generate_small_message_bag(
            temp / f"openlqs-bench-small-{args.messages}-{compression}.bag", args.messages, compression=codec
        )
        image_bag = generate_image_bag(
            temp / f"openlqs-bench-images-{args.image_megabytes}-{compression}.bag",
            args.image_megabytes,
            compression=compression,
        )
        small, images = measure(small_bag, args.repeats), measure(image_bag, args.repeats)
        fitted = rates(small, images)
        results[compression] = {"small_messages": small, "images": images, **fitted}
        for label, run in (("small messages", small), ("images", images)):
            rows.append(
                (
                    f"{compression} {label}",
                    f"{run['part_bytes'] / MIB:.1f} MiB, {run['messages']:,} msg: {run['seconds']:.2f} s "
                    f"({run['mib_per_s']:.0f} MiB/s, {run['messages_per_s'] / 1e6:.2f} M msg/s), "
                    f"peak {run['peak_mib']:.0f} MiB",
                )
            )
        rows.append(
            (
                f"{compression} rates",
                f"{fitted['byte_rate_mib_s']:.0f} MiB/s of file bytes, "
                f"{fitted['message_rate'] / 1e6:.2f} M msg/s",
            )
        )
    report("parts", rows, results, RESULTS)


if __name__ == "__main__":
    main()
