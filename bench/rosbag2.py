"""ROS 2 recording benchmark: a sqlite3 recording split into files, rosbags' rosbag2 reader iterating it
versus openlqs's local end-to-end ingestion of its metadata.yaml (conversion to MCAP included).

    python -m bench.rosbag2 [--messages 1000000] [--files 4] [--repeats 3]

The recording (cached under the temporary folder by its size) is written by rosbags' rosbag2 writer,
one storage file per piece (sqlite3, small ``std_msgs/msg/String`` messages on five topics at
``bench.mcap``'s rates), gathered under one metadata.yaml listing them as ``ros2 bag record --max-bag-size``
would. Measured in the same run:

- the reference: ``rosbags.rosbag2.Reader(folder).messages()`` over every message;
- openlqs's conversion alone (``convert_db3_to_mcap`` of each file, one after the other, in this
  process): its rate and the MCAP's size against the ``.db3``'s;
- the local stack from the queued POST of ``run/metadata.yaml`` to ``completed`` (the ingestion's own
  ``updated_at``, polled every half second), for the recording in ``--files`` files and for the same
  messages in one file: split files fan out as conversion parts, run in worker processes. Each layout
  is ingested ``--repeats`` times into new logs of one stack, as a running ``openlqs local`` takes one
  recording after another: the first run includes the workers' cold starts, and the median is the one
  compared (as ``bench.digest`` does).

Target: the split recording's ingestion <= 1.0x the reference's iteration. Writes
bench/results/rosbag2.json.
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from bench.common import SLOW_POLL_S, admin_stack, ingest_files, report, string_payloads
from openlqs.formats.rosbag2 import convert_db3_to_mcap

RESULTS = Path(__file__).resolve().parent / "results"
TYPESTORE = get_typestore(Stores.LATEST)
TOPICS = ("/imu", "/odom", "/tf", "/gps", "/diagnostics")
WEIGHTS = (400, 50, 100, 10, 1)
START_NS = 1_700_000_000_000_000_000


def generate_recording(folder: Path, messages: int, files: int, *, seed: int = 7) -> Path:
    """A sqlite3 recording of ``messages`` in ``files`` storage files (cached by name)."""
    if (folder / "metadata.yaml").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = random.Random(seed)
    payloads = string_payloads(rng)
    per_file = -(-messages // files)
    timestamp = START_NS
    entries: list[dict[str, Any]] = []
    topics: dict[str, dict[str, Any]] = {}
    names: list[str] = []
    written = 0
    for index in range(files):
        piece = folder.parent / f"{folder.name}-piece{index}"
        shutil.rmtree(piece, ignore_errors=True)
        writer = Writer(piece, version=9, storage_plugin=StoragePlugin.SQLITE3)
        with writer:
            connections = [
                writer.add_connection(t, "std_msgs/msg/String", typestore=TYPESTORE) for t in TOPICS
            ]
            for _ in range(min(per_file, messages - written)):
                timestamp += rng.randrange(100_000, 4_000_000)
                writer.write(rng.choices(connections, WEIGHTS)[0], timestamp, rng.choice(payloads))
                written += 1
        metadata = yaml.safe_load((piece / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        (source,) = metadata["relative_file_paths"]
        name = f"run_{index}.db3"
        shutil.move(piece / source, folder / name)
        shutil.rmtree(piece)
        names.append(name)
        entries.append({**metadata["files"][0], "path": name})
        for topic in metadata["topics_with_message_count"]:
            known = topics.setdefault(topic["topic_metadata"]["name"], {**topic, "message_count": 0})
            known["message_count"] += topic["message_count"]
    information = {
        "version": 9,
        "storage_identifier": "sqlite3",
        "duration": {"nanoseconds": timestamp - START_NS},
        "starting_time": {"nanoseconds_since_epoch": START_NS},
        "message_count": written,
        "topics_with_message_count": list(topics.values()),
        "compression_format": "",
        "compression_mode": "",
        "relative_file_paths": names,
        "files": entries,
        "custom_data": None,
        "ros_distro": "jazzy",
    }
    (folder / "metadata.yaml").write_text(yaml.safe_dump({"rosbag2_bagfile_information": information}))
    return folder


def iterate_with_rosbags(folder: Path) -> int:
    count = 0
    with Reader(folder) as reader:
        for _ in reader.messages():
            count += 1
    return count


def convert_all(folder: Path) -> tuple[float, int, int]:
    """Seconds to convert every .db3 of the folder (in memory), the MCAP bytes, the .db3 bytes."""
    start = time.perf_counter()
    mcap_bytes = db3_bytes = 0
    for path in sorted(folder.glob("*.db3")):
        out = io.BytesIO()
        summary = convert_db3_to_mcap(path, out, compression_mode="none")
        mcap_bytes += summary.output_bytes
        db3_bytes += path.stat().st_size
    return time.perf_counter() - start, mcap_bytes, db3_bytes


def ingest_recording(folder: Path, name: str, repeats: int) -> list[tuple[float, int, int]]:
    """A fresh local stack, ``repeats`` times into a new log: every file under ``run/``, then the
    ingestion of run/metadata.yaml timed from its POST to completed; seconds, parts, records of each."""
    runs = []
    with admin_stack() as (stack, http, base):
        files = {f"run/{path.name}": path for path in sorted(folder.iterdir())}
        for repeat in range(repeats):
            ingested = ingest_files(
                stack, http, base, files, f"{name} {repeat}", "run/metadata.yaml", poll_s=SLOW_POLL_S
            )
            runs.append((ingested.seconds, ingested.parts, ingested.records))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cache = Path(tempfile.gettempdir()) / "openlqs-bench"
    split = generate_recording(cache / f"rosbag2-{args.messages}-{args.files}", args.messages, args.files)
    single = generate_recording(cache / f"rosbag2-{args.messages}-1", args.messages, 1)

    reference = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        count = iterate_with_rosbags(split)
        reference.append(time.perf_counter() - start)
    assert count == args.messages, f"rosbags read {count} messages of {args.messages}"
    reader_s = statistics.median(reference)
    convert_s, mcap_bytes, db3_bytes = convert_all(split)
    split_runs = ingest_recording(split, "split", args.repeats)
    single_runs = ingest_recording(single, "single", args.repeats)
    split_s = statistics.median(run[0] for run in split_runs)
    single_s = statistics.median(run[0] for run in single_runs)
    assert all(run[2] == args.messages for run in split_runs + single_runs), (split_runs, single_runs)

    results = {
        "messages": args.messages,
        "files": args.files,
        "db3_bytes": db3_bytes,
        "rosbags_reader_s": round(reader_s, 2),
        "conversion_s": round(convert_s, 2),
        "conversion_messages_per_s": round(args.messages / convert_s),
        "mcap_to_db3_size": round(mcap_bytes / db3_bytes, 3),
        "ingestion_split_s": round(split_s, 2),
        "ingestion_split_runs_s": [round(run[0], 2) for run in split_runs],
        "ingestion_single_runs_s": [round(run[0], 2) for run in single_runs],
        "ingestion_split_parts": split_runs[0][1],
        "ingestion_single_s": round(single_s, 2),
        "ingestion_single_parts": single_runs[0][1],
        "split_vs_reader": round(split_s / reader_s, 2),
    }
    report(
        "rosbag2",
        [
            (
                "recording",
                f"{args.messages:,} messages in {args.files} .db3 files, {db3_bytes / 2**20:.1f} MiB",
            ),
            ("rosbags Reader.messages()", f"{reader_s:.2f} s"),
            (
                "conversion alone (in process)",
                f"{convert_s:.2f} s, {results['conversion_messages_per_s']:,} msg/s, "
                f"MCAP {results['mcap_to_db3_size']}x the .db3",
            ),
            (
                f"local ingestion, {args.files} files",
                f"{split_s:.2f} s ({split_runs[0][1]} parts), "
                f"{results['split_vs_reader']}x the reader (target <= 1.0x); "
                f"runs {', '.join(f'{run[0]:.2f}' for run in split_runs)} s (the first cold)",
            ),
            (
                "local ingestion, 1 file",
                f"{single_s:.2f} s ({single_runs[0][1]} parts); "
                f"runs {', '.join(f'{run[0]:.2f}' for run in single_runs)} s",
            ),
        ],
        results,
        RESULTS,
    )


if __name__ == "__main__":
    main()
