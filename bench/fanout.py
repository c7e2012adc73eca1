"""Fan-out benchmark: one bz2 bag of camera images ingested with 1, 2 and 4 parts on the local stack.

    python -m bench.fanout [--megabytes 100] [--parts 1,2,4] [--repeats 1]

Generates (once, kept in the system temporary folder) a bz2-compressed bag of about ``--megabytes`` MB
on disk: 640x480 rgb8 sensor_msgs/Image frames at 10 Hz (a moving gradient plus seeded noise, so that
bz2 has real work) and std_msgs/String messages on /imu at 100 Hz. For every part count it starts a
fresh local stack (in this process, data in a temporary directory), sets the planner's part size to
the smallest ``PART_TARGET_BYTES`` that splits the bag's chunks into that many parts, checks the number
of parts the ingestion really made, and times an ingestion from its POST (state queued) to state
completed (medians of ``--repeats``); every run must index every message of the bag. The reference is
rosbags' ``Reader.messages()`` iterating the same bag. Expectation: the wall time falls with the parts
up to the cores available (``os.cpu_count()``, printed). Writes bench/results/fanout.json.
"""

from __future__ import annotations

import argparse
import bz2
import os
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import lz4.frame
import numpy as np
from rosbags.rosbag1 import Writer

from bench.common import (
    TIMEOUT_S,
    TYPESTORE,
    Ingested,
    admin_stack,
    generate_small_message_bag,
    ingest,
    median_seconds,
    report,
)
from bench.ingest import FileSource, rosbags_iteration
from openlqs.formats.base import Span
from openlqs.formats.ros1 import Ros1Format
from openlqs.ingestion.part_sizes import PartSizing
from openlqs.services import get_services
from openlqs.settings import Settings, get_settings

RESULTS = Path(__file__).resolve().parent / "results"
WIDTH, HEIGHT = 640, 480
#: Noise added to every channel of every pixel: 2 random bits a byte on a smooth gradient, which bz2
#: compresses to about 63% of its size.
NOISE_LEVELS = 4
START_NS = 1_700_000_000_000_000_000
FRAME_PERIOD_NS = 100_000_000  # 10 Hz
IMU_PER_FRAME = 10  # 100 Hz
#: How far the bag on disk may be from ``--megabytes`` (the frame count is estimated from one frame).
SIZE_TOLERANCE = 0.25
WARM_UP_MESSAGES = 1_000


def gradient() -> np.ndarray:
    """A smooth (HEIGHT, WIDTH, 3) image: red across, green down, blue diagonally."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    return np.stack(
        [x * 255 // (WIDTH - 1), y * 255 // (HEIGHT - 1), (x + y) * 255 // (WIDTH + HEIGHT - 2)], -1
    )


def image_payload(base: np.ndarray, index: int, rng: np.random.Generator) -> bytes:
    """Frame ``index``: the gradient shifted by ``index`` plus fresh noise, as a serialized Image."""
    pixels = (base + index + rng.integers(0, NOISE_LEVELS, size=base.shape)) % 256
    stamp_ns = START_NS + index * FRAME_PERIOD_NS
    types = TYPESTORE.types
    message = types["sensor_msgs/msg/Image"](
        header=types["std_msgs/msg/Header"](
            seq=index,
            stamp=types["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9),
            frame_id="camera",
        ),
        height=HEIGHT,
        width=WIDTH,
        encoding="rgb8",
        is_bigendian=0,
        step=WIDTH * 3,
        data=pixels.astype(np.uint8).reshape(-1),
    )
    return bytes(TYPESTORE.serialize_ros1(message, "sensor_msgs/msg/Image"))


def imu_payload(index: int) -> bytes:
    string = TYPESTORE.types["std_msgs/msg/String"]
    return bytes(TYPESTORE.serialize_ros1(string(data=f"imu sample {index}"), "std_msgs/msg/String"))


def frames_for(target_bytes: int, seed: int, compression: str = "bz2") -> int:
    """How many frames make ``target_bytes`` on disk, from one frame compressed as rosbags does (bz2 -9,
    lz4 frames) or not."""
    sample = image_payload(gradient(), 0, np.random.default_rng(seed))
    if compression == "bz2":
        sample = bz2.compress(sample, 9)
    elif compression == "lz4":
        sample = lz4.frame.compress(sample)
    return max(1, round(target_bytes / len(sample)))


def generate_image_bag(path: Path, megabytes: int, *, seed: int = 13, compression: str = "bz2") -> Path:
    """A bag of about ``megabytes`` MB (chunks bz2, lz4 or ``none``): Image frames at 10 Hz and /imu
    strings at 100 Hz, fixed seed."""
    if path.exists():
        return path
    partial = path.with_name(f"{path.name}.partial")
    partial.unlink(missing_ok=True)
    base = gradient()
    rng = np.random.default_rng(seed)
    writer = Writer(partial)
    if compression != "none":
        writer.set_compression(Writer.CompressionFormat[compression.upper()])
    with writer:
        camera = writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=TYPESTORE)
        imu = writer.add_connection("/imu", "std_msgs/msg/String", typestore=TYPESTORE)
        for frame in range(frames_for(megabytes * 10**6, seed, compression)):
            timestamp = START_NS + frame * FRAME_PERIOD_NS
            writer.write(camera, timestamp, image_payload(base, frame, rng))
            for sample in range(IMU_PER_FRAME):
                index = frame * IMU_PER_FRAME + sample
                writer.write(imu, timestamp + sample * FRAME_PERIOD_NS // IMU_PER_FRAME, imu_payload(index))
    size = partial.stat().st_size
    if abs(size - megabytes * 10**6) > SIZE_TOLERANCE * megabytes * 10**6:
        raise RuntimeError(f"{partial} is {size / 1e6:.1f} MB, not about {megabytes} MB")
    return partial.replace(path)


def split_parts(chunks: list[Span], target_bytes: int) -> list[list[Span]]:
    """The planner's parts with ``PART_TARGET_BYTES`` = ``target_bytes`` (its other bounds as set)."""
    return replace(PartSizing.from_settings(Settings()), max_bytes=target_bytes).split(chunks)


def part_target(chunks: list[Span], parts: int) -> int:
    """The smallest part size (at least 1 KiB, the setting's minimum) with which the planner makes at
    most ``parts`` parts: the most even split; raises if that is not exactly ``parts``."""
    low, high = 1024, max(1024, sum(chunk.end - chunk.start for chunk in chunks))
    while low < high:
        middle = (low + high) // 2
        if len(split_parts(chunks, middle)) <= parts:
            high = middle
        else:
            low = middle + 1
    planned = len(split_parts(chunks, low))
    if planned != parts:
        raise SystemExit(f"{len(chunks)} chunks cannot be split into {parts} parts (at best {planned})")
    return low


@contextmanager
def part_target_bytes(value: int) -> Iterator[None]:
    """Make the running local stack's planner split bags into parts of about ``value`` bytes.

    ``LocalStack.start()`` exports the template's function environment into this process, where every
    function runs, so ``PART_TARGET_BYTES`` is the PartTargetBytes default (64 MiB) once the stack has
    started, whatever it was before. It is set here, after the start, and the cached settings and
    services (which hold the pipeline built with the old value) are dropped, as the tests do.
    """
    previous = os.environ.get("PART_TARGET_BYTES")
    os.environ["PART_TARGET_BYTES"] = str(value)
    _forget_settings()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PART_TARGET_BYTES", None)
        else:
            os.environ["PART_TARGET_BYTES"] = previous
        _forget_settings()


def _forget_settings() -> None:
    get_settings.cache_clear()
    get_services.cache_clear()


def fan_out(path: Path, warm_up: Path, target_bytes: int, repeats: int) -> list[Ingested]:
    """``repeats`` ingestions of ``path`` on a fresh local stack planning parts of ``target_bytes``.

    A small bag is ingested first, untimed, so that every run finds the task functions loaded. Periodic
    snapshots are off: saving the tables while an ingestion writes them would be timed too.
    """
    with admin_stack(snapshot_interval=TIMEOUT_S) as (stack, http, base), part_target_bytes(target_bytes):
        ingest(stack, http, base, warm_up, "warm-up")
        return [ingest(stack, http, base, path, f"run-{run}") for run in range(repeats)]


def measure(path: Path, warm_up: Path, chunks: list[Span], parts: int, repeats: int) -> dict[str, Any]:
    target = part_target(chunks, parts)
    runs = fan_out(path, warm_up, target, repeats)
    return {
        "requested_parts": parts,
        "part_target_bytes": target,
        "seconds": statistics.median(run.seconds for run in runs),
        "runs": [asdict(run) for run in runs],
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--parts", type=lambda text: [int(n) for n in text.split(",")], default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=1)
    return parser.parse_args()


def with_ratios(fan_outs: list[dict[str, Any]], rosbags_s: float) -> list[dict[str, Any]]:
    """Each part count's speed-up over the first one (1 part by default) and its time over rosbags'."""
    baseline_s = fan_outs[0]["seconds"]
    return [
        {**fan_out, "speedup": baseline_s / fan_out["seconds"], "vs_rosbags": fan_out["seconds"] / rosbags_s}
        for fan_out in fan_outs
    ]


def rows_of(results: dict[str, Any]) -> list[tuple[str, str]]:
    baseline_parts = results["fan_out"][0]["requested_parts"]
    rows = [
        (
            "bag",
            f"{results['bag_bytes'] / 1e6:.1f} MB bz2, {results['messages']:,} messages, "
            f"{results['chunks']} chunks",
        ),
        ("os.cpu_count()", str(results["cpu_count"])),
        ("rosbags Reader.messages()", f"{results['rosbags_iteration_s']:.2f} s"),
    ]
    for fan_out in results["fan_out"]:
        made = "/".join(str(run["parts"]) for run in fan_out["runs"])
        rows.append(
            (
                f"{fan_out['requested_parts']} part(s) asked, {made} made",
                f"{fan_out['seconds']:.2f} s queued→completed, "
                f"speed-up vs {baseline_parts} part(s) {fan_out['speedup']:.2f}x, "
                f"{fan_out['vs_rosbags']:.2f}x rosbags",
            )
        )
    return rows


def main() -> None:
    args = parse_args()
    temp = Path(tempfile.gettempdir())
    path = generate_image_bag(temp / f"openlqs-bench-fanout-{args.megabytes}.bag", args.megabytes)
    warm_up = generate_small_message_bag(temp / f"openlqs-bench-{WARM_UP_MESSAGES}.bag", WARM_UP_MESSAGES)
    chunks = Ros1Format().read_index(FileSource(path)).spans
    rosbags_s = median_seconds(lambda: rosbags_iteration(path), args.repeats)
    fan_outs = [measure(path, warm_up, chunks, parts, args.repeats) for parts in args.parts]
    results: dict[str, Any] = {
        "megabytes": args.megabytes,
        "bag_bytes": path.stat().st_size,
        "messages": rosbags_iteration(path),
        "chunks": len(chunks),
        "cpu_count": os.cpu_count(),
        "rosbags_iteration_s": rosbags_s,
        "fan_out": with_ratios(fan_outs, rosbags_s),
    }
    report("fanout", rows_of(results), results, RESULTS)
    check(results)


def check(results: dict[str, Any]) -> None:
    """Fail (after the report) when a run made other parts than asked for or missed messages."""
    for fan_out in results["fan_out"]:
        for run in fan_out["runs"]:
            if run["parts"] != fan_out["requested_parts"] or run["records"] != results["messages"]:
                raise SystemExit(
                    f"asked for {fan_out['requested_parts']} parts and "
                    f"{results['messages']:,} records, got {run}"
                )


if __name__ == "__main__":
    main()
