"""Selecting a digestion's records from the record blocks, as columns (never one read per record).

Each digestion topic reads the blocks of the buckets its window overlaps (a Query call per ~100 blocks),
takes each block's rows in the window by binary search on its timestamps, keeps the rows its filters
accept (only rows with stored ``query_data``/``context`` can match a filter on them, as in record lists),
then thins them by ``frequency`` as a record list does (the first record of each period, periods aligned
to the epoch). The topics' selections are merged in time order (file order within a timestamp), a
record selected twice (two overlapping windows of one topic) once.

Records that point into no object (created through the API without offsets, or of no ingestion) cannot
be written to a part's blob and are left out, counted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from openlqs.domain.filtering import Predicate, compile_filters
from openlqs.domain.ports import RecordRepository
from openlqs.domain.record_windows import RecordWindows, bucket_width
from openlqs.models.digestions import DigestionTopic
from openlqs.models.records import RecordListParams
from openlqs.models.resources import Topic
from openlqs.records.codec import BlockColumns
from openlqs.records.part_index import PartIndex
from openlqs.records.rows import NO_POSITION, bucket_of

_NULL = -1
_FILTERS = ("query_data_filter", "context_filter")


@dataclass
class Selection:
    """A digestion's records in order, and how many records of its windows were left out."""

    index: PartIndex
    skipped: int = 0


class _Tables:
    """The string tables of records gathered from many blocks (each block has its own)."""

    def __init__(self) -> None:
        self.compressions: dict[str, int] = {}
        self.sources: dict[str, int] = {}
        self.ingestions: dict[str, int] = {}

    @staticmethod
    def _remap(
        table: list[str], into: dict[str, int], indexes: npt.NDArray[np.int32]
    ) -> npt.NDArray[np.int32]:
        # Index -1 (null) stays -1: it picks the mapping's last item.
        mapping = np.array([into.setdefault(value, len(into)) for value in table] + [_NULL], dtype=np.int32)
        return mapping[indexes]

    def remap(self, columns: BlockColumns) -> tuple[npt.NDArray[np.int32], ...]:
        return (
            self._remap(columns.compressions, self.compressions, columns.compression_ix),
            self._remap(columns.sources, self.sources, columns.source_ix),
            self._remap(columns.ingestions, self.ingestions, columns.ingestion_ix),
        )


def _predicates(entry: DigestionTopic) -> list[Predicate]:
    """The digestion topic's filters as record-list predicates (its filters are JSON objects)."""
    given = {name: getattr(entry, name) for name in _FILTERS if getattr(entry, name) is not None}
    return compile_filters({name: json.dumps(value) for name, value in given.items()})


def _accepted(columns: BlockColumns, rows: range, predicates: Sequence[Predicate]) -> npt.NDArray[np.bool_]:
    """Which of ``rows`` the predicates accept: rows with extras one by one, the others all at once."""
    if not predicates:
        return np.ones(len(rows), dtype=bool)

    def passes(extra: dict[str, Any] | None) -> bool:
        view = {"query_data": (extra or {}).get("query_data"), "context": (extra or {}).get("context")}
        return all(predicate.test(view) for predicate in predicates)

    keep = np.full(len(rows), passes(None), dtype=bool)
    for row, extra in columns.extras.items():
        if rows.start <= row < rows.stop:
            keep[row - rows.start] = passes(extra)
    return keep


def thin(timestamps: npt.NDArray[np.int64], frequency: float) -> npt.NDArray[np.bool_]:
    """The first record of each ``1 / frequency`` period (aligned to the epoch), of records in time
    order: the records a record list with ``frequency`` returns."""
    period = max(int(1e9 / frequency), 1)
    windows = timestamps // period
    keep = np.ones(len(timestamps), dtype=bool)
    keep[1:] = windows[1:] != windows[:-1]
    return keep


class RecordSelector:
    """Reads digestion topics' records from the record blocks (``records``)."""

    def __init__(
        self, records: RecordRepository, windows: RecordWindows, *, default_bucket_width_ns: int
    ) -> None:
        self.records = records
        self.windows = windows
        self.default_bucket_width_ns = default_bucket_width_ns

    def select(self, entries: Sequence[tuple[DigestionTopic, Topic]]) -> Selection:
        """Every record the digestion topics select, merged in time order, as one index."""
        tables = _Tables()
        topics: dict[str, int] = {}
        gathered: list[dict[str, npt.NDArray[Any]]] = []
        skipped = 0
        for entry, topic in entries:
            topic_ix = topics.setdefault(str(topic.id), len(topics))
            columns, left_out = self._topic(entry, topic, tables)
            skipped += left_out
            columns["topic"] = np.full(len(columns["timestamps"]), topic_ix, dtype=np.int32)
            gathered.append(columns)
        return Selection(_merged(gathered, tables, list(topics)), skipped)

    def _topic(
        self, entry: DigestionTopic, topic: Topic, tables: _Tables
    ) -> tuple[dict[str, npt.NDArray[Any]], int]:
        """One digestion topic's records in order, as columns (string columns remapped to ``tables``)."""
        low, high = entry.start_time, entry.end_time
        width = bucket_width(topic, self.default_bucket_width_ns)
        first = None if low is None else bucket_of(low, width)
        last = None if high is None else bucket_of(high, width)
        predicates = _predicates(entry)
        pieces: list[dict[str, npt.NDArray[Any]]] = []
        ranks: dict[str, int] = {}
        for block in self.records.blocks(topic.id, first, last):
            stored = block.columns
            start, stop = stored.span(low, high)
            if stop <= start:
                continue
            keep = _accepted(stored, range(start, stop), predicates)
            part = stored.slice(start, stop)
            compression_ix, source_ix, ingestion_ix = tables.remap(part)
            piece: dict[str, npt.NDArray[Any]] = {
                "timestamps": part.timestamps,
                "data_offsets": part.data_offsets,
                "data_lengths": part.data_lengths,
                "chunk_offsets": part.chunk_offsets,
                "chunk_lengths": part.chunk_lengths,
                "compression_ix": compression_ix,
                "source_ix": source_ix,
                "ingestion_ix": ingestion_ix,
                "rank": np.full(stop - start, ranks.setdefault(block.segment, len(ranks)), dtype=np.int32),
            }
            pieces.append({name: values[keep] for name, values in piece.items()})
        if not pieces:
            return _empty(), 0
        columns = {name: np.concatenate([piece[name] for piece in pieces]) for name in pieces[0]}
        # Time order, file order within a timestamp, then the writer's segment (as record lists order).
        positions = np.where(columns["data_offsets"] == _NULL, NO_POSITION, columns["data_offsets"])
        order = np.lexsort((columns["rank"], columns["chunk_offsets"], positions, columns["timestamps"]))
        columns = {name: values[order] for name, values in columns.items()}
        if entry.frequency is not None:
            keep = thin(columns["timestamps"], entry.frequency)
            columns = {name: values[keep] for name, values in columns.items()}
        readable = (columns["data_offsets"] != _NULL) & (columns["data_lengths"] != _NULL)
        readable &= columns["ingestion_ix"] != _NULL
        left_out = int((~readable).sum())
        columns = {name: values[readable] for name, values in columns.items()}
        del columns["rank"]
        return columns, left_out

    def latched(self, entry: DigestionTopic, topic: Topic) -> PartIndex | None:
        """The topic's last record before the digestion topic's window that its filters accept and that
        points into an object (None when there is none, or the window has no start)."""
        if entry.start_time is None:
            return None
        params = RecordListParams(
            timestamp_lt=entry.start_time,
            sort="desc",
            limit=1,
            include_count=False,
            **{
                name: json.dumps(getattr(entry, name))
                for name in _FILTERS
                if getattr(entry, name) is not None
            },
        )
        for _, row in self.windows.page(topic.id, params).rows():
            if row.data_offset is None or row.data_length is None or row.ingestion_id is None:
                return None
            return PartIndex(
                BlockColumns.from_rows([row]),
                np.zeros(1, dtype=np.int32),
                [str(topic.id)],
            )
        return None


def _empty() -> dict[str, npt.NDArray[Any]]:
    int64s = ("timestamps", "data_offsets", "data_lengths", "chunk_offsets", "chunk_lengths")
    int32s = ("compression_ix", "source_ix", "ingestion_ix")
    return {
        **{name: np.zeros(0, dtype=np.int64) for name in int64s},
        **{name: np.zeros(0, dtype=np.int32) for name in int32s},
    }


def _merged(gathered: list[dict[str, npt.NDArray[Any]]], tables: _Tables, topics: list[str]) -> PartIndex:
    """The topics' columns in one time order; a record two windows of one topic select, once."""
    if gathered:
        columns = {name: np.concatenate([g[name] for g in gathered]) for name in gathered[0]}
    else:
        columns = {**_empty(), "topic": np.zeros(0, dtype=np.int32)}
    positions = np.where(columns["data_offsets"] == _NULL, NO_POSITION, columns["data_offsets"])
    keys = (
        columns["topic"],
        columns["source_ix"],
        columns["ingestion_ix"],
        columns["chunk_offsets"],
        positions,
        columns["timestamps"],
    )
    order = np.lexsort(keys)
    columns = {name: values[order] for name, values in columns.items()}
    if len(order) > 1:
        ordered = [key[order] for key in keys]
        repeated = np.ones(len(order), dtype=bool)
        repeated[0] = False
        for key in ordered:
            repeated[1:] &= key[1:] == key[:-1]
        columns = {name: values[~repeated] for name, values in columns.items()}
    block = BlockColumns(
        columns["timestamps"],
        columns["data_offsets"],
        columns["data_lengths"],
        columns["chunk_offsets"],
        columns["chunk_lengths"],
        columns["compression_ix"],
        columns["source_ix"],
        columns["ingestion_ix"],
        list(tables.compressions),
        list(tables.sources),
        list(tables.ingestions),
    )
    return PartIndex(block, columns["topic"], topics)
