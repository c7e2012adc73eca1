"""Thinning a digestion topic's records by frequency, as record lists thin them."""

from __future__ import annotations

import numpy as np

from openlqs.digestion.selection import thin


def test_thin_keeps_the_first_record_of_each_period_aligned_to_the_epoch() -> None:
    timestamps = np.array([0, 100_000_000, 999_999_999, 1_000_000_000, 1_500_000_000, 3_200_000_000])

    kept = timestamps[thin(timestamps, frequency=1.0)].tolist()

    assert kept == [0, 1_000_000_000, 3_200_000_000]


def test_thin_keeps_every_record_of_a_period_shorter_than_the_gaps() -> None:
    timestamps = np.arange(0, 10_000_000_000, 1_000_000_000)

    assert thin(timestamps, frequency=10.0).all()


def test_thin_keeps_equal_timestamps_once() -> None:
    timestamps = np.array([5, 5, 5, 2_000_000_000, 2_000_000_000])

    assert thin(timestamps, frequency=2.0).tolist() == [True, False, False, True, False]
