"""Many clients at once against a running local stack, while bags ingest: what every answer was.

``run_load`` runs ``clients`` threads, each with its own HTTP connection, for ``seconds``: each picks,
request after request, a record window of an ingested topic, a list (groups, logs, topics, ingestions)
or a record create, and keeps every answer's status and latency, every connection error and every
create the API acknowledged. Meanwhile ``IngestionLoop`` ingests a bag into one new log after another,
and the creates go into a topic of the log being ingested, so that API writes race the pipeline's on
the same log. The checks after the run (``unreadable_creates``, ``ingestion_problems``) compare what
the API acknowledged with what it serves, and the ingested counts with what rosbags reads.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.stack_api import StackApi

OPERATIONS = ("window", "list", "create")
#: How often each operation is picked.
WEIGHTS = (4, 3, 3)
#: Where created records go in time: far from the bags' timestamps; clients interleave 1 ms apart, so
#: that they write into the same buckets.
CREATE_BASE_NS = 1_600_000_000 * 10**9
CREATE_STEP_NS = 1_000_000
#: The topic every ingested log gets for the creates that race its ingestion.
NOTES_TOPIC = "/load/notes"
PAGE = 1000


def page_of_records(http: httpx.Client, base: str, topic_id: str, after: int | None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"limit": PAGE, "include_count": "false"}
    if after is not None:
        params["timestamp_gt"] = after
    response = http.get(f"{base}/topics/{topic_id}/records", params=params)
    response.raise_for_status()
    records: list[dict[str, Any]] = response.json()["data"]
    return records


def record_timestamps(http: httpx.Client, base: str, topic_id: str) -> Iterator[int]:
    """Every record's timestamp of a topic, in order, a page at a time."""
    after = None
    while page := page_of_records(http, base, topic_id, after):
        yield from (record["timestamp"] for record in page)
        after = page[-1]["timestamp"]


def percentile_ms(seconds: list[float], percent: int) -> float | None:
    """The ``percent``-th percentile of latencies in seconds, in milliseconds (None: no latencies)."""
    if len(seconds) < 2:
        return seconds[0] * 1000 if seconds else None
    return statistics.quantiles(seconds, n=100, method="inclusive")[percent - 1] * 1000


@dataclass
class Tally:
    """What one client (or all of them, merged) saw."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPERATIONS})
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: {op: Counter() for op in OPERATIONS})
    #: Requests that got no answer: ``"{operation}: {exception type}: {message}"``.
    connection_errors: list[str] = field(default_factory=list)
    #: Answers of 500 and above: ``"{method} {path} → {status} {body}"``.
    server_errors: list[str] = field(default_factory=list)
    #: Answers of 409: ``"{operation}: {message}"`` (a create of a new timestamp may only be asked to try
    #: again, when its read-modify-writes lost every retry to concurrent writers).
    conflicts: list[str] = field(default_factory=list)
    #: ``(topic id, timestamp)`` of every create answered 2xx.
    created: list[tuple[str, int]] = field(default_factory=list)

    def merge(self, other: Tally) -> None:
        for op in OPERATIONS:
            self.latencies[op] += other.latencies[op]
            self.statuses[op] += other.statuses[op]
        self.connection_errors += other.connection_errors
        self.server_errors += other.server_errors
        self.conflicts += other.conflicts
        self.created += other.created

    def requests(self, op: str | None = None) -> int:
        ops = OPERATIONS if op is None else (op,)
        return sum(sum(self.statuses[o].values()) for o in ops)

    def percentile_ms(self, op: str, percent: int) -> float | None:
        return percentile_ms(self.latencies[op], percent)

    def unexpected(self) -> dict[str, dict[int, int]]:
        """Statuses other than 200 and 409, by operation."""
        return {
            op: {status: n for status, n in sorted(self.statuses[op].items()) if status not in (200, 409)}
            for op in OPERATIONS
            if any(status not in (200, 409) for status in self.statuses[op])
        }

    def conflicts_not_retryable(self) -> list[str]:
        """The 409 answers that are not a request to try again (a create never collides here)."""
        return [conflict for conflict in self.conflicts if not conflict.endswith("try again.")]


@dataclass
class Ingested:
    """One round of ``IngestionLoop``: a log, its ingestion as it ended, and its topic for creates."""

    group_id: str
    log_id: str
    ingestion: dict[str, Any]
    notes_topic_id: str
    seconds: float


class IngestionLoop(threading.Thread):
    """Ingests ``bag`` into a new log, then another, until :meth:`finish`: each log gets ``NOTES_TOPIC``
    first (``notes_topic`` names the current one, for creates), then the bag is uploaded (one presigned
    part), queued and waited for (at most ``limit_s``)."""

    def __init__(self, api: StackApi, bag: Path, label: str, limit_s: float = 600) -> None:
        super().__init__(name=f"ingest {label}", daemon=True)
        self.api, self.bag, self.label, self.limit_s = api, bag, label, limit_s
        self.rounds: list[Ingested] = []
        self.error: BaseException | None = None
        self._notes: str | None = None
        self._finish = threading.Event()
        self._started = threading.Event()
        self._group_id: str | None = None
        self._body = b""

    @property
    def notes_topic(self) -> str | None:
        return self._notes

    def wait_started(self, timeout: float = 120) -> None:
        """Wait until the first log and its notes topic exist (the bag may still be uploading)."""
        if not self._started.wait(timeout):
            raise TimeoutError(f"{self.label}: no log after {timeout} s")

    def finish(self) -> list[Ingested]:
        """Start no further round; wait for the one running, and return them all."""
        self._finish.set()
        self.join(self.limit_s)
        if self.error is not None:
            raise self.error
        return self.rounds

    def run(self) -> None:
        try:
            while not self._finish.is_set():
                self.run_once()
        except BaseException as error:
            self.error = error
            self._started.set()

    def run_once(self) -> Ingested:
        """One round, in the calling thread: a new log, its notes topic, the bag uploaded and ingested."""
        if self._group_id is None:
            self._body = self.bag.read_bytes()
            self._group_id = self.api.data("POST", "/groups", json={"name": f"{self.label} ingestions"})["id"]
        log = self.api.data(
            "POST", "/logs", json={"group_id": self._group_id, "name": f"{self.label} {len(self.rounds)}"}
        )
        notes = self.api.data(
            "POST", "/topics", json={"log_id": log["id"], "name": NOTES_TOPIC, "type_name": "load/Note"}
        )
        self._notes = notes["id"]
        self._started.set()
        self.api.upload(log["id"], self.bag.name, self._body)
        start = time.monotonic()
        ingestion = self.api.wait(self.api.queue(log["id"], self.bag.name)["id"], self.limit_s)
        done = Ingested(self._group_id, log["id"], ingestion, notes["id"], time.monotonic() - start)
        self.rounds.append(done)
        return done


@dataclass(frozen=True)
class Targets:
    """What the clients ask for: record windows ``(topic id, start, end)`` and list requests
    ``(path, params)``; creates go to the ingestion loop's current notes topic."""

    windows: list[tuple[str, int, int]]
    lists: list[tuple[str, dict[str, Any]]]
    loop: IngestionLoop

    @classmethod
    def around(cls, api: StackApi, queried: Ingested, loop: IngestionLoop) -> Targets:
        """Windows over the whole time range of each topic of ``queried``'s log, and lists of its
        group's logs, its topics and ingestions, and of groups."""
        topics = api.items("/topics", log_id=queried.log_id)
        return cls(
            windows=[(t["id"], t["start_time"], t["end_time"]) for t in topics if t["record_count"]],
            lists=[
                ("/groups", {"limit": 100}),
                ("/logs", {"group_id": queried.group_id}),
                ("/topics", {"log_id": queried.log_id}),
                ("/ingestions", {"log_id": queried.log_id}),
            ],
            loop=loop,
        )


@dataclass(frozen=True)
class LoadRun:
    """What ``run_while_ingesting`` saw: every answer, the ingestions that ran meanwhile, and for how
    long the clients ran."""

    tally: Tally
    rounds: list[Ingested]
    seconds: float


def run_while_ingesting(
    api: StackApi, authorization: str, queried: Ingested, bag: Path, *, clients: int, seconds: float
) -> LoadRun:
    """``run_load`` over ``queried``'s log while ``bag`` is ingested into one new log after another."""
    loop = IngestionLoop(StackApi.at(api.base, authorization, timeout_s=600), bag, "under load")
    targets = Targets.around(api, queried, loop)
    loop.start()
    loop.wait_started()
    began = time.monotonic()
    tally = run_load(api.base, authorization, targets, clients=clients, seconds=seconds)
    elapsed = time.monotonic() - began
    return LoadRun(tally, loop.finish(), elapsed)


def run_load(
    base: str, authorization: str, targets: Targets, *, clients: int, seconds: float, seed: int = 7
) -> Tally:
    """``clients`` threads, each with its own connection, sending the mix for ``seconds``."""
    deadline = time.monotonic() + seconds
    tallies = [Tally() for _ in range(clients)]
    threads = [
        threading.Thread(
            target=_client,
            args=(index, clients, base, authorization, targets, deadline, random.Random(seed + index)),
            kwargs={"tally": tallies[index]},
            name=f"load client {index}",
        )
        for index in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = Tally()
    for tally in tallies:
        total.merge(tally)
    return total


def _client(
    index: int,
    clients: int,
    base: str,
    authorization: str,
    targets: Targets,
    deadline: float,
    rng: random.Random,
    *,
    tally: Tally,
) -> None:
    sent = 0
    with httpx.Client(timeout=120, headers={"Authorization": authorization}) as http:
        while time.monotonic() < deadline:
            op = rng.choices(OPERATIONS, WEIGHTS)[0]
            notes = targets.loop.notes_topic
            if op == "create" and notes is None:
                op = "list"
            if op == "window":
                topic_id, first, last = rng.choice(targets.windows)
                start = rng.randint(first, last)
                method, path = "GET", f"/topics/{topic_id}/records"
                kwargs: dict[str, Any] = {
                    "params": {"timestamp_gte": start, "timestamp_lt": start + 10**9, "limit": 100}
                }
            elif op == "list":
                path, params = rng.choice(targets.lists)
                method, kwargs = "GET", {"params": params}
            else:
                timestamp = CREATE_BASE_NS + (sent * clients + index) * CREATE_STEP_NS
                method, path = "POST", f"/topics/{notes}/records"
                kwargs = {"json": {"timestamp": timestamp, "note": f"client {index}"}}
                sent += 1
            began = time.perf_counter()
            try:
                response = http.request(method, f"{base}{path}", **kwargs)
            except httpx.TransportError as error:
                tally.connection_errors.append(f"{op}: {type(error).__name__}: {error}")
                continue
            tally.latencies[op].append(time.perf_counter() - began)
            tally.statuses[op][response.status_code] += 1
            if response.status_code >= 500:
                tally.server_errors.append(f"{method} {path} → {response.status_code} {response.text[:300]}")
            elif response.status_code == 409:
                tally.conflicts.append(f"{op}: {response.json()['message']}")
            if op == "create" and response.is_success:
                tally.created.append((str(notes), timestamp))


def unreadable_creates(
    http: httpx.Client, base: str, created: list[tuple[str, int]]
) -> list[tuple[str, int]]:
    """The acknowledged creates that the topic's record list does not serve."""
    wanted: dict[str, set[int]] = {}
    for topic_id, timestamp in created:
        wanted.setdefault(topic_id, set()).add(timestamp)
    missing = []
    for topic_id, timestamps in wanted.items():
        listed = set(record_timestamps(http, base, topic_id))
        missing += [(topic_id, t) for t in sorted(timestamps - listed)]
    return missing


def count_problems(http: httpx.Client, base: str, log_id: str, expected: dict[str, int]) -> list[str]:
    """How a log's counts differ from ``expected`` (records per topic name): every topic's
    ``record_count``, the count its record list serves (from the stored blocks) and the log's
    ``record_count``."""
    response = http.get(f"{base}/topics", params={"log_id": log_id, "limit": 100})
    response.raise_for_status()
    topics = response.json()["data"]
    stated = {t["name"]: t["record_count"] for t in topics}
    served = {}
    for topic in topics:
        page = http.get(f"{base}/topics/{topic['id']}/records", params={"limit": 1})
        page.raise_for_status()
        served[topic["name"]] = page.json()["count"]
    log = http.get(f"{base}/logs/{log_id}")
    log.raise_for_status()
    log_count, total = log.json()["data"]["record_count"], sum(expected.values())
    problems = []
    if stated != expected:
        problems.append(f"log {log_id}: topics' record_count {stated}, expected {expected}")
    if served != expected:
        problems.append(f"log {log_id}: record lists count {served}, expected {expected}")
    if log_count != total:
        problems.append(f"log {log_id}: record_count {log_count}, expected {total}")
    return problems


def ingestion_problems(
    http: httpx.Client,
    base: str,
    rounds: list[Ingested],
    bag_counts: dict[str, int],
    created: list[tuple[str, int]],
) -> list[str]:
    """How each ingested log differs from the bag (rosbags' counts) plus the creates its notes topic
    received (``count_problems``), and every ingestion that did not complete."""
    creates = Counter(topic_id for topic_id, _ in created)
    problems = []
    for done in rounds:
        if done.ingestion["state"] != "completed":
            problems.append(f"log {done.log_id}: ingestion {done.ingestion['state']}: {done.ingestion}")
            continue
        expected = {**bag_counts, NOTES_TOPIC: creates[done.notes_topic_id]}
        problems += count_problems(http, base, done.log_id, expected)
    return problems
