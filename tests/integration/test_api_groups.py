"""Groups: ``/groups`` (contract §3.1)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from moto.dynamodb.models import DynamoDBBackend

from openlqs.domain.common import Context
from openlqs.errors import Conflict
from openlqs.models.resources import GroupCreateRequest, GroupListParams
from openlqs.services import get_services
from tests.support.api import ApiClient
from tests.support.resources import create_group, create_log, stored_items

UNKNOWN_ID = "6e7c7138-a9ca-439b-a3a3-c0aea4d894b8"


def _names(response: Any) -> list[str]:
    return [group["name"] for group in response.json()["data"]]


@pytest.fixture
def atomic_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto's TransactWriteItems atomic across threads, as DynamoDB's is.

    moto checks and applies a transaction's items one by one and rolls back by restoring a copy of the
    table, so two threads interleaving inside it could both pass a condition (or one could undo the
    other's write) in a way real DynamoDB never allows.
    """
    lock = threading.Lock()
    original = DynamoDBBackend.transact_write_items

    def serialized(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        with lock:
            original(self, transact_items)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", serialized)


# -- create and fetch -------------------------------------------------------------------------------


def test_groups_create_then_fetch_returns_the_stored_group(api: ApiClient) -> None:
    created = create_group(api, "Demo Group", note="first", context={"site": "lab"})

    fetched = api.get(f"/groups/{created['id']}").data

    assert fetched == created
    assert (fetched["name"], fetched["note"], fetched["context"]) == ("Demo Group", "first", {"site": "lab"})


def test_groups_create_duplicate_name_is_409_and_writes_nothing(api: ApiClient, aws: dict[str, str]) -> None:
    create_group(api, "Taken")
    before = stored_items(aws)

    response = api.post("/groups", {"name": "Taken"})

    assert response.status == 409
    assert response.message.startswith("[Conflict]")
    assert "Taken" in response.message
    assert stored_items(aws) == before


def test_groups_concurrent_creates_of_one_name_exactly_one_wins(
    api: ApiClient, atomic_transactions: None
) -> None:
    # Given the services are built and warm (boto3 sessions are not safe to create concurrently)
    services = get_services()
    services.groups.list(GroupListParams())
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def create() -> None:
        barrier.wait()
        try:
            outcomes.append(services.groups.create(GroupCreateRequest(name="Race"), Context()))
        except Conflict as error:
            outcomes.append(error)

    # When two threads create the same name at once
    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    # Then exactly one wins, the other gets Conflict, and one group exists
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["Conflict", "Group"]
    listed = api.get("/groups", params={"name": "Race"}).json()
    assert listed["count"] == 1
    winner = next(outcome for outcome in outcomes if not isinstance(outcome, Conflict))
    assert listed["data"][0]["id"] == str(winner.id)


def test_groups_create_malformed_json_is_400_and_writes_nothing(api: ApiClient, aws: dict[str, str]) -> None:
    before = stored_items(aws)

    response = api.request("POST", "/groups", raw_body=b'{"name": "Broken",')

    assert response.status == 400
    assert response.message.startswith("[BadRequest]")
    assert stored_items(aws) == before


def test_groups_create_without_name_is_400_naming_the_field(api: ApiClient, aws: dict[str, str]) -> None:
    before = stored_items(aws)

    response = api.post("/groups", {"note": "nameless"})

    assert response.status == 400
    assert response.message.startswith("[BadRequest]")
    assert "name" in response.message
    assert stored_items(aws) == before


def test_groups_create_wrong_field_types_are_400_naming_the_field(
    api: ApiClient, aws: dict[str, str]
) -> None:
    before = stored_items(aws)
    cases = {
        "name": {"name": 123},
        "context": {"name": "ok", "context": "not an object"},
        "locked": {"name": "ok", "locked": "perhaps"},
        "default_workflow_id": {"name": "ok", "default_workflow_id": "not-a-uuid"},
        "note": {"name": "ok", "note": {"not": "text"}},
    }

    responses = {field: api.post("/groups", body) for field, body in cases.items()}

    assert {field: response.status for field, response in responses.items()} == dict.fromkeys(cases, 400)
    for field, response in responses.items():
        assert response.message.startswith("[BadRequest]"), field
        assert field in response.message, response.message
    assert stored_items(aws) == before


def test_groups_create_empty_name_or_non_object_body_is_400(api: ApiClient, aws: dict[str, str]) -> None:
    before = stored_items(aws)

    empty = api.post("/groups", {"name": ""})
    listed = api.post("/groups", ["name", "Listed"])

    assert (empty.status, listed.status) == (400, 400)
    assert "name" in empty.message
    assert listed.message.startswith("[BadRequest]")
    assert stored_items(aws) == before


def test_groups_fetch_unknown_id_is_404(api: ApiClient) -> None:
    response = api.get(f"/groups/{UNKNOWN_ID}")

    assert response.status == 404
    assert response.message.startswith("[NotFound]")
    assert UNKNOWN_ID in response.message


def test_groups_fetch_id_that_is_not_a_uuid_is_400_naming_it(api: ApiClient) -> None:
    response = api.get("/groups/not-a-uuid")

    assert response.status == 400
    assert "group_id" in response.message


# -- list -------------------------------------------------------------------------------------------


def test_groups_list_filters_by_id(api: ApiClient) -> None:
    create_group(api, "a")
    wanted = create_group(api, "b")

    response = api.get("/groups", params={"id": wanted["id"]})

    assert [g["id"] for g in response.json()["data"]] == [wanted["id"]]
    assert response.json()["count"] == 1


def test_groups_list_filters_by_exact_name(api: ApiClient) -> None:
    for name in ("Demo", "Demo Group", "demo"):
        create_group(api, name)

    response = api.get("/groups", params={"name": "Demo"})

    assert _names(response) == ["Demo"]


def test_groups_list_name_like_is_a_case_insensitive_substring(api: ApiClient) -> None:
    for name in ("Field Tests", "FIELD trials", "Lab", "Outfield"):
        create_group(api, name)

    response = api.get("/groups", params={"name_like": "field", "order": "name"})

    assert _names(response) == ["FIELD trials", "Field Tests", "Outfield"]
    assert response.json()["count"] == 3


def test_groups_list_orders_by_name_both_ways(api: ApiClient) -> None:
    for name in ("beta", "gamma", "alpha"):
        create_group(api, name)

    ascending = api.get("/groups", params={"order": "name", "sort": "ASC"})
    descending = api.get("/groups", params={"order": "name", "sort": "DESC"})

    assert _names(ascending) == ["alpha", "beta", "gamma"]
    assert _names(descending) == ["gamma", "beta", "alpha"]


def test_groups_list_defaults_to_creation_order(api: ApiClient) -> None:
    for name in ("c", "a", "b"):
        create_group(api, name)

    assert _names(api.get("/groups")) == ["c", "a", "b"]


def test_groups_list_pages_cover_every_group_exactly_once(api: ApiClient) -> None:
    names = [f"group-{i:02d}" for i in range(7)]
    for name in names:
        create_group(api, name)

    pages = [
        api.get("/groups", params={"order": "name", "offset": offset, "limit": 3}).json()
        for offset in (0, 3, 6)
    ]

    assert [len(page["data"]) for page in pages] == [3, 3, 1]
    assert [name for page in pages for name in (g["name"] for g in page["data"])] == names
    assert {page["count"] for page in pages} == {7}
    assert [page["offset"] for page in pages] == [0, 3, 6]
    assert api.get("/groups", params={"offset": 9}).json()["data"] == []


def test_groups_list_limit_above_1000_is_400_naming_limit(api: ApiClient) -> None:
    at_most = api.get("/groups", params={"limit": 1000})
    above = api.get("/groups", params={"limit": 1001})

    assert at_most.status == 200
    assert above.status == 400
    assert above.message.startswith("[BadRequest]")
    assert "limit" in above.message


def test_groups_list_negative_offset_is_400_naming_offset(api: ApiClient) -> None:
    response = api.get("/groups", params={"offset": -1})

    assert response.status == 400
    assert "offset" in response.message


def test_groups_list_by_unknown_field_is_400(api: ApiClient) -> None:
    response = api.get("/groups", params={"order": "colour"})

    assert response.status == 400
    assert "colour" in response.message


# -- update -----------------------------------------------------------------------------------------


def test_groups_update_changes_only_the_given_keys(api: ApiClient) -> None:
    group = create_group(api, "Partial", note="old note", context={"keep": True})

    updated = api.patch(f"/groups/{group['id']}", {"note": "new note"}).data

    assert updated["note"] == "new note"
    assert (updated["name"], updated["context"]) == ("Partial", {"keep": True})
    assert updated["updated_at"] is not None
    assert api.get(f"/groups/{group['id']}").data == updated


def test_groups_update_explicit_null_note_sets_it_to_null(api: ApiClient) -> None:
    group = create_group(api, "Nulled", note="to be cleared")

    api.patch(f"/groups/{group['id']}", {"note": None})

    assert api.get(f"/groups/{group['id']}").data["note"] is None


def test_groups_update_null_name_is_400_and_changes_nothing(api: ApiClient, aws: dict[str, str]) -> None:
    group = create_group(api, "Named")
    before = stored_items(aws)

    response = api.patch(f"/groups/{group['id']}", {"name": None})

    assert response.status == 400
    assert "name" in response.message
    assert stored_items(aws) == before


def test_groups_update_malformed_json_is_400_and_changes_nothing(api: ApiClient, aws: dict[str, str]) -> None:
    group = create_group(api, "Intact")
    before = stored_items(aws)

    response = api.request("PATCH", f"/groups/{group['id']}", raw_body=b"{note: unquoted}")

    assert response.status == 400
    assert stored_items(aws) == before


def test_groups_update_unknown_id_is_404_and_writes_nothing(api: ApiClient, aws: dict[str, str]) -> None:
    before = stored_items(aws)

    response = api.patch(f"/groups/{UNKNOWN_ID}", {"note": "ghost"})

    assert response.status == 404
    assert stored_items(aws) == before


def test_groups_rename_frees_the_old_name(api: ApiClient) -> None:
    group = create_group(api, "Old Name")

    renamed = api.patch(f"/groups/{group['id']}", {"name": "New Name"}).data
    reused = api.post("/groups", {"name": "Old Name"})

    assert renamed["name"] == "New Name"
    assert reused.status == 200
    assert reused.data["id"] != group["id"]


def test_groups_rename_to_a_taken_name_is_409_and_the_old_name_still_resolves(
    api: ApiClient, aws: dict[str, str]
) -> None:
    create_group(api, "Taken")
    group = create_group(api, "Mine")
    before = stored_items(aws)

    response = api.patch(f"/groups/{group['id']}", {"name": "Taken"})

    assert response.status == 409
    assert stored_items(aws) == before
    assert [g["id"] for g in api.get("/groups", params={"name": "Mine"}).json()["data"]] == [group["id"]]
    assert api.post("/groups", {"name": "Mine"}).status == 409


def test_groups_locked_group_refuses_update_without_its_token(api: ApiClient) -> None:
    group = api.post("/groups", {"name": "Locked", "locked": True}, params={"lock_token": "t0k"}).data

    refused = api.patch(f"/groups/{group['id']}", {"note": "sneaky"})
    allowed = api.patch(f"/groups/{group['id']}", {"note": "owner"}, params={"lock_token": "t0k"})

    assert refused.status == 423
    assert refused.message.startswith("[Locked]")
    assert allowed.status == 200
    assert allowed.data["note"] == "owner"


# -- delete -----------------------------------------------------------------------------------------


def test_groups_delete_removes_the_group_and_frees_its_name(api: ApiClient) -> None:
    group = create_group(api, "Gone")

    response = api.delete(f"/groups/{group['id']}")

    assert response.status == 204
    assert api.get(f"/groups/{group['id']}").status == 404
    assert api.get("/groups").json()["count"] == 0
    assert api.post("/groups", {"name": "Gone"}).status == 200


def test_groups_delete_unknown_id_is_404(api: ApiClient) -> None:
    response = api.delete(f"/groups/{UNKNOWN_ID}")

    assert response.status == 404
    assert response.message.startswith("[NotFound]")


def test_groups_delete_with_logs_is_409_until_the_log_is_deleted(api: ApiClient, aws: dict[str, str]) -> None:
    # Given a group with one log
    group = create_group(api, "Parent")
    log = create_log(api, group["id"], "Child")
    before = stored_items(aws)

    # When the group is deleted, it is refused and nothing changes
    refused = api.delete(f"/groups/{group['id']}")
    assert refused.status == 409
    assert refused.message.startswith("[Conflict]")
    assert stored_items(aws) == before

    # Then once the log is gone the group can be deleted
    assert api.delete(f"/logs/{log['id']}").status == 204
    assert api.delete(f"/groups/{group['id']}").status == 204
    assert api.get(f"/groups/{group['id']}").status == 404
