"""List filters, ordering and paging of resources, as the LogQS list routes define them.

A filter's name says what it does: ``X`` equality, ``X_like`` case-insensitive match (``%``/``_``
wildcards; a plain value matches as a substring), ``X_gte``/``X_lte``/``X_gt``/``X_lt`` ranges,
``X_null`` presence, ``X_in`` membership, ``X_includes`` containment, and ``X_filter`` a JSON filter
(``{"var": "a.b", "op": "eq", "val": 1}`` or a list of them, all of which must hold) on the field ``X``.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import Any
from uuid import UUID

from openlqs.errors import BadRequest

_JSON_FIELD_BY_FILTER = {
    "context_filter": "context",
    "query_data_filter": "query_data",
    "error_filter": "error",
    "error_payload_filter": "error_payload",
    "type_schema_filter": "type_schema",
    "workflow_context_filter": "workflow_context",
}

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "gte": operator.ge,
    "lte": operator.le,
    "gt": operator.gt,
    "lt": operator.lt,
}


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UUID):
        return str(value)
    return value


@lru_cache(maxsize=256)
def like_pattern(pattern: str) -> re.Pattern[str]:
    """SQL ``ILIKE`` as a regex; without wildcards the value matches anywhere (``%value%``)."""
    if "%" not in pattern and "_" not in pattern:
        pattern = f"%{pattern}%"
    parts = []
    for char in pattern:
        if char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _lookup(document: Any, path: str) -> tuple[bool, Any]:
    current = document
    for segment in path.split("."):
        if isinstance(current, Mapping) and segment in current:
            current = current[segment]
        elif isinstance(current, list) and segment.isdigit() and int(segment) < len(current):
            current = current[int(segment)]
        else:
            return False, None
    return True, current


def _json_condition(document: Any, condition: Mapping[str, Any]) -> bool:
    var, op, val = condition.get("var"), str(condition.get("op", "eq")).lower(), condition.get("val")
    if not isinstance(var, str):
        raise BadRequest("a JSON filter needs a string 'var'")
    found, value = _lookup(document, var)
    if op in ("null", "is_null", "isnull"):
        return (not found or value is None) == (val is not False)
    if op in ("notnull", "not_null", "exists"):
        return found and value is not None
    if not found:
        return op in ("neq", "!=", "<>")
    try:
        if op in ("eq", "=", "=="):
            return bool(value == val)
        if op in ("neq", "!=", "<>"):
            return bool(value != val)
        if op in ("gt", ">"):
            return bool(value > val)
        if op in ("gte", ">="):
            return bool(value >= val)
        if op in ("lt", "<"):
            return bool(value < val)
        if op in ("lte", "<="):
            return bool(value <= val)
        if op in ("like", "ilike"):
            return isinstance(value, str) and bool(like_pattern(str(val)).fullmatch(value))
        if op == "in":
            return isinstance(val, list) and value in val
        if op == "contains":
            return isinstance(value, list | str | dict) and val in value
    except TypeError:
        return False
    raise BadRequest(f"unknown JSON filter operator {op!r}")


def parse_json_filter(name: str, text: str) -> list[Mapping[str, Any]]:
    """Parse a ``*_filter`` parameter into its list of conditions."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadRequest(f"{name} is not valid JSON: {error.msg}") from error
    conditions = parsed if isinstance(parsed, list) else [parsed]
    if not all(isinstance(condition, Mapping) for condition in conditions):
        raise BadRequest(f"{name} must be an object or a list of objects with var, op and val")
    return conditions


def check_json_filter(name: str, conditions: Any) -> None:
    """Refuse a JSON filter given as a value (a condition or a list of them) that could never be
    evaluated: ``BadRequest`` naming ``name`` and what is wrong (an unknown operator, a missing var)."""
    parsed = parse_json_filter(name, json.dumps(conditions))
    for condition in parsed:
        var = condition.get("var")
        if not isinstance(var, str) or not var:
            raise BadRequest(f"{name}: each condition needs a non-empty string 'var'")
        document: dict[str, Any] = {}
        current = document
        *parents, last = var.split(".")
        for segment in parents:
            current = current.setdefault(segment, {})
        current[last] = None
        try:
            _json_condition(document, condition)
        except BadRequest as error:
            raise BadRequest(f"{name}: {error.detail}") from None


@dataclass(frozen=True)
class Predicate:
    """One compiled filter parameter."""

    name: str
    test: Callable[[Mapping[str, Any]], bool]


def compile_filters(filters: Mapping[str, Any], ignored: Iterable[str] = ()) -> list[Predicate]:
    """Turn given filter parameters into predicates over a resource's ``model_dump()``."""
    skip = set(ignored)
    predicates = []
    for name, raw in filters.items():
        if name in skip or raw is None:
            continue
        predicates.append(Predicate(name, _compile_one(name, raw)))
    return predicates


def _compile_one(name: str, raw: Any) -> Callable[[Mapping[str, Any]], bool]:
    value = _plain(raw)
    json_field = _JSON_FIELD_BY_FILTER.get(name) or (
        name[: -len("_filter")] if name.endswith("_filter") else None
    )
    if json_field:
        conditions = parse_json_filter(name, value)
        return lambda item: all(_json_condition(item.get(json_field), c) for c in conditions)
    field, _, suffix = name.rpartition("_")
    if field and suffix == "like":
        pattern = like_pattern(str(value))
        return lambda item: isinstance(item.get(field), str) and bool(pattern.fullmatch(item[field]))
    if field and suffix == "null":
        return lambda item: (item.get(field) is None) == bool(value)
    if field and suffix == "in":
        wanted = {_plain(v) for v in value}
        return lambda item: _plain(item.get(field)) in wanted
    if field and suffix == "includes":
        wanted_all = {_plain(v) for v in value}
        return lambda item: wanted_all <= {_plain(v) for v in item.get(field) or ()}
    if field and suffix in _COMPARISONS:
        compare = _COMPARISONS[suffix]
        return lambda item: item.get(field) is not None and compare(item[field], value)
    return lambda item: _plain(item.get(name)) == value


def apply_filters(items: Iterable[Mapping[str, Any]], predicates: Sequence[Predicate]) -> list[Any]:
    return [item for item in items if all(p.test(item) for p in predicates)]


def _sort_key(order: str) -> Callable[[Mapping[str, Any]], tuple[int, Any, str]]:
    def key(item: Mapping[str, Any]) -> tuple[int, Any, str]:
        value = _plain(item.get(order))
        if isinstance(value, datetime):
            value = value.timestamp()
        return (value is None, value if value is not None else 0, str(item.get("id", "")))

    return key


def order_and_page(
    items: list[Mapping[str, Any]],
    *,
    order: str,
    descending: bool,
    offset: int,
    limit: int,
    orderable: Iterable[str],
) -> list[Mapping[str, Any]]:
    """Sort by ``order`` (nulls last ascending, first descending, as PostgreSQL does) and slice a page."""
    if order not in set(orderable):
        raise BadRequest(f"cannot order by {order!r}")
    try:
        ordered = sorted(items, key=_sort_key(order), reverse=descending)
    except TypeError as error:
        raise BadRequest(f"cannot order by {order!r}: mixed value types") from error
    return ordered[offset : offset + limit]
