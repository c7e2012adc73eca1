"""``query_data->>'$.x' > 5`` compares the JSON value as a number, as ``query_data_filter`` does.

DuckDB's ``->>`` gives text, and DuckDB will not compare text with a number (a binder error: "an
explicit cast is required"), so the example every user tries first would fail. A statement is parsed
by DuckDB's own parser (``json_serialize_sql``); where a comparison (``=``, ``<>``, ``<``, ``<=``,
``>``, ``>=``, ``BETWEEN``) puts a ``->>`` extraction against a number (a numeric literal, or a
parameter whose value is a number), the extraction becomes ``json_number(doc, path)``, and the
statement is written back as SQL (``json_deserialize_sql``). Nothing else is touched; a statement
without such a comparison runs as it was written.

``json_number(doc, path)`` is a macro of every query's database, usable directly: the value at
``path`` as a DOUBLE when it is a JSON number, else NULL. So, like ``query_data_filter``
``{"var": "x", "op": "gt", "val": 5}``, ``->>'$.x' > 5`` selects only records whose ``x`` is a number
greater than 5: a string "9", a list, a boolean, null or a missing key are not selected. (Numbers are
compared as doubles, so integers beyond 2^53 compare approximately.)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import duckdb

#: The macro every query's database defines (``engine.run_query``).
JSON_NUMBER_MACRO = (
    "CREATE MACRO json_number(doc, path) AS CASE WHEN json_type(doc, path) IN "
    "('BIGINT', 'UBIGINT', 'HUGEINT', 'DOUBLE') THEN CAST(doc ->> path AS DOUBLE) END"
)
_COMPARISONS = frozenset(
    {
        "COMPARE_EQUAL",
        "COMPARE_NOTEQUAL",
        "COMPARE_LESSTHAN",
        "COMPARE_GREATERTHAN",
        "COMPARE_LESSTHANOREQUALTO",
        "COMPARE_GREATERTHANOREQUALTO",
    }
)
_NUMERIC_LITERALS = frozenset(
    {
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UBIGINT",
        "NUMERIC",
        "DECIMAL",
        "FLOAT",
        "DOUBLE",
    }
)


def with_json_numbers(
    connection: duckdb.DuckDBPyConnection, statement: str, parameters: Mapping[str, Any] | None
) -> str | None:
    """The statement with its ``->>``-against-a-number comparisons made numeric, or None when it has
    none (or cannot be round-tripped: then it runs as written)."""
    try:
        serialized = connection.execute("SELECT json_serialize_sql($s)", {"s": statement}).fetchone()
    except duckdb.Error:
        return None
    if serialized is None:
        return None
    tree = json.loads(serialized[0])
    if tree.get("error"):
        return None
    numbers = {
        str(name).lower()
        for name, value in (parameters or {}).items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    if not _rewrite(tree, numbers):
        return None
    try:
        written = connection.execute("SELECT json_deserialize_sql($j)", {"j": json.dumps(tree)}).fetchone()
    except duckdb.Error:
        return None
    return None if written is None else str(written[0])


def _rewrite(node: Any, numbers: set[str]) -> bool:
    """Rewrite every comparison below ``node`` in place; whether any was rewritten."""
    changed = False
    if isinstance(node, list):
        for item in node:
            changed |= _rewrite(item, numbers)
        return changed
    if not isinstance(node, dict):
        return False
    if node.get("class") == "COMPARISON" and node.get("type") in _COMPARISONS:
        for side, other in (("left", "right"), ("right", "left")):
            if _is_extraction(node.get(side)) and _is_number(node.get(other), numbers):
                node[side] = _json_number(node[side])
                changed = True
    if (
        node.get("class") == "BETWEEN"
        and _is_extraction(node.get("input"))
        and _is_number(node.get("lower"), numbers)
        and _is_number(node.get("upper"), numbers)
    ):
        node["input"] = _json_number(node["input"])
        changed = True
    for value in node.values():
        changed |= _rewrite(value, numbers)
    return changed


def _is_extraction(node: Any) -> bool:
    return (
        isinstance(node, dict)
        and node.get("class") == "FUNCTION"
        and node.get("function_name") == "->>"
        and len(node.get("arguments") or []) == 2
    )


def _is_number(node: Any, numbers: set[str]) -> bool:
    if not isinstance(node, dict):
        return False
    if node.get("class") == "CONSTANT":
        return (node.get("literal") or {}).get("kind") in _NUMERIC_LITERALS
    if node.get("class") == "PARAMETER":
        return str(node.get("identifier", "")).lower() in numbers
    if node.get("class") == "FUNCTION" and node.get("function_name") in ("-", "+"):
        arguments = node.get("arguments") or []
        return len(arguments) == 1 and _is_number(arguments[0].get("expression"), numbers)
    return False


def _json_number(extraction: dict[str, Any]) -> dict[str, Any]:
    """The ``->>`` call node as a call of ``json_number`` with the same arguments."""
    call = dict(extraction)
    call.update(function_name="json_number", is_operator=False, qualified_name={"path": ["json_number"]})
    return call
