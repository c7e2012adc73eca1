"""Ingestions: ``/ingestions`` (contract §3.6) and the process life cycle through the API."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import boto3
import pytest

from openlqs.domain.ingestions import attempt_of
from openlqs.errors import InvalidTransition
from openlqs.models.common import ProcessState
from openlqs.services import get_services
from tests.support.api import ApiClient
from tests.support.paths import DATASTORE_ID
from tests.support.resources import (
    PROCESS_KEYS,
    create_group,
    create_ingestion,
    create_ingestion_part,
    create_log,
    stored_items,
)

UNKNOWN_ID = "6e7c7138-a9ca-439b-a3a3-c0aea4d894b8"
S = ProcessState

INGESTION_KEYS = PROCESS_KEYS | {
    "log_id",
    "group_id",
    "object_store_id",
    "object_key",
    "name",
    "note",
    "context",
}


class FakeRecordCleanup:
    """Remembers which ingestions' records it was asked to delete."""

    def __init__(self) -> None:
        self.cleaned: list[UUID] = []

    def delete_ingestion_records(self, ingestion: Any) -> None:
        self.cleaned.append(ingestion.id)


class LogObjects:
    """Puts real objects where a log's managed objects live in ObjectsBucket."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def add(self, log_id: str, key: str) -> None:
        boto3.client("s3").put_object(
            Bucket=self.bucket, Key=f"lqs/{DATASTORE_ID}/logs/{UUID(log_id)}/{key}", Body=b"#ROSBAG V2.0\n"
        )


@pytest.fixture
def log_objects(aws: dict[str, str]) -> LogObjects:
    return LogObjects(aws["OBJECTS_BUCKET_NAME"])


#: Objects every test log holds, so that queueing an ingestion of them passes the existence check.
LOG_OBJECT_KEYS = ("a.bag", "b.bag")


@pytest.fixture
def log(api: ApiClient, log_objects: LogObjects) -> dict[str, Any]:
    group = create_group(api, "G")
    log = create_log(api, group["id"], "L")
    for key in LOG_OBJECT_KEYS:
        log_objects.add(log["id"], key)
    return log


def _ids(response: Any) -> list[str]:
    assert response.status == 200, response.body
    return [ingestion["id"] for ingestion in response.json()["data"]]


def _pipeline(ingestion_id: str, *states: ProcessState, **fields: Any) -> dict[str, Any]:
    """Move an ingestion through ``states`` as the pipeline does; ``fields`` go with the last move."""
    service = get_services().ingestions
    ingestion = None
    for index, state in enumerate(states):
        extra = fields if index == len(states) - 1 else {}
        ingestion = service.transition(UUID(ingestion_id), state, **extra)
    assert ingestion is not None
    return ingestion.model_dump(mode="json")


def _attempt(ingestion_id: str) -> int:
    return attempt_of(get_services().ingestions.get(UUID(ingestion_id)))


def _queued(api: ApiClient, log: dict[str, Any], objects: LogObjects) -> dict[str, Any]:
    objects.add(log["id"], "log.bag")
    ingestion = create_ingestion(api, log["id"], object_key="log.bag")
    response = api.patch(f"/ingestions/{ingestion['id']}", {"state": "queued"})
    assert response.status == 200, response.body
    return dict(response.data)


def _created_locked(api: ApiClient, log: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/ingestions", {"log_id": log["id"], "locked": True}, params={"lock_token": "secret"})
    assert response.status == 200, response.body
    assert response.data["locked"] is True
    return dict(response.data)


# -- create and fetch -------------------------------------------------------------------------------


def test_ingestions_client_create_body_answers_ready_with_group_id(
    api: ApiClient, log: dict[str, Any]
) -> None:
    # The exact body of Ingestion.fetch_or_create (contract §8.3 step 13): 32-hex ids, explicit nulls.
    body = {
        "log_id": log["id"].replace("-", ""),
        "name": "Demo Ingestion",
        "note": None,
        "context": None,
        "object_store_id": None,
        "object_key": "log.bag",
        "locked": False,
        "workflow_id": None,
        "workflow_context": None,
        "state": "ready",
    }

    response = api.post("/ingestions", body)

    assert response.status == 200, response.body
    created = response.data
    assert (created["state"], created["group_id"], created["log_id"]) == ("ready", log["group_id"], log["id"])
    assert (created["object_key"], created["object_store_id"], created["name"]) == (
        "log.bag",
        None,
        "Demo Ingestion",
    )
    assert api.get(f"/ingestions/{created['id']}").data == created


def test_ingestions_responses_carry_every_process_model_key(api: ApiClient, log: dict[str, Any]) -> None:
    created = create_ingestion(api, log["id"], object_key="log.bag")

    fetched = api.get(f"/ingestions/{created['id']}").data
    listed = api.get("/ingestions").json()["data"][0]

    assert set(created) == INGESTION_KEYS
    assert set(fetched) == INGESTION_KEYS
    assert set(listed) == INGESTION_KEYS
    assert (fetched["progress"], fetched["previous_state"], fetched["error_name"]) == (None, None, None)
    assert fetched["transitioned_at"] == fetched["created_at"]


def test_ingestions_create_ignores_a_group_id_in_the_body(api: ApiClient, log: dict[str, Any]) -> None:
    created = create_ingestion(api, log["id"], group_id=UNKNOWN_ID)

    assert created["group_id"] == log["group_id"]


def test_ingestions_create_in_unknown_log_is_404_and_writes_nothing(
    api: ApiClient, aws: dict[str, str]
) -> None:
    before = stored_items(aws)

    response = api.post("/ingestions", {"log_id": UNKNOWN_ID, "object_key": "log.bag"})

    assert response.status == 404
    assert response.message.startswith("[NotFound]")
    assert UNKNOWN_ID in response.message
    assert stored_items(aws) == before


def test_ingestions_create_without_log_id_is_400(api: ApiClient, aws: dict[str, str]) -> None:
    before = stored_items(aws)

    response = api.post("/ingestions", {"object_key": "log.bag"})

    assert response.status == 400
    assert "log_id" in response.message
    assert stored_items(aws) == before


def test_ingestions_create_in_a_running_state_is_400_and_writes_nothing(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    before = stored_items(aws)

    response = api.post("/ingestions", {"log_id": log["id"], "object_key": "a.bag", "state": "completed"})

    assert response.status == 400
    assert "completed" in response.message
    assert stored_items(aws) == before


def test_ingestions_names_are_not_unique(api: ApiClient, log: dict[str, Any]) -> None:
    first = create_ingestion(api, log["id"], name="Same")

    second = api.post("/ingestions", {"log_id": log["id"], "name": "Same"})

    assert second.status == 200
    assert second.data["id"] != first["id"]


def test_ingestions_create_beyond_max_ingestions_per_log_is_limit_exceeded_and_writes_nothing(
    api: ApiClient, aws: dict[str, str], limits: Any
) -> None:
    # Given a log that may hold two ingestions, both used
    limits(max_ingestions_per_log=2)
    group = create_group(api, "G")
    full, other = create_log(api, group["id"], "full"), create_log(api, group["id"], "other")
    create_ingestion(api, full["id"])
    create_ingestion(api, full["id"])
    before = stored_items(aws)

    # When a third is created in it
    response = api.post("/ingestions", {"log_id": full["id"]})

    # Then it is refused naming the limit, nothing is written, and other logs are not affected
    assert response.status == 400
    assert response.message.startswith("[LimitExceeded]")
    assert "max_ingestions_per_log" in response.message
    assert stored_items(aws) == before
    assert api.post("/ingestions", {"log_id": other["id"]}).status == 200


def test_ingestions_delete_frees_a_slot_under_max_ingestions_per_log(
    api: ApiClient, log: dict[str, Any], limits: Any
) -> None:
    limits(max_ingestions_per_log=1)
    ingestion = create_ingestion(api, log["id"])

    assert api.delete(f"/ingestions/{ingestion['id']}").status == 204
    assert api.post("/ingestions", {"log_id": log["id"]}).status == 200


def test_ingestions_fetch_unknown_id_is_404(api: ApiClient) -> None:
    response = api.get(f"/ingestions/{UNKNOWN_ID}")

    assert response.status == 404
    assert response.message == f"[NotFound] Ingestion {UNKNOWN_ID} not found."


# -- object references ------------------------------------------------------------------------------


def test_ingestions_full_storage_key_of_the_same_log_is_stored_relative(
    api: ApiClient, log: dict[str, Any]
) -> None:
    full_key = f"lqs/{DATASTORE_ID}/logs/{log['id']}/drives/log.bag"

    created = create_ingestion(api, log["id"], object_key=full_key)

    assert created["object_key"] == "drives/log.bag"


def test_ingestions_full_storage_key_of_another_log_is_400_and_writes_nothing(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    other = create_log(api, log["group_id"], "Other")
    before = stored_items(aws)

    response = api.post(
        "/ingestions",
        {"log_id": log["id"], "object_key": f"lqs/{DATASTORE_ID}/logs/{other['id']}/log.bag"},
    )

    assert response.status == 400
    assert response.message.startswith("[BadRequest]")
    assert "another log" in response.message
    assert stored_items(aws) == before


@pytest.mark.parametrize(
    "key",
    ["", "/log.bag", "../other/log.bag", "a/../../b.bag", "bad\x00key", "tab\tkey", "k" * 1025],
    ids=["empty", "leading-slash", "dotdot", "inner-dotdot", "nul", "tab", "too-long"],
)
def test_ingestions_invalid_object_key_is_400_and_writes_nothing(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], key: str
) -> None:
    before = stored_items(aws)

    response = api.post("/ingestions", {"log_id": log["id"], "object_key": key})

    assert response.status == 400
    assert response.message.startswith("[BadRequest]")
    assert "object_key" in response.message
    assert stored_items(aws) == before


def test_ingestions_update_object_key_with_dotdot_is_400_and_changes_nothing(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    ingestion = create_ingestion(api, log["id"], object_key="log.bag")
    before = stored_items(aws)

    response = api.patch(f"/ingestions/{ingestion['id']}", {"object_key": "../log.bag"})

    assert response.status == 400
    assert stored_items(aws) == before


def test_ingestions_object_store_key_is_kept_as_given(api: ApiClient, log: dict[str, Any]) -> None:
    store_id = api.post("/objectStores", {"name": "fleet", "bucket_name": "fleet-bucket"}).data["id"]

    created = create_ingestion(api, log["id"], object_store_id=store_id, object_key="bags/run 1.bag")

    assert (created["object_store_id"], created["object_key"]) == (store_id, "bags/run 1.bag")


def test_ingestions_unknown_object_store_is_404(api: ApiClient, log: dict[str, Any]) -> None:
    response = api.post(
        "/ingestions",
        {
            "log_id": log["id"],
            "object_store_id": "0b7d8f43-58b2-4c7a-9d1b-3f0e5c2a7e64",
            "object_key": "a.bag",
        },
    )

    assert response.status == 404
    assert api.get("/ingestions").json()["count"] == 0


# -- list -------------------------------------------------------------------------------------------


def test_ingestions_fetch_or_create_list_query_finds_the_newest_match(
    api: ApiClient, log: dict[str, Any]
) -> None:
    # Given two matching ingestions (names are not unique) and near misses
    older = create_ingestion(api, log["id"], name="Demo Ingestion", object_key="log.bag")
    newer = create_ingestion(api, log["id"], name="Demo Ingestion", object_key="log.bag")
    create_ingestion(api, log["id"], name="Demo Ingestion", object_key="other.bag")
    create_ingestion(api, log["id"], name="Demo Ingestion 2", object_key="log.bag")
    other_log = create_log(api, log["group_id"], "Other")
    create_ingestion(api, other_log["id"], name="Demo Ingestion", object_key="log.bag")

    # When the official client's fetch_or_create query is sent (contract §8.3 step 13)
    response = api.get(
        f"/ingestions?log_id={log['id']}&name=Demo%20Ingestion&object_key=log.bag&include_count=True"
        "&offset=0&limit=1&order=created_at&sort=desc"
    )

    # Then it counts both matches and returns the newest
    assert response.json()["count"] == 2
    assert _ids(response) == [newer["id"]]
    assert older["id"] != newer["id"]


def test_ingestions_list_filters_by_state_key_pattern_and_group(api: ApiClient, log: dict[str, Any]) -> None:
    ready = create_ingestion(api, log["id"], object_key="runs/a.bag")
    cancelled = create_ingestion(api, log["id"], object_key="runs/b.bag")
    api.patch(f"/ingestions/{cancelled['id']}", {"state": "cancelled"})
    other_group = create_group(api, "Other")
    elsewhere = create_ingestion(api, create_log(api, other_group["id"], "L")["id"], object_key="x.mcap")

    assert _ids(api.get("/ingestions", params={"state": "cancelled"})) == [cancelled["id"]]
    assert _ids(api.get("/ingestions", params={"state": "ProcessState.ready"})) == [
        ready["id"],
        elsewhere["id"],
    ]
    assert _ids(api.get("/ingestions", params={"object_key_like": "RUNS/"})) == [ready["id"], cancelled["id"]]
    assert _ids(api.get("/ingestions", params={"group_id": other_group["id"]})) == [elsewhere["id"]]


def test_ingestions_list_filters_by_progress_and_error(api: ApiClient, log: dict[str, Any]) -> None:
    fresh = create_ingestion(api, log["id"], object_key="a.bag")
    failed = create_ingestion(api, log["id"], object_key="b.bag")
    api.patch(f"/ingestions/{failed['id']}", {"state": "queued"})
    _pipeline(failed["id"], S.processing, S.failed, progress=0.5, error_payload={"part": 3})
    part_three = '{"var": "part", "op": "eq", "val": 3}'
    part_four = '{"var": "part", "op": "eq", "val": 4}'

    assert _ids(api.get("/ingestions", params={"progress_null": True})) == [fresh["id"]]
    assert _ids(api.get("/ingestions", params={"progress_gte": 0.25, "progress_lte": 0.5})) == [failed["id"]]
    assert _ids(api.get("/ingestions", params={"error_payload_filter": part_three})) == [failed["id"]]
    assert _ids(api.get("/ingestions", params={"error_payload_filter": part_four})) == []


# -- queueing ---------------------------------------------------------------------------------------


def test_ingestions_queue_with_existing_object_starts_attempt_one(
    api: ApiClient, log: dict[str, Any], log_objects: LogObjects
) -> None:
    # Given a ready ingestion of an uploaded log object
    log_objects.add(log["id"], "log.bag")
    ingestion = create_ingestion(api, log["id"], object_key="log.bag")

    # When the client queues it (contract §8.3 step 14)
    response = api.patch(f"/ingestions/{ingestion['id']}", {"state": "queued"})

    # Then it is queued for its first attempt, with the transition recorded
    assert response.status == 200, response.body
    queued = response.data
    assert (queued["state"], queued["previous_state"], queued["progress"]) == ("queued", "ready", 0.0)
    assert queued["transitioned_at"] not in (None, ingestion["transitioned_at"])
    assert _attempt(ingestion["id"]) == 1
    assert api.get(f"/ingestions/{ingestion['id']}").data == queued


def test_ingestions_queue_with_missing_object_is_404_and_changes_nothing(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], log_objects: LogObjects
) -> None:
    log_objects.add(log["id"], "other.bag")
    ingestion = create_ingestion(api, log["id"], object_key="log.bag")
    before = stored_items(aws)

    response = api.patch(f"/ingestions/{ingestion['id']}", {"state": "queued"})

    assert response.status == 404
    assert response.message.startswith("[NotFound] Object 'log.bag' not found")
    assert stored_items(aws) == before


def test_ingestions_queue_checks_the_object_in_the_ingestions_own_log(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], log_objects: LogObjects
) -> None:
    other = create_log(api, log["group_id"], "Other")
    log_objects.add(other["id"], "log.bag")
    ingestion = create_ingestion(api, log["id"], object_key="log.bag")

    response = api.patch(f"/ingestions/{ingestion['id']}", {"state": "queued"})

    assert response.status == 404


def test_ingestions_create_queued_checks_the_object_and_writes_nothing_when_missing(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], log_objects: LogObjects
) -> None:
    before = stored_items(aws)

    missing = api.post("/ingestions", {"log_id": log["id"], "object_key": "log.bag", "state": "queued"})
    after_missing = stored_items(aws)
    log_objects.add(log["id"], "log.bag")
    present = api.post("/ingestions", {"log_id": log["id"], "object_key": "log.bag", "state": "queued"})

    assert missing.status == 404
    assert after_missing == before
    assert present.status == 200
    assert (present.data["state"], present.data["previous_state"], present.data["progress"]) == (
        "queued",
        None,
        0.0,
    )
    assert _attempt(present.data["id"]) == 1


def test_ingestions_queue_without_object_key_is_400_and_changes_nothing(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    ingestion = create_ingestion(api, log["id"])
    before = stored_items(aws)

    response = api.patch(f"/ingestions/{ingestion['id']}", {"state": "queued"})

    assert response.status == 400
    assert "object_key" in response.message
    assert stored_items(aws) == before


def test_ingestions_queue_with_object_store_id_but_no_key_is_400(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    ingestion = create_ingestion(api, log["id"], object_store_id="0b7d8f43-58b2-4c7a-9d1b-3f0e5c2a7e64")
    before = stored_items(aws)

    response = api.patch(f"/ingestions/{ingestion['id']}", {"state": "queued"})

    assert response.status == 400
    assert "object_key" in response.message
    assert stored_items(aws) == before


def test_ingestions_queue_and_set_the_key_in_one_update(
    api: ApiClient, log: dict[str, Any], log_objects: LogObjects
) -> None:
    log_objects.add(log["id"], "late.bag")
    ingestion = create_ingestion(api, log["id"])

    response = api.patch(f"/ingestions/{ingestion['id']}", {"object_key": "late.bag", "state": "queued"})

    assert response.status == 200, response.body
    assert (response.data["state"], response.data["object_key"]) == ("queued", "late.bag")


# -- transitions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ((), "processing"),
        ((), "completed"),
        ((), "archived"),
        ((S.queued,), "ready"),
        ((S.queued, S.processing), "ready"),
        ((S.queued, S.processing, S.finalizing, S.completed), "processing"),
        ((S.queued, S.processing, S.finalizing, S.completed), "queued"),
        ((S.queued, S.cancelled, S.archived), "queued"),
    ],
    ids=[
        "ready-to-processing",
        "ready-to-completed",
        "ready-to-archived",
        "queued-to-ready",
        "processing-to-ready",
        "completed-to-processing",
        "completed-to-queued",
        "archived-to-queued",
    ],
)
def test_ingestions_invalid_transition_is_409_naming_both_states_and_changes_nothing(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], path: tuple[ProcessState, ...], wanted: str
) -> None:
    # Given an ingestion that went through ``path``
    ingestion = create_ingestion(api, log["id"], object_key="a.bag")
    current = _pipeline(ingestion["id"], *path)["state"] if path else "ready"
    before = stored_items(aws)

    # When the API is asked for a move the life cycle does not allow
    response = api.patch(f"/ingestions/{ingestion['id']}", {"state": wanted})

    # Then it is refused, naming both states, and nothing changes
    assert response.status == 409
    assert response.message == (
        f"[InvalidTransition] cannot move ingestion {ingestion['id']} from {current} to {wanted}."
    )
    assert stored_items(aws) == before


def test_ingestions_setting_the_same_state_again_is_a_no_op(api: ApiClient, log: dict[str, Any]) -> None:
    ingestion = create_ingestion(api, log["id"], object_key="log.bag")

    response = api.patch(f"/ingestions/{ingestion['id']}", {"state": "ready", "note": "again"})

    assert response.status == 200
    updated = response.data
    assert (updated["state"], updated["previous_state"], updated["note"]) == ("ready", None, "again")
    assert updated["transitioned_at"] == ingestion["transitioned_at"]


def test_ingestions_null_state_is_400(api: ApiClient, aws: dict[str, str], log: dict[str, Any]) -> None:
    ingestion = create_ingestion(api, log["id"])
    before = stored_items(aws)

    response = api.patch(f"/ingestions/{ingestion['id']}", {"state": None})

    assert response.status == 400
    assert "state" in response.message
    assert stored_items(aws) == before


def test_ingestions_cancel_requeue_and_archive(
    api: ApiClient, log: dict[str, Any], log_objects: LogObjects
) -> None:
    queued = _queued(api, log, log_objects)
    path = f"/ingestions/{queued['id']}"

    cancelled = api.patch(path, {"state": "cancelled"}).data
    requeued = api.patch(path, {"state": "queued"}).data
    _pipeline(queued["id"], S.processing, S.finalizing, S.completed)
    archived = api.patch(path, {"state": "archived"}).data

    assert (cancelled["state"], cancelled["previous_state"]) == ("cancelled", "queued")
    assert (requeued["state"], requeued["previous_state"]) == ("queued", "cancelled")
    assert (archived["state"], archived["previous_state"], archived["progress"]) == (
        "archived",
        "completed",
        1.0,
    )
    assert _attempt(queued["id"]) == 2


def test_ingestions_requeue_after_failure_starts_a_clean_attempt(
    api: ApiClient, log: dict[str, Any], log_objects: LogObjects
) -> None:
    # Given an ingestion whose first attempt failed half way
    queued = _queued(api, log, log_objects)
    failed = _pipeline(
        queued["id"],
        S.processing,
        S.failed,
        progress=0.5,
        error_name="BadLogFile",
        error_message="chunk 3 is corrupt",
        error_payload={"part": 3, "offset": 4096},
    )
    fetched = api.get(f"/ingestions/{queued['id']}").data

    # When it is queued again
    response = api.patch(f"/ingestions/{queued['id']}", {"state": "queued"})

    # Then a second attempt starts, with progress and the old error cleared
    assert (fetched["state"], fetched["previous_state"], fetched["progress"]) == ("failed", "processing", 0.5)
    assert (fetched["error_name"], fetched["error_payload"]) == ("BadLogFile", {"part": 3, "offset": 4096})
    assert failed["error_message"] == "chunk 3 is corrupt"
    assert response.status == 200, response.body
    retried = response.data
    assert (retried["state"], retried["previous_state"], retried["progress"]) == ("queued", "failed", 0.0)
    assert (retried["error_name"], retried["error_message"], retried["error_payload"]) == (None, None, None)
    assert _attempt(queued["id"]) == 2


def test_ingestions_progress_outside_zero_to_one_is_400_and_changes_nothing(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    ingestion = create_ingestion(api, log["id"])
    before = stored_items(aws)

    responses = [api.patch(f"/ingestions/{ingestion['id']}", {"progress": p}) for p in (-0.1, 1.5)]

    assert [response.status for response in responses] == [400, 400]
    assert all("progress" in response.message for response in responses)
    assert stored_items(aws) == before


# -- editing ----------------------------------------------------------------------------------------


def test_ingestions_ready_ingestion_can_be_edited_freely(api: ApiClient, log: dict[str, Any]) -> None:
    ingestion = create_ingestion(api, log["id"], name="Before", object_key="a.bag")

    response = api.patch(
        f"/ingestions/{ingestion['id']}",
        {"name": "After", "note": "n", "context": {"k": 1}, "object_key": "b.bag", "workflow_context": {}},
    )

    assert response.status == 200, response.body
    updated = response.data
    assert (updated["name"], updated["note"], updated["context"], updated["object_key"]) == (
        "After",
        "n",
        {"k": 1},
        "b.bag",
    )
    assert updated["updated_at"] is not None


@pytest.mark.parametrize(
    "change",
    [{"object_key": "other.bag"}, {"object_store_id": "0b7d8f43-58b2-4c7a-9d1b-3f0e5c2a7e64"}],
    ids=["object_key", "object_store_id"],
)
def test_ingestions_changing_the_object_while_queued_is_409_and_changes_nothing(
    api: ApiClient,
    aws: dict[str, str],
    log: dict[str, Any],
    log_objects: LogObjects,
    change: dict[str, str],
) -> None:
    queued = _queued(api, log, log_objects)
    before = stored_items(aws)

    response = api.patch(f"/ingestions/{queued['id']}", change)

    assert response.status == 409
    assert response.message.startswith("[InvalidTransition]")
    assert f"{next(iter(change))} of ingestion {queued['id']} while it is queued" in response.message
    assert stored_items(aws) == before


def test_ingestions_changing_the_object_while_processing_is_409(
    api: ApiClient, log: dict[str, Any], log_objects: LogObjects
) -> None:
    queued = _queued(api, log, log_objects)
    _pipeline(queued["id"], S.processing)

    response = api.patch(f"/ingestions/{queued['id']}", {"object_key": "other.bag"})

    assert response.status == 409
    assert "while it is processing" in response.message


def test_ingestions_queued_ingestion_takes_the_same_key_and_other_fields(
    api: ApiClient, log: dict[str, Any], log_objects: LogObjects
) -> None:
    queued = _queued(api, log, log_objects)

    response = api.patch(f"/ingestions/{queued['id']}", {"object_key": "log.bag", "note": "watching"})

    assert response.status == 200
    assert (response.data["object_key"], response.data["note"]) == ("log.bag", "watching")


def test_ingestions_failed_ingestion_can_change_its_object(
    api: ApiClient, log: dict[str, Any], log_objects: LogObjects
) -> None:
    queued = _queued(api, log, log_objects)
    _pipeline(queued["id"], S.failed, error_name="BadLogFile")

    response = api.patch(f"/ingestions/{queued['id']}", {"object_key": "fixed.bag"})

    assert response.status == 200
    assert response.data["object_key"] == "fixed.bag"


def test_ingestions_locked_ingestion_needs_its_lock_token(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    ingestion = _created_locked(api, log)
    before = stored_items(aws)

    refused = api.patch(f"/ingestions/{ingestion['id']}", {"note": "x"})
    after_refusal = stored_items(aws)
    allowed = api.patch(f"/ingestions/{ingestion['id']}", {"note": "x"}, params={"lock_token": "secret"})

    assert refused.status == 423
    assert after_refusal == before
    assert allowed.status == 200
    assert allowed.data["note"] == "x"


# -- the pipeline's transitions ---------------------------------------------------------------------


def test_ingestions_pipeline_runs_the_life_cycle_to_completed(
    api: ApiClient, log: dict[str, Any], log_objects: LogObjects
) -> None:
    queued = _queued(api, log, log_objects)
    service = get_services().ingestions
    iid = UUID(queued["id"])

    processing = service.transition(iid, S.processing, expected_from={S.queued})
    halfway = service.transition(iid, S.processing, expected_from={S.processing}, progress=0.5)
    finalizing = service.transition(iid, S.finalizing, expected_from={S.processing})
    completed = service.transition(iid, S.completed, expected_from={S.finalizing})

    assert (processing.state, processing.previous_state) == ("processing", "queued")
    assert (halfway.progress, halfway.transitioned_at) == (0.5, processing.transitioned_at)
    assert (finalizing.state, finalizing.progress) == ("finalizing", 0.5)
    fetched = api.get(f"/ingestions/{queued['id']}").data
    assert (fetched["state"], fetched["previous_state"], fetched["progress"]) == (
        "completed",
        "finalizing",
        1.0,
    )
    assert completed.transitioned_at is not None
    assert _attempt(queued["id"]) == 1


def test_ingestions_pipeline_transition_from_an_unexpected_state_is_refused(
    api: ApiClient, log: dict[str, Any], log_objects: LogObjects
) -> None:
    queued = _queued(api, log, log_objects)
    api.patch(f"/ingestions/{queued['id']}", {"state": "cancelled"})

    with pytest.raises(InvalidTransition, match="from cancelled to processing: expected it queued"):
        get_services().ingestions.transition(UUID(queued["id"]), S.processing, expected_from={S.queued})
    assert api.get(f"/ingestions/{queued['id']}").data["state"] == "cancelled"


# -- delete -----------------------------------------------------------------------------------------


def test_ingestions_delete_deletes_its_parts(api: ApiClient, log: dict[str, Any]) -> None:
    ingestion = create_ingestion(api, log["id"])
    parts = [create_ingestion_part(api, ingestion["id"], sequence) for sequence in (0, 1)]
    kept = create_ingestion_part(api, create_ingestion(api, log["id"])["id"], 0)

    response = api.delete(f"/ingestions/{ingestion['id']}")

    assert response.status == 204
    assert api.get(f"/ingestions/{ingestion['id']}").status == 404
    assert [api.get(f"/ingestionParts/{part['id']}").status for part in parts] == [404, 404]
    assert [part["id"] for part in api.get("/ingestionParts").json()["data"]] == [kept["id"]]


def test_ingestions_delete_calls_the_record_cleanup(api: ApiClient, log: dict[str, Any]) -> None:
    cleanup = FakeRecordCleanup()
    ingestion = create_ingestion(api, log["id"])
    get_services().ingestions.records = cleanup

    assert api.delete(f"/ingestions/{ingestion['id']}").status == 204
    assert cleanup.cleaned == [UUID(ingestion["id"])]


def test_ingestions_delete_while_queued_is_409_and_changes_nothing(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], log_objects: LogObjects
) -> None:
    queued = _queued(api, log, log_objects)
    before = stored_items(aws)

    response = api.delete(f"/ingestions/{queued['id']}")

    assert response.status == 409
    assert "while it is queued" in response.message
    assert stored_items(aws) == before


def test_ingestions_delete_unknown_id_is_404(api: ApiClient) -> None:
    assert api.delete(f"/ingestions/{UNKNOWN_ID}").status == 404


# -- the log ----------------------------------------------------------------------------------------


def test_ingestions_keep_their_log_from_being_deleted(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any]
) -> None:
    ingestion = create_ingestion(api, log["id"])
    before = stored_items(aws)

    refused = api.delete(f"/logs/{log['id']}")
    after_refusal = stored_items(aws)
    api.delete(f"/ingestions/{ingestion['id']}")
    allowed = api.delete(f"/logs/{log['id']}")

    assert refused.status == 409
    assert refused.message == f"[Conflict] {log['id']} still has ingestions; delete them first."
    assert after_refusal == before
    assert allowed.status == 204


def test_ingestions_and_parts_follow_their_log_to_another_group(api: ApiClient, log: dict[str, Any]) -> None:
    ingestion = create_ingestion(api, log["id"])
    part = create_ingestion_part(api, ingestion["id"], 0)
    target = create_group(api, "Target")

    assert api.patch(f"/logs/{log['id']}", {"group_id": target["id"]}).status == 200

    assert api.get(f"/ingestions/{ingestion['id']}").data["group_id"] == target["id"]
    assert api.get(f"/ingestionParts/{part['id']}").data["group_id"] == target["id"]
    assert _ids(api.get("/ingestions", params={"group_id": target["id"]})) == [ingestion["id"]]
