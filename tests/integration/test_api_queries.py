"""Queries: ``/logs/{id}/queries`` and ``/queries`` run SQL over one ingested log (contract §4).

These run the statement in ApiFunction's process (no ``QUERY_FUNCTION_NAME``); the QueryFunction path
is exercised by the local stack (``tests/local``) and the permission test.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import ApiClient
from tests.support.ingestion import ingest, put_log_object
from tests.support.paths import DATASTORE_ID
from tests.support.resources import create_group, create_log, create_records, create_topic, stored_items

GROUP_BY = (
    "SELECT t.name, count(*), min(timestamp), max(timestamp) "
    "FROM records r JOIN topics t ON r.topic_id = t.id GROUP BY 1 ORDER BY 1"
)
UNKNOWN_ID = "6e7c7138-a9ca-439b-a3a3-c0aea4d894b8"


def _query(api: ApiClient, log_id: str, statement: str | None, **fields: Any) -> dict[str, Any]:
    body = {"name": None, "note": None, "context": None, "statement": statement, "parameters": None, **fields}
    response = api.post(f"/logs/{log_id}/queries", body)
    assert response.status == 200, response.body
    return dict(response.data)


@pytest.fixture
def example_log(api: ApiClient, aws: dict[str, str], fixture_bags: Path) -> str:
    """example.bag ingested, /turtle1/pose storing its query_data."""
    log = create_log(api, create_group(api, "Queries")["id"], "Example")
    pose = {"log_id": log["id"], "name": "/turtle1/pose", "context": {"store_query_data": True}}
    assert api.post("/topics", pose).status == 200
    put_log_object(aws, DATASTORE_ID, log["id"], "example.bag", (fixture_bags / "example.bag").read_bytes())
    ingest(api, log["id"], "example.bag")
    return str(log["id"])


def test_queries_group_by_over_an_ingested_bag_equals_the_topics_statistics(
    api: ApiClient, example_log: str
) -> None:
    topics = api.get("/topics", params={"log_id": example_log}).json()["data"]

    query = _query(api, example_log, GROUP_BY, name="per topic")

    expected = sorted(
        [t["name"], t["record_count"], t["start_time"], t["end_time"]] for t in topics if t["record_count"]
    )
    assert query["error"] is None
    assert query["columns"] == ["name", "count_star()", 'min("timestamp")', 'max("timestamp")']
    assert query["rows"] == expected
    assert api.get(f"/queries/{query['id']}").data == query
    assert api.get(f"/logs/{example_log}/queries/{query['id']}").data == query


def test_queries_json_filter_selects_what_query_data_filter_selects(api: ApiClient, example_log: str) -> None:
    (pose,) = api.get("/topics", params={"log_id": example_log, "name": "/turtle1/pose"}).json()["data"]
    filtered = api.get(
        f"/topics/{pose['id']}/records",
        params={"query_data_filter": '{"var": "x", "op": "gt", "val": 5}', "limit": 1000},
    ).json()

    query = _query(
        api,
        example_log,
        "SELECT timestamp FROM records WHERE topic = $topic AND query_data->>'$.x' > $x ORDER BY timestamp",
        parameters={"topic": "/turtle1/pose", "x": 5},
    )

    assert query["error"] is None
    assert 0 < len(query["rows"]) < pose["record_count"]
    assert [row[0] for row in query["rows"]] == [record["timestamp"] for record in filtered["data"]]
    assert len(query["rows"]) == filtered["count"]


def test_queries_see_only_their_own_log(api: ApiClient) -> None:
    group = create_group(api)
    mine, other = create_log(api, group["id"], "mine"), create_log(api, group["id"], "other")
    create_records(api, create_topic(api, mine["id"], "/a")["id"], [1, 2, 3])
    create_records(api, create_topic(api, other["id"], "/b")["id"], [4, 5])

    query = _query(api, mine["id"], "SELECT topic, count(*) FROM records GROUP BY 1")

    assert query["rows"] == [["/a", 3]]


@pytest.mark.parametrize(
    ("statement", "name"),
    [
        ("DELETE FROM records", "BadQuery"),
        ("COPY (SELECT 1) TO '/tmp/openlqs-query-copy.csv'", "BadQuery"),
        ("SELECT * FROM read_csv('/etc/passwd')", "BadQuery"),
        ("SELECT * FROM read_parquet('https://example.com/x.parquet')", "BadQuery"),
        ("INSTALL httpfs", "BadQuery"),
        ("SELECT nonsense FROM nowhere", "BadQuery"),
    ],
)
def test_queries_bad_statements_are_stored_with_an_error_and_200(
    api: ApiClient, statement: str, name: str
) -> None:
    log = create_log(api, create_group(api)["id"])

    query = _query(api, log["id"], statement)

    assert query["error"]["name"] == name
    assert query["error"]["message"]
    assert (query["columns"], query["rows"]) == ([], [])


def test_queries_a_statement_that_never_ends_stops_at_the_time_limit(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch, limits: Any
) -> None:
    monkeypatch.setenv("QUERY_TIMEOUT_S", "1")
    limits()
    log = create_log(api, create_group(api)["id"])

    started = time.monotonic()
    query = _query(api, log["id"], "SELECT count(*) FROM range(1000000000000) a, range(1000000) b")

    assert query["error"]["name"] == "QueryTimeout"
    assert time.monotonic() - started < 10
    assert api.get("/groups").status == 200


def test_queries_a_billion_rows_are_cut_at_the_cap_saying_so(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch, limits: Any
) -> None:
    monkeypatch.setenv("QUERY_MAX_ROWS", "500")
    limits()
    log = create_log(api, create_group(api)["id"])

    query = _query(api, log["id"], "SELECT * FROM range(1000000000)")

    assert len(query["rows"]) == 500
    assert query["error"]["name"] == "QueryTooLarge"
    assert "500 rows" in query["error"]["message"]


def test_queries_results_fit_the_stored_item_beside_large_fields(api: ApiClient) -> None:
    log = create_log(api, create_group(api)["id"])
    note = "n" * 60_000

    query = _query(
        api, log["id"], "SELECT repeat('x', 1000) FROM range(10000)", note=note, context={"c": note}
    )

    assert query["error"]["name"] == "QueryTooLarge"
    assert 0 < len(query["rows"]) < 300
    assert api.get(f"/queries/{query['id']}").data == query


def test_queries_update_runs_a_new_statement_or_parameters_again(api: ApiClient) -> None:
    log = create_log(api, create_group(api)["id"])
    create_records(api, create_topic(api, log["id"], "/a")["id"], [1, 2, 3, 4])
    query = _query(api, log["id"], "SELECT count(*) FROM records WHERE timestamp > $t", parameters={"t": 1})

    again = api.patch(f"/queries/{query['id']}", {"parameters": {"t": 3}}).data
    renamed = api.patch(f"/logs/{log['id']}/queries/{query['id']}", {"name": "kept"}).data
    broken = api.patch(f"/queries/{query['id']}", {"parameters": {}}).data

    assert (query["rows"], again["rows"], renamed["rows"]) == ([[3]], [[1]], [[1]])
    assert renamed["name"] == "kept"
    assert broken["error"]["name"] == "BadQuery" and "$t" in broken["error"]["message"]


def test_queries_emit_every_key_and_list_with_filters(api: ApiClient) -> None:
    log = create_log(api, create_group(api)["id"])
    first = _query(api, log["id"], "SELECT 1", name="one")
    _query(api, log["id"], None, name="empty")

    listed = api.get(f"/logs/{log['id']}/queries", params={"statement_like": "select"}).json()

    assert [q["id"] for q in listed["data"]] == [first["id"]]
    assert set(first) >= {
        "log_id",
        "name",
        "note",
        "context",
        "statement",
        "parameters",
        "columns",
        "rows",
        "error",
    }
    empty = api.get("/queries", params={"name": "empty"}).json()["data"][0]
    assert (empty["columns"], empty["rows"], empty["error"]) == (None, None, None)
    assert api.get("/queries", params={"workflow_id": UNKNOWN_ID}).json()["data"] == []
    assert len(api.get("/queries", params={"workflow_id_null": True}).json()["data"]) == 2


def test_queries_of_an_unknown_log_are_404_and_store_nothing(api: ApiClient, aws: dict[str, str]) -> None:
    before = stored_items(aws)

    response = api.post(f"/logs/{UNKNOWN_ID}/queries", {"statement": "SELECT 1"})

    assert response.status == 404
    assert stored_items(aws) == before


def test_queries_go_with_their_log(api: ApiClient) -> None:
    log = create_log(api, create_group(api)["id"])
    query = _query(api, log["id"], "SELECT 1")

    assert api.delete(f"/logs/{log['id']}").status == 204
    assert api.get(f"/queries/{query['id']}").status == 404
