"""Reading rosbag2's sqlite3 storage (``.db3``) with Python's ``sqlite3``, every schema version.

rosbag2's sqlite3 plugin changed its tables over time (``rosbag2_storage_sqlite3``):

- 1 (before Foxy): ``topics(id, name, type, serialization_format)``, ``messages(id, topic_id, timestamp,
  data)`` and the ``timestamp_idx`` index;
- 2: ``topics.offered_qos_profiles`` (QoS as YAML text);
- 3: a ``schema(schema_version, ros_distro)`` table and a ``metadata`` table (the recording's
  metadata.yaml text);
- 4 (Iron on): ``topics.type_description_hash`` and a ``message_definitions(topic_type, encoding,
  encoded_message_definition, type_description_hash)`` table.

The version is told the way rosbag2 tells it (the ``schema`` table, else the QoS column), but columns
and tables are looked up by name, so a file in between reads too. The database is opened read-only and
immutable (no lock, no journal: it is a local copy nobody writes). Messages are streamed from the
cursor in timestamp order, then insertion order, as rosbag2 replays them: never all in memory.

``message_batches`` reads the same messages a few thousand at a time, each batch one row that sqlite
itself assembles (``group_concat`` of the ids, topic ids, timestamps and lengths, and of the bytes,
one after the other), walking ``timestamp_idx`` from the last key read. It is there for what Python's
``sqlite3`` does on each row: it releases the interpreter's lock around every step, and a thread that
gives the lock up a million times waits for it a million times when other threads are busy (a
conversion of 250,000 rows took 0.4 s alone and 31 s next to one busy thread; in batches, 0.5 s).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from openlqs.errors import BadLogFile

#: Messages of one batch (``Db3Reader.message_batches``), and their bytes (and one message more: the
#: last one may end past it).
BATCH_ROWS = 8192
BATCH_BYTES = 2 * 1024 * 1024
#: One batch: how many rows, how many are not rosbag2's (a timestamp that is not a non-negative
#: integer, data that is not a blob, a topic id that is not an integer; the arrays of a batch with any
#: are not used), and its columns. ``{rows}``: its rows in (timestamp, id) order after a key.
_BATCH = """
SELECT count(*),
       sum(typeof(timestamp) <> 'integer' OR timestamp < 0 OR typeof(data) <> 'blob'
           OR typeof(topic_id) <> 'integer'),
       group_concat(id), group_concat(topic_id), group_concat(timestamp), group_concat(length(data)),
       CAST(group_concat(data, '') AS BLOB)
FROM ({rows})
"""
#: Rows after the key (timestamp, id), at most a number of them.
_ROWS = "SELECT * FROM messages WHERE (timestamp, id) > (?, ?) ORDER BY timestamp, id LIMIT ?"
#: The same, and as many of them as the bytes allow (at least one), where messages are large.
_ROWS_IN_BYTES = """
SELECT * FROM (
  SELECT *, sum(length(data)) OVER (ORDER BY timestamp, id ROWS UNBOUNDED PRECEDING) AS upto
  FROM messages WHERE (timestamp, id) > (?, ?) ORDER BY timestamp, id LIMIT ?
) WHERE upto - length(data) < ?
"""


@dataclass(frozen=True)
class Db3Topic:
    """A row of ``topics``; ``offered_qos_profiles``/``type_description_hash`` are None without the column."""

    id: int
    name: str
    type: str
    serialization_format: str
    offered_qos_profiles: str | None
    type_description_hash: str | None


@dataclass(frozen=True)
class Db3MessageDefinition:
    """A row of ``message_definitions`` (schema version 4 on)."""

    topic_type: str
    encoding: str
    text: str
    type_description_hash: str


class Db3Reader:
    """A rosbag2 sqlite3 storage file, opened read-only; use as a context manager.

    ``BadLogFile`` when the file is not a sqlite database, lacks rosbag2's ``topics`` and ``messages``
    tables or their columns, or is corrupt (also while messages are read).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self.schema_version = 0
        self.ros_distro = ""
        self.topics: list[Db3Topic] = []
        self.message_definitions: list[Db3MessageDefinition] = []

    def __enter__(self) -> Db3Reader:
        self.open()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> None:
        """Open the database and read its schema version, topics and message definitions."""
        if not self.path.is_file():
            raise BadLogFile(f"{self.path.name} does not exist or is not a file.")
        try:
            self._connection = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro&immutable=1", uri=True
            )
            # Sorting without rosbag2's timestamp index spills to temporary files, not memory.
            self._connection.execute("PRAGMA temp_store = FILE")
            self._read_schema()
        except sqlite3.Error as error:
            self.close()
            raise BadLogFile(f"{self.path.name} is not a readable sqlite3 database: {error}.") from error
        except BadLogFile:
            self.close()
            raise

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def messages(self) -> Iterator[tuple[Any, Any, Any]]:
        """Every message as its row ``(topic_id, timestamp, data)``, in timestamp order then insertion
        (``id``) order, streamed from the cursor. Values are as stored, unchecked (sqlite columns are not
        typed): a timestamp should be an int (ns), data bytes. Plain rows, as millions are read."""
        return self._rows("SELECT topic_id, timestamp, data FROM messages ORDER BY timestamp, id")

    def _rows(self, sql: str, parameters: tuple[Any, ...] = ()) -> Iterator[tuple[Any, Any, Any]]:
        cursor = self._query(sql, parameters)
        try:
            # Not "yield from": closing this generator must not close a cursor of a closed database.
            for row in cursor:  # noqa: UP028
                yield row
        except sqlite3.Error as error:
            raise BadLogFile(f"{self.path.name} is corrupt: reading its messages failed: {error}.") from error
        finally:
            with suppress(sqlite3.ProgrammingError):  # the database closed first: nothing left to close
                cursor.close()

    def batches_walk_the_index(self) -> bool:
        """Whether ``message_batches`` can walk an index in (timestamp, id) order: rosbag2 writes
        ``timestamp_idx``, and its ``id`` is the table's rowid (never null, so every row has a key).
        Without the index each batch would sort the whole table."""
        keys = [row for row in self._query("PRAGMA table_info(messages)") if row[5]]
        if [(row[1], str(row[2]).upper()) for row in keys] != [("id", "INTEGER")]:
            return False
        query = "EXPLAIN QUERY PLAN " + _BATCH.format(rows=_ROWS)
        plan = " ".join(str(row[-1]) for row in self._query(query, (0, 0, 1)))
        return "USING INDEX" in plan and "TEMP B-TREE" not in plan

    def message_batches(self, rows: int = BATCH_ROWS, size: int = BATCH_BYTES) -> Iterator[MessageBatch]:
        """The messages of ``messages()``, in the same order, ``rows`` at a time and about ``size`` bytes
        (see the module). A batch holding a row that is not rosbag2's (``MessageBatch.irregular``)
        carries no messages: its reader reads on row by row from ``MessageBatch.after`` to find out
        which and why."""
        (longest,) = self._query("SELECT max(length(data)) FROM messages").fetchone()
        bounds: tuple[int, ...] = (rows,)
        query = _BATCH.format(rows=_ROWS)
        if not isinstance(longest, int) or longest * rows > size:
            bounds, query = (rows, size), _BATCH.format(rows=_ROWS_IN_BYTES)
        (untimed,) = self._query("SELECT EXISTS(SELECT 1 FROM messages WHERE timestamp IS NULL)").fetchone()
        if untimed:  # no key walks to a row without a timestamp: the rows from the first, one by one
            yield MessageBatch.irregular_after(None)
            return
        after = (-(2**63), -(2**63))
        while True:
            count, irregular, ids, topics, times, lengths, data = self._query(
                query, (*after, *bounds)
            ).fetchone()
            if not count:
                return
            if irregular:
                yield MessageBatch.irregular_after(after)
                return
            keys = _integers(ids)
            batch = _in_order(
                keys,
                MessageBatch(
                    topic_ids=_integers(topics),
                    timestamps=_integers(times),
                    lengths=_integers(lengths),
                    data=data or b"",
                    after=after,
                ),
            )
            if not len(keys) == len(batch) == count or int(batch.lengths.sum()) != len(batch.data):
                raise BadLogFile(f"{self.path.name}: a batch of its messages does not add up; it is corrupt.")
            yield batch
            last = int(batch.timestamps[-1])
            after = (last, int(keys[batch.timestamps == last].max()))

    def messages_after(self, after: tuple[int, int] | None) -> Iterator[tuple[Any, Any, Any]]:
        """The rows of ``messages()`` after the (timestamp, id) key ``after`` (None: all of them)."""
        if after is None:
            return self.messages()
        return self._rows(
            "SELECT topic_id, timestamp, data FROM messages WHERE (timestamp, id) > (?, ?) "
            "ORDER BY timestamp, id",
            after,
        )

    def summary(self) -> tuple[int, int, int]:
        """How many messages the file holds, and its first and last timestamps (0 without messages)."""
        row = self._query("SELECT COUNT(*), MIN(timestamp), MAX(timestamp) FROM messages").fetchone()
        count = int(row[0] or 0)
        if not count:
            return 0, 0, 0
        first, last = row[1], row[2]
        if isinstance(first, bool) or not isinstance(first, int) or not isinstance(last, int):
            raise BadLogFile(f"{self.path.name} has message timestamps that are not integers.")
        return count, first, last

    def _read_schema(self) -> None:
        tables = {row[0] for row in self._query("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = sorted({"topics", "messages"} - tables)
        if missing:
            raise BadLogFile(
                f"{self.path.name} is a sqlite database but not rosbag2's: it has no "
                f"{' and no '.join(missing)} table."
            )
        topic_columns = self._columns("topics")
        self._require_columns("topics", topic_columns, ("id", "name", "type", "serialization_format"))
        self._require_columns("messages", self._columns("messages"), ("id", "topic_id", "timestamp", "data"))
        if "schema" in tables:
            row = self._query("SELECT schema_version, ros_distro FROM schema").fetchone()
            self.schema_version = int(row[0]) if row else 3
            self.ros_distro = str(row[1] or "") if row else ""
        else:
            self.schema_version = 2 if "offered_qos_profiles" in topic_columns else 1
        has_qos = "offered_qos_profiles" in topic_columns
        has_hash = "type_description_hash" in topic_columns
        selected = ", ".join(
            [
                "id, name, type, serialization_format",
                "offered_qos_profiles" if has_qos else "NULL",
                "type_description_hash" if has_hash else "NULL",
            ]
        )
        self.topics = [
            Db3Topic(int(row[0]), str(row[1]), str(row[2]), str(row[3]), _text(row[4]), _text(row[5]))
            for row in self._query(f"SELECT {selected} FROM topics ORDER BY id")
        ]
        if "message_definitions" in tables:
            self._require_columns(
                "message_definitions",
                self._columns("message_definitions"),
                ("id", "topic_type", "encoding", "encoded_message_definition", "type_description_hash"),
            )
            self.message_definitions = [
                Db3MessageDefinition(str(row[0]), str(row[1]), str(row[2]), str(row[3] or ""))
                for row in self._query(
                    "SELECT topic_type, encoding, encoded_message_definition, type_description_hash "
                    "FROM message_definitions ORDER BY id"
                )
            ]

    def _columns(self, table: str) -> set[str]:
        return {str(row[1]) for row in self._query(f"PRAGMA table_info({table})")}

    def _require_columns(self, table: str, columns: set[str], required: tuple[str, ...]) -> None:
        missing = [column for column in required if column not in columns]
        if missing:
            raise BadLogFile(
                f"{self.path.name} is not a rosbag2 sqlite3 file: its {table} table has no column "
                f"{', '.join(missing)}."
            )

    def _query(self, sql: str, parameters: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        if self._connection is None:
            raise RuntimeError("the database is not open")
        try:
            return self._connection.execute(sql, parameters)
        except sqlite3.Error as error:
            raise BadLogFile(f"{self.path.name} cannot be read as a sqlite3 database: {error}.") from error


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class MessageBatch:
    """Messages of a ``.db3`` in (timestamp, id) order: their topic ids, timestamps (ns) and lengths,
    and their bytes one after the other; read after the (timestamp, id) key ``after`` (None: before
    the first row). An irregular batch holds a row that is not rosbag2's, and nothing else."""

    topic_ids: npt.NDArray[np.int64]
    timestamps: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]
    data: bytes
    after: tuple[int, int] | None
    irregular: bool = False

    @classmethod
    def irregular_after(cls, after: tuple[int, int] | None) -> MessageBatch:
        empty = np.zeros(0, dtype=np.int64)
        return cls(empty, empty, empty, b"", after, irregular=True)

    def __len__(self) -> int:
        return len(self.timestamps)


def _integers(text: str | None) -> npt.NDArray[np.int64]:
    """The integers of sqlite's ``group_concat`` (comma-separated decimal text), read by numpy's text
    parser: a fifth of the time of splitting the text and converting the pieces (which made a third of
    a small-message conversion's time). Text it cannot read to its end is a ``BadLogFile``."""
    if not text:
        return np.zeros(0, dtype=np.int64)
    try:
        return np.fromstring(text, dtype=np.int64, sep=",")
    except ValueError as error:
        raise BadLogFile(f"A batch of messages has integers numpy cannot read: {error}.") from error


def _in_order(ids: npt.NDArray[np.int64], batch: MessageBatch) -> MessageBatch:
    """The batch in (timestamp, id) order: sqlite concatenates in the order its subquery gives rows,
    which it does not promise, so a batch out of order is put in order."""
    times = batch.timestamps
    steps = np.diff(times)
    if np.all((steps > 0) | ((steps == 0) & (np.diff(ids) > 0))):
        return batch
    order = np.lexsort((ids, times))
    ids[:] = ids[order]
    starts = np.cumsum(batch.lengths) - batch.lengths
    data = b"".join(
        batch.data[start : start + length]
        for start, length in zip(starts[order].tolist(), batch.lengths[order].tolist(), strict=True)
    )
    return MessageBatch(batch.topic_ids[order], times[order], batch.lengths[order], data, batch.after)
