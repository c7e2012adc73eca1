"""Shared benchmark helpers: generated bags, timing, reporting."""

from __future__ import annotations

import base64
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from rosbags.rosbag1 import Writer
from rosbags.typesys import Stores, get_typestore

TYPESTORE = get_typestore(Stores.ROS1_NOETIC)


def generate_small_message_bag(
    path: Path, messages: int, *, seed: int = 7, compression: str | None = None
) -> Path:
    """A bag of small messages on a few topics (IMU-rate strings, odometry-rate strings), fixed seed."""
    if path.exists():
        return path
    rng = random.Random(seed)
    string = TYPESTORE.types["std_msgs/msg/String"]
    payloads = [
        bytes(TYPESTORE.serialize_ros1(string(data="x" * rng.randrange(8, 40)), "std_msgs/msg/String"))
        for _ in range(64)
    ]
    writer = Writer(path)
    if compression is not None:
        writer.set_compression(Writer.CompressionFormat[compression.upper()])
    with writer:
        topics = [
            writer.add_connection(name, "std_msgs/msg/String", typestore=TYPESTORE)
            for name in ("/imu", "/odom", "/tf", "/gps", "/diagnostics")
        ]
        weights = [400, 50, 100, 10, 1]
        timestamp = 1_700_000_000_000_000_000
        for i in range(messages):
            timestamp += rng.randrange(100_000, 4_000_000)
            topic = rng.choices(topics, weights)[0]
            writer.write(topic, timestamp, payloads[i % len(payloads)])
    return path


def admin_http(stack: Any) -> tuple[httpx.Client, str]:
    """An HTTP client with the local stack's administrator key, and the API's base URL."""
    assert stack.admin_key is not None
    token = base64.b64encode(f"{stack.admin_key.key_id}:{stack.admin_key.secret}".encode()).decode()
    base = f"{stack.api_url}/apps/lqs/{stack.datastore_id}/api"
    return httpx.Client(timeout=600, headers={"Authorization": f"Bearer {token}"}), base


def median_seconds(run: Callable[[], Any], repeats: int = 3) -> float:
    """Median wall time of ``repeats`` runs (these machines are shared and noisy)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(name: str, rows: list[tuple[str, str]], results: dict[str, Any], out_dir: Path) -> None:
    width = max(len(label) for label, _ in rows)
    print(f"\n== {name}")
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(results, indent=2, default=str))
