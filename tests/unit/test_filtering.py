"""List filters, ordering and paging."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest

from openlqs.domain.filtering import apply_filters, compile_filters, order_and_page
from openlqs.errors import BadRequest
from openlqs.models.common import TypeEncoding

GROUP_A = UUID("6e7c7138-a9ca-439b-a3a3-c0aea4d894b8")
ITEMS = [
    {
        "id": "1",
        "name": "Alpha Log",
        "group_id": GROUP_A,
        "record_count": 10,
        "note": None,
        "context": {"robot": {"id": 7}},
    },
    {"id": "2", "name": "beta log", "group_id": None, "record_count": 0, "note": "x", "context": None},
    {
        "id": "3",
        "name": "Gamma",
        "group_id": GROUP_A,
        "record_count": 5,
        "note": None,
        "context": {"robot": {"id": 9}},
    },
]


def _names(filters: dict[str, object]) -> list[str]:
    return [item["name"] for item in apply_filters(ITEMS, compile_filters(filters))]


def test_filter_equality_compares_uuids_with_their_text() -> None:
    assert _names({"group_id": GROUP_A}) == ["Alpha Log", "Gamma"]


def test_filter_like_is_a_case_insensitive_substring_without_wildcards() -> None:
    assert _names({"name_like": "LOG"}) == ["Alpha Log", "beta log"]


def test_filter_like_honours_sql_wildcards() -> None:
    assert _names({"name_like": "%a"}) == ["Gamma"]


def test_filter_ranges_and_nulls() -> None:
    assert _names({"record_count_gte": 5, "note_null": True}) == ["Alpha Log", "Gamma"]


def test_filter_in_takes_any_of_the_values() -> None:
    assert _names({"group_id_in": [GROUP_A, UUID(int=1)]}) == ["Alpha Log", "Gamma"]


def test_filter_json_filter_reaches_nested_keys() -> None:
    assert _names({"context_filter": '{"var": "robot.id", "op": "gt", "val": 8}'}) == ["Gamma"]


def test_filter_json_filter_refuses_invalid_json() -> None:
    with pytest.raises(BadRequest, match="context_filter"):
        compile_filters({"context_filter": "{not json"})


def test_filter_enum_values_compare_as_their_value() -> None:
    predicates = compile_filters({"type_encoding": TypeEncoding.ros1})
    assert apply_filters([{"type_encoding": "ros1"}, {"type_encoding": "cdr"}], predicates) == [
        {"type_encoding": "ros1"}
    ]


def test_order_and_page_sorts_nulls_last_ascending_and_pages() -> None:
    rows = [{"id": str(i), "end": v} for i, v in enumerate([3, None, 1, 2])]

    page = order_and_page(rows, order="end", descending=False, offset=1, limit=2, orderable={"end"})

    assert [r["end"] for r in page] == [2, 3]


def test_order_and_page_refuses_an_unknown_order_field() -> None:
    with pytest.raises(BadRequest, match="order"):
        order_and_page([], order="password", descending=False, offset=0, limit=1, orderable={"name"})


def test_order_and_page_orders_datetimes() -> None:
    rows = [
        {"id": "a", "created_at": datetime(2024, 1, 2, tzinfo=UTC)},
        {"id": "b", "created_at": datetime(2024, 1, 1, tzinfo=UTC)},
    ]

    page = order_and_page(
        rows, order="created_at", descending=True, offset=0, limit=5, orderable={"created_at"}
    )

    assert [r["id"] for r in page] == ["a", "b"]
