"""``queries.columns.columns_read``: the columns a statement can read, never fewer than it does."""

from __future__ import annotations

import duckdb
import pytest

from openlqs.queries.columns import columns_read


@pytest.mark.parametrize(
    ("statement", "read"),
    [
        (
            "SELECT t.name, count(*), min(timestamp) FROM records r JOIN topics t ON r.topic_id = t.id "
            "GROUP BY 1",
            {"t", "name", "timestamp", "r", "topic_id", "id"},
        ),
        ("SELECT count(*) FROM records", set()),
        ("SELECT Data_Length FROM Records", {"data_length"}),
        ("SELECT count(*) FROM records WHERE query_data->>'$.x' > 5", {"query_data"}),
        (
            "SELECT count(*) FROM records WHERE topic = $t AND timestamp BETWEEN $a AND $b",
            {"topic", "timestamp"},
        ),
        ("SELECT a FROM records JOIN tags USING (topic_id)", {"a", "topic_id"}),
        ("SELECT list_transform([1], x -> x + data_length) FROM records", {"x", "data_length"}),
        ("WITH x AS (SELECT topic FROM records) SELECT topic FROM x", {"topic"}),
        ("SELECT n FROM (SELECT count(*) AS n FROM records) s", {"n"}),
    ],
)
def test_columns_read_names_every_column_a_statement_names(statement: str, read: set[str]) -> None:
    assert columns_read(duckdb.connect(), statement) == read


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM records",
        "FROM records",
        "SELECT records.* FROM records",
        "SELECT * EXCLUDE (query_data) FROM records",
        "SELECT COLUMNS('data_.*') FROM records",
        "SUMMARIZE records",
        "DESCRIBE records",
        "SELECT #1 FROM records",
        "SELECT count(*) FROM records NATURAL JOIN tags",
        "SELECT r FROM records r",
        "SELECT to_json(records) FROM records",
        "WITH x AS (SELECT topic FROM records) SELECT x FROM x",
        "SELECT a FROM query('SELECT data_length AS a FROM records')",
        "SELECT count(*) FROM query_table('records')",
        "UNPIVOT records ON data_length INTO NAME k VALUE v",
        "SELECT 'unclosed",
    ],
)
def test_columns_read_is_every_column_when_a_statement_reaches_columns_without_naming_them(
    statement: str,
) -> None:
    assert columns_read(duckdb.connect(), statement) is None
