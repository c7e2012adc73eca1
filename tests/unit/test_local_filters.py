"""Lambda FilterCriteria patterns, as the local stack applies them to stream records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from openlqs.local.cloudformation import load_template
from openlqs.local.filters import EventPattern, FilterCriteria, UnsupportedFilterPattern
from openlqs.local.resources import dynamodb_event_subscriptions

PROJECT_DIR = Path(__file__).resolve().parents[2]

QUEUED_FROM_ELSEWHERE = (
    '{"dynamodb": {"NewImage": {"state": {"S": ["queued"]}}, '
    '"OldImage": {"state": {"S": [{"anything-but": ["queued"]}]}}}}'
)


def _record(new_state: str | None, old_state: str | None, event_name: str = "MODIFY") -> dict[str, Any]:
    change: dict[str, Any] = {"Keys": {"pk": {"S": "ingestion#1"}}}
    if new_state is not None:
        change["NewImage"] = {"state": {"S": new_state}, "attempt": {"N": "1"}}
    if old_state is not None:
        change["OldImage"] = {"state": {"S": old_state}}
    return {"eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": change}


@pytest.mark.parametrize(
    ("new_state", "old_state", "expected"),
    [
        ("queued", "ready", True),
        ("queued", "failed", True),
        ("queued", "queued", False),
        ("processing", "queued", False),
        ("queued", None, False),  # an INSERT has no old image: anything-but needs the field
    ],
)
def test_filter_pattern_selects_entering_queued(
    new_state: str, old_state: str | None, expected: bool
) -> None:
    pattern = EventPattern.parse(QUEUED_FROM_ELSEWHERE)

    assert pattern.matches(_record(new_state, old_state)) is expected


def test_filter_criteria_match_when_any_pattern_matches() -> None:
    criteria = FilterCriteria.parse(
        [
            QUEUED_FROM_ELSEWHERE,
            '{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"state": {"S": ["queued"]}}}}',
        ]
    )

    assert criteria.matches(_record("queued", None, event_name="INSERT"))
    assert criteria.matches(_record("queued", "ready"))
    assert not criteria.matches(_record("ready", None, event_name="INSERT"))


def test_filter_criteria_without_patterns_match_everything() -> None:
    assert FilterCriteria.parse([]).matches({"anything": 1})


def test_filter_exists_false_matches_a_missing_field_only() -> None:
    pattern = EventPattern.parse({"dynamodb": {"OldImage": [{"exists": False}]}})

    assert pattern.matches(_record("queued", None, event_name="INSERT"))
    assert not pattern.matches(_record("queued", "ready"))


def test_filter_or_combines_with_the_other_keys() -> None:
    pattern = EventPattern.parse(
        {
            "dynamodb": {"NewImage": {"state": {"S": ["queued"]}}},
            "$or": [
                {"eventName": ["INSERT"]},
                {"dynamodb": {"OldImage": {"state": {"S": [{"anything-but": "queued"}]}}}},
            ],
        }
    )

    assert pattern.matches(_record("queued", None, event_name="INSERT"))
    assert pattern.matches(_record("queued", "ready"))
    assert not pattern.matches(_record("queued", "queued"))
    assert not pattern.matches(_record("ready", None, event_name="INSERT"))


@pytest.mark.parametrize(
    ("matcher", "value", "expected"),
    [
        ("queued", "queued", True),
        ("queued", "Queued", False),
        ({"prefix": "que"}, "queued", True),
        ({"prefix": "que"}, "unqueued", False),
        ({"suffix": "ued"}, "queued", True),
        ({"equals-ignore-case": "QUEUED"}, "queued", True),
        ({"prefix": {"equals-ignore-case": "QUE"}}, "queued", True),
        ({"anything-but": {"prefix": "que"}}, "ready", True),
        ({"anything-but": {"prefix": "que"}}, "queued", False),
        ({"anything-but": {"equals-ignore-case": ["QUEUED", "READY"]}}, "ready", False),
        ({"numeric": [">", 0, "<=", 5]}, 5, True),
        ({"numeric": [">", 0, "<=", 5]}, 6, False),
        ({"numeric": ["=", 1]}, "1", False),  # a string is not a number
        (1, 1.0, True),
        (1, "1", False),
        (None, None, True),
        ({"exists": True}, None, True),
    ],
)
def test_filter_matchers(matcher: Any, value: Any, expected: bool) -> None:
    assert EventPattern.parse({"field": [matcher]}).matches({"field": value}) is expected


def test_filter_leaf_matches_any_element_of_an_array_value() -> None:
    pattern = EventPattern.parse({"tags": ["b"]})

    assert pattern.matches({"tags": ["a", "b"]})
    assert not pattern.matches({"tags": ["a", "c"]})


@pytest.mark.parametrize(
    "pattern",
    [
        '{"field": [{"wildcard": "a*"}]}',
        '{"field": "not-a-list"}',
        '{"field": []}',
        '{"field": [{"numeric": [">"]}]}',
        '{"$or": [{"a": ["b"]}]}',
        "[1, 2]",
        "not json",
    ],
)
def test_filter_patterns_outside_the_supported_subset_are_refused(pattern: str) -> None:
    with pytest.raises(UnsupportedFilterPattern):
        EventPattern.parse(pattern)


@pytest.mark.parametrize(
    ("event_name", "new_state", "old_state", "expected"),
    [
        ("INSERT", "queued", None, True),
        ("INSERT", "ready", None, False),
        ("MODIFY", "queued", "ready", True),
        ("MODIFY", "queued", "failed", True),
        ("MODIFY", "queued", "queued", False),
        ("MODIFY", "processing", "queued", False),
        ("REMOVE", None, "queued", False),
    ],
)
def test_real_template_stream_filter_selects_ingestions_entering_queued(
    event_name: str, new_state: str | None, old_state: str | None, expected: bool
) -> None:
    template = load_template(PROJECT_DIR / "template.yaml")
    (subscription,) = [
        entry
        for entry in dynamodb_event_subscriptions(template)
        if entry.function_id == "IngestionTriggerFunction"
    ]
    record = _record(new_state, old_state, event_name=event_name)
    for image in ("NewImage", "OldImage"):
        if image in record["dynamodb"]:
            record["dynamodb"][image]["kind"] = {"S": "ingestion"}

    assert FilterCriteria.parse(subscription.filter_patterns).matches(record) is expected
