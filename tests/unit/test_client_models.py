"""The client's resource models and verbs: fetch, fetch_or_create, update, paging, argument checks."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import httpx
import pytest

from openlqs import errors
from openlqs.client.models import PAGE_SIZE, Group, iterate_pages
from openlqs.models.common import PaginatedResponse
from tests.support.client import ScriptedApi, data, error, group_json, page
from tests.support.client import offline_client as client_over

GROUP_ID = UUID("6a7c0d2e-1b3f-4c5d-8e9f-0a1b2c3d4e5f")
OTHER_ID = UUID("9f9f9f9f-1b3f-4c5d-8e9f-0a1b2c3d4e5f")
TOPIC_ID = UUID("0c0c0c0c-1111-2222-3333-444444444444")
LOG_ID = UUID("1a1a1a1a-1111-2222-3333-444444444444")


class FakePages:
    """A list route over ``items``: honours ``offset`` and ``limit`` and remembers each call."""

    def __init__(self, count: int) -> None:
        self.items = list(range(count))
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **params: Any) -> PaginatedResponse[int]:
        self.calls.append(params)
        offset, limit = params["offset"], params["limit"]
        return PaginatedResponse[int](
            offset=offset,
            limit=limit,
            order="created_at",
            sort="ASC",
            count=None,
            data=self.items[offset : offset + limit],
        )


# Paging ---------------------------------------------------------------------------------------------


def test_iterate_pages_reads_every_page_and_stops_on_a_short_one() -> None:
    pages = FakePages(2 * PAGE_SIZE + 7)

    items = list(iterate_pages(pages, log_id="L"))

    assert items == pages.items
    assert [(c["offset"], c["limit"]) for c in pages.calls] == [
        (0, PAGE_SIZE),
        (PAGE_SIZE, PAGE_SIZE),
        (2 * PAGE_SIZE, PAGE_SIZE),
    ]
    assert all(c["log_id"] == "L" and c["include_count"] is False for c in pages.calls)


def test_iterate_pages_asks_once_more_after_a_full_last_page() -> None:
    pages = FakePages(PAGE_SIZE)

    assert list(iterate_pages(pages)) == pages.items
    assert [c["offset"] for c in pages.calls] == [0, PAGE_SIZE]


def test_iterate_pages_stops_at_the_limit() -> None:
    pages = FakePages(3 * PAGE_SIZE)

    items = list(iterate_pages(pages, limit=PAGE_SIZE + 5))

    assert items == pages.items[: PAGE_SIZE + 5]
    assert [(c["offset"], c["limit"]) for c in pages.calls] == [(0, PAGE_SIZE), (PAGE_SIZE, 5)]


def test_iterate_pages_starts_at_the_given_offset() -> None:
    pages = FakePages(30)

    assert list(iterate_pages(pages, offset=25)) == [25, 26, 27, 28, 29]


def test_group_list_logs_follows_the_pages_of_the_api() -> None:
    logs = [_log_json(i) for i in range(PAGE_SIZE + 2)]
    api = ScriptedApi(page(*logs[:PAGE_SIZE]), page(*logs[PAGE_SIZE:]))
    lqs = client_over(api)
    group = lqs.resource.Group.model_validate(group_json(GROUP_ID))

    found = group.list_logs()

    assert [log.name for log in found] == [log["name"] for log in logs]
    assert api.requests[1].url.params["offset"] == str(PAGE_SIZE)
    assert api.requests[1].url.params["group_id"] == str(GROUP_ID)


def _log_json(i: int) -> dict[str, Any]:
    return group_json(UUID(int=i + 1), name=f"log {i}") | {"group_id": str(GROUP_ID)}


# Argument checks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda lqs: lqs.list.group(nmae="Demo Group"),
        lambda lqs: lqs.create.group(name="Demo Group", colour="red"),
        lambda lqs: lqs.update.group(GROUP_ID, data={"nmae": "x"}),
        lambda lqs: lqs.fetch.record(1, TOPIC_ID, bogus=True),
        lambda lqs: lqs.list.log_object(LOG_ID, prefixx="a/"),
    ],
)
def test_interface_unknown_keyword_is_a_type_error_and_sends_nothing(call: Any) -> None:
    api = ScriptedApi()

    with pytest.raises(TypeError, match="unexpected keyword"):
        call(client_over(api))

    assert api.requests == []


# Fetch, fetch_or_create -----------------------------------------------------------------------------


def test_resource_fetch_by_name_asks_for_the_newest_match() -> None:
    api = ScriptedApi(page(group_json(GROUP_ID)))

    group = client_over(api).resource.Group.fetch("Demo Group")

    assert group.id == GROUP_ID
    assert api.calls == [("GET", "/groups")]
    params = api.requests[0].url.params
    assert (params["name"], params["order"], params["sort"], params["limit"]) == (
        "Demo Group",
        "created_at",
        "DESC",
        "1",
    )


def test_resource_fetch_by_id_reads_the_resource() -> None:
    api = ScriptedApi(data(group_json(GROUP_ID)))

    group = client_over(api).resource.Group.fetch(str(GROUP_ID))

    assert group.id == GROUP_ID
    assert api.calls == [("GET", f"/groups/{GROUP_ID}")]


def test_resource_fetch_by_name_without_a_match_is_not_found() -> None:
    api = ScriptedApi(page())

    with pytest.raises(errors.NotFound):
        client_over(api).resource.Group.fetch("Nobody")


def test_fetch_or_create_returns_the_existing_resource_without_creating() -> None:
    api = ScriptedApi(page(group_json(GROUP_ID)))

    group = client_over(api).resource.Group.fetch_or_create(name="Demo Group", note="ignored")

    assert group.id == GROUP_ID
    assert api.calls == [("GET", "/groups")]
    assert "note" not in api.requests[0].url.params  # only list filters are used to find it


def test_fetch_or_create_creates_when_nothing_is_found() -> None:
    api = ScriptedApi(page(), data(group_json(GROUP_ID, note="new")))

    group = client_over(api).resource.Group.fetch_or_create(name="Demo Group", note="new")

    assert group.id == GROUP_ID
    assert api.calls == [("GET", "/groups"), ("POST", "/groups")]
    assert json.loads(api.requests[1].content) == {"name": "Demo Group", "note": "new"}


@pytest.mark.parametrize(
    "failure",
    [
        error(401, "[Unauthorized] Missing or malformed credentials."),
        error(403, "[Forbidden] Not yours."),
        httpx.Response(500, text="oops"),
    ],
)
def test_fetch_or_create_raises_other_errors_without_creating(failure: httpx.Response) -> None:
    api = ScriptedApi(failure)

    with pytest.raises(errors.OpenLQSError) as raised:
        client_over(api, retry_count=0).resource.Group.fetch_or_create(name="Demo Group")

    assert not isinstance(raised.value, errors.NotFound)
    assert raised.value.status == failure.status_code  # type: ignore[attr-defined]
    assert [method for method, _ in api.calls] == ["GET"]


def test_record_fetch_or_create_creates_on_a_404() -> None:
    record = _record_json(5)
    api = ScriptedApi(error(404, "[NotFound] No record."), data(record))

    found = client_over(api).resource.Record.fetch_or_create(timestamp=5, topic_id=TOPIC_ID, note="n")

    assert found.timestamp == 5
    assert api.calls == [("GET", f"/topics/{TOPIC_ID}/records/5"), ("POST", f"/topics/{TOPIC_ID}/records")]


def _record_json(timestamp: int) -> dict[str, Any]:
    return {
        "timestamp": timestamp,
        "log_id": str(LOG_ID),
        "topic_id": str(TOPIC_ID),
        "created_at": "2024-05-01T12:00:00Z",
    }


# Instances ------------------------------------------------------------------------------------------


def test_resource_update_patches_and_refreshes_the_instance() -> None:
    api = ScriptedApi(data(group_json(GROUP_ID)), data(group_json(GROUP_ID, note="changed")))
    lqs = client_over(api)
    group = lqs.resource.Group.fetch(GROUP_ID)

    returned = group.update(note="changed")

    assert returned is group
    assert group.note == "changed"
    assert api.calls[1] == ("PATCH", f"/groups/{GROUP_ID}")
    assert json.loads(api.requests[1].content) == {"note": "changed"}


def test_resource_refresh_reads_the_server_state() -> None:
    api = ScriptedApi(data(group_json(GROUP_ID, name="Renamed")))
    group = client_over(api).resource.Group.model_validate(group_json(GROUP_ID))

    group.refresh()

    assert group.name == "Renamed"


def test_resource_delete_sends_a_delete() -> None:
    api = ScriptedApi(httpx.Response(204))
    group = client_over(api).resource.Group.model_validate(group_json(GROUP_ID))

    group.delete()

    assert api.calls == [("DELETE", f"/groups/{GROUP_ID}")]


def test_resource_repr_shows_the_class_id_and_name() -> None:
    group = client_over(ScriptedApi()).resource.Group.model_validate(group_json(GROUP_ID))

    assert repr(group) == f"<Group id={GROUP_ID}, name=Demo Group>"


def test_ingestion_state_is_the_process_state_enum_as_in_the_logqs_documentation() -> None:
    lqs = client_over(ScriptedApi())
    ingestion = lqs.resource.Ingestion.model_validate(
        {
            "id": str(GROUP_ID),
            "log_id": str(LOG_ID),
            "group_id": str(OTHER_ID),
            "state": "completed",
            "created_at": "2024-01-01T00:00:00Z",
        }
    )

    assert repr(ingestion.state) == "<ProcessState.completed: 'completed'>"
    assert ingestion.state == "completed" and f"{ingestion.state}" == "completed"
    assert ingestion.model_dump(mode="json")["state"] == "completed"


def test_record_repr_names_its_timestamp_topic_and_log() -> None:
    lqs = client_over(ScriptedApi())
    record = lqs.resource.Record.model_validate(
        {
            "timestamp": 1396293888056045055,
            "topic_id": str(TOPIC_ID),
            "log_id": str(LOG_ID),
            "created_at": "2024-01-01T00:00:00Z",
        }
    )

    assert repr(record) == f"<Record timestamp=1396293888056045055, topic_id={TOPIC_ID}, log_id={LOG_ID}>"


def test_fetched_resources_are_bound_to_their_own_client() -> None:
    first_api = ScriptedApi(data(group_json(GROUP_ID)), data(group_json(GROUP_ID, note="first")))
    second_api = ScriptedApi(data(group_json(OTHER_ID)), data(group_json(OTHER_ID, note="second")))
    first, second = client_over(first_api), client_over(second_api)

    a = first.fetch.group(GROUP_ID).data
    b = second.fetch.group(OTHER_ID).data
    a.update(note="first")
    b.update(note="second")

    assert isinstance(a, first.resource.Group) and not isinstance(a, second.resource.Group)
    assert (len(first_api.requests), len(second_api.requests)) == (2, 2)


def test_unbound_resource_class_refuses_to_call_a_server() -> None:
    with pytest.raises(RuntimeError, match="not bound"):
        Group.fetch(GROUP_ID)


# Waiting for an ingestion ---------------------------------------------------------------------------


def _ingestion_json(state: str, progress: float | None = None) -> dict[str, Any]:
    return group_json(OTHER_ID, name="Demo Ingestion") | {
        "log_id": str(LOG_ID),
        "group_id": str(GROUP_ID),
        "state": state,
        "progress": progress,
    }


def test_wait_for_refreshes_until_a_final_state() -> None:
    api = ScriptedApi(
        data(_ingestion_json("queued")),
        data(_ingestion_json("processing", 0.5)),
        data(_ingestion_json("failed", 0.5) | {"error_message": "not a bag"}),
    )
    lqs = client_over(api)
    ingestion = lqs.resource.Ingestion.model_validate(_ingestion_json("ready"))

    finished = lqs.utils.wait_for(ingestion, poll_interval=0)

    assert finished is ingestion
    assert (finished.state, finished.error_message) == ("failed", "not a bag")
    assert api.calls == [("GET", f"/ingestions/{OTHER_ID}")] * 3
