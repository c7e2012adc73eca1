"""Windowed reads of a topic's records: time windows, paging, counts and frequency thinning.

A page is read from the record blocks of the buckets its window overlaps. Without per-row filters it is
found as columns (runs of block rows, no object per row) and counted from the blocks' stored row counts
(decision 32); with filters or ``frequency`` the window's rows are walked in order.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID

import numpy as np
import numpy.typing as npt

from openlqs.domain.filtering import Predicate, compile_filters
from openlqs.domain.ports import RecordRepository, ResourceRepository
from openlqs.domain.resources import TOPIC
from openlqs.errors import NotFound
from openlqs.models.common import INT64_MAX, INT64_MIN
from openlqs.models.records import RecordListParams
from openlqs.models.resources import Topic
from openlqs.records.blocks import RecordBlock
from openlqs.records.codec import span_of
from openlqs.records.rows import RecordRow, bucket_of

#: Per-record fields kept in a row's ``extra``.
EXTRA_FIELDS = ("note", "context", "query_data", "auxiliary_data", "error")
#: Filters answered from the time window rather than per row.
_WINDOW_FILTERS = frozenset({"timestamp", "timestamp_gt", "timestamp_gte", "timestamp_lt", "timestamp_lte"})
_NOT_FILTERS = frozenset({"include_auxiliary_data", "include_raw_data", "frequency", "log_id"})
#: A window that holds no timestamp (low above high).
_EMPTY = (0, -1)

#: A page's rows from one block: the block and the rows' indexes in it, in page order.
Run = tuple[RecordBlock, npt.NDArray[np.intp]]
#: One record of a page as stored: its block and its row.
Pair = tuple[RecordBlock, RecordRow]


#: Topics whose log and bucket width a warm function keeps (a few hundred bytes each).
_TOPIC_REFS = 4096


class TopicRef(NamedTuple):
    """The fields of a topic a record list needs; none of them ever change."""

    id: UUID
    log_id: UUID
    width: int


@dataclass(frozen=True)
class WindowPage:
    """A page of a topic's records, as runs of block rows (the columnar path) or as (block, row) pairs,
    and how many records the query selects (with ``include_count``)."""

    topic: Topic | TopicRef
    count: int | None
    runs: list[Run] | None = None
    pairs: list[Pair] | None = None

    def rows(self) -> Iterator[Pair]:
        """The page's records in order, as (block, row) pairs."""
        if self.pairs is not None:
            yield from self.pairs
        else:
            yield from run_rows(self.runs or [])


def bucket_width(topic: Topic, default: int) -> int:
    """A topic's record bucket width (chosen when it was made; ``default`` for older topics)."""
    return int(topic._internal.get("bucket_width_ns") or default)


def _window(params: RecordListParams) -> tuple[int | None, int | None]:
    """The inclusive [low, high] timestamp window the parameters select (None: unbounded).

    Both ends are Int64s, as stored timestamps are: ``timestamp_gt`` at the largest Int64 (or
    ``timestamp_lt`` at the smallest) selects nothing, and gives the empty window ``_EMPTY`` rather than a
    bound past the Int64 range, which the blocks' columns cannot be searched with.
    """
    lows = [v for v in (params.timestamp, params.timestamp_gte) if v is not None]
    highs = [v for v in (params.timestamp, params.timestamp_lte) if v is not None]
    if params.timestamp_gt is not None:
        lows.append(params.timestamp_gt + 1)
    if params.timestamp_lt is not None:
        highs.append(params.timestamp_lt - 1)
    low, high = (max(lows) if lows else None), (min(highs) if highs else None)
    if (low is not None and low > INT64_MAX) or (high is not None and high < INT64_MIN):
        return _EMPTY
    return low, high


def _row_view(row: RecordRow) -> dict[str, Any]:
    """A row as the filter engine sees it (the record's wire fields)."""
    extra = row.extra or {}
    return {
        **row.located(),
        "updated_at": extra.get("updated_at"),
        "workflow_id": None,
        **{name: extra.get(name) for name in EXTRA_FIELDS},
    }


class RecordWindows:
    """Pages of records of topics; a warm function keeps each topic's log and bucket width."""

    def __init__(
        self, resources: ResourceRepository, records: RecordRepository, *, default_bucket_width_ns: int
    ) -> None:
        self.resources = resources
        self.records = records
        self.default_bucket_width_ns = default_bucket_width_ns
        self._refs: dict[UUID, TopicRef] = {}

    def topic(self, topic_id: UUID) -> Topic:
        return self.resources.get(TOPIC, topic_id)

    def width(self, topic: Topic) -> int:
        """The topic's record bucket width."""
        return bucket_width(topic, self.default_bucket_width_ns)

    def _ref(self, topic_id: UUID) -> tuple[TopicRef, bool]:
        """What a list needs of a topic, and whether it came from this process's cache (fields that never
        change: its log and bucket width; whether it still exists is checked when its window is empty)."""
        ref = self._refs.get(topic_id)
        if ref is not None:
            return ref, True
        topic = self.topic(topic_id)
        ref = self._refs[topic_id] = TopicRef(topic.id, topic.log_id, self.width(topic))
        while len(self._refs) > _TOPIC_REFS:
            self._refs.pop(next(iter(self._refs)))
        return ref, False

    def page(self, topic_id: UUID, params: RecordListParams) -> WindowPage:
        """The page ``params`` select and, with ``include_count``, how many records they select: as runs
        of block rows on the columnar path (a time window without per-row filters), else as pairs."""
        ref, cached = self._ref(topic_id)
        if params.log_id is not None and params.log_id != ref.log_id:
            if cached:
                self._exists(topic_id)
            return WindowPage(ref, 0 if params.include_count else None, runs=[])
        low, high = _window(params)
        filters = {
            k: v for k, v in params.filters().items() if k not in _WINDOW_FILTERS and k not in _NOT_FILTERS
        }
        if filters.pop("altered", None) is not None:
            filters["updated_at_null"] = not params.altered
        predicates = compile_filters(filters)
        if not predicates and params.frequency is None:
            count, runs, seen = self._list_window(ref, low, high, params)
            if cached and not seen:
                self._exists(topic_id)
            return WindowPage(ref, count, runs=runs)
        topic = self.topic(topic_id)
        page: list[tuple[RecordBlock, RecordRow]] = []
        count, skip = 0, params.offset
        width = self.width(topic)
        stream = self._rows(topic, low, high, width, params.descending, predicates)
        if params.frequency is not None:
            stream = downsample(stream, int(1e9 / params.frequency), params.descending)
        for block, row in stream:
            count += 1
            if skip:
                skip -= 1
            elif len(page) < params.limit:
                page.append((block, row))
            elif not params.include_count:
                break
        return WindowPage(topic, count if params.include_count else None, pairs=page)

    def _exists(self, topic_id: UUID) -> None:
        """Raise ``NotFound`` (and forget the topic) when it was deleted since it was cached."""
        try:
            self.topic(topic_id)
        except NotFound:
            self._refs.pop(topic_id, None)
            raise

    def _list_window(
        self,
        topic: TopicRef,
        low: int | None,
        high: int | None,
        params: RecordListParams,
    ) -> tuple[int | None, list[Run], bool]:
        """A page of the records in [low, high] without per-row filters, as runs of rows of blocks
        searched as columns (no object per row), and whether the window had blocks. The count takes
        the blocks the page's reads already fetched; the rest comes from the stored row counts
        (``BlockStats``), never from decoding blocks wholly inside the window."""
        if low is not None and high is not None and low > high:
            return (0 if params.include_count else None), [], False
        width = topic.width
        first = None if low is None else bucket_of(low, width)
        last = None if high is None else bucket_of(high, width)
        wanted = params.offset + params.limit
        if wanted == 0:
            count = self._window_count(topic.id, low, high, first, last) if params.include_count else None
            return count, [], bool(count)
        page: list[Run] = []
        position = 0  # rows of the window in the buckets taken so far
        stream = self.records.blocks(topic.id, first, last, descending=params.descending)
        bucket: list[RecordBlock] = []
        seen = False
        ahead: RecordBlock | None = None  # the first block of the next bucket, once the page is full
        for block in stream:
            seen = True
            if bucket and block.bucket != bucket[0].bucket:
                position, page = self._take(bucket, low, high, params, position, page)
                bucket = []
                if position >= wanted:
                    ahead = block
                    break
            bucket.append(block)
        else:
            position, page = self._take(bucket, low, high, params, position, page)
        if not params.include_count or ahead is None:
            return (position if params.include_count else None), page, seen
        # Count the blocks already read; the last bucket read may go on in the next Query page.
        held = [ahead, *(next(stream) for _ in range(stream.buffered()))]
        if stream.exhausted():
            return position + sum(_window_size(b, low, high) for b in held), page, True
        cut = held[-1].bucket
        position += sum(_window_size(b, low, high) for b in held if b.bucket != cut)
        if params.descending:
            return position + self._window_count(topic.id, low, high, first, cut), page, True
        return position + self._window_count(topic.id, low, high, cut, last), page, True

    @staticmethod
    def _take(
        blocks: list[RecordBlock],
        low: int | None,
        high: int | None,
        params: RecordListParams,
        position: int,
        page: list[Run],
    ) -> tuple[int, list[Run]]:
        """One bucket's part of the page (when the page reaches into it) and the new position."""
        if not blocks:
            return position, page
        spans = [_span(block, low, high) for block in blocks]
        size = sum(stop - start for start, stop in spans)
        if position + size > params.offset and position < params.offset + params.limit:
            skip = max(params.offset - position, 0)
            take = params.offset + params.limit - position - skip
            page.extend(bucket_page(blocks, spans, skip, take, params.descending))
        return position + size, page

    def _window_count(
        self, topic_id: UUID, low: int | None, high: int | None, first: int | None, last: int | None
    ) -> int:
        """Records in [low, high] within buckets [first, last]: stored row counts of the blocks wholly
        inside the window; the blocks of a bucket reaching past it are read and searched."""
        if first is not None and last is not None and first > last:
            return 0
        inside: dict[int, int] = defaultdict(int)
        edges: set[int] = set()
        for stats in self.records.block_stats(topic_id, first, last):
            if stats.within(low, high):
                inside[stats.bucket] += stats.n
            elif (low is None or stats.max_ts >= low) and (high is None or stats.min_ts <= high):
                edges.add(stats.bucket)
        # A bucket with a block reaching past the window is counted from its blocks' rows.
        count = sum(n for bucket, n in inside.items() if bucket not in edges)
        for bucket in sorted(edges):
            for block in self.records.bucket_blocks(topic_id, bucket):
                start, stop = _span(block, low, high)
                count += stop - start
        return count

    def _rows(
        self,
        topic: Topic,
        low: int | None,
        high: int | None,
        width: int,
        descending: bool,
        predicates: list[Predicate],
    ) -> Iterator[tuple[RecordBlock, RecordRow]]:
        """Rows in the window, in time order (file order within a timestamp), bucket by bucket."""
        if low is not None and high is not None and low > high:
            return
        first = None if low is None else bucket_of(low, width)
        last = None if high is None else bucket_of(high, width)
        pending: list[RecordBlock] = []
        for block in self.records.blocks(topic.id, first, last, descending=descending):
            if pending and block.bucket != pending[0].bucket:
                yield from self._bucket_rows(pending, low, high, descending, predicates)
                pending = []
            pending.append(block)
        if pending:
            yield from self._bucket_rows(pending, low, high, descending, predicates)

    @staticmethod
    def _bucket_rows(
        blocks: Iterable[RecordBlock],
        low: int | None,
        high: int | None,
        descending: bool,
        predicates: list[Predicate],
    ) -> Iterator[tuple[RecordBlock, RecordRow]]:
        rows = [
            (block, row)
            for block in blocks
            for row in block.rows
            if (low is None or row.timestamp >= low) and (high is None or row.timestamp <= high)
        ]
        rows.sort(key=lambda pair: (pair[1].order_key(), pair[0].segment), reverse=descending)
        for block, row in rows:
            if not predicates or all(p.test(_row_view(row)) for p in predicates):
                yield block, row


def _span(block: RecordBlock, low: int | None, high: int | None) -> tuple[int, int]:
    """The block's rows [start, stop) in [low, high]; without decoding when it lies wholly inside."""
    if block.within(low, high):
        return 0, block.count
    return span_of(block.timestamps, low, high)


def _window_size(block: RecordBlock, low: int | None, high: int | None) -> int:
    start, stop = _span(block, low, high)
    return stop - start


def bucket_page(
    blocks: list[RecordBlock], spans: list[tuple[int, int]], skip: int, take: int, descending: bool
) -> list[Run]:
    """Rows ``skip`` to ``skip + take`` of one bucket's window, in time order (file order within a
    timestamp, then segment), as runs of one block's rows."""
    if take <= 0:
        return []
    if len(blocks) == 1:
        (block,), ((start, stop),) = blocks, spans
        if descending:
            first, last = max(stop - skip - take, start), stop - skip
            return [(block, np.arange(last - 1, first - 1, -1))] if last > first else []
        first, last = start + skip, min(start + skip + take, stop)
        return [(block, np.arange(first, last))] if last > first else []
    # Several writers' blocks share the bucket: merge their order keys, then take the page's slice.
    keys: list[list[Any]] = [[], [], [], [], []]
    by_segment = sorted(zip(blocks, spans, strict=True), key=lambda pair: pair[0].segment)
    for rank, (block, (start, stop)) in enumerate(by_segment):
        timestamps, positions, chunk_offsets = block.columns.order_keys()
        keys[0].append(timestamps[start:stop])
        keys[1].append(positions[start:stop])
        keys[2].append(chunk_offsets[start:stop])
        keys[3].append(np.full(stop - start, rank))
        keys[4].append(np.arange(start, stop))
    ranks, rows_at = np.concatenate(keys[3]), np.concatenate(keys[4])
    order = np.lexsort((ranks, np.concatenate(keys[2]), np.concatenate(keys[1]), np.concatenate(keys[0])))
    if descending:
        order = order[::-1]
    chosen = order[skip : skip + take]
    chosen_ranks, chosen_rows = ranks[chosen], rows_at[chosen]
    # Consecutive rows of one block make one run.
    cuts = [0, *(np.flatnonzero(chosen_ranks[1:] != chosen_ranks[:-1]) + 1).tolist(), len(chosen)]
    return [
        (by_segment[int(chosen_ranks[begin])][0], chosen_rows[begin:end])
        for begin, end in itertools.pairwise(cuts)
        if end > begin
    ]


def run_rows(runs: Iterable[Run]) -> Iterator[tuple[RecordBlock, RecordRow]]:
    """The rows of ``runs`` as objects, in order."""
    for block, indexes in runs:
        for row in block.columns.take(indexes).rows():
            yield block, row


def downsample(
    rows: Iterator[tuple[RecordBlock, RecordRow]], period_ns: int, descending: bool
) -> Iterator[tuple[RecordBlock, RecordRow]]:
    """The first record of each ``period_ns`` window (aligned to multiples of the period), in order."""
    period_ns = max(period_ns, 1)
    if not descending:
        current = None
        for pair in rows:
            window = pair[1].timestamp // period_ns
            if window != current:
                current = window
                yield pair
        return
    candidate: tuple[RecordBlock, RecordRow] | None = None
    for pair in rows:
        if candidate is not None and pair[1].timestamp // period_ns != candidate[1].timestamp // period_ns:
            yield candidate
        candidate = pair
    if candidate is not None:
        yield candidate
