"""Statistics an ingestion writes while records are created through the API in the same log.

Finalize (and every take-back of an attempt) recomputes its topics' statistics from the stored blocks
and then the log's. A record created meanwhile in another topic of the log is counted in the log
first, then in its topic: the log's statistics must keep it, whenever the two writes land. The
interleaving is made exact by creating the record at the moment finalize reads its first topic, or
each time finalize is about to write the log.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple
from uuid import UUID

import pytest

from openlqs.domain.common import CONFLICT_ATTEMPTS
from openlqs.domain.ports import ResourceKind, WriteConditions
from openlqs.domain.resources import LOG
from openlqs.records.rows import RecordSummary
from openlqs.services import get_services
from tests.support import tasks
from tests.support.api import ApiClient
from tests.support.bags import write_string_bag
from tests.support.ingestion import put_log_object
from tests.support.paths import DATASTORE_ID
from tests.support.resources import BASE_NS, create_group, create_log, create_records, create_topic

BAG_MESSAGES = 300


def _when_first_summed(monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[], None]) -> None:
    """Run ``meanwhile`` once, when the statistics first read a topic's blocks."""
    records = get_services().statistics.records
    summary = records.topic_summary
    pending = [meanwhile]

    def topic_summary(topic_id: UUID) -> RecordSummary:
        while pending:
            pending.pop()()
        return summary(topic_id)

    monkeypatch.setattr(records, "topic_summary", topic_summary)


def _before_log_writes(monkeypatch: pytest.MonkeyPatch, times: int, meanwhile: Callable[[], None]) -> None:
    """Run ``meanwhile`` before each of the next ``times`` writes of a log, as another request would
    between that write's read and its write (the writes ``meanwhile`` makes itself go through)."""
    resources = get_services().statistics.resources
    replace = resources.replace
    left, inside = [times], threading.local()

    def replace_then(
        kind: ResourceKind[Any], old: Any, new: Any, conditions: WriteConditions = WriteConditions()
    ) -> Any:
        if kind is LOG and left[0] > 0 and not getattr(inside, "now", False):
            left[0] -= 1
            inside.now = True
            try:
                meanwhile()
            finally:
                inside.now = False
        return replace(kind, old, new, conditions)

    monkeypatch.setattr(resources, "replace", replace_then)


class Finalizing(NamedTuple):
    log: dict[str, Any]
    notes: dict[str, Any]
    last_timestamp: int
    payload: dict[str, Any]


def _bag_ingested_up_to_finalize(api: ApiClient, aws: dict[str, str], tmp_path: Path) -> Finalizing:
    """A log with a topic of notes (two records) and a bag ingested up to its finalize."""
    log = create_log(api, create_group(api, "Fleet")["id"], "Run")
    notes = create_topic(api, log["id"], "/notes")
    create_records(api, notes["id"], [BASE_NS, BASE_NS + 1])
    messages = [("/imu", BASE_NS + 10**9 + i * 10**6, f"m{i}") for i in range(BAG_MESSAGES)]
    put_log_object(
        aws, DATASTORE_ID, log["id"], "run.bag", write_string_bag(tmp_path / "run.bag", messages).read_bytes()
    )
    ingestion = api.post(
        "/ingestions", {"log_id": log["id"], "object_key": "run.bag", "state": "queued"}
    ).data
    payload: dict[str, Any] = {"ingestion_id": ingestion["id"], "attempt": 1}
    for part in tasks.parts_of(tasks.plan(payload)):
        tasks.process_part(part)
    return Finalizing(log, notes, messages[-1][1], payload)


def test_finalize_keeps_a_record_created_meanwhile_in_another_topic(
    api: ApiClient, aws: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a log with a topic of notes (two records) and a bag ingested up to its finalize
    log, notes, last, payload = _bag_ingested_up_to_finalize(api, aws, tmp_path)

    # When a third note is created while finalize recomputes the statistics
    _when_first_summed(monkeypatch, lambda: create_records(api, notes["id"], [BASE_NS + 2]))
    tasks.finalize(payload)

    # Then the log counts the bag and all three notes
    stored = api.get(f"/logs/{log['id']}").data
    assert stored["record_count"] == BAG_MESSAGES + 3
    assert api.get(f"/topics/{notes['id']}").data["record_count"] == 3
    assert (stored["start_time"], stored["end_time"]) == (BASE_NS, last)


def test_finalize_completes_while_creates_keep_changing_the_log(
    api: ApiClient, aws: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a bag ingested up to its finalize, in a log whose notes take records all the while: a
    # note lands between finalize's read of the log and its write, more times than one
    # read-modify-write tries (the load of bench/reliability.py failed an ingestion this way)
    log, notes, last, payload = _bag_ingested_up_to_finalize(api, aws, tmp_path)
    meanwhile = CONFLICT_ATTEMPTS + 4
    created = iter(range(BASE_NS + 2, BASE_NS + 2 + meanwhile))
    _before_log_writes(monkeypatch, meanwhile, lambda: create_records(api, notes["id"], [next(created)]))

    # When finalize runs
    outcome = tasks.finalize(payload)

    # Then it completes, and the log counts the bag and every note
    assert outcome["state"] == "completed"
    assert next(created, None) is None  # every note was created
    stored = api.get(f"/logs/{log['id']}").data
    assert stored["record_count"] == BAG_MESSAGES + 2 + meanwhile
    assert api.get(f"/topics/{notes['id']}").data["record_count"] == 2 + meanwhile
    assert (stored["start_time"], stored["end_time"]) == (BASE_NS, last)
