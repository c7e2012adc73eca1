"""Memory benchmark: peak RSS of a part processor handling one 64 MiB part, vs a 1,024 MB Lambda.

    python -m bench.memory [--records 800000]

A child process (fresh interpreter, so the high-water mark is its own) plans the ingestion of a
generated one-topic bag in moto's mock_aws and runs ``process_part`` on the first part (the part
target is 64 MiB, so with the default size that part is a full 64 MiB). It reports the peak RSS
(``getrusage``) and the RSS just before the part, because moto keeps the bag in the same process
(in Lambda the object lives in S3): the difference is what processing the part costs. Writes
bench/results/memory.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import report
from bench.queries import generate_single_topic_bag

RESULTS = Path(__file__).resolve().parent / "results"
LAMBDA_MB = 1024


def current_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def child(path: Path) -> dict[str, Any]:

    from tests.support import tasks

    from bench.storage import Api, mocked_stack

    with mocked_stack() as settings:
        api = Api()
        _, ingestion = api.queue_ingestion(path, settings["OBJECTS_BUCKET_NAME"])
        plan = tasks.plan({"ingestion_id": ingestion["id"], "attempt": 1})
        planned = tasks.parts_of(plan)
        parts = api.call("GET", f"/ingestions/{ingestion['id']}/parts")
        first = min(parts, key=lambda part: part["sequence"])
        context = first.get("context") or {}
        part_bytes = int(context.get("end", 0)) - int(context.get("start", 0))
        before = current_rss_bytes()
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        result = tasks.process_part(planned[0])
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "parts": len(planned),
        "part_bytes": part_bytes,
        "part_records": result["record_count"],
        "rss_before_part": before,
        "peak_rss_before_part": peak_before,
        "peak_rss": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=800_000)
    parser.add_argument("--child", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    path = generate_single_topic_bag(
        Path(tempfile.gettempdir()) / f"openlqs-bench-queries-{args.records}.bag", args.records
    )
    output = subprocess.run(
        [sys.executable, "-m", "bench.memory", "--child", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    measured = json.loads(output.strip().splitlines()[-1])
    processing = measured["peak_rss"] - measured["rss_before_part"]
    mib = 2**20
    results = {"records": args.records, "bag_bytes": path.stat().st_size, **measured, "lambda_mb": LAMBDA_MB}
    rows = [
        (
            "bag",
            f"{path.stat().st_size / mib:.0f} MiB, {args.records:,} records, {measured['parts']} part(s)",
        ),
        ("first part", f"{measured['part_bytes'] / mib:.1f} MiB, {measured['part_records']:,} records"),
        ("RSS before the part (moto holds the bag)", f"{measured['rss_before_part'] / mib:.0f} MiB"),
        ("peak RSS of the process", f"{measured['peak_rss'] / mib:.0f} MiB"),
        ("peak added by process_part", f"{processing / mib:.0f} MiB"),
        (
            f"peak / {LAMBDA_MB} MB Lambda",
            f"{measured['peak_rss'] / (LAMBDA_MB * 1e6):.0%} (whole process, moto included)",
        ),
    ]
    report("memory", rows, results, RESULTS)


if __name__ == "__main__":
    main()
