"""MCAP files indexed by a scan of their records: cut off, without a summary or chunk indexes,
unchunked. What is salvaged is what the ``mcap`` package's non-seeking reader yields up to the cut."""

from __future__ import annotations

import pytest
from mcap.writer import IndexType

from openlqs.errors import BadLogFile
from openlqs.formats.mcap import read_index
from openlqs.formats.mcap.scan import UNCHUNKED_SPAN_BYTES
from tests.support.mcap import (
    BytesSource,
    as_tuples,
    channel_record,
    chunk_record,
    indexed_messages,
    message_record,
    raw_mcap,
    reference_messages_of_cut_file,
    string_messages,
    string_schema_and_channel,
    write_mcap,
)

MESSAGES = string_messages(400, ("/a", "/b", "/c"))


def _cut_points(data: bytes, count: int) -> list[int]:
    return sorted({len(data) * i // count for i in range(1, count)} | {len(data) - 1, len(data) - 30})


@pytest.mark.parametrize(
    ("compression", "chunked"), [("zstd", True), ("lz4", True), ("none", True), ("none", False)]
)
def test_salvage_of_a_cut_file_is_what_the_stream_reader_reads(compression: str, chunked: bool) -> None:
    full = write_mcap(
        MESSAGES,
        compression=compression,
        chunked=chunked,
        chunk_size=2000,
        attachments=[("notes.txt", "text/plain", b"n" * 500)],
    )

    for cut in _cut_points(full, 23):
        data = full[:cut]
        expected = reference_messages_of_cut_file(data)
        if not expected:
            with pytest.raises(BadLogFile, match="no complete message"):
                read_index(BytesSource(data))
            continue
        index = read_index(BytesSource(data))
        assert index.salvaged is True, cut
        assert as_tuples(indexed_messages(data, index)) == expected, cut
        salvage = index.context["salvage"]
        assert salvage["ignored_bytes"] == index.ignored_bytes
        assert 0 <= index.ignored_bytes < len(data) - max(span.end for span in index.spans) + 1


def test_salvage_ignores_what_follows_the_last_complete_record() -> None:
    full = write_mcap(MESSAGES, chunk_size=2000)
    spans = read_index(BytesSource(full)).spans
    cut = spans[4].start + 50  # inside the fifth chunk

    index = read_index(BytesSource(full[:cut]))

    assert [span.start for span in index.spans] == [span.start for span in spans[:4]]
    assert index.spans[-1].end == spans[3].end
    assert index.ignored_bytes == cut - spans[4].start
    assert index.context["salvage"] == {
        "index_missing": True,
        "reason": "the file does not end with a footer (cut off?)",
        "ignored_bytes": cut - spans[4].start,
    }
    assert [span.counts for span in index.spans] == [span.counts for span in spans[:4]]


def test_salvage_of_a_chunk_whose_message_indexes_are_cut_off_walks_its_records() -> None:
    full = write_mcap(MESSAGES, chunk_size=2000)
    span = read_index(BytesSource(full)).spans[2]
    chunk_length = int.from_bytes(full[span.start + 1 : span.start + 9], "little") + 9
    cut = span.start + chunk_length + 9 + 2 + 4 + 16 + 40  # the first message index is incomplete
    data = full[:cut]

    index = read_index(BytesSource(data))

    assert index.spans[-1].start == span.start and index.spans[-1].counts == span.counts
    assert as_tuples(indexed_messages(data, index)) == reference_messages_of_cut_file(data)


def test_salvage_stops_at_the_zeros_a_crash_leaves_after_the_data() -> None:
    full = write_mcap(MESSAGES, chunk_size=2000)
    spans = read_index(BytesSource(full)).spans
    data = full[: spans[3].end] + bytes(4096)

    index = read_index(BytesSource(data))

    assert len(index.spans) == 4 and index.ignored_bytes == 4096
    assert len(indexed_messages(data, index)) == sum(span.message_count for span in spans[:4])


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"summary": False}, "the file has no summary section"),
        ({"index_types": IndexType.MESSAGE}, "the summary has no chunk indexes"),
        ({"chunked": False}, "the summary has no chunk indexes"),
    ],
)
def test_salvage_of_a_complete_file_without_chunk_indexes_ignores_nothing(
    options: dict[str, object], reason: str
) -> None:
    data = write_mcap(MESSAGES, chunk_size=2000, **options)  # type: ignore[arg-type]

    index = read_index(BytesSource(data))

    assert index.salvaged is True and index.ignored_bytes == 0
    assert index.context["salvage"] == {"index_missing": True, "reason": reason, "ignored_bytes": 0}
    assert sum(span.message_count for span in index.spans) == len(MESSAGES)
    assert {c.topic for c in index.channels.values()} == {"/a", "/b", "/c"}


def test_salvage_spans_of_an_unchunked_file_are_runs_of_bounded_size() -> None:
    payload = b"\x00\x01\x00\x00" + bytes(60_000)
    messages = [("/big", 1_000 + i, payload) for i in range(200)]
    data = write_mcap(messages, chunked=False, compression="none")

    index = read_index(BytesSource(data))

    assert len(index.spans) >= 200 * 60_000 // UNCHUNKED_SPAN_BYTES
    assert all(span.end - span.start <= UNCHUNKED_SPAN_BYTES + 70_000 for span in index.spans)
    for span, following in zip(index.spans, index.spans[1:], strict=False):
        assert span.end == following.start  # the runs cover the messages one after the other
    assert [m.log_time for m in indexed_messages(data, index)] == [t for _, t, _ in messages]
    assert sum(span.message_count for span in index.spans) == 200


def test_salvage_span_of_a_run_starts_and_ends_with_a_message() -> None:
    data = raw_mcap(
        string_schema_and_channel(1, "/a"),
        message_record(1, 5, b"one"),
        message_record(1, 3, b"two"),
        chunk_record(message_record(1, 9, b"three"), "zstd"),
        message_record(1, 7, b"four"),
    )

    index = read_index(BytesSource(data))

    first, chunk, last = index.spans
    assert data[first.start] == 0x05 and data[last.start] == 0x05 and data[chunk.start] == 0x06
    assert (first.start_time, first.end_time, first.counts) == (3, 5, {1: 2})
    assert (last.start_time, last.end_time) == (7, 7)
    assert [m.data for m in indexed_messages(data, index)] == [b"one", b"two", b"three", b"four"]


def test_salvage_refuses_a_file_cut_inside_its_header() -> None:
    data = write_mcap(MESSAGES)

    with pytest.raises(BadLogFile, match="cut off inside its header"):
        read_index(BytesSource(data[:20]))


def test_salvage_refuses_a_file_with_nothing_complete_after_its_header() -> None:
    data = write_mcap(MESSAGES, chunk_size=10**6)
    cut = data.index(b"\x06", 20) + 100  # inside the one chunk

    with pytest.raises(BadLogFile, match="no complete message"):
        read_index(BytesSource(data[:cut]))


def test_salvage_refuses_a_chunk_whose_crc_does_not_match_naming_it() -> None:
    inner = string_schema_and_channel(1, "/a") + message_record(1, 1, b"payload")
    chunk_at = len(raw_mcap(footer=False))
    data = raw_mcap(chunk_record(inner, "lz4", crc=0xDEADBEEF), footer=False)

    with pytest.raises(BadLogFile, match=f"chunk at byte {chunk_at} is corrupt"):
        read_index(BytesSource(data))


def test_salvage_refuses_an_unknown_chunk_compression_naming_it() -> None:
    inner = string_schema_and_channel(1, "/a") + message_record(1, 1, b"payload")

    with pytest.raises(BadLogFile, match="'bz2'"):
        read_index(BytesSource(raw_mcap(chunk_record(inner, "bz2", crc=0))))


def test_salvage_refuses_a_channel_whose_schema_is_not_declared() -> None:
    with pytest.raises(BadLogFile, match="uses schema 3, which is not declared"):
        read_index(BytesSource(raw_mcap(channel_record(1, 3, "/a"), message_record(1, 1, b"x"))))
