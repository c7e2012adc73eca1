"""Frequency downsampling of record lists: ``frequency`` records per second, the first of each window.

Time is cut into windows of ``period = int(1e9 / frequency)`` ns aligned to multiples of the period
since the epoch (window ``n`` is ``[n * period, (n + 1) * period)``), and the first record of each
window is kept. Aligning to the epoch rather than to the first record seen makes the selection a
property of the topic alone: whichever timestamp a page starts from, a record is either the first of
its window or not, so pages and offsets see one and the same sequence.

One thing a caller must do for that: a query that starts inside a window (``timestamp_gt`` of the
last record of the previous page, say) cannot tell from its own records whether the window's first
record came before its start. So it reads from :func:`window_start_ns` of its lower bound and passes
that bound as ``since``: records before it only serve to recognise the window's first record, and a
window whose first record is before ``since`` yields nothing. This reads at most one window more.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar, cast, overload

T = TypeVar("T")


def window_period_ns(frequency: float) -> int:
    """The window length in ns for ``frequency`` records per second (at least 1 ns).

    ``ValueError`` unless the frequency is a finite number above 0.
    """
    if isinstance(frequency, bool) or not isinstance(frequency, int | float):
        raise ValueError(f"frequency must be a number, not {frequency!r}")
    if not math.isfinite(frequency) or frequency <= 0:
        raise ValueError(f"frequency must be a finite number above 0, not {frequency}")
    return max(int(1e9 / frequency), 1)


def window_start_ns(timestamp: int, frequency: float) -> int:
    """The start of the window holding ``timestamp``: where a query from ``timestamp`` must read from."""
    period = window_period_ns(frequency)
    return timestamp // period * period


@overload
def first_per_window(
    items: Iterable[int], frequency: float, *, key: None = None, since: int | None = None
) -> Iterator[int]: ...


@overload
def first_per_window(
    items: Iterable[T], frequency: float, *, key: Callable[[T], int], since: int | None = None
) -> Iterator[T]: ...


def first_per_window(
    items: Iterable[T],
    frequency: float,
    *,
    key: Callable[[T], int] | None = None,
    since: int | None = None,
) -> Iterator[T]:
    """The first of ``items`` in each window of ``1e9 / frequency`` ns, lazily.

    ``items`` are timestamps (ns), or records whose timestamp ``key`` gives, in ascending time order
    (``ValueError`` when one goes back in time). ``since`` is the query's inclusive lower bound when
    ``items`` were read from ``window_start_ns(since, frequency)`` (see the module docstring); no item
    before it is yielded. The frequency is checked at the call (``ValueError`` unless finite and above
    0), not at the first item.
    """
    period = window_period_ns(frequency)
    return _first_per_window(items, period, key, since)


def _first_per_window(
    items: Iterable[T], period: int, key: Callable[[T], int] | None, since: int | None
) -> Iterator[T]:
    last_window: int | None = None
    last_timestamp: int | None = None
    for item in items:
        timestamp = key(item) if key is not None else cast(int, item)
        if last_timestamp is not None and timestamp < last_timestamp:
            raise ValueError(f"records must come in ascending time order: {timestamp} after {last_timestamp}")
        last_timestamp = timestamp
        window = timestamp // period
        if window == last_window:
            continue
        last_window = window
        if since is None or timestamp >= since:
            yield item
