"""Ingestion parts: ``/ingestions/{id}/parts`` and ``/ingestionParts`` (contract §3.7)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from openlqs.models.common import ProcessState
from openlqs.services import get_services
from tests.support.api import ApiClient
from tests.support.resources import (
    BASE_NS,
    PROCESS_KEYS,
    create_group,
    create_ingestion,
    create_ingestion_part,
    create_log,
    stored_items,
)

UNKNOWN_ID = "6e7c7138-a9ca-439b-a3a3-c0aea4d894b8"
NIL_ID = "00000000-0000-0000-0000-000000000000"
TOPIC_ID = "3f5b8c2e-1d4a-4e6f-9a7b-0c1d2e3f4a5b"
S = ProcessState

PART_KEYS = PROCESS_KEYS | {
    "sequence",
    "ingestion_id",
    "source",
    "context",
    "index",
    "log_id",
    "group_id",
}
#: A v1 entry (7 elements) and a v2 entry (8, with a context).
INDEX = [
    [TOPIC_ID, 4117, 2048, "lz4", 30, 12, BASE_NS],
    [TOPIC_ID, 6165, 64, None, None, None, BASE_NS + 1, {"frame": 2}],
]


@pytest.fixture
def ingestion(api: ApiClient) -> dict[str, Any]:
    group = create_group(api, "G")
    log = create_log(api, group["id"], "L")
    return create_ingestion(api, log["id"], object_key="log.bag")


def _ids(response: Any) -> list[str]:
    assert response.status == 200, response.body
    return [part["id"] for part in response.json()["data"]]


# -- create and fetch -------------------------------------------------------------------------------


def test_ingestion_parts_create_derives_log_and_group_from_the_ingestion(
    api: ApiClient, ingestion: dict[str, Any]
) -> None:
    body = {
        "sequence": 0,
        "source": None,
        "context": None,
        "locked": False,
        "workflow_id": None,
        "workflow_context": None,
        "state": "ready",
        "index": None,
        "log_id": UNKNOWN_ID,
    }

    response = api.post(f"/ingestions/{ingestion['id'].replace('-', '')}/parts", body)

    assert response.status == 200, response.body
    part = response.data
    assert set(part) == PART_KEYS
    assert (part["ingestion_id"], part["log_id"], part["group_id"]) == (
        ingestion["id"],
        ingestion["log_id"],
        ingestion["group_id"],
    )
    assert (part["sequence"], part["state"], part["previous_state"], part["progress"]) == (
        0,
        "ready",
        None,
        None,
    )


def test_ingestion_parts_create_in_unknown_ingestion_is_404_and_writes_nothing(
    api: ApiClient, aws: dict[str, str]
) -> None:
    before = stored_items(aws)

    response = api.post(f"/ingestions/{UNKNOWN_ID}/parts", {"sequence": 0})
    nil_parent = api.post(f"/ingestions/{NIL_ID}/parts", {"sequence": 0})

    assert response.status == 404
    assert response.message == f"[NotFound] Ingestion {UNKNOWN_ID} not found."
    assert nil_parent.status == 404
    assert stored_items(aws) == before


def test_ingestion_parts_create_without_sequence_is_400_and_writes_nothing(
    api: ApiClient, aws: dict[str, str], ingestion: dict[str, Any]
) -> None:
    before = stored_items(aws)

    response = api.post(f"/ingestions/{ingestion['id']}/parts", {"source": "x"})

    assert response.status == 400
    assert "sequence" in response.message
    assert stored_items(aws) == before


def test_ingestion_parts_create_with_a_malformed_index_is_400_and_writes_nothing(
    api: ApiClient, aws: dict[str, str], ingestion: dict[str, Any]
) -> None:
    before = stored_items(aws)

    response = api.post(
        f"/ingestions/{ingestion['id']}/parts", {"sequence": 0, "index": [[TOPIC_ID, "not an offset"]]}
    )

    assert response.status == 400
    assert "index" in response.message
    assert stored_items(aws) == before


def test_ingestion_parts_fetch_by_nil_parent_own_parent_and_by_id(
    api: ApiClient, ingestion: dict[str, Any]
) -> None:
    part = create_ingestion_part(api, ingestion["id"], 0, index=INDEX)

    # The official client fetches with the nil UUID as the parent (contract §3.7).
    by_nil_parent = api.get(f"/ingestions/{NIL_ID}/parts/{part['id']}")
    by_parent = api.get(f"/ingestions/{ingestion['id']}/parts/{part['id']}")
    by_id = api.get(f"/ingestionParts/{part['id']}")

    assert [r.status for r in (by_nil_parent, by_parent, by_id)] == [200, 200, 200]
    assert by_nil_parent.data == by_parent.data == by_id.data == part
    assert by_id.data["index"] == INDEX


def test_ingestion_parts_fetch_under_another_ingestion_is_404(
    api: ApiClient, ingestion: dict[str, Any]
) -> None:
    part = create_ingestion_part(api, ingestion["id"], 0)
    other = create_ingestion(api, ingestion["log_id"])

    under_other = api.get(f"/ingestions/{other['id']}/parts/{part['id']}")
    under_unknown = api.get(f"/ingestions/{UNKNOWN_ID}/parts/{part['id']}")

    assert (under_other.status, under_unknown.status) == (404, 404)
    assert (
        under_other.message == f"[NotFound] Ingestion part {part['id']} not found in ingestion {other['id']}."
    )


def test_ingestion_parts_fetch_unknown_id_is_404(api: ApiClient) -> None:
    response = api.get(f"/ingestionParts/{UNKNOWN_ID}")

    assert response.status == 404
    assert response.message == f"[NotFound] Ingestion part {UNKNOWN_ID} not found."


# -- list -------------------------------------------------------------------------------------------


def test_ingestion_parts_index_is_null_in_lists_and_present_on_fetch(
    api: ApiClient, ingestion: dict[str, Any]
) -> None:
    part = create_ingestion_part(api, ingestion["id"], 0, index=INDEX)

    nested = api.get(f"/ingestions/{ingestion['id']}/parts").json()["data"]
    flat = api.get("/ingestionParts").json()["data"]
    fetched = api.get(f"/ingestionParts/{part['id']}").data

    assert [row["index"] for row in nested] == [None]
    assert [row["index"] for row in flat] == [None]
    assert set(nested[0]) == PART_KEYS
    assert fetched["index"] == INDEX


def test_ingestion_parts_nested_list_holds_only_that_ingestions_parts(
    api: ApiClient, ingestion: dict[str, Any]
) -> None:
    mine = [create_ingestion_part(api, ingestion["id"], sequence) for sequence in (0, 1)]
    other = create_ingestion(api, ingestion["log_id"])
    theirs = create_ingestion_part(api, other["id"], 0)

    nested = api.get(f"/ingestions/{ingestion['id']}/parts")
    nil_parent = api.get(f"/ingestions/{NIL_ID}/parts")
    by_filter = api.get("/ingestionParts", params={"ingestion_id": other["id"]})

    assert _ids(nested) == [part["id"] for part in mine]
    assert nested.json()["count"] == 2
    assert _ids(nil_parent) == [*(part["id"] for part in mine), theirs["id"]]
    assert _ids(by_filter) == [theirs["id"]]


def test_ingestion_parts_list_of_unknown_ingestion_is_404(api: ApiClient) -> None:
    assert api.get(f"/ingestions/{UNKNOWN_ID}/parts").status == 404


def test_ingestion_parts_list_filters_by_sequence_state_and_source(
    api: ApiClient, ingestion: dict[str, Any]
) -> None:
    first = create_ingestion_part(api, ingestion["id"], 0, source="robot-1")
    second = create_ingestion_part(api, ingestion["id"], 1, state="queued")

    assert _ids(api.get("/ingestionParts", params={"sequence": 1})) == [second["id"]]
    assert _ids(api.get("/ingestionParts", params={"state": "queued"})) == [second["id"]]
    assert _ids(api.get("/ingestionParts", params={"source": "robot-1"})) == [first["id"]]
    assert _ids(api.get("/ingestionParts", params={"log_id": ingestion["log_id"], "order": "sequence"})) == [
        first["id"],
        second["id"],
    ]


# -- update -----------------------------------------------------------------------------------------


def test_ingestion_parts_update_through_both_routes(api: ApiClient, ingestion: dict[str, Any]) -> None:
    part = create_ingestion_part(api, ingestion["id"], 0)

    nested = api.patch(f"/ingestions/{NIL_ID}/parts/{part['id']}", {"source": "robot-2", "index": INDEX})
    flat = api.patch(f"/ingestionParts/{part['id']}", {"context": {"records": 12}, "state": "queued"})

    assert (nested.status, flat.status) == (200, 200)
    updated = api.get(f"/ingestionParts/{part['id']}").data
    assert (updated["source"], updated["index"], updated["context"]) == ("robot-2", INDEX, {"records": 12})
    assert (updated["state"], updated["previous_state"], updated["progress"]) == ("queued", "ready", 0.0)


def test_ingestion_parts_update_under_another_ingestion_is_404_and_changes_nothing(
    api: ApiClient, aws: dict[str, str], ingestion: dict[str, Any]
) -> None:
    part = create_ingestion_part(api, ingestion["id"], 0)
    other = create_ingestion(api, ingestion["log_id"])
    before = stored_items(aws)

    response = api.patch(f"/ingestions/{other['id']}/parts/{part['id']}", {"source": "x"})

    assert response.status == 404
    assert stored_items(aws) == before


def test_ingestion_parts_invalid_transition_is_409_naming_both_states_and_changes_nothing(
    api: ApiClient, aws: dict[str, str], ingestion: dict[str, Any]
) -> None:
    part = create_ingestion_part(api, ingestion["id"], 0)
    before = stored_items(aws)

    response = api.patch(f"/ingestionParts/{part['id']}", {"state": "completed"})

    assert response.status == 409
    assert response.message == (
        f"[InvalidTransition] cannot move ingestion part {part['id']} from ready to completed."
    )
    assert stored_items(aws) == before


def test_ingestion_parts_null_sequence_is_400(api: ApiClient, ingestion: dict[str, Any]) -> None:
    part = create_ingestion_part(api, ingestion["id"], 0)

    response = api.patch(f"/ingestionParts/{part['id']}", {"sequence": None})

    assert response.status == 400
    assert "sequence" in response.message


def test_ingestion_parts_pipeline_completes_a_part_without_finalizing(
    api: ApiClient, ingestion: dict[str, Any]
) -> None:
    part = create_ingestion_part(api, ingestion["id"], 0, state="queued")
    service = get_services().ingestion_parts

    service.transition(UUID(part["id"]), S.processing, expected_from={S.queued})
    service.transition(UUID(part["id"]), S.completed, expected_from={S.processing})

    fetched = api.get(f"/ingestionParts/{part['id']}").data
    assert (fetched["state"], fetched["previous_state"], fetched["progress"]) == (
        "completed",
        "processing",
        1.0,
    )


# -- delete -----------------------------------------------------------------------------------------


def test_ingestion_parts_delete_through_both_routes(api: ApiClient, ingestion: dict[str, Any]) -> None:
    first, second = (create_ingestion_part(api, ingestion["id"], sequence) for sequence in (0, 1))

    nested = api.delete(f"/ingestions/{NIL_ID}/parts/{first['id']}")
    flat = api.delete(f"/ingestionParts/{second['id']}")

    assert (nested.status, flat.status) == (204, 204)
    assert api.get(f"/ingestions/{ingestion['id']}/parts").json()["count"] == 0
    assert api.delete(f"/ingestions/{ingestion['id']}").status == 204


def test_ingestion_parts_delete_under_another_ingestion_is_404_and_changes_nothing(
    api: ApiClient, aws: dict[str, str], ingestion: dict[str, Any]
) -> None:
    part = create_ingestion_part(api, ingestion["id"], 0)
    other = create_ingestion(api, ingestion["log_id"])
    before = stored_items(aws)

    response = api.delete(f"/ingestions/{other['id']}/parts/{part['id']}")

    assert response.status == 404
    assert stored_items(aws) == before
