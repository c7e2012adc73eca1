"""A topic's coverage from block statistics: bins, exact gaps, and counts spread within blocks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

import numpy as np
import numpy.typing as npt
import pytest

from openlqs.domain.coverage import TopicCoverage, bin_edges, exact_counts, spread_counts
from openlqs.errors import BadRequest
from openlqs.records.rows import BlockStats

TOPIC = UUID("7e57e57e-0000-4000-8000-000000000001")
S = 1_000_000_000
T0 = 1_396_293_887_844_783_943  # example.bag's first record: float64 alone would lose its nanoseconds


def block(n: int, first: int, last: int, bucket: int = 0) -> BlockStats:
    return BlockStats(bucket, "seg", n, first, last)


def test_bin_edges_cut_the_window_into_ceil_wide_bins_ending_at_its_end() -> None:
    assert bin_edges(0, 10, 3) == [0, 4, 8, 10]
    assert bin_edges(T0, T0 + 10 * S, 10) == [T0 + k * S for k in range(11)]
    # Never more bins than nanoseconds
    assert bin_edges(5, 7, 100) == [5, 6, 7]
    with pytest.raises(ValueError):
        bin_edges(5, 5, 1)


def test_spread_counts_keeps_every_record_of_blocks_inside_the_window() -> None:
    edges = bin_edges(T0, T0 + 10 * S, 10)
    stats = [block(100, T0, T0 + 2 * S - 1), block(50, T0 + 5 * S, T0 + 5 * S)]

    counts, blocks = spread_counts(stats, edges)

    assert blocks == 2
    assert counts[0] == pytest.approx(50) and counts[1] == pytest.approx(50)
    assert counts[5] == pytest.approx(50)  # a block of one timestamp lands in one bin
    assert sum(counts) == pytest.approx(150)


def test_spread_counts_leaves_gaps_at_exactly_zero() -> None:
    # Given records in the first and last seconds only
    edges = bin_edges(T0, T0 + 10 * S, 10)
    stats = [block(8000, T0, T0 + S - 1), block(8000, T0 + 9 * S, T0 + 10 * S - 1)]

    counts, _ = spread_counts(stats, edges)

    # Then every bin between them is 0, not a rounding residue
    assert counts[1:9] == [0.0] * 8
    assert counts[0] == pytest.approx(8000) and counts[9] == pytest.approx(8000)


def test_spread_counts_takes_the_part_of_a_block_inside_the_window() -> None:
    # Given a block of 100 records over 10 s, and a window over its last 5 s
    edges = bin_edges(T0 + 5 * S, T0 + 10 * S, 5)
    stats = [block(100, T0, T0 + 10 * S - 1), block(7, T0 + 20 * S, T0 + 21 * S), block(0, T0, T0)]

    counts, blocks = spread_counts(stats, edges)

    assert blocks == 1  # the later block, and an empty one, do not reach it
    assert counts == pytest.approx([10.0] * 5)


def test_spread_counts_of_many_blocks_on_many_bins_is_quick() -> None:
    import time

    edges = bin_edges(T0, T0 + 10_000 * S, 2000)
    stats = [block(8000, T0 + k * S, T0 + (k + 1) * S - 1, bucket=k) for k in range(10_000)]

    started = time.perf_counter()
    counts, blocks = spread_counts(stats, edges)

    assert time.perf_counter() - started < 0.5
    assert blocks == 10_000 and sum(counts) == pytest.approx(80_000_000, rel=1e-6)
    assert all(count == pytest.approx(40_000) for count in counts)


@dataclass
class FakeBlock:
    """A record block as the coverage reads it: its bucket and its timestamps."""

    bucket: int
    timestamps: npt.NDArray[np.int64]


class FakeRecords:
    """The blocks of one topic (and their BlockStats index); remembers what was read."""

    def __init__(self, blocks: list[FakeBlock]) -> None:
        self.stored = blocks
        self.asked: list[tuple[str, int | None, int | None]] = []

    def block_stats(self, topic_id: UUID, first: int | None, last: int | None) -> Iterator[BlockStats]:
        self.asked.append(("stats", first, last))
        for found in self._within(first, last):
            stamps = found.timestamps
            yield BlockStats(found.bucket, "seg", len(stamps), int(stamps.min()), int(stamps.max()))

    def blocks(self, topic_id: UUID, first: int | None, last: int | None) -> Iterator[FakeBlock]:
        self.asked.append(("blocks", first, last))
        return iter(self._within(first, last))

    def _within(self, first: int | None, last: int | None) -> list[FakeBlock]:
        return [
            b
            for b in self.stored
            if (first is None or b.bucket >= first) and (last is None or b.bucket <= last)
        ]


def stamps(*values: int) -> npt.NDArray[np.int64]:
    return np.asarray(values, dtype=np.int64)


def test_topic_coverage_defaults_to_the_topics_span_and_reads_only_its_buckets() -> None:
    width = 10 * S
    blocks = [FakeBlock((T0 + k * S) // width, stamps(T0 + k * S)) for k in range(20)]
    blocks.append(FakeBlock((T0 + 100 * S) // width, stamps(T0 + 100 * S)))  # outside the topic's span
    records = FakeRecords(blocks)

    found = TopicCoverage(records).coverage(  # type: ignore[arg-type]
        TOPIC, width, (T0, T0 + 19 * S), None, None, 20
    )

    assert (found.start, found.end) == (T0, T0 + 19 * S + 1)
    buckets = (T0 // width, (T0 + 19 * S) // width)
    assert records.asked == [("stats", *buckets), ("blocks", *buckets)]
    assert found.counts == [1.0] * 20 and found.block_count == 20 and found.exact


def test_topic_coverage_of_few_blocks_shows_a_gap_inside_a_block() -> None:
    # Given one block whose records sit at its two ends, 10 s apart
    width = 10**12
    ends = stamps(*range(T0, T0 + 10), *range(T0 + 10 * S - 10, T0 + 10 * S))
    records = FakeRecords([FakeBlock(T0 // width, ends)])

    found = TopicCoverage(records).coverage(  # type: ignore[arg-type]
        TOPIC, width, (None, None), T0, T0 + 10 * S, 10
    )

    assert found.exact
    assert found.counts == [10.0, *[0.0] * 8, 10.0]


def test_topic_coverage_of_many_blocks_is_estimated_from_their_statistics_alone() -> None:
    blocks = [FakeBlock(T0 // S + k, stamps(T0 + k * S, T0 + k * S + S // 2)) for k in range(64)]
    records = FakeRecords(blocks)

    found = TopicCoverage(records).coverage(  # type: ignore[arg-type]
        TOPIC, S, (None, None), T0, T0 + 64 * S, 64
    )

    assert not found.exact and found.block_count == 64
    assert [kind for kind, *_ in records.asked] == ["stats"]  # no block was read
    assert found.counts == pytest.approx([2.0] * 64)


def test_topic_coverage_of_a_topic_without_records() -> None:
    coverage = TopicCoverage(FakeRecords([]))  # type: ignore[arg-type]

    empty = coverage.coverage(TOPIC, S, (None, None), None, None, 10)
    window = coverage.coverage(TOPIC, S, (None, None), 0, 10 * S, 10)

    assert (empty.start, empty.counts, empty.bin_width) == (None, [], None)
    assert window.counts == [0.0] * 10 and window.bin_width == S
    with pytest.raises(BadRequest, match="timestamp_gte and timestamp_lt"):
        coverage.coverage(TOPIC, S, (None, None), 5, None, 10)
    with pytest.raises(BadRequest, match="must be after"):
        coverage.coverage(TOPIC, S, (0, 10), 10, 10, 10)


def test_exact_counts_put_each_timestamp_in_its_half_open_bin() -> None:
    edges = [0, 10, 20, 30]

    counts = exact_counts([stamps(-1, 0, 9, 10), stamps(29, 30, 31)], edges)

    assert counts == [2.0, 1.0, 1.0]
