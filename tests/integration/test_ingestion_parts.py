"""An ingestion's parts at scale, against moto: created and deleted in batches with their counter kept,
listed in one manifest, progress counted without listing them, failures noted and named."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any
from uuid import UUID

import boto3
import pytest

from openlqs.domain.ingestions import completed_parts_counter
from openlqs.domain.ports import Counter
from openlqs.domain.resources import INGESTION, INGESTION_PART
from openlqs.errors import BadLogFile
from openlqs.models.common import ProcessState
from openlqs.services import get_services
from openlqs.settings import get_settings
from tests.support import tasks
from tests.support.api import ApiClient
from tests.support.bags import write_string_bag
from tests.support.events import load_event
from tests.support.paths import DATASTORE_ID
from tests.support.resources import create_group, create_log, stored_items

#: About 35 chunks of ~1 KiB: just over one batch of parts.
MESSAGES = 360


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch, aws: dict[str, str]) -> None:
    """Parts of about one 1 KiB chunk each: a small bag makes more parts than a batch (25) holds."""
    monkeypatch.setenv("PART_TARGET_BYTES", "1024")
    get_settings.cache_clear()
    get_services.cache_clear()


@pytest.fixture
def queued(api: ApiClient, aws: dict[str, str], small_parts: None, tmp_path: Path) -> dict[str, Any]:
    """A queued ingestion of a bag of ~1 KiB chunks, in its log's folder."""
    log = create_log(api, create_group(api, "Parts")["id"], "Many")
    messages = [(f"/t{i % 3}", 1_000_000_000 + i * 1_000_000, f"message {i}" * 4) for i in range(MESSAGES)]
    bag = write_string_bag(tmp_path / "many.bag", messages, chunk_threshold=1024)
    boto3.client("s3").put_object(
        Bucket=aws["OBJECTS_BUCKET_NAME"],
        Key=f"lqs/{DATASTORE_ID}/logs/{log['id']}/many.bag",
        Body=bag.read_bytes(),
    )
    response = api.post("/ingestions", {"log_id": log["id"], "object_key": "many.bag", "state": "queued"})
    assert response.status == 200, response.body
    return dict(response.data)


def _parts_counter(ingestion_id: str) -> int:
    return get_services().pipeline.resources.count(Counter(ingestion_id, INGESTION_PART.name))


def _api_parts(api: ApiClient, ingestion_id: str) -> list[dict[str, Any]]:
    listed = api.get(f"/ingestions/{ingestion_id}/parts", params={"limit": 1000}).json()
    assert listed["count"] == len(listed["data"])
    return sorted(listed["data"], key=lambda part: part["sequence"])


def test_plan_creates_parts_in_batches_and_a_manifest_of_them(
    api: ApiClient, aws: dict[str, str], queued: dict[str, Any]
) -> None:
    payload = {"ingestion_id": queued["id"], "attempt": 1}

    plan = tasks.plan(payload)

    parts = _api_parts(api, queued["id"])
    manifest = tasks.manifest_of(plan)
    # The state gets references and counts only
    assert set(plan) == {"ingestion_id", "attempt", "manifest", "part_count"}
    assert len(json.dumps(plan)) < 400
    assert plan["manifest"] == {
        "bucket": aws["OBJECTS_BUCKET_NAME"],
        "key": f"ingestions/{queued['id']}/1/parts.json",
    }
    # More parts than one batch, every one in the manifest, in sequence order, counted
    assert plan["part_count"] == len(parts) == len(manifest) > 25
    assert manifest == [{"part_id": part["id"], "sequence": part["sequence"]} for part in parts]
    assert [item["sequence"] for item in manifest] == list(range(len(parts)))
    assert _parts_counter(queued["id"]) == len(parts)
    assert {part["state"] for part in parts} == {"queued"}
    assert all(part["context"]["attempt"] == 1 for part in parts)
    # No part overlaps another, and together they cover every message
    ranges = [(part["context"]["start"], part["context"]["end"]) for part in parts]
    assert all(end <= next_start for (_, end), (next_start, _) in pairwise(ranges))
    assert sum(part["context"]["message_count"] for part in parts) == MESSAGES


def test_a_plan_run_again_replaces_the_parts_and_keeps_the_counter(
    api: ApiClient, queued: dict[str, Any]
) -> None:
    payload = {"ingestion_id": queued["id"], "attempt": 1}
    first = tasks.manifest_of(tasks.plan(payload))

    # When Step Functions retries "Plan ingestion" (its response was lost)
    second = tasks.manifest_of(tasks.plan(payload))

    parts = _api_parts(api, queued["id"])
    assert len(first) == len(second) == len(parts) == _parts_counter(queued["id"])
    assert {item["part_id"] for item in second} == {part["id"] for part in parts}
    assert not {item["part_id"] for item in first} & {part["id"] for part in parts}


def test_deleting_an_ingestion_deletes_its_parts_in_batches(
    api: ApiClient, aws: dict[str, str], queued: dict[str, Any]
) -> None:
    payload = {"ingestion_id": queued["id"], "attempt": 1}
    plan = tasks.plan(payload)
    for part in tasks.parts_of(plan):
        tasks.process_part(part)
    tasks.finalize(payload)

    assert api.delete(f"/ingestions/{queued['id']}").status == 204

    assert api.get("/ingestionParts", params={"ingestion_id": queued["id"]}).json()["count"] == 0
    assert _parts_counter(queued["id"]) == 0
    # and no item names it, its attempt's completed-parts counter included
    assert [pk for _, pk, _, _ in stored_items(aws) if queued["id"] in pk] == []


def test_progress_counts_completed_parts_without_listing_any(
    api: ApiClient, queued: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = {"ingestion_id": queued["id"], "attempt": 1}
    parts = tasks.parts_of(tasks.plan(payload))
    resources = get_services().pipeline.resources
    listing = resources.list_resources

    def no_part_listing(kind: Any, parent_id: Any = None) -> Any:
        assert kind is not INGESTION_PART, "a part listed the ingestion's parts"
        return listing(kind, parent_id)

    monkeypatch.setattr(resources, "list_resources", no_part_listing)
    progress = []
    for part in parts:
        tasks.process_part(part)
        progress.append(api.get(f"/ingestions/{queued['id']}").data["progress"])
    # A part run again (a retry after a lost response) counts once
    tasks.process_part(parts[0])
    monkeypatch.setattr(resources, "list_resources", listing)

    total = len(parts)
    assert progress == pytest.approx([done / total for done in range(1, total + 1)])
    assert api.get(f"/ingestions/{queued['id']}").data["progress"] == pytest.approx(1.0)
    assert resources.count(completed_parts_counter(UUID(queued["id"]), 1)) == total
    assert tasks.finalize(payload)["state"] == "completed"


def test_progress_never_goes_back_nor_moves_an_ingestion_that_is_not_processing(
    api: ApiClient, queued: dict[str, Any]
) -> None:
    tasks.plan({"ingestion_id": queued["id"], "attempt": 1})
    resources = get_services().pipeline.resources
    ingestion_id = UUID(queued["id"])

    def raise_to(progress: float, *, attempt: int = 1) -> bool:
        return resources.raise_progress(
            INGESTION, ingestion_id, progress, state=ProcessState.processing, attempt=attempt
        )

    assert raise_to(0.5)
    assert not raise_to(0.4)
    assert not raise_to(0.9, attempt=2)
    assert api.get(f"/ingestions/{queued['id']}").data["progress"] == 0.5
    get_services().ingestions.transition(ingestion_id, ProcessState.failed)
    assert not raise_to(0.9)
    assert api.get(f"/ingestions/{queued['id']}").data["progress"] == 0.5


def _caught(name: str, message: str) -> dict[str, str]:
    return {"Error": name, "Cause": json.dumps({"errorType": name, "errorMessage": message})}


def test_a_failed_part_is_noted_and_named_when_the_ingestion_fails(
    api: ApiClient, queued: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = {"ingestion_id": queued["id"], "attempt": 1}
    parts = tasks.parts_of(tasks.plan(payload))
    tasks.process_part(parts[0])
    # Part 1 finds a corrupt chunk (it notes that itself, with its bytes); part 2 times out (its
    # execution's Catch notes it through "Record part failure")
    pipeline = get_services().pipeline
    real_blocks = pipeline._blocks

    def corrupt(
        ingestion: Any, plan: Any, sequence: int, data: bytes, base: int, *more: Any, **options: Any
    ) -> Any:
        if sequence == 1:
            raise BadLogFile("A bz2 chunk cannot be decompressed: invalid data stream")
        return real_blocks(ingestion, plan, sequence, data, base, *more, **options)

    monkeypatch.setattr(pipeline, "_blocks", corrupt)
    with pytest.raises(BadLogFile):
        tasks.process_part(parts[1])
    timed_out = load_event("ingestion/fail_part.json")["error"]
    noted = [
        tasks.fail_part({**parts[1], "error": _caught("BadLogFile", "caught by the Map")}),
        tasks.fail_part({**parts[2], "error": timed_out}),
        tasks.fail_part({**parts[0], "error": timed_out}),
        tasks.fail_part({**parts[3], "attempt": 2, "error": timed_out}),
        tasks.fail_part({**parts[3], "part_id": queued["id"], "error": timed_out}),
    ]
    # Then "Fail ingestion" gets the Map's error and names the first failed part
    failed = tasks.fail({**payload, "error": _caught("States.ExceedToleratedFailureThreshold", "x")})

    states = {part["sequence"]: part for part in _api_parts(api, queued["id"])}
    assert [note["state"] for note in noted] == ["failed", "failed", "completed", "queued", None]
    # The part that noted its own failure keeps its own error and bytes
    assert (states[1]["error_name"], states[1]["error_message"]) == (
        "BadLogFile",
        "A bz2 chunk cannot be decompressed: invalid data stream",
    )
    assert states[2]["error_name"] == "Sandbox.Timedout"
    assert "Task timed out after 900.00 seconds" in states[2]["error_message"]
    assert (states[2]["error_payload"]["start"], states[2]["error_payload"]["end"]) == (
        states[2]["context"]["start"],
        states[2]["context"]["end"],
    )
    assert (states[0]["state"], states[3]["state"]) == ("completed", "queued")
    ingestion = api.get(f"/ingestions/{queued['id']}").data
    assert failed["state"] == ingestion["state"] == "failed"
    assert ingestion["error_name"] == "BadLogFile"
    assert ingestion["error_message"] == (
        "Part 1 failed: A bz2 chunk cannot be decompressed: invalid data stream (1 more parts failed)"
    )
    assert [p["sequence"] for p in ingestion["error_payload"]["failed_parts"]] == [1, 2]
    assert ingestion["error_payload"]["failed_part_count"] == 2
    assert api.get(f"/logs/{ingestion['log_id']}").data["record_count"] == 0


def test_finalize_names_unfinished_parts_and_bounds_the_message(
    api: ApiClient, queued: dict[str, Any]
) -> None:
    payload = {"ingestion_id": queued["id"], "attempt": 1}
    parts = tasks.parts_of(tasks.plan(payload))
    tasks.process_part(parts[0])

    with pytest.raises(Exception, match=r"did not complete") as caught:
        tasks.finalize(payload)

    message = str(caught.value)
    assert f"({len(parts) - 1} of {len(parts)})" in message
    assert "more)" in message and len(message) < 400
