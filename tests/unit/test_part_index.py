"""PartIndex: a digestion part's index as columns, its wire entries and its stored form."""

from __future__ import annotations

import random
import zlib

import numpy as np
import pytest

from openlqs.records.part_index import CorruptIndex, PartIndex

TOPICS = ["5c3e1a2f-0000-4000-8000-000000000001", "5c3e1a2f-0000-4000-8000-000000000002"]
INGESTION = "9a0f3b1c-0000-4000-8000-0000000000aa"


def _entries(n: int, seed: int = 3) -> list[tuple[object, ...]]:
    rng = random.Random(seed)
    timestamp, entries = 1_700_000_000_000_000_000, []
    for i in range(n):
        timestamp += rng.randrange(0, 3_000_000)
        compressed = i % 3 == 0
        entries.append(
            (
                TOPICS[i % 2],
                INGESTION if i % 7 else None,
                "run_0.mcap" if i % 5 == 0 else None,
                4_117 + i * 10 if not compressed else 1_000,
                rng.randrange(1, 500) if not compressed else 250_000,
                "lz4" if compressed else None,
                rng.randrange(0, 200_000) if compressed else None,
                rng.randrange(1, 500) if compressed else None,
                timestamp,
            )
        )
    return entries


def test_part_index_entries_come_back_as_they_went_in_through_the_stored_form() -> None:
    entries = _entries(5_000)

    index = PartIndex.decode(PartIndex.from_entries(entries).encode())

    assert index.entries() == entries
    assert index.topics == TOPICS


def test_part_index_message_sizes_are_chunk_lengths_inside_compressed_chunks() -> None:
    entries = _entries(30)

    sizes = PartIndex.from_entries(entries).message_sizes().tolist()

    assert sizes == [e[4] if e[7] is None else e[7] for e in entries]


def test_part_index_of_10_000_records_fits_a_dynamodb_item() -> None:
    blob = PartIndex.from_entries(_entries(10_000)).encode()

    assert len(blob) < 300 * 1024  # ~170 bytes a record as JSON would be 1.7 MB


def test_part_index_slices_keep_their_topics() -> None:
    index = PartIndex.from_entries(_entries(100))

    assert index.slice(10, 20).entries() == index.entries()[10:20]


@pytest.mark.parametrize(
    "damage",
    [
        lambda blob: blob[:3],
        lambda blob: b"XX" + blob[2:],
        lambda blob: blob[:-10],
        lambda blob: blob[:7] + zlib.compress(b"\x05\x00\x00\x00\x02\x00\x00\x00[]") + blob[7:],
    ],
)
def test_part_index_refuses_a_damaged_blob(damage: object) -> None:
    blob = PartIndex.from_entries(_entries(50)).encode()

    with pytest.raises(CorruptIndex):
        PartIndex.decode(damage(blob))  # type: ignore[operator]


def test_part_index_refuses_topic_numbers_past_its_table() -> None:
    index = PartIndex.from_entries(_entries(4))
    index.topic_ix = np.array([0, 1, 2, 0], dtype=np.int32)

    with pytest.raises(CorruptIndex, match="topics"):
        PartIndex.decode(index.encode())
