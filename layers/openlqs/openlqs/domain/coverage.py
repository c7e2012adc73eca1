"""When a topic has data: its records counted in time bins, from its record blocks.

Every record block item keeps its row count and first and last timestamps (decision 32), and the
``BlockStats`` index holds only those, ~60 bytes a block. A window that few blocks reach (at most
:data:`EXACT_BLOCKS`) is counted exactly from those blocks' timestamp columns: one Query call of
typically a few hundred kilobytes (~4 bytes a record), and a gap inside a block shows. A window that
more blocks reach is counted from the index alone, reading no block: each block's records are taken
as spread evenly over its time range, so a bin that no block reaches holds no record (a gap between
blocks is exact) and a bin's count is an estimate; with that many blocks, each spans a small part of
the window. Either way no record is listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

import numpy as np
import numpy.typing as npt

from openlqs.domain.ports import RecordRepository
from openlqs.errors import BadRequest
from openlqs.records.rows import BlockStats, bucket_of

#: A window that at most this many blocks reach is counted from their timestamps.
EXACT_BLOCKS = 32


@dataclass(frozen=True)
class Coverage:
    """Records of one topic per time bin: bin ``i`` is [``start`` + i·``bin_width``, + ``bin_width``),
    the last one ending at ``end`` (exclusive)."""

    topic_id: UUID
    start: int | None
    end: int | None
    bin_width: int | None
    counts: list[float]
    block_count: int
    #: True when counted from the blocks' timestamps; false when estimated from their statistics.
    exact: bool = True


def bin_edges(start: int, end: int, bins: int) -> list[int]:
    """``bins`` + 1 integer edges from ``start`` to ``end`` (exclusive), every bin ``ceil`` wide but the
    last, which ends at ``end``; fewer bins when the window holds fewer nanoseconds."""
    if end <= start:
        raise ValueError("an empty window has no bins")
    bins = max(1, min(bins, end - start))
    width = -(-(end - start) // bins)
    edges = [start + k * width for k in range(bins) if start + k * width < end]
    return [*edges, end]


def spread_counts(stats: Iterable[BlockStats], edges: list[int]) -> tuple[list[float], int]:
    """Each block's ``n`` records spread evenly over [``min_ts``, ``max_ts`` + 1), summed per bin of
    ``edges``; returns the counts and how many blocks reached the window.

    The cumulative count C(t) = Σ nᵢ · clip((t - aᵢ) / dᵢ, 0, 1) is piecewise linear, so it is
    evaluated at the edges from sorted block starts and ends (cumulative sums and binary search), in
    O((blocks + bins) · log blocks): a topic of 10,000 blocks on 2,000 bins takes milliseconds, where
    adding each block to each bin it spans would take seconds. Times are taken relative to the first
    edge so that float64 keeps nanoseconds over any window shorter than ~100 days.
    """
    origin, stop = edges[0], edges[-1]
    starts: list[int] = []
    ends: list[int] = []
    counts: list[int] = []
    for block in stats:
        if block.n <= 0 or block.max_ts < origin or block.min_ts >= stop:
            continue
        starts.append(block.min_ts - origin)
        ends.append(block.max_ts + 1 - origin)
        counts.append(block.n)
    if not starts:
        return [0.0] * (len(edges) - 1), 0
    a = np.asarray(starts, dtype=np.float64)
    b = np.asarray(ends, dtype=np.float64)
    n = np.asarray(counts, dtype=np.float64)
    rate = n / (b - a)
    t = np.asarray([edge - origin for edge in edges], dtype=np.float64)
    cumulative = _ramps(t, a, rate) - _ramps(t, b, rate)
    per_bin = np.maximum(np.diff(cumulative), 0.0)
    return [round(float(value), 3) for value in per_bin], len(starts)


def exact_counts(timestamps: Iterable[npt.NDArray[np.int64]], edges: list[int]) -> list[float]:
    """Timestamps counted per bin of ``edges`` (each bin [edge, next edge))."""
    bounds = np.asarray(edges, dtype=np.int64)
    total = np.zeros(len(edges) - 1, dtype=np.int64)
    for column in timestamps:
        positions = np.searchsorted(bounds, column, side="right") - 1
        inside = positions[(positions >= 0) & (positions < len(total))]
        total += np.bincount(inside, minlength=len(total))
    return [float(count) for count in total]


def _ramps(t: np.ndarray, at: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Σ rateᵢ · max(t - atᵢ, 0) for every t."""
    order = np.argsort(at, kind="stable")
    at, rate = at[order], rate[order]
    slope = np.concatenate(([0.0], np.cumsum(rate)))
    offset = np.concatenate(([0.0], np.cumsum(rate * at)))
    reached = np.searchsorted(at, t, side="right")
    result: np.ndarray = t * slope[reached] - offset[reached]
    return result


class TopicCoverage:
    """A topic's coverage from its blocks (``RecordRepository.block_stats`` and ``blocks``)."""

    def __init__(self, records: RecordRepository) -> None:
        self.records = records

    def coverage(
        self,
        topic_id: UUID,
        width: int,
        default_window: tuple[int | None, int | None],
        start: int | None,
        end: int | None,
        bins: int,
    ) -> Coverage:
        """Bins of [``start``, ``end``), each bound defaulting to the topic's first record and the
        nanosecond after its last (``default_window``); no bins when the topic has no record and no
        bound was given."""
        first, last = default_window
        low = start if start is not None else first
        high = end if end is not None else (last + 1 if last is not None else None)
        if low is None or high is None:
            if start is None and end is None:
                return Coverage(topic_id, None, None, None, [], 0)
            raise BadRequest(
                "Give both timestamp_gte and timestamp_lt: the topic has no records to bound it."
            )
        if high <= low:
            raise BadRequest(f"timestamp_lt ({high}) must be after timestamp_gte ({low}).")
        edges = bin_edges(low, high, bins)
        first, last = bucket_of(low, width), bucket_of(high - 1, width)
        stats = list(self.records.block_stats(topic_id, first, last))
        reaching = [block for block in stats if block.n > 0 and block.max_ts >= low and block.min_ts < high]
        if len(reaching) <= EXACT_BLOCKS:
            columns = (block.timestamps for block in self.records.blocks(topic_id, first, last))
            counts = exact_counts(columns, edges)
            return Coverage(topic_id, low, high, edges[1] - edges[0], counts, len(reaching), exact=True)
        counts, blocks = spread_counts(stats, edges)
        return Coverage(topic_id, low, high, edges[1] - edges[0], counts, blocks, exact=False)
