"""Shared benchmark helpers: generated bags, timing, reporting."""

from __future__ import annotations

import base64
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from rosbags.rosbag1 import Writer
from rosbags.typesys import Stores, get_typestore

TYPESTORE = get_typestore(Stores.ROS1_NOETIC)
#: How often an ingestion's state is polled, and how long it may take.
POLL_S = 0.05
#: How often a process timed by its own clock (:func:`recorded_seconds`) is polled: seldom, since the
#: API that answers the polls runs in the local stack's process and would slow what is being timed.
SLOW_POLL_S = 0.5
TIMEOUT_S = 3600.0


def string_payloads(rng: random.Random, count: int = 64) -> list[bytes]:
    """Serialised std_msgs/String messages of 8 to 39 characters, for generated bags to cycle through."""
    string = TYPESTORE.types["std_msgs/msg/String"]
    return [
        bytes(TYPESTORE.serialize_ros1(string(data="x" * rng.randrange(8, 40)), "std_msgs/msg/String"))
        for _ in range(count)
    ]


def generate_small_message_bag(
    path: Path, messages: int, *, seed: int = 7, compression: str | None = None
) -> Path:
    """A bag of small messages on a few topics (IMU-rate strings, odometry-rate strings), fixed seed."""
    if path.exists():
        return path
    rng = random.Random(seed)
    payloads = string_payloads(rng)
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


@contextmanager
def admin_stack(**options: Any) -> Iterator[tuple[Any, httpx.Client, str]]:
    """A fresh local stack in this process (data in a temporary directory), an HTTP client with its
    administrator key, and the API's base URL."""
    from openlqs.local.stack import LocalStack

    with (
        tempfile.TemporaryDirectory() as data_dir,
        LocalStack(port=0, moto_port=0, data_dir=Path(data_dir), **options) as stack,
    ):
        http, base = admin_http(stack)
        with http:
            yield stack, http, base


def admin_http(stack: Any) -> tuple[httpx.Client, str]:
    """An HTTP client with the local stack's administrator key, and the API's base URL."""
    assert stack.admin_key is not None
    token = base64.b64encode(f"{stack.admin_key.key_id}:{stack.admin_key.secret}".encode()).decode()
    base = f"{stack.api_url}/apps/lqs/{stack.datastore_id}/api"
    return httpx.Client(timeout=600, headers={"Authorization": f"Bearer {token}"}), base


def data(response: httpx.Response) -> Any:
    response.raise_for_status()
    return response.json()["data"]


@dataclass(frozen=True)
class Ingested:
    """One timed ingestion on the local stack."""

    log_id: str
    seconds: float
    parts: int
    records: int


def ingest(
    stack: Any, http: httpx.Client, base: str, path: Path, name: str, object_key: str = "bench.bag"
) -> Ingested:
    """Upload ``path`` as a new log's object, then time its ingestion from the POST to completed."""
    return ingest_files(stack, http, base, {object_key: path}, name, object_key)


def ingest_files(
    stack: Any,
    http: httpx.Client,
    base: str,
    files: dict[str, Path],
    name: str,
    object_key: str,
    *,
    poll_s: float = POLL_S,
) -> Ingested:
    """Upload ``files`` (object key in the log: local path) as a new log's objects, then time the
    ingestion of ``object_key`` from the POST to completed: to the ``updated_at`` of its completion
    (:func:`recorded_seconds`), polled every ``poll_s``."""
    group = data(http.post(f"{base}/groups", json={"name": name}))
    log = data(http.post(f"{base}/logs", json={"group_id": group["id"], "name": name}))
    s3 = stack.client("s3")
    for key, path in files.items():
        s3.upload_file(str(path), stack.bucket_name, f"lqs/{stack.datastore_id}/logs/{log['id']}/{key}")
    began = time.time()
    ingestion = data(
        http.post(
            f"{base}/ingestions", json={"log_id": log["id"], "object_key": object_key, "state": "queued"}
        )
    )
    final = wait_for_end(http, f"{base}/ingestions/{ingestion['id']}", poll_s)
    seconds = recorded_seconds(final, began)
    if final["state"] != "completed":
        raise RuntimeError(f"ingestion {final['id']} failed: {final.get('error_message')}")
    parts = http.get(f"{base}/ingestions/{ingestion['id']}/parts", params={"limit": 1}).json()["count"]
    records = data(http.get(f"{base}/logs/{log['id']}"))["record_count"]
    return Ingested(log_id=log["id"], seconds=seconds, parts=parts, records=records)


def recorded_seconds(process: dict[str, Any], began: float) -> float:
    """Seconds from ``began`` (``time.time()`` before the process was created) to the ``updated_at`` the
    process recorded when it ended: its own clock, on this machine, so the polls' interval adds nothing."""
    return datetime.fromisoformat(process["updated_at"]).timestamp() - began


def wait_for_end(http: httpx.Client, url: str, poll_s: float = POLL_S) -> dict[str, Any]:
    """Poll the process every ``poll_s`` until it is completed or failed."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        ingestion: dict[str, Any] = data(http.get(url))
        if ingestion["state"] in ("completed", "failed"):
            return ingestion
        time.sleep(poll_s)
    raise TimeoutError(f"{url} did not end within {TIMEOUT_S} s")


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
