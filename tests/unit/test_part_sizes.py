"""How the plan cuts spans into parts: bytes, messages and estimated time per chunk compression."""

from __future__ import annotations

from pathlib import Path

import pytest
from rosbags.rosbag1 import Writer

from openlqs.formats.base import UNKNOWN_COMPRESSION, Span
from openlqs.formats.ros1 import Ros1Format
from openlqs.formats.ros1.bag import chunk_compression, read_index, read_record
from openlqs.ingestion.part_sizes import MIB, PartSizing, compression_name
from openlqs.settings import DEFAULT_PART_BYTE_RATES_MIB_S, Settings
from tests.support.bags import FileSource, write_string_bag

#: Rates that make the arithmetic readable: 10 MiB/s plain, 1 MiB/s bz2, 1,000 messages/s.
RATES = {"none": 10 * MIB, "bz2": 1 * MIB}


def spans(count: int, size: int, messages: int = 0, compression: str | None = None) -> list[Span]:
    return [
        Span(i * size, (i + 1) * size, i, i, {1: messages}, compression=compression) for i in range(count)
    ]


def sizing(**bounds: float) -> PartSizing:
    values = {"max_bytes": 1000 * MIB, "max_messages": 10**9, "target_seconds": 10**6, **bounds}
    return PartSizing(byte_rates=RATES, message_rate=1000.0, **values)  # type: ignore[arg-type]


def sizes(parts: list[list[Span]]) -> list[int]:
    return [len(part) for part in parts]


def test_parts_are_contiguous_runs_of_whole_spans_in_file_order() -> None:
    shuffled = spans(5, MIB)[::-1]

    parts = sizing(max_bytes=2 * MIB).split(shuffled)

    assert sizes(parts) == [2, 2, 1]
    assert [span.start for part in parts for span in part] == [i * MIB for i in range(5)]


def test_bytes_messages_and_time_each_bound_a_part() -> None:
    # 8 spans of 1 MiB and 100 messages, uncompressed: 0.1 s of bytes + 0.1 s of messages each
    eight = spans(8, MIB, messages=100, compression=None)

    assert sizes(sizing(max_bytes=3 * MIB).split(eight)) == [3, 3, 2]
    assert sizes(sizing(max_messages=400).split(eight)) == [4, 4]
    assert sizes(sizing(target_seconds=0.5).split(eight)) == [2, 2, 2, 2]
    assert sizing().seconds(eight[0]) == pytest.approx(0.2)


def test_slow_compressions_make_smaller_parts() -> None:
    # bz2 is ten times slower here: the same bytes take ten times as long
    plain = spans(10, MIB, compression=None)
    bz2 = spans(10, MIB, compression="bz2")
    budget = sizing(target_seconds=1.0)

    assert sizes(budget.split(plain)) == [10]
    assert sizes(budget.split(bz2)) == [1] * 10
    assert budget.seconds(bz2[0]) == pytest.approx(1.0)


def test_an_unknown_compression_is_estimated_at_the_slowest_known_rate() -> None:
    budget = sizing()

    assert budget.byte_rate(UNKNOWN_COMPRESSION) == budget.byte_rate("bz2") == 1 * MIB
    assert budget.byte_rate("zstd") == 1 * MIB  # no rate given: the slowest
    assert budget.byte_rate(None) == budget.byte_rate("none") == budget.byte_rate("") == 10 * MIB
    assert [compression_name(name) for name in (None, "", "none", "lz4")] == ["none", "none", "none", "lz4"]


def test_a_span_over_every_bound_is_a_part_of_its_own() -> None:
    small = spans(2, MIB)
    big = Span(2 * MIB, 52 * MIB, 0, 0, {1: 10**6}, compression="bz2")
    after = Span(52 * MIB, 53 * MIB, 0, 0, {1: 1}, compression=None)

    parts = sizing(max_bytes=4 * MIB, max_messages=10, target_seconds=1).split([*small, big, after])

    assert parts == [small, [big], [after]]
    assert sizing().split([]) == []


@pytest.mark.parametrize(
    "bounds",
    [{"max_bytes": 0}, {"max_messages": 0}, {"target_seconds": 0}, {"message_rate": 0}],
)
def test_bounds_and_rates_must_be_positive(bounds: dict[str, float]) -> None:
    values = {"byte_rates": RATES, **bounds}
    with pytest.raises(ValueError, match="positive"):
        PartSizing(**values)  # type: ignore[arg-type]


def test_the_default_sizing_is_the_settings_and_keeps_64_mib_parts_of_a_plain_bag() -> None:
    settings = Settings()
    default = PartSizing.from_settings(settings)

    assert default == PartSizing()
    assert settings.part_byte_rates_mib_s == DEFAULT_PART_BYTE_RATES_MIB_S
    # A plain bag of images (few messages) is cut by bytes, a bz2 one by time
    plain = spans(64, MIB, messages=10, compression=None)
    assert sizes(default.split(plain)) == [64]
    assert min(DEFAULT_PART_BYTE_RATES_MIB_S.values()) == DEFAULT_PART_BYTE_RATES_MIB_S["bz2"]


# -- What the ROS 1 index tells the plan about compression ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "compression"), [("example.bag", None), ("example-lz4.bag", "lz4"), ("example-bz2.bag", "bz2")]
)
def test_ros1_spans_carry_the_bags_chunk_compression(fixture_bags: Path, name: str, compression: str) -> None:
    index = Ros1Format().read_index(FileSource(fixture_bags / name))

    assert index.spans
    assert {span.compression for span in index.spans} == {compression}


def test_ros1_salvaged_spans_carry_each_chunks_compression(tmp_path: Path) -> None:
    bag = write_string_bag(
        tmp_path / "full.bag",
        [("/s", 1 + i, f"x{i}" * 30) for i in range(1000)],
        chunk_threshold=4096,
        compression=Writer.CompressionFormat.LZ4,
    )
    chunks = read_index(FileSource(bag)).chunks
    cut = tmp_path / "cut.bag"
    cut.write_bytes(bag.read_bytes()[: chunks[5].start + 50])

    index = Ros1Format().read_index(FileSource(cut))

    assert index.salvaged
    assert [span.compression for span in index.spans] == ["lz4"] * 5


class Patched:
    """A bag's bytes with the compression of one chunk's header renamed (same length, so the header
    still parses): as if the bag mixed compressions."""

    def __init__(self, source: FileSource, at: int, old: bytes, new: bytes) -> None:
        self.data = bytearray(source.data)
        position = self.data.index(old, at)
        self.data[position : position + len(old)] = new
        self.size = len(self.data)

    def read(self, start: int, end: int) -> bytes:
        return bytes(self.data[start:end])


def test_ros1_chunk_compression_is_unknown_when_samples_disagree_or_are_not_chunks(tmp_path: Path) -> None:
    bag = write_string_bag(
        tmp_path / "mixed.bag",
        [("/s", 1 + i, f"x{i}" * 30) for i in range(3000)],
        chunk_threshold=4096,
        compression=Writer.CompressionFormat.BZ2,
    )
    source = FileSource(bag)
    chunks = read_index(source).chunks
    last = chunks[-1]
    header = read_record(source.data, last.start)
    assert header is not None and header.header["compression"] == b"bz2"

    assert chunk_compression(source, chunks) == "bz2"
    assert chunk_compression(Patched(source, last.start, b"compression=bz2", b"compression=lz4"), chunks) == (
        UNKNOWN_COMPRESSION
    )
    shifted = [Span(span.start + 1, span.end, 0, 0, {}) for span in chunks]
    assert chunk_compression(source, shifted) == UNKNOWN_COMPRESSION
    assert chunk_compression(source, []) == UNKNOWN_COMPRESSION
