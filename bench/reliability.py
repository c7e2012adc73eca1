"""Reliability benchmark: many clients on the local stack while a ~100 MB bag ingests, and record creates
on a fresh stack against the same stack holding 10x more resources.

    python -m bench.reliability [--clients 16] [--seconds 60] [--messages 1250000] [--creates 200]
                                [--growth 10] [--min-items 2000]

A fresh `openlqs local` runs in a subprocess, as a user runs it (data in a temporary directory); the
clients run in this process, each thread with its own connection. In order:

1. A small bag (100,000 messages) is ingested: its topics are the windows the clients query.
2. Fresh stack: ``--creates`` record creates one after the other into a new topic (p50, p95), and the
   items of ResourcesTable counted through moto's endpoint.
3. Groups, logs and topics are created until ResourcesTable holds ``--growth`` times as many items,
   and at least ``--min-items`` (a fresh stack holds a few dozen); the same creates again into
   another new topic. The ratio of the p50s should stay near 1 (a create used to copy the table).
4. Load: ``--clients`` clients for ``--seconds``, each mixing record windows (4), lists (3) and
   record creates (3), while the generated bag of ``--messages`` small messages (~100 MB for 1.25 M)
   is ingested into one new log after another; the creates go into a topic of the log being ingested.
5. Checks: no connection errors, no 5xx, no status but 200 and 409 "try again" (counted), every
   acknowledged create served by its topic's record list, every ingestion completed with rosbags'
   count for every topic (and the creates it received in its log's counts). A failed check exits
   with 1, after the report.

Writes bench/results/reliability.json. Expectations: creates p50 < 100 ms on the fresh stack and not
growing with the resources; figures and what they mean are in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.e2e.conftest import LocalStackProcess
from tests.support import load
from tests.support.bags import topic_counts
from tests.support.stack_api import StackApi

from bench.common import generate_small_message_bag, report

RESULTS = Path(__file__).resolve().parent / "results"
QUERIED_MESSAGES = 100_000
#: Resources made per round of growth (each a group, a log and a topic), and threads making them.
GROWTH_BATCH = 50
GROWTH_THREADS = 8


def timed_creates(api: StackApi, log_id: str, name: str, count: int) -> list[float]:
    """``count`` record creates, one after the other, into a new topic of the log: their latencies."""
    topic = api.data("POST", "/topics", json={"log_id": log_id, "name": name, "type_name": "bench/Note"})
    seconds = []
    for i in range(count):
        began = time.perf_counter()
        response = api.request("POST", f"/topics/{topic['id']}/records", json={"timestamp": 10**18 + i})
        seconds.append(time.perf_counter() - began)
        response.raise_for_status()
    return seconds


def _ms(seconds: list[float], percent: int) -> float:
    value = load.percentile_ms(seconds, percent)
    assert value is not None, "no latencies"
    return value


def grow(api: StackApi, stack: LocalStackProcess, target_items: int) -> int:
    """Create groups, each with a log and a topic, until ResourcesTable holds ``target_items``."""

    def one(number: int) -> None:
        group = api.data("POST", "/groups", json={"name": f"growth {number}"})
        log = api.data("POST", "/logs", json={"group_id": group["id"], "name": "log"})
        api.data("POST", "/topics", json={"log_id": log["id"], "name": "/topic", "type_name": "bench/Note"})

    made, items = 0, len(stack.scan("ResourcesTable"))
    with ThreadPoolExecutor(GROWTH_THREADS) as pool:
        while items < target_items:
            list(pool.map(one, range(made, made + GROWTH_BATCH)))
            made += GROWTH_BATCH
            items = len(stack.scan("ResourcesTable"))
    return items


def run(args: argparse.Namespace, bag: Path, queried_bag: Path, bag_counts: dict[str, int]) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as data_dir,
        LocalStackProcess(Path(data_dir) / "openlqs-data") as stack,
    ):
        return measure(args, stack, bag, queried_bag, bag_counts)


def measure(
    args: argparse.Namespace,
    stack: LocalStackProcess,
    bag: Path,
    queried_bag: Path,
    bag_counts: dict[str, int],
) -> dict[str, Any]:
    api = StackApi.at(stack.base(), stack.authorization(), timeout_s=600)
    queried = load.IngestionLoop(api, queried_bag, "queried").run_once()

    fresh_items = len(stack.scan("ResourcesTable"))
    fresh = timed_creates(api, queried.log_id, "/bench/fresh", args.creates)
    grown_items = grow(api, stack, max(args.growth * fresh_items, args.min_items))
    grown = timed_creates(api, queried.log_id, "/bench/grown", args.creates)

    run_ = load.run_while_ingesting(
        api, stack.authorization(), queried, bag, clients=args.clients, seconds=args.seconds
    )
    tally, rounds = run_.tally, run_.rounds

    unreadable = load.unreadable_creates(api.http, api.base, tally.created)
    problems = load.ingestion_problems(api.http, api.base, rounds, bag_counts, tally.created)
    return {
        "fresh": {"resource_items": fresh_items, "creates_s": fresh},
        "grown": {"resource_items": grown_items, "creates_s": grown},
        "creates_p50_ratio": _ms(grown, 50) / _ms(fresh, 50),
        "load": {
            "seconds": run_.seconds,
            "requests": {op: tally.requests(op) for op in load.OPERATIONS},
            "p50_ms": {op: tally.percentile_ms(op, 50) for op in load.OPERATIONS},
            "p95_ms": {op: tally.percentile_ms(op, 95) for op in load.OPERATIONS},
            "statuses": {op: dict(tally.statuses[op]) for op in load.OPERATIONS},
            "connection_errors": tally.connection_errors,
            "server_errors": tally.server_errors,
            "conflicts": tally.conflicts,
            "creates_acknowledged": len(tally.created),
            "unreadable_creates": unreadable,
            "ingestions": [
                {"log_id": r.log_id, "state": r.ingestion["state"], "seconds": r.seconds} for r in rounds
            ],
            "count_problems": problems,
        },
    }


def rows_of(results: dict[str, Any]) -> list[tuple[str, str]]:
    fresh, grown, run_ = results["fresh"], results["grown"], results["load"]
    ms = results["creates_ms"]
    rows = [
        (
            "machine",
            f"os.cpu_count() = {results['cpu_count']}, 1-min load average "
            f"{results['load_average'][0][0]:.1f} before, {results['load_average'][1][0]:.1f} after",
        ),
        (
            "bag under load",
            f"{results['bag_bytes'] / 1e6:.1f} MB, {sum(results['bag_counts'].values()):,} messages "
            f"(rosbags), {len(results['bag_counts'])} topics",
        ),
        (
            f"creates, fresh stack ({fresh['resource_items']:,} items)",
            f"p50 {ms['fresh_p50']:.1f} ms, p95 {ms['fresh_p95']:.1f} ms (target p50 < 100 ms)",
        ),
        (
            f"creates, {grown['resource_items'] / fresh['resource_items']:.1f}x items "
            f"({grown['resource_items']:,})",
            f"p50 {ms['grown_p50']:.1f} ms, p95 {ms['grown_p95']:.1f} ms",
        ),
        ("creates p50, grown / fresh", f"{results['creates_p50_ratio']:.2f}x (target: not growing, ~1x)"),
        (
            "load",
            f"{results['clients']} clients for {run_['seconds']:.0f} s: "
            f"{sum(run_['requests'].values()):,} requests, "
            f"{sum(run_['requests'].values()) / run_['seconds']:.1f}/s",
        ),
    ]
    for op in load.OPERATIONS:
        p50, p95 = run_["p50_ms"][op], run_["p95_ms"][op]
        rows.append(
            (
                f"  {op}",
                f"{run_['requests'][op]:,} requests, p50 {p50 or 0:.0f} ms, p95 {p95 or 0:.0f} ms, "
                f"statuses {run_['statuses'][op]}",
            )
        )
    rounds = run_["ingestions"]
    rows += [
        ("connection errors (resets, timeouts)", str(len(run_["connection_errors"]))),
        ("5xx answers", str(len(run_["server_errors"]))),
        ("409 answers (to try again)", str(len(run_["conflicts"]))),
        (
            "creates acknowledged / not served after",
            f"{run_['creates_acknowledged']:,} / {len(run_['unreadable_creates'])}",
        ),
        (
            "ingestions during the load",
            f"{len(rounds)}, {sum(r['state'] == 'completed' for r in rounds)} completed, queued→ended "
            + ", ".join(f"{r['seconds']:.1f}" for r in rounds)
            + " s",
        ),
        ("counts differing from rosbags + creates", str(len(run_["count_problems"]))),
    ]
    return rows


def failures(results: dict[str, Any]) -> list[str]:
    run_ = results["load"]
    unexpected = {
        op: {status: n for status, n in statuses.items() if status not in (200, 409)}
        for op, statuses in run_["statuses"].items()
    }
    found = [
        *run_["connection_errors"][:10],
        *run_["server_errors"][:10],
        *(c for c in run_["conflicts"] if not c.endswith("try again.")),
        *(f"{op}: {statuses}" for op, statuses in unexpected.items() if statuses),
        *(f"not served: {topic} {timestamp}" for topic, timestamp in run_["unreadable_creates"][:10]),
        *run_["count_problems"],
    ]
    if not run_["ingestions"]:
        found.append("no ingestion ran during the load")
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--messages", type=int, default=1_250_000)
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--growth", type=int, default=10)
    parser.add_argument("--min-items", type=int, default=2000)
    args = parser.parse_args()
    temp = Path(tempfile.gettempdir())
    bag = generate_small_message_bag(temp / f"openlqs-bench-{args.messages}.bag", args.messages)
    queried_bag = generate_small_message_bag(temp / f"openlqs-bench-{QUERIED_MESSAGES}.bag", QUERIED_MESSAGES)
    bag_counts = topic_counts(bag)
    load_before = os.getloadavg()
    results = run(args, bag, queried_bag, bag_counts)
    fresh_s, grown_s = results["fresh"]["creates_s"], results["grown"]["creates_s"]
    results.update(
        clients=args.clients,
        cpu_count=os.cpu_count(),
        load_average=[load_before, os.getloadavg()],
        bag_bytes=bag.stat().st_size,
        bag_counts=bag_counts,
        creates_ms={
            "fresh_p50": _ms(fresh_s, 50),
            "fresh_p95": _ms(fresh_s, 95),
            "grown_p50": _ms(grown_s, 50),
            "grown_p95": _ms(grown_s, 95),
        },
    )
    report("reliability", rows_of(results), results, RESULTS)
    found = failures(results)
    if found:
        raise SystemExit("reliability checks failed:\n  " + "\n  ".join(found))


if __name__ == "__main__":
    main()
