"""``RecordBytesReader.iter_results``: a failed read is the error of the records that need it only.

The reader runs over in-memory objects (fakes: a dict of bytes and a list of the reads made).
"""

from __future__ import annotations

import bz2
from dataclasses import dataclass

import pytest

from openlqs.records.reading import RecordBytesReader


@dataclass(frozen=True)
class Span:
    """A record: which object, and where its message is."""

    key: str
    data_offset: int | None
    data_length: int | None
    chunk_compression: str | None = None
    chunk_offset: int | None = None
    chunk_length: int | None = None


class Objects:
    """Objects by key; a read past the end gives the bytes there are, as S3 does."""

    def __init__(self, **objects: bytes) -> None:
        self.objects = objects
        self.reads: list[tuple[str, int, int]] = []

    def locate(self, record: Span) -> str:
        if record.key not in self.objects:
            raise ValueError(f"no object {record.key}")
        return record.key

    def read(self, key: str, offset: int, length: int) -> bytes:
        self.reads.append((key, offset, length))
        return self.objects[key][offset : offset + length]


def _reader(objects: Objects) -> RecordBytesReader[Span, str]:
    return RecordBytesReader(objects.locate, objects.read)


def test_iter_results_a_record_past_the_end_fails_alone_and_its_neighbours_are_read() -> None:
    objects = Objects(a=b"0123456789")
    records = [Span("a", 0, 2), Span("a", 2, 2), Span("a", 8, 5), Span("a", 4, 2)]

    results = list(_reader(objects).iter_results(records))

    assert [data for _, data in results if isinstance(data, bytes)] == [b"01", b"23", b"45"]
    assert [record for record, data in results] == records  # the order given
    failed = results[2][1]
    assert isinstance(failed, ValueError) and "expected 5" in str(failed)


def test_iter_results_reads_neighbours_together_when_all_are_there() -> None:
    objects = Objects(a=b"0123456789")

    results = list(_reader(objects).iter_results([Span("a", 0, 2), Span("a", 2, 3)]))

    assert [data for _, data in results] == [b"01", b"234"]
    assert objects.reads == [("a", 0, 5)]


def test_iter_results_a_record_that_cannot_be_located_gets_the_error() -> None:
    objects = Objects(a=b"0123")

    results = list(_reader(objects).iter_results([Span("gone", 0, 2), Span("a", 0, 2)]))

    assert isinstance(results[0][1], ValueError) and "no object gone" in str(results[0][1])
    assert results[1][1] == b"01"


def test_iter_results_a_chunk_that_does_not_decompress_is_read_once_for_its_records() -> None:
    good = bz2.compress(b"hello world")
    objects = Objects(a=b"not bz2 at all" + good)
    bad = [Span("a", 0, 14, "bz2", offset, 3) for offset in (0, 3, 6)]
    fine = Span("a", 14, len(good), "bz2", 6, 5)

    results = list(_reader(objects).iter_results([*bad, fine]))

    assert all(isinstance(data, ValueError) and "bad bz2 data" in str(data) for _, data in results[:3])
    assert results[3][1] == b"world"
    assert objects.reads == [("a", 0, 14), ("a", 14, len(good))]


def test_iter_results_leaves_other_errors_to_the_caller() -> None:
    objects = Objects(a=b"0123")

    def broken(key: str, offset: int, length: int) -> bytes:
        raise RuntimeError("storage is down")

    reader: RecordBytesReader[Span, str] = RecordBytesReader(objects.locate, broken)

    with pytest.raises(RuntimeError, match="storage is down"):
        list(reader.iter_results([Span("a", 0, 2)]))


def test_read_spans_reads_gaps_up_to_max_gap_through_and_each_chunk_once() -> None:
    chunk = b"".join(f"<msg{i}>".encode() for i in range(4))  # 6 bytes a message
    packed = bz2.compress(chunk)
    body = b"AAAA" + b"-" * 10 + b"BBBB" + b"-" * 100 + b"CCCC" + packed
    objects = Objects(a=body)
    c_at, z_at = 118, 122
    # In index order: a chunked record, C, A, another of the chunk, B, A again.
    offsets = [z_at, c_at, 0, z_at, 14, 0]
    lengths = [len(packed), 4, 4, len(packed), 4, 4]
    compressions = ["bz2", None, "none", "bz2", "", None]
    chunk_offsets = [12, None, None, 0, None, None]
    chunk_lengths = [6, None, None, 6, None, None]

    found = _reader(objects).read_spans(
        "a", offsets, lengths, compressions, chunk_offsets, chunk_lengths, max_gap=10
    )

    assert found == [b"<msg2>", b"CCCC", b"AAAA", b"<msg0>", b"BBBB", b"AAAA"]
    # A and B share a read (a 10-byte gap), C is 100 bytes further: a read of its own; the chunk once.
    assert objects.reads == [("a", 0, 18), ("a", c_at, 4), ("a", z_at, len(packed))]


def test_read_spans_fails_on_a_record_past_the_end_of_its_object() -> None:
    objects = Objects(a=b"0123456789")

    with pytest.raises(ValueError, match="read 10 bytes at 0, expected 12"):
        _reader(objects).read_spans("a", [0, 8], [2, 4], [None, None], [None, None], [None, None])
