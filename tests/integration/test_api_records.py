"""Records of a topic: ``/topics/{topic_id}/records[/{timestamp}]`` (contract §3.9, §4)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import pytest

from openlqs.domain.common import Context
from openlqs.errors import Conflict, LimitExceeded
from openlqs.models.records import RecordCreateRequest
from openlqs.services import get_services
from tests.support.api import ApiClient
from tests.support.moto import atomic_dynamodb_requests
from tests.support.resources import (
    BASE_NS,
    create_group,
    create_log,
    create_records,
    create_topic,
    new_topic,
    stored_items,
)

UNKNOWN_ID = "6e7c7138-a9ca-439b-a3a3-c0aea4d894b8"
MS = 1_000_000
SECOND = 1_000 * MS
MINUTE = 60 * SECOND
#: Two nanosecond timestamps one apart, both above 2**53 (float64 cannot tell them apart).
BIG = 1_655_235_727_034_130_944


@pytest.fixture
def topic(api: ApiClient) -> dict[str, Any]:
    return new_topic(api)


def _records_path(topic: dict[str, Any]) -> str:
    return f"/topics/{topic['id']}/records"


def _timestamps(response: Any) -> list[int]:
    assert response.status == 200, response.body
    return [record["timestamp"] for record in response.json()["data"]]


def _record_items(aws: dict[str, str]) -> list[Any]:
    return [item for table, _, _, item in stored_items(aws) if table == aws["RECORDS_TABLE_NAME"]]


# -- create and fetch -------------------------------------------------------------------------------


def test_records_create_then_fetch_by_timestamp(api: ApiClient, topic: dict[str, Any]) -> None:
    created = create_records(
        api,
        topic["id"],
        [BASE_NS],
        note="first",
        context={"k": "v"},
        query_data={"x": 1.5},
        data_offset=100,
        data_length=20,
        chunk_compression="lz4",
        source="part.bag",
    )[0]

    fetched = api.get(f"{_records_path(topic)}/{BASE_NS}").data

    assert fetched["timestamp"] == BASE_NS
    assert (fetched["topic_id"], fetched["log_id"]) == (topic["id"], topic["log_id"])
    assert (fetched["note"], fetched["context"], fetched["query_data"]) == ("first", {"k": "v"}, {"x": 1.5})
    assert (fetched["data_offset"], fetched["data_length"], fetched["chunk_compression"]) == (100, 20, "lz4")
    assert fetched["source"] == "part.bag"
    assert fetched["created_at"] == created["created_at"]


def test_records_nanosecond_timestamps_above_2_53_round_trip_exactly(
    api: ApiClient, topic: dict[str, Any]
) -> None:
    create_records(api, topic["id"], [BIG + 1, BIG])

    listed = api.get(_records_path(topic))
    fetched = api.get(f"{_records_path(topic)}/{BIG + 1}")

    assert _timestamps(listed) == [BIG, BIG + 1]
    assert fetched.data["timestamp"] == BIG + 1
    assert b"1655235727034130945" in fetched.body


def test_records_fetch_unknown_timestamp_is_404(api: ApiClient, topic: dict[str, Any]) -> None:
    create_records(api, topic["id"], [BASE_NS])

    response = api.get(f"{_records_path(topic)}/{BASE_NS + 1}")

    assert response.status == 404
    assert response.message.startswith("[NotFound]")


def test_records_of_unknown_topic_are_404(api: ApiClient, aws: dict[str, str]) -> None:
    before = stored_items(aws)

    listed = api.get(f"/topics/{UNKNOWN_ID}/records")
    created = api.post(f"/topics/{UNKNOWN_ID}/records", {"timestamp": BASE_NS})

    assert (listed.status, created.status) == (404, 404)
    assert stored_items(aws) == before


def test_records_create_duplicate_timestamp_is_409_and_writes_nothing(
    api: ApiClient, aws: dict[str, str], topic: dict[str, Any]
) -> None:
    create_records(api, topic["id"], [BASE_NS], note="original")
    before = stored_items(aws)

    response = api.post(_records_path(topic), {"timestamp": BASE_NS, "note": "copy"})

    assert response.status == 409
    assert response.message.startswith("[Conflict]")
    assert stored_items(aws) == before


def test_records_create_timestamp_not_an_int64_is_400(
    api: ApiClient, aws: dict[str, str], topic: dict[str, Any]
) -> None:
    before = stored_items(aws)
    timestamps = ["soon", 1.5, "1655235720000000000.5", None, -1, 2**63, [BASE_NS]]

    responses = [api.post(_records_path(topic), {"timestamp": ts}) for ts in timestamps]

    assert [response.status for response in responses] == [400] * len(timestamps)
    assert all(response.message.startswith("[BadRequest]") for response in responses)
    assert all("timestamp" in response.message for response in responses)
    assert stored_items(aws) == before


def test_records_path_timestamp_not_an_int64_is_400(
    api: ApiClient, aws: dict[str, str], topic: dict[str, Any]
) -> None:
    create_records(api, topic["id"], [BASE_NS])
    before = stored_items(aws)
    requests = [(method, ts) for method in ("GET", "PATCH", "DELETE") for ts in ("soon", "1.5", "-1")]

    responses = {
        (method, ts): api.request(method, f"{_records_path(topic)}/{ts}", json_body={"note": "x"})
        for method, ts in requests
    }

    assert {key: response.status for key, response in responses.items()} == dict.fromkeys(requests, 400)
    assert all("timestamp" in response.message for response in responses.values())
    assert stored_items(aws) == before


def test_records_create_column_beyond_int64_is_400(
    api: ApiClient, aws: dict[str, str], topic: dict[str, Any]
) -> None:
    before = stored_items(aws)

    response = api.post(_records_path(topic), {"timestamp": BASE_NS, "data_offset": 2**63})

    assert response.status == 400
    assert "data_offset" in response.message
    assert stored_items(aws) == before


def test_records_create_beyond_max_records_per_log_is_limit_exceeded_and_writes_nothing(
    api: ApiClient, aws: dict[str, str], limits: Any
) -> None:
    # Given a log at its limit of three records, spread over two topics
    limits(max_records_per_log=3)
    group = create_group(api, "G")
    log = create_log(api, group["id"], "L")
    first, second = create_topic(api, log["id"], "/a"), create_topic(api, log["id"], "/b")
    create_records(api, first["id"], [BASE_NS, BASE_NS + 1])
    create_records(api, second["id"], [BASE_NS])
    before = stored_items(aws)

    # When one more record is created
    response = api.post(_records_path(second), {"timestamp": BASE_NS + 1})

    # Then it is refused naming the limit and nothing is written
    assert response.status == 400
    assert response.message.startswith("[LimitExceeded]")
    assert "max_records_per_log" in response.message
    assert stored_items(aws) == before


def test_records_concurrent_creates_never_pass_max_records_per_log(
    api: ApiClient, aws: dict[str, str], limits: Any
) -> None:
    # Given a log allowed 5 records, and 16 writers on two of its topics, all starting at once
    limits(max_records_per_log=5)
    log = create_log(api, create_group(api, "G")["id"], "L")
    topics = [UUID(create_topic(api, log["id"], name)["id"]) for name in ("/a", "/b")]
    records = get_services().records
    start = threading.Barrier(16)

    def create(i: int) -> str:
        start.wait()
        try:
            records.create(topics[i % 2], RecordCreateRequest(timestamp=BASE_NS + i), Context())
        except LimitExceeded:
            return "limit"
        except Conflict:
            return "conflict"  # a concurrent writer won 8 times in a row: nothing was written
        return "created"

    # When they create one record each (each DynamoDB request atomic, as on AWS)
    with atomic_dynamodb_requests(), ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(create, range(16)))
    stored = sum(api.get(_records_path({"id": str(topic)})).json()["count"] for topic in topics)
    # and then records are created one by one until the limit refuses one
    refused = None
    for i in range(16, 32):
        response = api.post(_records_path({"id": str(topics[0])}), {"timestamp": BASE_NS + i})
        if response.status != 200:
            refused = response
            break

    # Then the writers together stayed within the limit, every one answered was stored and counted, and
    # no reservation was left behind: exactly 5 records in all
    assert 1 <= outcomes.count("created") <= 5, outcomes
    assert stored == outcomes.count("created")
    assert refused is not None and refused.message.startswith("[LimitExceeded]")
    total = sum(api.get(_records_path({"id": str(topic)})).json()["count"] for topic in topics)
    assert total == 5
    assert api.get(f"/logs/{log['id']}").data["record_count"] == 5
    assert not get_services().logs.get(UUID(log["id"]))._internal.get("records_reserved")


# -- list -------------------------------------------------------------------------------------------


def test_records_list_is_in_timestamp_order_with_an_exact_count(
    api: ApiClient, topic: dict[str, Any]
) -> None:
    timestamps = [BASE_NS + offset for offset in (5 * SECOND, 0, 3 * MINUTE, 2 * SECOND, 1)]
    create_records(api, topic["id"], timestamps)

    body = api.get(_records_path(topic)).json()

    assert [r["timestamp"] for r in body["data"]] == sorted(timestamps)
    assert type(body["count"]) is int
    assert body["count"] == 5
    assert (body["order"], body["sort"]) == ("timestamp", "ASC")


def test_records_list_time_windows_select_their_bounds(api: ApiClient, topic: dict[str, Any]) -> None:
    # Given records at 0..4 s
    create_records(api, topic["id"], [BASE_NS + i * SECOND for i in range(5)])
    windows: list[tuple[dict[str, int], list[int]]] = [
        ({"timestamp_gt": BASE_NS + 1 * SECOND}, [2, 3, 4]),
        ({"timestamp_gte": BASE_NS + 1 * SECOND}, [1, 2, 3, 4]),
        ({"timestamp_lt": BASE_NS + 3 * SECOND}, [0, 1, 2]),
        ({"timestamp_lte": BASE_NS + 3 * SECOND}, [0, 1, 2, 3]),
        ({"timestamp_gt": BASE_NS, "timestamp_lt": BASE_NS + 4 * SECOND}, [1, 2, 3]),
        ({"timestamp_gte": BASE_NS + 2 * SECOND, "timestamp_lte": BASE_NS + 2 * SECOND}, [2]),
        ({"timestamp": BASE_NS + 4 * SECOND}, [4]),
        ({"timestamp_gt": BASE_NS + 3 * SECOND, "timestamp_lt": BASE_NS + 1 * SECOND}, []),
    ]

    for window, expected in windows:
        # When listed through each window
        response = api.get(_records_path(topic), params=window)

        # Then exactly the records inside it come back, and are counted
        assert _timestamps(response) == [BASE_NS + i * SECOND for i in expected], window
        assert response.json()["count"] == len(expected), window


def test_records_list_windows_at_the_ends_of_int64_select_exactly(
    api: ApiClient, topic: dict[str, Any]
) -> None:
    # Given records at the largest timestamps an Int64 holds, and one at 0
    top = 2**63 - 1
    create_records(api, topic["id"], [0, top - 1, top])
    windows: list[tuple[dict[str, int], list[int]]] = [
        ({"timestamp_gt": top}, []),
        ({"timestamp_gte": top}, [top]),
        ({"timestamp_gt": top - 1}, [top]),
        ({"timestamp_lte": top}, [0, top - 1, top]),
        ({"timestamp_lt": -(2**63)}, []),
        ({"timestamp_lte": -(2**63)}, []),
        ({"timestamp_gte": -(2**63)}, [0, top - 1, top]),
        ({"timestamp": top}, [top]),
    ]

    for window, expected in windows:
        for include_count in (True, False):
            # When listed through each window, counted or not, and with a per-row filter (another path)
            params = {**window, "include_count": include_count}
            pages = [
                api.get(_records_path(topic), params=params),
                api.get(_records_path(topic), params={**params, "note_like": "%"}),
            ]

            # Then exactly the records inside it come back
            assert _timestamps(pages[0]) == expected, window
            assert _timestamps(pages[1]) == [], window  # no record has a note
            assert pages[0].json()["count"] == (len(expected) if include_count else None), window


@pytest.mark.parametrize(
    "name",
    ["timestamp", "timestamp_gt", "timestamp_gte", "timestamp_lt", "timestamp_lte", "data_offset_gte"],
)
@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**40])
def test_records_list_bounds_outside_int64_are_400_naming_the_field(
    api: ApiClient, topic: dict[str, Any], name: str, value: int
) -> None:
    response = api.get(_records_path(topic), params={name: value})

    assert response.status == 400
    assert response.message.startswith(f"[BadRequest] {name}: Input should be"), response.message


def test_records_list_sort_desc_is_newest_first(api: ApiClient, topic: dict[str, Any]) -> None:
    timestamps = [BASE_NS + i * 7 * SECOND for i in range(4)]
    create_records(api, topic["id"], timestamps)

    responses = [api.get(_records_path(topic), params={"sort": sort}) for sort in ("DESC", "desc")]

    assert [_timestamps(response) for response in responses] == [sorted(timestamps, reverse=True)] * 2


def test_records_list_pages_cover_every_record_exactly_once(api: ApiClient, topic: dict[str, Any]) -> None:
    # Given records spread over several 10 s buckets, a few per bucket
    timestamps = [BASE_NS + i * 4 * SECOND for i in range(11)]
    create_records(api, topic["id"], timestamps)

    for sort in ("ASC", "DESC"):
        # When every page of 4 is read
        pages = [
            api.get(_records_path(topic), params={"offset": offset, "limit": 4, "sort": sort}).json()
            for offset in (0, 4, 8, 12)
        ]

        # Then each record comes back once, in order, and every page has the full count
        seen = [r["timestamp"] for page in pages for r in page["data"]]
        assert seen == sorted(timestamps, reverse=sort == "DESC"), sort
        assert [page["count"] for page in pages] == [11] * 4, sort


def test_records_list_across_many_time_buckets(api: ApiClient, topic: dict[str, Any]) -> None:
    # One record a minute: every record in its own 10 s bucket
    timestamps = [BASE_NS + i * MINUTE for i in range(12)]
    create_records(api, topic["id"], timestamps)

    window = api.get(
        _records_path(topic),
        params={"timestamp_gte": timestamps[3], "timestamp_lt": timestamps[9], "limit": 4, "offset": 1},
    )

    assert _timestamps(window) == timestamps[4:8]
    assert window.json()["count"] == 6
    assert _timestamps(api.get(_records_path(topic), params={"limit": 1000})) == timestamps


def test_records_list_limit_zero_counts_without_data(api: ApiClient, topic: dict[str, Any]) -> None:
    create_records(api, topic["id"], [BASE_NS + i for i in range(3)])

    body = api.get(f"{_records_path(topic)}?limit=0&include_count=True").json()

    assert (body["count"], body["data"]) == (3, [])


def test_records_list_without_count_still_pages(api: ApiClient, topic: dict[str, Any]) -> None:
    create_records(api, topic["id"], [BASE_NS + i for i in range(3)])

    body = api.get(_records_path(topic), params={"include_count": "False", "limit": 2}).json()

    assert body["count"] is None
    assert [r["timestamp"] for r in body["data"]] == [BASE_NS, BASE_NS + 1]


def test_records_list_client_query_is_accepted(api: ApiClient, topic: dict[str, Any]) -> None:
    create_records(api, topic["id"], [BASE_NS])
    # topic.list_records() exactly (contract §8.3 step 18)
    query = "include_auxiliary_data=False&include_raw_data=False&include_count=True&offset=0&limit=100"

    response = api.get(f"{_records_path(topic)}?{query}&order=timestamp&sort=ASC")

    assert _timestamps(response) == [BASE_NS]


def test_records_list_paging_out_of_range_is_400(api: ApiClient, topic: dict[str, Any]) -> None:
    too_many = api.get(_records_path(topic), params={"limit": 1001})
    negative = api.get(_records_path(topic), params={"offset": -5})

    assert (too_many.status, negative.status) == (400, 400)
    assert "limit" in too_many.message
    assert "offset" in negative.message


def test_records_list_by_another_order_is_400(api: ApiClient, topic: dict[str, Any]) -> None:
    response = api.get(_records_path(topic), params={"order": "created_at"})

    assert response.status == 400
    assert "order" in response.message


def test_records_list_window_bound_that_is_not_an_integer_is_400(
    api: ApiClient, topic: dict[str, Any]
) -> None:
    response = api.get(_records_path(topic), params={"timestamp_gte": "yesterday"})

    assert response.status == 400
    assert "timestamp_gte" in response.message


@pytest.mark.parametrize(
    ("method", "path", "params", "body"),
    [
        ("GET", "", {"timestamp_gte": "1700000000.5"}, None),
        ("GET", "", {"timestamp_lt": "2024-01-01T00:00:00Z"}, None),
        ("POST", "", None, {"timestamp": 1700000000.5}),
        ("GET", "/1700000000.5", None, None),
    ],
)
def test_records_timestamp_that_is_not_integer_nanoseconds_says_what_a_timestamp_is(
    api: ApiClient, topic: dict[str, Any], method: str, path: str, params: Any, body: Any
) -> None:
    response = api.request(method, _records_path(topic) + path, params=params, json_body=body)

    assert response.status == 400
    assert "timestamps are integer nanoseconds since the Unix epoch" in response.message
    assert "the openlqs command also takes seconds" in response.message


def test_records_list_frequency_returns_one_record_per_period(api: ApiClient, topic: dict[str, Any]) -> None:
    # Given 5 s of records 100 ms apart
    create_records(api, topic["id"], [BASE_NS + i * 100 * MS for i in range(50)])

    # When listed at one record per second
    response = api.get(_records_path(topic), params={"frequency": 1})

    # Then the first record of each second comes back
    assert _timestamps(response) == [BASE_NS + i * SECOND for i in range(5)]
    assert response.json()["count"] == 5


def test_records_list_frequency_not_positive_is_400(api: ApiClient, topic: dict[str, Any]) -> None:
    responses = [api.get(_records_path(topic), params={"frequency": f}) for f in (0, -1, "often")]

    assert [response.status for response in responses] == [400, 400, 400]
    assert all("frequency" in response.message for response in responses)


def test_records_auxiliary_data_is_returned_only_when_asked(api: ApiClient, topic: dict[str, Any]) -> None:
    create_records(api, topic["id"], [BASE_NS], auxiliary_data={"image": "AAAA", "format": "webp"})
    path = f"{_records_path(topic)}/{BASE_NS}"

    fetched_without = api.get(f"{path}?include_auxiliary_data=False&include_raw_data=False").data
    fetched_with = api.get(f"{path}?include_auxiliary_data=True&include_raw_data=False").data
    listed_without = api.get(_records_path(topic)).json()["data"][0]
    listed_with = api.get(_records_path(topic), params={"include_auxiliary_data": "True"}).json()["data"][0]

    assert fetched_without["auxiliary_data"] is None
    assert listed_without["auxiliary_data"] is None
    assert fetched_with["auxiliary_data"] == {"image": "AAAA", "format": "webp"}
    assert listed_with["auxiliary_data"] == {"image": "AAAA", "format": "webp"}


# -- update and delete ------------------------------------------------------------------------------


def test_records_update_changes_only_the_given_keys(api: ApiClient, topic: dict[str, Any]) -> None:
    create_records(api, topic["id"], [BASE_NS], note="old", context={"keep": 1}, data_offset=42)

    updated = api.patch(
        f"{_records_path(topic)}/{BASE_NS}", {"note": "new", "query_data": [1, 2], "context": {"c": 2}}
    ).data

    assert (updated["note"], updated["query_data"], updated["context"]) == ("new", [1, 2], {"c": 2})
    assert updated["data_offset"] == 42
    assert updated["updated_at"] is not None
    fetched = api.get(f"{_records_path(topic)}/{BASE_NS}").data
    assert (fetched["note"], fetched["query_data"], fetched["context"]) == ("new", [1, 2], {"c": 2})


def test_records_update_explicit_null_note_clears_it(api: ApiClient, topic: dict[str, Any]) -> None:
    create_records(api, topic["id"], [BASE_NS], note="to clear", context={"keep": 1})

    api.patch(f"{_records_path(topic)}/{BASE_NS}", {"note": None})

    fetched = api.get(f"{_records_path(topic)}/{BASE_NS}").data
    assert fetched["note"] is None
    assert fetched["context"] == {"keep": 1}


def test_records_update_unknown_timestamp_is_404_and_writes_nothing(
    api: ApiClient, aws: dict[str, str], topic: dict[str, Any]
) -> None:
    create_records(api, topic["id"], [BASE_NS])
    before = stored_items(aws)

    response = api.patch(f"{_records_path(topic)}/{BASE_NS + 1}", {"note": "ghost"})

    assert response.status == 404
    assert stored_items(aws) == before


def test_records_update_wrong_field_type_is_400_and_changes_nothing(
    api: ApiClient, aws: dict[str, str], topic: dict[str, Any]
) -> None:
    create_records(api, topic["id"], [BASE_NS])
    before = stored_items(aws)

    response = api.patch(f"{_records_path(topic)}/{BASE_NS}", {"context": "not an object"})

    assert response.status == 400
    assert "context" in response.message
    assert stored_items(aws) == before


def test_records_delete_removes_only_that_record(api: ApiClient, topic: dict[str, Any]) -> None:
    create_records(api, topic["id"], [BASE_NS, BASE_NS + 1, BASE_NS + 2])

    response = api.delete(f"{_records_path(topic)}/{BASE_NS + 1}")

    assert response.status == 204
    assert response.body == b""
    assert api.get(f"{_records_path(topic)}/{BASE_NS + 1}").status == 404
    assert _timestamps(api.get(_records_path(topic))) == [BASE_NS, BASE_NS + 2]


def test_records_delete_unknown_timestamp_is_404(api: ApiClient, topic: dict[str, Any]) -> None:
    assert api.delete(f"{_records_path(topic)}/{BASE_NS}").status == 404


def test_records_deleted_timestamp_can_be_created_again(api: ApiClient, topic: dict[str, Any]) -> None:
    create_records(api, topic["id"], [BASE_NS], note="first")
    api.delete(f"{_records_path(topic)}/{BASE_NS}")

    response = api.post(_records_path(topic), {"timestamp": BASE_NS, "note": "second"})

    assert response.status == 200
    assert api.get(f"{_records_path(topic)}/{BASE_NS}").data["note"] == "second"


# -- topic and log statistics ------------------------------------------------------------------------


def _stats(resource: dict[str, Any]) -> tuple[Any, ...]:
    return (resource["record_count"], resource["start_time"], resource["end_time"], resource["duration"])


def test_records_create_updates_topic_and_log_statistics(api: ApiClient) -> None:
    # Given a log with two topics
    group = create_group(api, "G")
    log = create_log(api, group["id"], "L")
    first, second = create_topic(api, log["id"], "/a"), create_topic(api, log["id"], "/b")

    # When records are written to both
    create_records(api, first["id"], [BASE_NS + 2 * SECOND, BASE_NS + 5 * SECOND], data_length=100)
    create_records(api, second["id"], [BASE_NS + MINUTE, BASE_NS], data_length=7)

    # Then each topic covers its own records and the log covers all of them
    first_stats = api.get(f"/topics/{first['id']}").data
    second_stats = api.get(f"/topics/{second['id']}").data
    log_stats = api.get(f"/logs/{log['id']}").data
    assert _stats(first_stats) == (2, BASE_NS + 2 * SECOND, BASE_NS + 5 * SECOND, 3 * SECOND)
    assert _stats(second_stats) == (2, BASE_NS, BASE_NS + MINUTE, MINUTE)
    assert _stats(log_stats) == (4, BASE_NS, BASE_NS + MINUTE, MINUTE)
    assert (first_stats["record_size"], second_stats["record_size"], log_stats["record_size"]) == (
        200,
        14,
        214,
    )


def test_records_delete_updates_topic_and_log_statistics(api: ApiClient, topic: dict[str, Any]) -> None:
    timestamps = [BASE_NS, BASE_NS + SECOND, BASE_NS + MINUTE]
    create_records(api, topic["id"], timestamps)

    # Deleting the first and last records narrows the bounds to the middle one
    api.delete(f"{_records_path(topic)}/{timestamps[0]}")
    api.delete(f"{_records_path(topic)}/{timestamps[2]}")

    assert _stats(api.get(f"/topics/{topic['id']}").data) == (1, BASE_NS + SECOND, BASE_NS + SECOND, 0)
    assert _stats(api.get(f"/logs/{topic['log_id']}").data) == (1, BASE_NS + SECOND, BASE_NS + SECOND, 0)


def test_records_deleting_every_record_empties_the_statistics(api: ApiClient, topic: dict[str, Any]) -> None:
    create_records(api, topic["id"], [BASE_NS, BASE_NS + MINUTE])

    for timestamp in (BASE_NS, BASE_NS + MINUTE):
        api.delete(f"{_records_path(topic)}/{timestamp}")

    assert _stats(api.get(f"/topics/{topic['id']}").data) == (0, None, None, None)
    assert _stats(api.get(f"/logs/{topic['log_id']}").data) == (0, None, None, None)


# -- storage ----------------------------------------------------------------------------------------


def test_records_in_one_time_bucket_share_a_record_block(
    api: ApiClient, aws: dict[str, str], topic: dict[str, Any]
) -> None:
    # Given 50 records within one 10 s bucket
    create_records(api, topic["id"], [BASE_NS + i * 100 * MS for i in range(50)])

    # Then RecordsTable holds a block, not an item per record
    items = _record_items(aws)
    assert 1 <= len(items) <= 2
    assert sum(int(item["n"]["N"]) for item in items) == 50


def test_records_in_different_time_buckets_get_their_own_blocks(
    api: ApiClient, aws: dict[str, str], topic: dict[str, Any]
) -> None:
    create_records(api, topic["id"], [BASE_NS + i * MINUTE for i in range(3)])

    assert len(_record_items(aws)) == 3
