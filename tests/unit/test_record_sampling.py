"""Frequency downsampling: the first record of each epoch-aligned window of 1e9/frequency ns."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from openlqs.records.sampling import first_per_window, window_period_ns, window_start_ns

SECOND = 1_000_000_000
START = 1_700_000_000 * SECOND


@dataclass(frozen=True)
class Row:
    timestamp: int
    index: int


def ten_hz(seconds: int, *, offset: int = 0) -> list[int]:
    return [START + offset + i * SECOND // 10 for i in range(10 * seconds)]


def test_first_per_window_at_1_hz_over_10_hz_keeps_the_first_of_each_second() -> None:
    selected = list(first_per_window(ten_hz(10), 1))

    assert selected == [START + s * SECOND for s in range(10)]


def test_first_per_window_windows_are_aligned_to_the_epoch_not_the_first_record() -> None:
    # Given 10 Hz data starting 0.35 s into a second
    timestamps = ten_hz(3, offset=350_000_000)

    selected = list(first_per_window(timestamps, 1))

    # Then the first window is cut short at the next whole second
    assert selected == [
        START + 350_000_000,
        START + SECOND + 50_000_000,
        START + 2 * SECOND + 50_000_000,
        START + 3 * SECOND + 50_000_000,
    ]


def test_first_per_window_below_1_hz() -> None:
    assert list(first_per_window(ten_hz(30), 0.1)) == [START, START + 10 * SECOND, START + 20 * SECOND]


def test_first_per_window_reads_timestamps_through_key() -> None:
    rows = [Row(timestamp, index) for index, timestamp in enumerate(ten_hz(3))]

    selected = list(first_per_window(rows, 1, key=lambda row: row.timestamp))

    assert [row.index for row in selected] == [0, 10, 20]


@pytest.mark.parametrize("frequency", [10, 20, 1e6, 1e12])
def test_first_per_window_above_the_data_rate_keeps_everything(frequency: float) -> None:
    timestamps = ten_hz(3)

    assert list(first_per_window(timestamps, frequency)) == timestamps


@pytest.mark.parametrize("frequency", [0, -1, math.nan, math.inf, -math.inf])
def test_first_per_window_rejects_a_frequency_that_is_not_finite_and_positive(frequency: float) -> None:
    with pytest.raises(ValueError, match="frequency must be a finite number above 0"):
        first_per_window([START], frequency)


def test_first_per_window_rejects_a_frequency_that_is_not_a_number() -> None:
    with pytest.raises(ValueError, match="must be a number"):
        first_per_window([START], "1")  # type: ignore[call-overload]


def test_first_per_window_rejects_records_going_back_in_time() -> None:
    selection = first_per_window([START, START + 2 * SECOND, START + SECOND], 1)

    with pytest.raises(ValueError, match="ascending time order"):
        list(selection)


def test_first_per_window_from_a_window_boundary_is_a_suffix_of_the_full_selection() -> None:
    timestamps = ten_hz(10, offset=30_000_000)
    full = list(first_per_window(timestamps, 1))

    for start in range(len(timestamps)):
        if timestamps[start] == window_start_ns(timestamps[start], 1):
            continue
        scan_from = window_start_ns(timestamps[start], 1)
        page = list(first_per_window([t for t in timestamps if t >= scan_from], 1, since=timestamps[start]))
        assert page == full[len(full) - len(page) :]
        assert page == [t for t in full if t >= timestamps[start]]


@pytest.mark.parametrize("frequency", [0.3, 1, 2.5, 7])
def test_first_per_window_pages_from_any_start_are_suffixes_of_the_full_selection(frequency: float) -> None:
    # Given irregular timestamps (10 Hz with jitter) and the full selection
    timestamps = [START + i * SECOND // 10 + (i * 7919 % 13) * 1_000_000 for i in range(100)]
    full = list(first_per_window(timestamps, frequency))

    for start in timestamps:
        # When a page starts at any timestamp (the client's timestamp_gt paging), reading back to its window
        scan_from = window_start_ns(start, frequency)
        page = list(first_per_window([t for t in timestamps if t >= scan_from], frequency, since=start))

        # Then it is exactly the rest of the full selection
        assert page == [t for t in full if t >= start]


def test_first_per_window_mid_window_start_without_reading_back_would_differ() -> None:
    # Why since/window_start_ns exist: a stream cut inside a window picks a record the full one does not
    timestamps = ten_hz(3)
    full = list(first_per_window(timestamps, 1))

    cut = list(first_per_window(timestamps[5:], 1))

    assert cut[0] == START + 500_000_000 and cut[0] not in full


def test_window_period_ns() -> None:
    assert window_period_ns(1) == SECOND
    assert window_period_ns(0.1) == 10 * SECOND
    assert window_period_ns(3) == 333_333_333
    assert window_period_ns(1e12) == 1


def test_window_start_ns_floors_to_a_multiple_of_the_period() -> None:
    assert window_start_ns(START + 1_234_567_890, 1) == START + SECOND
    assert window_start_ns(START + 1_234_567_890, 0.1) == START
    assert window_start_ns(START, 1) == START
