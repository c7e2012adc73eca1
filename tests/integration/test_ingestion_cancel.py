"""Cancelling an ingestion that is queued or running: a user always has a way out.

``PATCH state=cancelled`` (or ``failed``) stops the attempt's execution, settles its parts, removes the
records it wrote and the topics it created; the ingestion can then be queued again (one copy of every
record at the end) or deleted, and with it its log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import boto3
import pytest

from openlqs.domain.common import Context
from openlqs.errors import NotFound, StaleAttempt
from openlqs.models.resources import TopicUpdateRequest
from openlqs.services import get_services
from tests.support import tasks
from tests.support.api import ApiClient
from tests.support.bags import write_string_bag
from tests.support.executions import execution_status, ingestion_state_machine, start_execution
from tests.support.ingestion import put_log_object
from tests.support.paths import DATASTORE_ID
from tests.support.resources import create_group, create_log

#: Two topics, in many chunks (several parts).
COUNTS = {"/a": 3000, "/b": 1500}


@pytest.fixture
def running(
    api: ApiClient, aws: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """An ingestion of a bag in the middle of its attempt: planned, one part done, its execution
    running."""
    state_machine = ingestion_state_machine(monkeypatch)
    monkeypatch.setenv("PART_TARGET_BYTES", "20000")
    get_services.cache_clear()
    messages = [("/a", i * 10**6, f"a{i}") for i in range(COUNTS["/a"])]
    messages += [("/b", i * 2 * 10**6, f"b{i}") for i in range(COUNTS["/b"])]
    bag = write_string_bag(tmp_path / "run.bag", sorted(messages, key=lambda m: m[1]), chunk_threshold=8000)
    log = create_log(api, create_group(api, "Fleet")["id"], "run")
    put_log_object(aws, DATASTORE_ID, log["id"], "run.bag", bag.read_bytes())
    request = {"log_id": log["id"], "object_key": "run.bag", "state": "queued"}
    ingestion = api.post("/ingestions", request).data
    execution = start_execution(state_machine, f"{ingestion['id']}-1")
    plan = tasks.plan({"ingestion_id": ingestion["id"], "attempt": 1})
    assert len(tasks.parts_of(plan)) > 1
    tasks.process_part(tasks.parts_of(plan)[0])
    return {"log": log, "ingestion": ingestion, "execution": execution, "parts": tasks.parts_of(plan)}


def _records(aws: dict[str, str]) -> int:
    return int(boto3.client("dynamodb").scan(TableName=aws["RECORDS_TABLE_NAME"], Select="COUNT")["Count"])


@pytest.mark.parametrize("state", ["cancelled", "failed"])
def test_cancel_of_a_running_ingestion_stops_it_and_takes_its_attempt_back(
    api: ApiClient, aws: dict[str, str], running: dict[str, Any], state: str
) -> None:
    ingestion_id = running["ingestion"]["id"]
    assert _records(aws) > 0

    response = api.patch(f"/ingestions/{ingestion_id}", {"state": state})

    assert response.status == 200, response.body
    assert response.data["state"] == state
    if state == "failed":
        assert response.data["error_name"] == "IngestionCancelled"
    assert execution_status(running["execution"]) == "ABORTED"
    assert _records(aws) == 0
    assert api.get("/topics", params={"log_id": running["log"]["id"]}).json()["count"] == 0
    parts = api.get(f"/ingestions/{ingestion_id}/parts", params={"limit": 100}).json()["data"]
    assert {part["state"] for part in parts} <= {"completed", "cancelled"}


def test_cancelled_ingestion_queued_again_ends_with_one_copy_of_every_record(
    api: ApiClient, aws: dict[str, str], running: dict[str, Any]
) -> None:
    ingestion_id = running["ingestion"]["id"]
    assert api.patch(f"/ingestions/{ingestion_id}", {"state": "cancelled"}).status == 200

    assert api.patch(f"/ingestions/{ingestion_id}", {"state": "queued"}).status == 200
    payload = {"ingestion_id": ingestion_id, "attempt": 2}
    for part in tasks.parts_of(tasks.plan(payload)):
        tasks.process_part(part)
    tasks.finalize(payload)

    topics = api.get("/topics", params={"log_id": running["log"]["id"], "limit": 100}).json()["data"]
    assert {t["name"]: t["record_count"] for t in topics} == COUNTS


def test_cancelled_ingestion_and_its_log_can_be_deleted_with_nothing_left(
    api: ApiClient, aws: dict[str, str], running: dict[str, Any]
) -> None:
    ingestion_id, log_id = running["ingestion"]["id"], running["log"]["id"]
    assert api.patch(f"/ingestions/{ingestion_id}", {"state": "cancelled"}).status == 200

    # A part of the cancelled attempt that was still running writes nothing that stays
    with pytest.raises(Exception, match="cancelled"):
        tasks.process_part(running["parts"][1])
    assert api.delete(f"/ingestions/{ingestion_id}").status == 204
    assert api.delete(f"/logs/{log_id}").status == 204

    assert _records(aws) == 0
    assert (
        get_services().ingestions.repository.find(  # the ingestion is gone
            get_services().ingestions.kind, UUID(ingestion_id)
        )
        is None
    )


@pytest.mark.parametrize("then", ["kept", "deleted"])
def test_cancel_while_the_plan_runs_leaves_no_topics_or_parts(
    api: ApiClient, aws: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, then: str
) -> None:
    # Given an ingestion cancelled (then kept, or deleted) while its plan creates the log's topics
    log = create_log(api, create_group(api, "Fleet")["id"], "run")
    bag = write_string_bag(tmp_path / "run.bag", [("/a", 10**9, "a"), ("/b", 2 * 10**9, "b")])
    put_log_object(aws, DATASTORE_ID, log["id"], "run.bag", bag.read_bytes())
    ingestion = api.post(
        "/ingestions", {"log_id": log["id"], "object_key": "run.bag", "state": "queued"}
    ).data
    topics = get_services().pipeline.topics
    create_topic = topics.create
    stops = [f"/ingestions/{ingestion['id']}"]

    def create_while_stopped(*args: Any, **kwargs: Any) -> Any:
        while stops:
            path = stops.pop()
            assert api.patch(path, {"state": "cancelled"}).status == 200
            if then == "deleted":
                assert api.delete(path).status == 204
        return create_topic(*args, **kwargs)

    monkeypatch.setattr(topics, "create", create_while_stopped)

    # When the plan goes on, then ends
    with pytest.raises(StaleAttempt if then == "kept" else NotFound):
        tasks.plan({"ingestion_id": ingestion["id"], "attempt": 1})

    # Then it took back what it made: no topic, no part left queued, and the log can be deleted
    assert api.get("/topics", params={"log_id": log["id"]}).json()["count"] == 0
    if then == "kept":
        parts = api.get(f"/ingestions/{ingestion['id']}/parts").json()["data"]
        assert {part["state"] for part in parts} == {"cancelled"}
        assert api.delete(f"/ingestions/{ingestion['id']}").status == 204
    assert api.delete(f"/logs/{log['id']}").status == 204


def test_cancel_while_a_task_of_the_attempt_writes_its_topics_answers_200_and_deletes_them(
    api: ApiClient, aws: dict[str, str], running: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a task of the attempt (a finalize's statistics) that writes each topic just before the
    # cancel deletes it
    topics = get_services().topics
    resources = topics.repository
    delete = resources.delete

    def delete_after_a_write(kind: Any, resource: Any, *args: Any) -> None:
        if kind.name == "topic" and resource.note is None:
            topics.update(resource.id, TopicUpdateRequest(note="written by a task"), Context())
        delete(kind, resource, *args)

    monkeypatch.setattr(resources, "delete", delete_after_a_write)

    response = api.patch(f"/ingestions/{running['ingestion']['id']}", {"state": "cancelled"})

    assert response.status == 200, response.body
    assert api.get("/topics", params={"log_id": running["log"]["id"]}).json()["count"] == 0
    assert _records(aws) == 0


def test_delete_just_after_a_cancel_while_a_task_of_the_attempt_writes_the_ingestion_answers_204(
    api: ApiClient, aws: dict[str, str], running: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a cancelled ingestion, and a task of its stopped attempt (a plan storing what it made) that
    # writes the ingestion between the delete's read and its write
    ingestion_id, log_id = running["ingestion"]["id"], running["log"]["id"]
    assert api.patch(f"/ingestions/{ingestion_id}", {"state": "cancelled"}).status == 200
    ingestions = get_services().ingestions
    resources = ingestions.repository
    delete, written = resources.delete, []

    def delete_after_a_write(kind: Any, resource: Any, *args: Any) -> None:
        if kind.name == "ingestion" and not written:
            written.append(resource.id)
            resources.update(kind, resource.id, lambda ingestion: None)
        delete(kind, resource, *args)

    monkeypatch.setattr(resources, "delete", delete_after_a_write)

    # When it is deleted, then its log: both go (the delete read the ingestion again)
    response = api.delete(f"/ingestions/{ingestion_id}")
    assert response.status == 204, response.body
    assert written == [UUID(ingestion_id)]
    assert api.delete(f"/logs/{log_id}").status == 204
    assert _records(aws) == 0
