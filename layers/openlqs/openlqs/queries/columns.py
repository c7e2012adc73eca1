"""Which view columns a SELECT statement can read, from DuckDB's own parse tree.

A view part builds only the columns a statement reads and leaves the others null (the records view's
blocks skip their string tables and offsets for ``count(*) ... GROUP BY topic``). What is "read" comes
from ``json_serialize_sql``, DuckDB's parser's tree of the statement: every name of every column
reference. The answer must never miss a column, so it is "every column" (``None``) whenever the tree
can reach columns without naming them:

- ``*``, ``t.*``, ``COLUMNS(...)``, ``* EXCLUDE``/``REPLACE``, and ``DESCRIBE``/``SUMMARIZE`` (their tree
  holds a star);
- positional references (``#1``), ``NATURAL`` joins;
- a table function in FROM (``query('...')`` and ``query_table(...)`` read statements given as text),
  ``PIVOT``/``UNPIVOT`` (they pass the columns they do not name through);
- a table, its alias or a CTE used as a value (``SELECT r FROM records r``, ``to_json(r)``: a row);
- a tree that cannot be serialized or has a shape not known here.

Names are compared without case, as DuckDB resolves them. A name that is no column (an alias of a
select item, a lambda's parameter) costs nothing: it only ever adds to the set.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import duckdb

#: Expression classes that reach columns without naming them.
_UNNAMED_COLUMNS = frozenset({"STAR", "POSITIONAL_REFERENCE"})
#: Table references whose columns are reached only by name (a join unless NATURAL). The rest
#: (table functions, PIVOT/UNPIVOT, which pass unnamed columns through) may read every column.
_TABLE_REFERENCES = frozenset({"BASE_TABLE", "SUBQUERY", "JOIN", "EXPRESSION_LIST", "EMPTY", "SHOW_REF"})


class _Every(Exception):
    """The statement may read every column."""


def columns_read(connection: duckdb.DuckDBPyConnection, statement: str) -> frozenset[str] | None:
    """The lower-case names of the columns ``statement`` (one SELECT) can read from any table, or None
    when it may read every column (see the module)."""
    try:
        ((text,),) = connection.execute("SELECT json_serialize_sql(?::VARCHAR)", [statement]).fetchall()
        tree = json.loads(text)
    except (duckdb.Error, ValueError):
        return None
    if not isinstance(tree, dict) or tree.get("error") is not False:
        return None
    try:
        return _names(tree)
    except _Every:
        return None


def _names(tree: dict[str, Any]) -> frozenset[str]:
    references: list[list[str]] = []
    tables: set[str] = set()
    for node in _nodes(tree):
        kind = node.get("class")
        if kind in _UNNAMED_COLUMNS:
            raise _Every
        if kind == "COLUMN_REF":
            names = node.get("column_names")
            if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
                raise _Every
            references.append([name.lower() for name in names])
        if kind is None and "query_location" in node:  # a table reference (FROM)
            table_type = node.get("type")
            if table_type not in _TABLE_REFERENCES or node.get("ref_type") == "NATURAL":
                raise _Every
            using = node.get("using_columns") or []
            references += [[name.lower()] for name in using if isinstance(name, str)]
            tables |= {str(node[key]).lower() for key in ("alias", "table_name") if node.get(key)}
        ctes = node.get("cte_map")
        if isinstance(ctes, dict):
            tables |= {
                entry["key"].lower()
                for entry in ctes.get("map") or []
                if isinstance(entry, dict) and isinstance(entry.get("key"), str)
            }
    if any(len(names) == 1 and names[0] in tables for names in references):
        raise _Every  # a table or CTE as a value: its whole row
    return frozenset(name for names in references for name in names)


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    """Every mapping in the tree, depth first."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
