"""The query engine: statement checks, parameters, limits, lazy views and JSON-safe results (DuckDB)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openlqs.queries.arrow import FLOAT64, INT64, STRING, Batch, Schema, batch, int64s, null_column
from openlqs.queries.engine import (
    BAD_QUERY,
    QUERY_TIMEOUT,
    QUERY_TOO_LARGE,
    QueryLimits,
    QueryResult,
    ViewPartition,
    ViewSource,
    json_safe,
    run_query,
)

LIMITS = QueryLimits(timeout_s=5.0)


def _run(statement: str, parameters: dict[str, Any] | None = None, **limits: Any) -> QueryResult:
    return run_query(statement, parameters, {}, QueryLimits(**{"timeout_s": 5.0, **limits}))


def _numbers_view(name: str, calls: list[str], values: range = range(5)) -> ViewSource:
    schema = Schema.of([("n", INT64)])

    def build() -> list[Batch]:
        calls.append(name)
        return [Batch(schema, [int64s(list(values))])]

    return ViewSource.of(name, schema, build)


# -- what is accepted ---------------------------------------------------------------------------------


def test_engine_runs_a_select_and_keeps_column_names_and_order() -> None:
    result = _run("SELECT 2 AS b, 'x' AS a UNION ALL SELECT 1, 'y' ORDER BY b")

    assert result.error is None
    assert result.columns == ["b", "a"]
    assert result.rows == [[1, "y"], [2, "x"]]
    assert result.truncated is False


@pytest.mark.parametrize(
    "statement",
    [
        "WITH t AS (SELECT 41 AS v) SELECT v + 1 FROM t",
        "FROM (VALUES (42)) t(v)",
        "VALUES (42)",
        "SELECT 42;",
        "  select 42 -- a comment; with a semicolon",
    ],
)
def test_engine_accepts_every_form_of_a_single_select(statement: str) -> None:
    result = _run(statement)

    assert result.error is None
    assert result.rows == [[42]]


# -- what is refused ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        ("INSERT INTO t VALUES (1)", "INSERT"),
        ("UPDATE t SET a = 1", "UPDATE"),
        ("DELETE FROM t", "DELETE"),
        ("CREATE TABLE t (a INTEGER)", "CREATE"),
        ("CREATE MACRO m(a) AS a + 1", "CREATE"),
        ("DROP TABLE t", "DROP"),
        ("ALTER TABLE t ADD COLUMN b INTEGER", "ALTER"),
        ("COPY (SELECT 1) TO '/tmp/openlqs-copy.csv'", "COPY"),
        ("EXPORT DATABASE '/tmp/openlqs-export'", "EXPORT"),
        ("ATTACH '/tmp/openlqs-attached.db'", "ATTACH"),
        ("DETACH attached", "DETACH"),
        ("INSTALL httpfs", "INSTALL/LOAD"),
        ("LOAD httpfs", "INSTALL/LOAD"),
        ("PRAGMA version", "PRAGMA"),
        ("SET threads = 8", "SET"),
        ("RESET memory_limit", "SET"),
        ("SET VARIABLE x = 1", "SET"),
        ("CALL pragma_version()", "CALL"),
        ("CHECKPOINT", "CALL"),
        ("EXPLAIN SELECT 1", "EXPLAIN"),
        ("PREPARE p AS SELECT 1", "PREPARE"),
        ("EXECUTE p", "EXECUTE"),
        ("BEGIN TRANSACTION", "transaction"),
        ("VACUUM", "VACUUM"),
        ("PIVOT (SELECT 1 AS a) ON a", "PIVOT"),
    ],
)
def test_engine_refuses_statements_that_are_not_a_select_naming_their_type(
    statement: str, named: str
) -> None:
    result = _run(statement)

    assert result.error is not None
    assert result.error["name"] == BAD_QUERY
    assert result.error["message"].startswith(named)
    assert (result.columns, result.rows) == ([], [])


def test_engine_refuses_several_statements_even_if_each_is_a_select() -> None:
    result = _run("SELECT 1; SELECT 2")

    assert result.error == {
        "name": BAD_QUERY,
        "message": "2 statements were given; a query runs one SELECT statement",
    }


@pytest.mark.parametrize("statement", ["", "   ", ";", "-- only a comment"])
def test_engine_refuses_an_empty_statement(statement: str) -> None:
    assert _run(statement).error == {"name": BAD_QUERY, "message": "the statement is empty"}


def test_engine_reports_a_syntax_error_as_a_bad_query() -> None:
    result = _run("SELEKT 1")

    assert result.error is not None
    assert result.error["name"] == BAD_QUERY
    assert "syntax error" in result.error["message"]


def test_engine_refuses_a_statement_that_is_not_text_or_too_long() -> None:
    assert run_query(b"SELECT 1", None, {}, LIMITS).error == {  # type: ignore[arg-type]
        "name": BAD_QUERY,
        "message": "the statement must be SQL text",
    }
    long = _run("SELECT 1 " + " " * 70_000)
    assert long.error is not None
    assert long.error["name"] == BAD_QUERY


def test_engine_refuses_a_statement_with_a_lone_surrogate() -> None:
    assert _run("SELECT '\ud800'").error == {
        "name": BAD_QUERY,
        "message": "the statement must be Unicode text (it holds a lone surrogate)",
    }


def test_engine_error_messages_are_storable_text() -> None:
    result = _run("SELECT 1", {"\udc80": 1})

    assert result.error is not None
    result.error["message"].encode("utf-8")  # a lone surrogate would raise here
    assert result.error["message"] == "the statement has no parameter $?"


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM read_csv('/etc/hostname')",
        "SELECT * FROM read_csv_auto('/etc/hostname')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM read_blob('/etc/hostname')",
        "SELECT content FROM read_text('/proc/self/environ')",  # a function's credentials
        "SELECT * FROM read_json('/etc/hostname')",
        "SELECT * FROM read_ndjson_objects('/etc/hostname')",
        "SELECT * FROM read_parquet('/etc/hostname')",
        "SELECT * FROM parquet_metadata('/etc/hostname')",
        "SELECT * FROM sniff_csv('/etc/hostname')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM '/etc/hostname.csv'",
        "SELECT * FROM read_parquet('https://example.com/data.parquet')",
        "SELECT * FROM read_csv('s3://bucket/key.csv')",
        "SELECT * FROM 'http://169.254.169.254/latest/meta-data/iam/info.json'",
        "SELECT * FROM duckdb_secrets()",
        "WITH f AS (SELECT * FROM read_text('/etc/hostname')) SELECT count(*) FROM f",
        "SELECT (SELECT count(*) FROM glob('/tmp/*')) AS n",
    ],
)
def test_engine_refuses_file_and_network_access_inside_a_select(statement: str) -> None:
    result = _run(statement)

    assert result.error is not None
    assert result.error["name"] == BAD_QUERY
    assert result.rows == []


def test_engine_cannot_load_an_extension_through_a_select() -> None:
    result = _run("SELECT * FROM sqlite_scan('/tmp/x.db', 't')")

    assert result.error is not None
    assert result.error["name"] == BAD_QUERY
    assert "extension" in result.error["message"]


def test_engine_statement_cannot_read_a_python_variable_by_its_name() -> None:
    # DuckDB's Python replacement scans would let "FROM secret_table" read this local variable.
    secret_table = {"secret": np.array(["key"], dtype=object)}

    result = _run("SELECT * FROM secret_table")

    assert len(secret_table["secret"]) == 1
    assert result.error is not None
    assert result.error["name"] == BAD_QUERY
    assert "secret_table" in result.error["message"]


def test_engine_runs_with_external_access_off_and_its_configuration_locked() -> None:
    result = _run(
        "SELECT current_setting('enable_external_access'), current_setting('lock_configuration'), "
        "current_setting('autoload_known_extensions'), current_setting('threads'), "
        "current_setting('temp_directory')"
    )

    assert result.rows == [[False, True, False, 1, ""]]


def test_engine_configuration_cannot_be_changed_from_a_select() -> None:
    result = _run("SELECT * FROM enable_logging()")

    assert result.error is not None
    assert result.error["name"] == BAD_QUERY
    assert "locked" in result.error["message"]


def test_engine_writes_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    _run("SELECT count(*) FROM range(100000) a JOIN range(100000) b ON a.range = b.range")

    assert list(tmp_path.iterdir()) == []


# -- parameters ---------------------------------------------------------------------------------------


def test_engine_binds_named_parameters_with_their_types() -> None:
    result = _run(
        "SELECT $start + 1, $name, $ratio * 2, $flag, $nothing, $ids",
        {"start": 2**62, "name": "imu", "ratio": 0.25, "flag": True, "nothing": None, "ids": [1, 2]},
    )

    assert result.error is None
    assert result.rows == [[2**62 + 1, "imu", 0.5, True, None, [1, 2]]]


def test_engine_parameter_value_holding_sql_is_only_a_value() -> None:
    hostile = "x'; DROP TABLE records; SELECT * FROM read_text('/etc/hostname') --"

    result = _run("SELECT $name AS v, length($name) AS n", {"name": hostile})

    assert result.error is None
    assert result.rows == [[hostile, len(hostile)]]


def test_engine_parameter_names_match_without_case_as_duckdb_binds_them() -> None:
    assert _run("SELECT $Topic", {"topic": "/imu"}).rows == [["/imu"]]


def test_engine_binds_positional_parameters_by_their_numbers() -> None:
    assert _run("SELECT ?, ?", {"1": "a", "2": "b"}).rows == [["a", "b"]]


def test_engine_refuses_a_missing_parameter() -> None:
    result = _run("SELECT $a, $b", {"a": 1})

    assert result.error == {"name": BAD_QUERY, "message": "no value for parameter $b"}


def test_engine_refuses_a_parameter_the_statement_does_not_use() -> None:
    result = _run("SELECT $a", {"a": 1, "extra": 2})

    assert result.error == {"name": BAD_QUERY, "message": "the statement has no parameter $extra"}


def test_engine_refuses_parameters_given_twice_in_different_case() -> None:
    result = _run("SELECT $a", {"a": 1, "A": 2})

    assert result.error is not None
    assert result.error["name"] == BAD_QUERY


@pytest.mark.parametrize("value", [{"x": 1}, [1, {"x": 1}], b"bytes", object()])
def test_engine_refuses_a_parameter_of_an_unsupported_type(value: Any) -> None:
    result = _run("SELECT $p", {"p": value})

    assert result.error is not None
    assert result.error["name"] == BAD_QUERY
    assert "parameter $p holds a" in result.error["message"]


# -- limits -------------------------------------------------------------------------------------------


def test_engine_caps_rows_keeping_those_before_the_cap() -> None:
    result = _run("SELECT range AS n FROM range(1000) ORDER BY n", max_rows=10)

    assert result.rows == [[n] for n in range(10)]
    assert result.truncated is True
    size = len(json.dumps(result.rows, separators=(",", ":")))
    assert result.error == {
        "name": QUERY_TOO_LARGE,
        "message": f"result truncated to 10 rows / {size} bytes: a result may hold at most 10 rows",
    }


def test_engine_keeps_a_result_of_exactly_the_row_cap_whole() -> None:
    result = _run("SELECT range FROM range(10)", max_rows=10)

    assert len(result.rows) == 10
    assert (result.error, result.truncated) == (None, False)


def test_engine_caps_result_bytes_by_the_rows_json_text() -> None:
    result = _run(
        "SELECT range AS n, repeat('x', 90) AS s FROM range(1000) ORDER BY n", max_result_bytes=1_000
    )

    assert result.truncated is True
    assert result.error is not None
    assert result.error["name"] == QUERY_TOO_LARGE
    size = len(json.dumps(result.rows, separators=(",", ":")))
    assert size <= 1_000 < size + len(json.dumps([len(result.rows), "x" * 90])) + 1
    assert f"result truncated to {len(result.rows)} rows / {size} bytes" in result.error["message"]
    assert result.rows[-1] == [len(result.rows) - 1, "x" * 90]


def test_engine_streams_a_billion_row_result_instead_of_materialising_it() -> None:
    started = time.monotonic()

    result = _run("SELECT * FROM range(1000000000000) a, range(1000) b", max_rows=5)

    assert time.monotonic() - started < 2.0
    assert len(result.rows) == 5
    assert result.truncated is True


@pytest.mark.parametrize(
    "statement",
    [
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t",
        "SELECT count(*) FROM range(1000000000000) a CROSS JOIN range(10) b",
        "SELECT max(a.range + b.range) FROM range(1000000000000) a, range(3) b WHERE a.range % 7 = b.range",
    ],
)
def test_engine_stops_a_statement_that_never_ends_at_the_time_limit(statement: str) -> None:
    started = time.monotonic()

    result = _run(statement, timeout_s=0.5)

    elapsed = time.monotonic() - started
    assert result.error == {"name": QUERY_TIMEOUT, "message": "the statement ran longer than 0.5 s"}
    assert 0.5 <= elapsed < 2.0
    # The process is still responsive: the next statement runs at once.
    assert _run("SELECT 1").rows == [[1]]


def test_engine_reports_a_statement_needing_more_than_the_memory_limit_as_too_large() -> None:
    result = _run("SELECT count(DISTINCT range) FROM range(100000000)", memory_limit=32 * 2**20)

    assert result.error is not None
    assert result.error["name"] == QUERY_TOO_LARGE
    assert "32 MiB" in result.error["message"]


def test_engine_address_space_cap_turns_a_huge_string_into_an_error() -> None:
    # One string of 2 GiB escapes DuckDB's memory accounting (without the cap this statement takes
    # ~4 GiB and runs past its time limit); the address-space cap makes its allocation fail at once.
    # A fresh interpreter: the cap is relative to the process's current size, which earlier tests grow.
    script = (
        "from openlqs.queries.engine import QueryLimits, run_query\n"
        "limits = QueryLimits(timeout_s=5.0, address_space_headroom=256 * 2**20)\n"
        "huge = run_query(\"SELECT length(repeat('x', 2147483647))\", None, {}, limits)\n"
        "after = run_query('SELECT 1', None, {}, limits)\n"
        "print(huge.error['name'] if huge.error else None, after.rows)\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )

    assert done.stdout.split("\n")[0] == f"{QUERY_TOO_LARGE} [[1]]"


def test_engine_query_limits_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="out of range"):
        QueryLimits(timeout_s=0)
    with pytest.raises(ValueError, match="out of range"):
        QueryLimits(threads=0)


# -- views ----------------------------------------------------------------------------------------------


def test_engine_builds_only_the_views_a_statement_reads() -> None:
    calls: list[str] = []
    views = {name: _numbers_view(name, calls) for name in ("records", "topics", "tags", "ingestions")}

    result = run_query("SELECT count(*) FROM records JOIN tags USING (n)", None, views, LIMITS)

    assert result.rows == [[5]]
    assert sorted(calls) == ["records", "tags"]


def test_engine_builds_nothing_for_a_statement_reading_no_view() -> None:
    calls: list[str] = []
    views = {name: _numbers_view(name, calls) for name in ("records", "topics")}

    assert run_query("SELECT 1", None, views, LIMITS).rows == [[1]]
    assert run_query("DESCRIBE records", None, views, LIMITS).rows[0][:2] == ["n", "BIGINT"]
    assert calls == []


def test_engine_builds_only_the_view_a_computed_table_name_reads() -> None:
    # query_table() with a computed name: the tables cannot be known from the text, and still only
    # the one scanned is built.
    calls: list[str] = []
    views = {name: _numbers_view(name, calls) for name in ("records", "topics")}

    result = run_query("SELECT count(*) FROM query_table('top' || $rest)", {"rest": "ics"}, views, LIMITS)

    assert result.rows == [[5]]
    assert calls == ["topics"]


def test_engine_builds_a_view_again_for_each_scan() -> None:
    calls: list[str] = []
    views = {"records": _numbers_view("records", calls)}

    result = run_query("SELECT count(*) FROM records a JOIN records b USING (n)", None, views, LIMITS)

    assert result.rows == [[5]]
    assert calls == ["records", "records"]


def test_engine_reads_only_the_partitions_a_filter_on_their_constants_keeps() -> None:
    calls: list[str] = []
    schema = Schema.of([("topic", STRING), ("n", INT64)])
    part_schema = Schema.of([("n", INT64)])

    def part(name: str) -> ViewPartition:
        def build(columns: frozenset[str]) -> list[Batch]:
            calls.append(name)
            return [Batch(part_schema, [int64s([1, 2, 3])])]

        return ViewPartition(build, {"topic": name})

    names = ["/a", "/b", "/it's", "/nul\x00name"]
    views = {"records": ViewSource("records", schema, [part(name) for name in names])}

    everything = run_query("SELECT topic, sum(n) FROM records GROUP BY 1 ORDER BY 1", None, views, LIMITS)
    assert everything.rows == [[name, 6] for name in sorted(names)]
    calls.clear()
    literal = run_query("SELECT count(*) FROM records WHERE topic IN ('/b', '/it''s')", None, views, LIMITS)
    assert (literal.rows, sorted(calls)) == ([[6]], ["/b", "/it's"])
    calls.clear()
    bound = run_query("SELECT count(*) FROM records WHERE topic = $t", {"t": "/nul\x00name"}, views, LIMITS)
    assert (bound.rows, calls) == ([[3]], ["/nul\x00name"])


def test_engine_reads_only_the_partitions_whose_bounds_meet_a_range_filter() -> None:
    calls: list[int] = []
    schema = Schema.of([("t", INT64)])

    def part(low: int, high: int) -> ViewPartition:
        def build(columns: frozenset[str]) -> list[Batch]:
            assert columns == {"t"}  # its bounds filter it, whether the statement reads it or not
            calls.append(low)
            return [Batch(schema, [int64s(np.arange(low, high + 1, dtype=np.int64))])]

        return ViewPartition(build, bounds={"t": (low, high)})

    edges = [(-(2**63), -1), (0, 99), (100, 199), (200, 2**63 - 1)]
    views = {
        "records": ViewSource("records", schema, [part(low, min(high, low + 1_000)) for low, high in edges])
    }

    window = run_query(
        "SELECT count(*) FROM records WHERE t BETWEEN $a AND $b", {"a": 150, "b": 250}, views, LIMITS
    )
    assert (window.rows, sorted(calls)) == ([[101]], [100, 200])
    calls.clear()
    assert run_query("SELECT count(*) FROM records WHERE t < 0", None, views, LIMITS).rows == [[1_001]]
    assert calls == [-(2**63)]


def test_engine_partition_rows_outside_its_bounds_are_not_seen() -> None:
    schema = Schema.of([("t", INT64)])
    part = ViewPartition(lambda _: [Batch(schema, [int64s([5, 10, 15])])], bounds={"t": (None, 10)})

    result = run_query(
        "SELECT t FROM records ORDER BY t", None, {"records": ViewSource("records", schema, [part])}, LIMITS
    )

    assert result.rows == [[5], [10]]


def test_engine_view_with_no_partitions_is_empty_with_its_columns() -> None:
    views = {"tags": ViewSource("tags", Schema.of([("label", STRING)]), [])}

    result = run_query("SELECT label FROM tags", None, views, LIMITS)

    assert (result.columns, result.rows, result.error) == (["label"], [], None)


def test_engine_raises_what_a_view_builder_raised() -> None:
    # A storage failure while building a view is not the statement's fault: it is not stored.
    schema = Schema.of([("n", INT64)])

    def failing() -> Iterator[Batch]:
        yield Batch(schema, [int64s([1])])
        raise ConnectionError("the records table cannot be read")

    views = {"records": ViewSource.of("records", schema, failing)}

    with pytest.raises(ConnectionError, match="cannot be read"):
        run_query("SELECT count(*) FROM records", None, views, LIMITS)


def test_engine_refuses_a_view_under_another_name() -> None:
    with pytest.raises(ValueError, match="under the name"):
        run_query("SELECT 1", None, {"topics": _numbers_view("records", [])}, LIMITS)


def test_view_source_refuses_constants_it_cannot_fold() -> None:
    schema = Schema.of([("topic", STRING), ("at", FLOAT64)])
    with pytest.raises(ValueError, match="not a column"):
        ViewSource("records", schema, [ViewPartition(list, {"nope": "x"})])
    with pytest.raises(ValueError, match="text or int64"):
        ViewSource("records", schema, [ViewPartition(list, {"at": None})])
    with pytest.raises(ValueError, match="int64 column"):
        ViewSource("records", schema, [ViewPartition(list, bounds={"at": (1, 2)})])
    with pytest.raises(ValueError, match="are empty"):
        ViewSource("records", Schema.of([("t", INT64)]), [ViewPartition(list, bounds={"t": (2, 1)})])
    with pytest.raises(ValueError, match="lower-case identifier"):
        ViewSource.of("Records; DROP", schema, list)


# -- JSON-safe values ---------------------------------------------------------------------------------


def _only_json_types(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_only_json_types(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _only_json_types(v) for k, v in value.items())
    return False


def test_engine_rows_of_every_duckdb_type_are_json_safe() -> None:
    result = _run("SELECT * FROM test_all_types()")

    assert result.error is None
    assert len(result.rows) == 3
    assert _only_json_types(result.rows)
    json.dumps(result.rows, allow_nan=False)
    row = dict(zip(result.columns, result.rows[1], strict=True))
    assert row["bigint"] == 2**63 - 1
    assert row["hugeint"] == 2**127 - 1
    assert row["uhugeint"] == 2**128 - 1
    assert row["double_array"] == [42.0, None, None, None, None, -42.0]  # NaN and infinities
    assert row["map"] == {"key1": "🦆🦆🦆🦆🦆🦆", "key2": "goose"}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("9223372036854775807::BIGINT", 2**63 - 1),
        ("(-9223372036854775808)::BIGINT", -(2**63)),
        ("170141183460469231731687303715884105727::HUGEINT", 2**127 - 1),
        ("12.50::DECIMAL(10,2)", 12.5),
        ("123456789012345678901234567890::DECIMAL(38,0)", 123456789012345678901234567890),
        ("'nan'::DOUBLE", None),
        ("'-inf'::FLOAT", None),
        ("DATE '2024-02-29'", "2024-02-29"),
        ("TIMESTAMP '2024-02-29 01:02:03.456789'", "2024-02-29T01:02:03.456789"),
        ("TIMESTAMPTZ '2024-02-29 01:02:03+00'", "2024-02-29T01:02:03+00:00"),
        ("TIME '01:02:03'", "01:02:03"),
        ("INTERVAL '2 days 3 seconds 5 microseconds'", "P2DT3.000005S"),
        ("INTERVAL '0 seconds'", "PT0S"),
        ("-INTERVAL '90 minutes'", "-PT5400S"),
        ("INTERVAL '1 month'", "P30D"),
        ("'\\x00\\xffab'::BLOB", "AP9hYg=="),
        ("'5b0b1d6e-8a7e-4f0c-9a55-0f4f4a8a7d21'::UUID", "5b0b1d6e-8a7e-4f0c-9a55-0f4f4a8a7d21"),
        ("[1, NULL, 3]", [1, None, 3]),
        ("[[1.5], []]", [[1.5], []]),
        ("[1, 2]::INTEGER[2]", [1, 2]),
        ("{'a': 1, 'b': [true]}", {"a": 1, "b": [True]}),
        ("MAP {1: 'one', 2: 'two'}", {"1": "one", "2": "two"}),
        ("MAP {'k': [1]}", {"k": [1]}),
        ('\'{"x": [1, 2.5, null], "y": {"z": "w"}}\'::JSON', {"x": [1, 2.5, None], "y": {"z": "w"}}),
        ("'12345678901234567890123'::JSON", 12345678901234567890123),
        ("['{\"a\": 1}'::JSON, NULL]", [{"a": 1}, None]),
        ("{'j': '[1, 2]'::JSON}", {"j": [1, 2]}),
        ("'small'::ENUM('small', 'large')", "small"),
        ("union_value(n := 5)", 5),
        ("'101'::BIT", "101"),
        ("NULL", None),
    ],
)
def test_engine_converts_each_type_to_json(expression: str, expected: Any) -> None:
    result = _run(f"SELECT {expression} AS v")

    assert result.error is None
    assert result.rows == [[expected]]
    assert type(result.rows[0][0]) is type(expected)


def test_json_safe_makes_non_finite_values_inside_json_null() -> None:
    assert json_safe({"a": [float("inf"), 1.0], 2: float("nan")}) == {"a": [None, 1.0], "2": None}


def test_engine_and_views_run_without_pyarrow() -> None:
    # The query layer ships DuckDB and nanoarrow only: pyarrow (~150 MB) would not fit Lambda's 250 MB.
    # A fresh interpreter in which importing pyarrow fails runs the statements over real blocks.
    script = (
        "import sys\n"
        "sys.modules['pyarrow'] = None\n"
        "from openlqs.queries.engine import QueryLimits, run_query\n"
        "from openlqs.queries.views import log_views, whole_topics\n"
        "from tests.support.queries import query_log\n"
        "log = query_log()\n"
        "views = log_views(topics=log.topics, spans=whole_topics(log.topics, log.blocks_of))\n"
        "limits = QueryLimits(timeout_s=10.0)\n"
        "group_by = run_query('SELECT t.name, count(*) FROM records r JOIN topics t ON r.topic_id = t.id "
        "GROUP BY 1 ORDER BY 1', None, views, limits)\n"
        "json = run_query(\"SELECT count(*) FROM records WHERE query_data->>'$.x' > 5\", None, views, "
        "limits)\n"
        "print(group_by.error, len(group_by.rows), json.rows, 'pyarrow' in str(sys.modules.get('pyarrow')))\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )

    assert done.stdout.strip() == "None 3 [[3]] False", done.stderr


def test_engine_tells_a_part_the_columns_a_statement_reads_and_every_column_for_a_star() -> None:
    asked: list[frozenset[str]] = []
    schema = Schema.of([("topic", STRING), ("n", INT64), ("m", INT64)])
    part_schema = Schema.of([("n", INT64), ("m", INT64)])

    def build(columns: frozenset[str]) -> list[Batch]:
        asked.append(columns)
        values = {name: int64s([1, 2]) if name in columns else null_column(INT64, 2) for name in ("n", "m")}
        return [batch(part_schema, values)]

    views = {"records": ViewSource("records", schema, [ViewPartition(build, {"topic": "/a"})])}
    statements = {
        "SELECT topic, sum(n) FROM records GROUP BY 1": ([["/a", 3]], {"n"}),
        "SELECT count(*) FROM records WHERE topic = '/a'": ([[2]], set()),
        "SELECT * FROM records ORDER BY n LIMIT 1": ([["/a", 1, 1]], {"n", "m"}),
        "SELECT r FROM records r LIMIT 1": ([[{"topic": "/a", "n": 1, "m": 1}]], {"n", "m"}),
        "SELECT sum(x) FROM query('SELECT m AS x FROM records')": ([[3]], {"n", "m"}),
    }
    for statement, (rows, columns) in statements.items():
        asked.clear()
        result = run_query(statement, None, views, LIMITS)
        assert (result.error, result.rows, asked) == (None, rows, [columns]), statement
