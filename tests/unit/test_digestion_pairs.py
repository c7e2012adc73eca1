"""The distinct (ingestion, source) pairs a digestion's plan and parts group their records by."""

from __future__ import annotations

import numpy as np

from openlqs.digestion.pipeline import distinct_pairs


def test_distinct_pairs_are_numpys_unique_rows() -> None:
    rng = np.random.default_rng(7)
    first = rng.integers(-1, 3, 50_000).astype(np.int32)
    second = rng.integers(-1, 5, 50_000).astype(np.int32)
    second[:3] = [np.iinfo(np.int32).min, np.iinfo(np.int32).max, -(2**31) + 1]

    expected = [tuple(row) for row in np.unique(np.stack([first, second], axis=1), axis=0).tolist()]

    assert distinct_pairs(first, second) == expected


def test_no_records_have_no_pairs() -> None:
    assert distinct_pairs(np.array([], dtype=np.int32), np.array([], dtype=np.int32)) == []
