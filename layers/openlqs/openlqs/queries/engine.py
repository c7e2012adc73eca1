"""Run the SQL statement of a LogQS query with DuckDB over read-only Arrow views, within limits.

``run_query`` never raises for a bad statement: whatever the statement does wrong ends as
``QueryResult.error`` (``{"name": ..., "message": ...}``), which the query is stored with (contract §4:
never a 500, never a 501). Only failures that are not the statement's fault raise: a view that cannot
be built (storage errors) and misuse by the caller (a view whose key is not its name).

Safety, in the order a statement meets it:

1. **Parse.** DuckDB's own parser (``extract_statements``) must find exactly one statement of type
   SELECT (``WITH ... SELECT``, ``FROM x``, ``VALUES``, ``DESCRIBE``/``SHOW``/``SUMMARIZE`` parse as
   SELECT too). Anything else, INSERT, COPY, ATTACH, INSTALL/LOAD, PRAGMA, SET, CALL, CREATE, EXPORT,
   PIVOT (several statements inside), or more than one statement, is a ``BadQuery`` naming its type.
2. **Parameters.** The statement's ``$name`` (or ``?``/``$1``, named "1", "2"...) parameters must be
   exactly the given keys (compared without case, as DuckDB binds them), with JSON values: text,
   numbers, booleans, null, or lists of those. They are bound by DuckDB, never written into the text.
3. **A fresh in-memory database per statement**, opened with external access off (no file, network or
   secret access: ``read_csv``, ``read_parquet``, ``glob``, ``http(s)://`` paths all fail, also inside
   a SELECT), no extension installing or autoloading and no community or unsigned extensions, Python
   replacement scans off (a statement cannot read a variable of this process by naming it), no
   temporary-directory spill (``temp_directory`` empty, ``max_temp_directory_size`` 0), and the memory
   limit and threads of ``QueryLimits``. JSON, Parquet and ICU are statically linked in the wheel, so
   ``->>`` and JSON functions work without loading anything. The views are registered, then
   ``lock_configuration`` is set: the statement cannot change any of this.
4. **JSON numbers.** A comparison of a ``->>`` extraction with a number is made numeric
   (``json_numbers``): ``query_data->>'$.x' > 5`` selects what ``query_data_filter`` selects instead of
   failing on DuckDB's text-versus-number rule. ``json_number(doc, path)`` is there for the rest.
5. **Time.** A watchdog thread calls ``connection.interrupt()`` at the deadline and again every 50 ms
   until the statement has stopped; rows are fetched in batches (the result streams), so a statement
   that never ends or that would return billions of rows ends as ``QueryTimeout`` or a truncated
   result, and the process stays responsive.
6. **Size.** Rows are capped by count and by the bytes of their JSON text; the rows up to the cap are
   kept and ``error`` says ``QueryTooLarge: result truncated to N rows / B bytes``. A statement that
   needs more than ``memory_limit`` inside DuckDB is a ``QueryTooLarge`` too. Some allocations escape
   DuckDB's accounting (one huge string, ``repeat('x', 10^9)``): ``address_space_headroom`` caps the
   process's address space while the statement runs, so those fail as ``QueryTooLarge`` instead of
   the process being killed (opt-in: the cap is process-wide; see ``QueryLimits``).

Views are lazy: each view (or each partition of one, see ``ViewPartition``) is registered as an Arrow
stream that DuckDB opens only when its plan scans it, so a view the statement does not read is never
built, and a part is told which of its columns the statement can read (``columns.columns_read``, from
DuckDB's parse tree; every column for ``*`` and the like), so it may leave the others null. Only the
views DuckDB's ``get_table_names`` finds in the statement are registered (registering costs ~1 ms a
part); when the names cannot be known (``query_table`` of a computed name), all are
registered, and still only the scanned ones are built. A partition's constant columns and column
bounds are literals in the view's SQL, so DuckDB's optimizer folds a filter such as ``topic =
'/imu'``, ``topic_id IN (...)`` or ``timestamp BETWEEN $low AND $high`` (literals or parameters) to
false for the partitions it excludes and never opens them: that is the records view's push-down of
topics and time windows. Parts are temporary views named ``__<view>_<n>``; the catalog lists them.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from functools import cache, partial
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb
from pydantic_core import to_json

from openlqs.queries.arrow import INT64, STRING, Batch, ColumnType, Schema, stream
from openlqs.queries.columns import columns_read
from openlqs.queries.json_numbers import JSON_NUMBER_MACRO, with_json_numbers

#: Error names a query can be stored with.
BAD_QUERY = "BadQuery"
QUERY_TIMEOUT = "QueryTimeout"
QUERY_TOO_LARGE = "QueryTooLarge"
QUERY_FAILED = "QueryFailed"

#: Range of an int64 (BIGINT) column, and so of a view part's bounds.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: Longest statement accepted (characters).
MAX_STATEMENT_LENGTH = 64 * 1024
#: Longest error message kept (characters): DuckDB's messages quote the statement.
MAX_MESSAGE_LENGTH = 4_000
#: Rows fetched from DuckDB at a time.
FETCH_ROWS = 1_024
#: How often the watchdog repeats ``interrupt()`` once the deadline has passed (seconds).
_INTERRUPT_EVERY_S = 0.05

#: What builds a view part: its record batches, called only when scanned, with the names of the part's
#: columns the statement reads (``columns.columns_read``); the others may be left null.
Build = Callable[[frozenset[str]], Iterable[Batch]]
#: A partition's constant column value.
Constant = str | int | None

_NAME = re.compile(r"[a-z_][a-z0-9_]*")
#: Column types a constant column may have (its literal is cast to the type's DuckDB type).
_CONSTANT_TYPES = frozenset({STRING, INT64})
#: Statement types named the way a user wrote them where DuckDB's name differs.
_STATEMENT_NAMES = {
    duckdb.StatementType.LOAD: "INSTALL/LOAD",
    duckdb.StatementType.VARIABLE_SET: "SET VARIABLE",
    duckdb.StatementType.MULTI: "PIVOT (a statement of several statements)",
    duckdb.StatementType.TRANSACTION: "transaction (BEGIN/COMMIT/ROLLBACK)",
}


@dataclass(frozen=True)
class QueryLimits:
    """What one statement may use.

    ``max_result_bytes`` counts the compact JSON text of the rows (``[[...],[...]]``), which is what
    gets stored and returned. ``memory_limit`` (bytes) and ``threads`` are DuckDB's settings.
    ``address_space_headroom`` (bytes), when set, caps the process's address space (``RLIMIT_AS``) at
    its size before the statement plus this headroom while the statement runs, so that allocations
    DuckDB does not account for fail instead of exhausting the machine. It must leave room for the
    views being built (their Arrow data lives outside DuckDB's memory limit). The cap is process-wide,
    so other threads are held to it too, and capped statements run one at a time; it is meant for a
    function that runs one request at a time (Lambda). Linux only; ignored elsewhere.
    """

    max_rows: int = 10_000
    max_result_bytes: int = 1 * 2**20
    timeout_s: float = 10.0
    memory_limit: int = 256 * 2**20
    threads: int = 1
    address_space_headroom: int | None = None

    def __post_init__(self) -> None:
        if self.max_rows < 0 or self.max_result_bytes < 2 or self.timeout_s <= 0:
            raise ValueError(f"query limits out of range: {self}")
        if self.memory_limit <= 0 or self.threads < 1:
            raise ValueError(f"query limits out of range: {self}")


@dataclass
class QueryResult:
    """What a statement gave: column names, JSON-safe rows, and an error or None.

    ``truncated`` is true when rows were left out (a cap or the time limit was hit); ``error`` then
    says which. Rows hold only ``None``, ``bool``, ``int`` (exact, however large), finite ``float``,
    ``str``, lists and string-keyed dicts of those.
    """

    columns: list[str]
    rows: list[list[Any]]
    error: dict[str, str] | None = None
    truncated: bool = False


@dataclass(frozen=True)
class ViewPartition:
    """One lazily built part of a view: ``build`` gives the view's columns except the ``constants``,
    in schema order; the constants (text or int64 columns) are the same for every row of the part,
    and ``bounds`` give an int64 column's inclusive range over the part (None: unbounded).

    Constants and bounds are literals in the view's SQL (a bound is a filter of the part, so a row
    ``build`` gives outside it is not seen), so a filter on them decides, before any data is read,
    which parts a statement needs: ``topic = '/imu'`` keeps only the parts of that constant,
    ``timestamp BETWEEN $low AND $high`` only the parts whose bounds meet that range."""

    build: Build
    constants: Mapping[str, Constant] = field(default_factory=dict)
    bounds: Mapping[str, tuple[int | None, int | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class ViewSource:
    """A read-only table a statement can name: its schema and its parts, built lazily."""

    name: str
    schema: Schema
    partitions: Sequence[ViewPartition]

    @classmethod
    def of(cls, name: str, schema: Schema, build: Callable[[], Iterable[Batch]]) -> ViewSource:
        """A view of one part without constants, built whole whatever the statement reads."""
        return cls(name, schema, (ViewPartition(lambda _columns: build()),))

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"view name {self.name!r} must be a lower-case identifier")
        for partition in self.partitions:
            for column, value in partition.constants.items():
                kind = self.schema.type_of(column)
                if kind is None:
                    raise ValueError(f"constant {column!r} is not a column of view {self.name!r}")
                if kind not in _CONSTANT_TYPES:
                    raise ValueError(f"constant column {column!r} must be text or int64, not {kind.sql}")
                if value is not None and not isinstance(value, str if kind is STRING else int):
                    raise ValueError(f"constant {column!r} = {value!r} does not have the column's type")
            for column, (low, high) in partition.bounds.items():
                if self.schema.type_of(column) is not INT64:
                    raise ValueError(f"bounds of {column!r} need an int64 column of view {self.name!r}")
                if column in partition.constants:
                    raise ValueError(f"{column!r} is both a constant and bounded")
                for bound in (low, high):
                    if bound is not None and not INT64_MIN <= bound <= INT64_MAX:
                        raise ValueError(f"bound {bound} of {column!r} is not an int64")
                if low is not None and high is not None and low > high:
                    raise ValueError(f"bounds of {column!r} are empty: {low} > {high}")

    def partition_schema(self, partition: ViewPartition) -> Schema:
        """The columns ``partition.build`` gives: the schema less the partition's constants (one object
        for parts with the same constants, so its Arrow schema is made once)."""
        return _schema_without(self.schema, frozenset(partition.constants))


@cache
def _schema_without(schema: Schema, names: frozenset[str]) -> Schema:
    return schema.without(names)


class _Refused(Exception):
    """A statement that is not run; carries the stored error."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.error = {"name": name, "message": _text(message)}


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(message: str) -> str:
    """A message as storable text: at most ``MAX_MESSAGE_LENGTH`` characters, lone surrogates (from a
    parameter's name, say) replaced."""
    message = message[:MAX_MESSAGE_LENGTH]
    return message if _is_unicode(message) else message.encode("utf-8", "replace").decode("utf-8")


def run_query(
    statement: str,
    parameters: Mapping[str, Any] | None,
    views: Mapping[str, ViewSource],
    limits: QueryLimits,
) -> QueryResult:
    """Run one SELECT ``statement`` with ``parameters`` bound as DuckDB parameters over ``views`` (keyed
    by their names), within ``limits``. Never raises for the statement's faults (see the module)."""
    for key, view in views.items():
        if key != view.name:
            raise ValueError(f"view {view.name!r} is given under the name {key!r}")
    failures: list[BaseException] = []
    try:
        with _connection(limits) as connection:
            parsed = _single_select(connection, statement)
            bound = _bound(parsed, parameters)
            read = columns_read(connection, statement)
            for view in _named(connection, statement, views):
                _register(connection, view, read, failures)
            connection.execute(JSON_NUMBER_MACRO)
            rewritten = with_json_numbers(connection, statement, bound)
            connection.execute("SET lock_configuration = true")
            return _execute(connection, rewritten or parsed, bound, limits, failures)
    except _Refused as refused:
        return QueryResult([], [], refused.error)


@contextmanager
def _connection(limits: QueryLimits) -> Iterator[duckdb.DuckDBPyConnection]:
    """A new in-memory database, locked down before anything of the statement's is done."""
    connection = duckdb.connect(
        ":memory:",
        config={
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
            "allow_unsigned_extensions": False,
            "python_enable_replacements": False,
            "memory_limit": f"{limits.memory_limit}B",
            "threads": limits.threads,
            "temp_directory": "",
            "max_temp_directory_size": "0B",
        },
    )
    try:
        yield connection
    finally:
        connection.close()


def _single_select(connection: duckdb.DuckDBPyConnection, statement: Any) -> duckdb.Statement:
    """The one SELECT statement of ``statement``, found by DuckDB's parser, or ``_Refused``."""
    if not isinstance(statement, str):
        raise _Refused(BAD_QUERY, "the statement must be SQL text")
    if not _is_unicode(statement):
        raise _Refused(BAD_QUERY, "the statement must be Unicode text (it holds a lone surrogate)")
    if len(statement) > MAX_STATEMENT_LENGTH:
        raise _Refused(
            BAD_QUERY, f"the statement is {len(statement)} characters; at most {MAX_STATEMENT_LENGTH}"
        )
    try:
        statements = connection.extract_statements(statement)
    except duckdb.Error as error:
        raise _Refused(BAD_QUERY, _message(error)) from error
    if not statements:
        raise _Refused(BAD_QUERY, "the statement is empty")
    if len(statements) > 1:
        raise _Refused(
            BAD_QUERY, f"{len(statements)} statements were given; a query runs one SELECT statement"
        )
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        name = _STATEMENT_NAMES.get(kind, kind.name)
        raise _Refused(
            BAD_QUERY, f"{name} statements are not allowed: a query runs one SELECT (or WITH ... SELECT)"
        )
    return statements[0]


def _named(
    connection: duckdb.DuckDBPyConnection, statement: str, views: Mapping[str, ViewSource]
) -> list[ViewSource]:
    """The views ``statement`` names (DuckDB's ``get_table_names``, which also sees inside ``query()``
    and ``query_table()`` with literal text), or all of them when it names none of them or that
    cannot be known (a computed name: binding the names fails). Registering costs ~1 ms a view part;
    building happens only on a scan either way."""
    try:
        named = {name.lower() for name in connection.get_table_names(statement)}
    except duckdb.Error:
        return list(views.values())
    # Naming none (SHOW TABLES, information_schema...): all, so that the catalog lists them.
    return [view for name, view in views.items() if name in named] or list(views.values())


def _bound(statement: duckdb.Statement, parameters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``parameters``, once they are exactly the statement's (without case) and of supported types."""
    given: dict[str, str] = {}
    for key, value in (parameters or {}).items():
        if not isinstance(key, str):
            raise _Refused(BAD_QUERY, f"parameter names must be text, not {key!r}")
        if key.lower() in given:
            raise _Refused(BAD_QUERY, f"parameters {given[key.lower()]!r} and {key!r} are the same name")
        given[key.lower()] = key
        _check_parameter(key, value)
    wanted = {name.lower(): name for name in statement.named_parameters}
    missing = sorted(wanted[name] for name in wanted.keys() - given.keys())
    if missing:
        raise _Refused(BAD_QUERY, "no value for parameter " + ", ".join(f"${name}" for name in missing))
    unused = sorted(given[name] for name in given.keys() - wanted.keys())
    if unused:
        raise _Refused(BAD_QUERY, "the statement has no parameter " + ", ".join(f"${n}" for n in unused))
    return dict(parameters) if parameters else None


def _check_parameter(key: str, value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif item is not None and not isinstance(item, str | int | float):  # bool is an int
            raise _Refused(
                BAD_QUERY,
                f"parameter ${key} holds a {type(item).__name__}; parameters are text, numbers, "
                "booleans, null or lists of them (pass an object as JSON text and cast it: $p::JSON)",
            )


def _register(
    connection: duckdb.DuckDBPyConnection,
    view: ViewSource,
    read: frozenset[str] | None,
    failures: list[BaseException],
) -> None:
    """Register ``view``'s parts as lazy Arrow streams and the view as their UNION ALL, constants as
    literals (quoted here: they are the caller's values, never the statement's parameters). A part
    builds the columns of ``read`` (None: all) and those its bounds filter."""
    branches = []
    for number, partition in enumerate(view.partitions):
        hidden = f"__{view.name}_{number}"
        schema = view.partition_schema(partition)
        wanted = frozenset(
            name for name in schema.names if read is None or name in read or name in partition.bounds
        )
        connection.register(hidden, _LazyStream(schema, partial(partition.build, wanted), failures))
        columns = [
            f"{_literal(partition.constants[name], kind)} AS {_identifier(name)}"
            if name in partition.constants
            else _identifier(name)
            for name, kind in view.schema.columns
        ]
        bounds = [
            f"{_identifier(column)} {operator} {_literal(bound, INT64)}"
            for column, (low, high) in partition.bounds.items()
            for operator, bound in ((">=", low), ("<=", high))
            if bound is not None
        ]
        where = f" WHERE {' AND '.join(bounds)}" if bounds else ""
        branches.append(f"SELECT {', '.join(columns)} FROM {_identifier(hidden)}{where}")
    if not branches:
        hidden = f"__{view.name}_empty"
        connection.register(hidden, _LazyStream(view.schema, tuple, failures))
        branches.append(f"SELECT * FROM {_identifier(hidden)}")
    connection.execute(f"CREATE VIEW {_identifier(view.name)} AS {' UNION ALL '.join(branches)}")


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: Constant, kind: ColumnType) -> str:
    sql_type = kind.sql
    if value is None:
        return f"CAST(NULL AS {sql_type})"
    if isinstance(value, int):
        return f"CAST({int(value)} AS {sql_type})"
    return "CAST('" + value.replace("'", "''") + f"' AS {sql_type})"


class _LazyStream:
    """An Arrow stream DuckDB opens each time it scans a view part; ``build`` runs only then. Its
    schema is known without building (``__arrow_c_schema__``), so binding builds nothing. Failures of
    ``build`` or of the batches it yields are kept in ``failures``: they are storage errors, not the
    statement's, and ``run_query`` re-raises them."""

    def __init__(
        self, schema: Schema, build: Callable[[], Iterable[Batch]], failures: list[BaseException]
    ) -> None:
        self._schema, self._build, self._failures = schema, build, failures

    def __arrow_c_schema__(self) -> object:
        return self._schema.__arrow_c_schema__()

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        try:
            built = stream(self._schema, self._build())
        except BaseException as error:
            self._failures.append(error)
            raise
        return built.__arrow_c_stream__(requested_schema)


def _execute(
    connection: duckdb.DuckDBPyConnection,
    statement: duckdb.Statement | str,
    parameters: dict[str, Any] | None,
    limits: QueryLimits,
    failures: list[BaseException],
) -> QueryResult:
    result = QueryResult([], [])
    watchdog = _Watchdog(connection, limits.timeout_s)
    try:
        with watchdog, _address_space_cap(limits.address_space_headroom):
            connection.execute(statement, parameters)
            description = connection.description or []
            result.columns = [str(column[0]) for column in description]
            converters = [_converter(column[1]) for column in description]
            _fetch(connection, converters, limits, watchdog, result)
    except (duckdb.Error, MemoryError) as error:
        stored = [failure for failure in failures if not isinstance(failure, MemoryError)]
        if stored:
            raise stored[0] from error
        result.error = _error_of(error, watchdog, limits)
        result.truncated = bool(result.rows)
    return result


def _fetch(
    connection: duckdb.DuckDBPyConnection,
    converters: list[Callable[[Any], Any]],
    limits: QueryLimits,
    watchdog: _Watchdog,
    result: QueryResult,
) -> None:
    """Fetch and convert rows in batches until the result ends, a cap is hit or time runs out."""
    size = 2  # "[]"
    while True:
        if watchdog.expired:
            raise duckdb.InterruptException("the time limit ran out while rows were read")
        wanted = min(FETCH_ROWS, limits.max_rows - len(result.rows) + 1)
        batch = connection.fetchmany(wanted)
        if not batch:
            return
        for values in batch:
            if len(result.rows) >= limits.max_rows:
                return _truncate(result, size, f"{limits.max_rows} rows")
            row = [convert(value) for convert, value in zip(converters, values, strict=True)]
            row_bytes = len(to_json(row)) + (1 if result.rows else 0)
            if size + row_bytes > limits.max_result_bytes:
                return _truncate(result, size, f"{limits.max_result_bytes} bytes of JSON")
            result.rows.append(row)
            size += row_bytes


def _truncate(result: QueryResult, size: int, limit: str) -> None:
    result.truncated = True
    message = f"result truncated to {len(result.rows)} rows / {size} bytes: a result may hold at most {limit}"
    result.error = {"name": QUERY_TOO_LARGE, "message": message}


def _error_of(error: BaseException, watchdog: _Watchdog, limits: QueryLimits) -> dict[str, str]:
    if isinstance(error, duckdb.InterruptException) or watchdog.fired:
        return {"name": QUERY_TIMEOUT, "message": f"the statement ran longer than {limits.timeout_s:g} s"}
    if isinstance(error, duckdb.OutOfMemoryException | MemoryError):
        message = f"the statement needs more memory than it may use ({limits.memory_limit / 2**20:g} MiB)"
        return {"name": QUERY_TOO_LARGE, "message": f"{message}: {_message(error)}"[:MAX_MESSAGE_LENGTH]}
    if isinstance(error, duckdb.InternalException | duckdb.FatalException):
        return {"name": QUERY_FAILED, "message": _message(error)}
    message = _message(error)
    if isinstance(error, duckdb.BinderException) and "explicit cast is required" in message:
        message += (
            "\n(->> gives text: json_number(query_data, '$.x') gives a JSON number as a DOUBLE, "
            "or cast it, e.g. TRY_CAST(query_data->>'$.x' AS DOUBLE))"
        )
    return {"name": BAD_QUERY, "message": _text(message)}


def _message(error: BaseException) -> str:
    return _text(str(error) or type(error).__name__)


class _Watchdog:
    """Interrupts the connection's running statement once ``timeout_s`` has passed, then every 50 ms
    until it is left (an interrupt that lands between two DuckDB calls is not lost)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, timeout_s: float) -> None:
        self._connection = connection
        self._timeout_s = timeout_s
        self._deadline = time.monotonic() + timeout_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="query-watchdog", daemon=True)
        self.fired = False

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self._deadline

    def __enter__(self) -> _Watchdog:
        self._deadline = time.monotonic() + self._timeout_s
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        if self._done.wait(self._timeout_s):
            return
        self.fired = True
        while True:
            self._connection.interrupt()
            if self._done.wait(_INTERRUPT_EVERY_S):
                return


_ADDRESS_SPACE_LOCK = threading.Lock()
_PROC_STATUS = Path("/proc/self/status")


@contextmanager
def _address_space_cap(headroom: int | None) -> Iterator[None]:
    """Cap the process's address space at its current size plus ``headroom`` (None: no cap)."""
    if headroom is None or not _PROC_STATUS.exists():
        yield
        return
    import resource

    with _ADDRESS_SPACE_LOCK:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        match = re.search(r"^VmSize:\s+(\d+) kB", _PROC_STATUS.read_text(), re.MULTILINE)
        if match is None:
            yield
            return
        cap = int(match.group(1)) * 1024 + headroom
        for limit in (soft, hard):
            if limit != resource.RLIM_INFINITY:
                cap = min(cap, limit)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# -- JSON-safe values ------------------------------------------------------------------------------


def _converter(kind: Any) -> Callable[[Any], Any]:
    """How to make a value of DuckDB type ``kind`` (a ``DuckDBPyType``) JSON-safe: JSON values are
    parsed (also inside lists, structs and maps), everything else goes through ``json_safe``."""
    if str(kind) == "JSON":
        return _parsed_json
    kind_id = kind.id
    if kind_id in ("list", "array"):
        child = _converter(kind.children[0][1])
        return lambda value: None if value is None else [child(item) for item in value]
    if kind_id == "struct":
        fields = {name: _converter(child) for name, child in kind.children}
        return lambda value: (
            None
            if value is None
            else {_key(name): fields.get(name, json_safe)(item) for name, item in value.items()}
        )
    if kind_id == "map":
        keys, values = (_converter(child) for _, child in kind.children)
        return lambda value: (
            {_key(keys(k)): values(v) for k, v in value.items()}
            if isinstance(value, dict)
            else json_safe(value)
        )
    return json_safe


def _parsed_json(value: Any) -> Any:
    if not isinstance(value, str):
        return json_safe(value)
    try:
        return json_safe(json.loads(value))
    except ValueError:
        return value


def json_safe(value: Any) -> Any:
    """A Python value DuckDB returned, as JSON-compatible Python.

    ``int`` stays ``int`` (exact: int64 nanosecond timestamps, HUGEINT); a non-finite float is None;
    ``Decimal`` an int when it has no fraction digits, else a float (as FastAPI encodes it); dates,
    times and timestamps ISO 8601 text; an interval an ISO 8601 duration (DuckDB's Python conversion
    counts a month as 30 days); a UUID its text; bytes base64 text; tuples lists; dict keys text.
    DuckDB gives dates and timestamps outside Python's range as text already."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    if isinstance(value, datetime | date | time_of_day):
        return value.isoformat()
    if isinstance(value, timedelta):
        return _duration(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, dict):
        return {_key(key): json_safe(item) for key, item in value.items()}
    return str(value)


def _key(key: Any) -> str:
    """A dict key as JSON object keys must be: text (other values as their JSON text)."""
    safe = json_safe(key)
    return safe if isinstance(safe, str) else to_json(safe).decode()


def _duration(value: timedelta) -> str:
    """ISO 8601 duration of a timedelta: ``P1DT2.5S``, ``-PT0.000001S``, ``PT0S``."""
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    days, micros = divmod(abs(micros), 86_400_000_000)
    seconds, micros = divmod(micros, 1_000_000)
    text = f"{sign}P{days}D" if days else f"{sign}P"
    if seconds or micros or not days:
        text += "T" + (f"{seconds}.{micros:06d}".rstrip("0").rstrip(".") if micros else str(seconds)) + "S"
    return text
