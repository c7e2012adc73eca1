"""Reading an MCAP file's index with a few range reads: magic, header, footer, summary section.

The footer (the file's last 37 bytes with the magic) says where the summary section starts; the summary
holds copies of every schema and channel, one chunk index per chunk (where the chunk and its message
index records are, its time range), the statistics, and the attachment and metadata indexes. One read
of the file's tail usually holds footer and summary alike; a small file is read once.

Spans are the chunks in file order, each running from the chunk record's opcode to the end of its
message index records; a chunk's message counts per channel come from the lengths of those records
(each is ``9 + 2 + 4 + 16 x messages`` bytes, and the chunk index says where each one starts), so they
are known without reading them. Chunks written without message indexes are counted from the
statistics: exactly for one such chunk, else the statistics' remaining totals apportioned by the
chunks' uncompressed sizes (``Span.counted`` False: estimates whose sums are exact, which is what
planning needs: the record limit and each topic's rate).

When the summary cannot be used (no footer, no summary, no chunk indexes, chunks neither message
indexes nor statistics count, a CRC or a consistency check fails), the file is indexed by a scan of its
records instead (:mod:`~openlqs.formats.mcap.scan`), which says why in ``context["salvage"]``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from openlqs.errors import BadLogFile
from openlqs.formats.base import ByteSource, LogIndex, Span
from openlqs.formats.mcap.attachments import Listing
from openlqs.formats.mcap.channels import Declarations
from openlqs.formats.mcap.chunks import STORED_COMPRESSIONS
from openlqs.formats.mcap.records import (
    FOOTER_SIZE,
    MAGIC,
    RECORD_PREFIX,
    TAIL_SIZE,
    AttachmentIndex,
    ChannelRecord,
    ChunkIndex,
    Footer,
    Header,
    MetadataIndex,
    Op,
    Schema,
    Statistics,
    next_record,
    op_name,
    parse_attachment_index,
    parse_channel,
    parse_chunk_index,
    parse_footer,
    parse_header,
    parse_metadata,
    parse_metadata_index,
    parse_schema,
    parse_statistics,
)
from openlqs.formats.mcap.scan import scan_index

#: The end of the file read first: footer and, usually, the whole summary section.
TAIL_READ = 64 * 1024
#: The start of the file read first: magic and header record.
HEAD_READ = 4 * 1024
#: Metadata records closer than this are fetched with one read.
COALESCE_GAP = 64 * 1024
#: A message index record's size without its entries: prefix, channel id, entries' byte length.
MESSAGE_INDEX_FIXED = RECORD_PREFIX.size + 2 + 4
MESSAGE_INDEX_ENTRY = 16
#: The longest profile or library name kept from the header (in the ingestion's context).
MAX_HEADER_TEXT = 256


class _Unusable(Exception):
    """The summary cannot be used; the file is scanned instead, for the reason given."""


@dataclass
class _Summary:
    schemas: list[tuple[Schema, int]] = field(default_factory=list)
    channels: list[tuple[ChannelRecord, int]] = field(default_factory=list)
    chunk_indexes: list[ChunkIndex] = field(default_factory=list)
    attachment_indexes: list[AttachmentIndex] = field(default_factory=list)
    metadata_indexes: list[MetadataIndex] = field(default_factory=list)
    statistics: Statistics | None = None


def read_header(source: ByteSource, head: bytes) -> tuple[Header, int]:
    """The header record after the magic, and where the data section starts."""
    if not head.startswith(MAGIC):
        raise BadLogFile(
            f"The file is not an MCAP file: it starts with {head[: len(MAGIC)]!r}, not {MAGIC!r}."
        )
    found = next_record(head, len(MAGIC))
    if found is None and len(head) >= len(MAGIC) + RECORD_PREFIX.size and len(head) < source.size:
        _, length = RECORD_PREFIX.unpack_from(head, len(MAGIC))
        if length <= source.size - len(MAGIC) - RECORD_PREFIX.size:
            head = source.read(0, len(MAGIC) + RECORD_PREFIX.size + length)  # a long profile or library
            found = next_record(head, len(MAGIC))
    if found is None:
        raise BadLogFile("The MCAP file is cut off inside its header record: nothing in it can be indexed.")
    opcode, start, end = found
    if opcode != Op.HEADER:
        raise BadLogFile(
            f"The MCAP file does not start with a header record but with a {op_name(opcode)} record."
        )
    return parse_header(head, start, end), end


def _footer(tail: bytes, tail_start: int, data_start: int, size: int) -> Footer | None:
    """The footer at the end of the file; None when the file does not end with footer and magic."""
    if size < data_start + TAIL_SIZE or not tail.endswith(MAGIC):
        return None
    at = len(tail) - TAIL_SIZE
    opcode, length = RECORD_PREFIX.unpack_from(tail, at)
    if opcode != Op.FOOTER or length != FOOTER_SIZE - RECORD_PREFIX.size:
        return None
    return parse_footer(tail, at + RECORD_PREFIX.size, at + FOOTER_SIZE, tail_start)


def _read_summary(buf: bytes, start: int, end: int, base: int) -> _Summary:
    summary = _Summary()
    position = start
    while position < end:
        found = next_record(buf, position, end)
        if found is None:
            raise _Unusable(f"the summary record at byte {base + position} runs past the summary section")
        opcode, content, record_end = found
        offset = base + position
        if opcode == Op.SCHEMA:
            summary.schemas.append((parse_schema(buf, content, record_end, base), offset))
        elif opcode == Op.CHANNEL:
            summary.channels.append((parse_channel(buf, content, record_end, base), offset))
        elif opcode == Op.CHUNK_INDEX:
            summary.chunk_indexes.append(parse_chunk_index(buf, content, record_end, base))
        elif opcode == Op.ATTACHMENT_INDEX:
            summary.attachment_indexes.append(parse_attachment_index(buf, content, record_end, base))
        elif opcode == Op.METADATA_INDEX:
            summary.metadata_indexes.append(parse_metadata_index(buf, content, record_end, base))
        elif opcode == Op.STATISTICS:
            summary.statistics = parse_statistics(buf, content, record_end, base)
        position = record_end
    return summary


def message_counts(chunk_index: ChunkIndex) -> dict[int, int] | None:
    """Messages per channel of a chunk, from where its message index records start; None when the chunk
    has none, or they are not laid out one after the other right after the chunk."""
    offsets = sorted(chunk_index.message_index_offsets.items(), key=lambda item: item[1])
    if not offsets or offsets[0][1] != chunk_index.chunk_start_offset + chunk_index.chunk_length:
        return None
    counts: dict[int, int] = {}
    ends = [offset for _, offset in offsets[1:]] + [chunk_index.end]
    for (channel_id, offset), end in zip(offsets, ends, strict=True):
        entries = end - offset - MESSAGE_INDEX_FIXED
        if entries < 0 or entries % MESSAGE_INDEX_ENTRY:
            return None
        if entries:
            counts[channel_id] = entries // MESSAGE_INDEX_ENTRY
    return counts


def apportion(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainders), summing to ``total`` exactly."""
    weight = sum(weights)
    if not weights:
        return []
    if weight <= 0:
        weights, weight = [1] * len(weights), len(weights)
    shares = [total * w // weight for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (total * weights[i]) % weight, reverse=True)
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


def _estimated(
    indexes: list[ChunkIndex], counts: list[dict[int, int] | None], statistics: Statistics
) -> list[dict[int, int] | None]:
    """Counts for the chunks without message indexes: the statistics' totals less what the other chunks
    hold, exact for a single such chunk, else apportioned by their uncompressed sizes (an estimate
    whose sums are exact). None when the statistics do not fit the counted chunks."""
    rest = dict(statistics.channel_message_counts)
    for found in counts:
        for channel_id, count in (found or {}).items():
            rest[channel_id] = rest.get(channel_id, 0) - count
    if any(count < 0 for count in rest.values()):
        return counts
    unknown = [i for i, found in enumerate(counts) if found is None]
    filled = list(counts)
    weights = [indexes[i].uncompressed_size for i in unknown]
    per_chunk: list[dict[int, int]] = [{} for _ in unknown]
    for channel_id, count in sorted(rest.items()):
        for k, share in enumerate(apportion(count, weights)):
            if share:
                per_chunk[k][channel_id] = share
    for k, i in enumerate(unknown):
        filled[i] = per_chunk[k]
    return filled


def _spans(summary: _Summary, data_start: int, data_end: int, declared: set[int]) -> list[Span]:
    """The chunks as spans, in file order, with their counts (checked against the statistics).

    A chunk without message indexes is counted from the statistics (:func:`_estimated`); when the
    statistics cannot count it either, the summary cannot plan the file and it is scanned.
    """
    indexes = sorted(summary.chunk_indexes, key=lambda index: index.chunk_start_offset)
    previous_end = data_start
    for index in indexes:
        if index.compression not in STORED_COMPRESSIONS:
            raise BadLogFile(
                f"The chunk at byte {index.chunk_start_offset} uses compression {index.compression!r}, "
                "which openlqs does not read (zstd, lz4 or none).",
                payload={"chunk_offset": index.chunk_start_offset, "compression": index.compression},
            )
        if index.chunk_start_offset < previous_end or index.end > data_end:
            raise _Unusable(
                f"the chunk index of the chunk at byte {index.chunk_start_offset} is out of place"
            )
        previous_end = index.end
        missing = set(index.message_index_offsets) - declared
        if missing:
            raise _Unusable(
                f"the chunk at byte {index.chunk_start_offset} has messages on channel {min(missing)}, "
                "which the summary does not declare"
            )
    counts = [message_counts(index) for index in indexes]
    known = [found is not None for found in counts]
    statistics = summary.statistics
    if not all(known):
        if statistics is None or not statistics.channel_message_counts:
            raise _Unusable(
                "its chunks have no message indexes and it has no statistics to count their messages from"
            )
        counts = _estimated(indexes, counts, statistics)
        if known.count(False) == 1:
            known = [True] * len(known)  # the statistics' totals less the others: exact
    if any(found is None for found in counts):
        raise _Unusable("its statistics count fewer messages than its message indexes")
    if statistics is not None:
        total = sum(sum((found or {}).values()) for found in counts)
        if total != statistics.message_count:
            raise _Unusable(
                f"the chunk indexes account for {total} messages and the statistics for "
                f"{statistics.message_count}"
            )
    return [
        Span(
            index.chunk_start_offset,
            index.end,
            index.message_start_time,
            index.message_end_time,
            dict(sorted((found or {}).items())),
            counted,
        )
        for index, found, counted in zip(indexes, counts, known, strict=True)
    ]


def _metadata(source: ByteSource, indexes: list[MetadataIndex], listing: Listing, size: int) -> None:
    """Read the metadata records the summary indexes (neighbours with one read) into ``listing``."""
    ordered = sorted(indexes, key=lambda index: index.offset)
    i = 0
    while i < len(ordered):
        j = i + 1
        while (
            j < len(ordered)
            and ordered[j].offset - (ordered[j - 1].offset + ordered[j - 1].length) < COALESCE_GAP
        ):
            j += 1
        group = ordered[i:j]
        start, end = group[0].offset, max(index.offset + index.length for index in group)
        if end > size or start < len(MAGIC):
            raise _Unusable(f"the metadata index {group[0].name!r} points outside the file")
        data = source.read(start, end)
        for index in group:
            found = next_record(data, index.offset - start, index.offset - start + index.length)
            if found is None or found[0] != Op.METADATA:
                raise _Unusable(f"the metadata index {index.name!r} does not point at a metadata record")
            listing.add_metadata(parse_metadata(data, found[1], found[2], start), index.offset, index.length)
        i = j


def _from_summary(
    source: ByteSource, tail: bytes, tail_start: int, footer: Footer, data_start: int, context: dict[str, Any]
) -> LogIndex:
    """The index from the summary section; :class:`_Unusable` when it cannot be used."""
    size = source.size
    footer_start = size - TAIL_SIZE
    summary_start = footer.summary_start
    if summary_start == 0:
        raise _Unusable("the file has no summary section")
    if not data_start <= summary_start <= footer_start:
        raise _Unusable(f"the footer puts the summary section at byte {summary_start}, outside the file")
    if summary_start >= tail_start:
        section = tail[summary_start - tail_start : footer_start - tail_start]
    else:
        section = source.read(summary_start, footer_start)
    if footer.summary_crc:
        footer_fields = tail[footer_start - tail_start : footer_start - tail_start + FOOTER_SIZE - 4]
        if zlib.crc32(footer_fields, zlib.crc32(section)) != footer.summary_crc:
            raise _Unusable("the summary section does not match its CRC")
    records_end = footer_start
    if footer.summary_offset_start:
        if not summary_start <= footer.summary_offset_start <= footer_start:
            raise _Unusable("the footer puts the summary offsets outside the summary section")
        records_end = footer.summary_offset_start
    try:
        summary = _read_summary(section, 0, records_end - summary_start, summary_start)
    except BadLogFile as error:
        raise _Unusable(f"the summary section is malformed ({error})") from error
    if not summary.chunk_indexes and (summary.statistics is None or summary.statistics.message_count):
        raise _Unusable("the summary has no chunk indexes")
    declarations = Declarations()
    try:
        for schema, offset in summary.schemas:
            declarations.add_schema(schema, offset)
        for channel, offset in summary.channels:
            declarations.add_channel(channel, offset)
    except BadLogFile as error:
        raise _Unusable(f"the summary's schemas and channels do not fit ({error})") from error
    # The data section ends with a data end record before the summary (13 bytes); spans stay before it.
    spans = _spans(summary, data_start, summary_start, set(declarations.records))
    listing = Listing()
    for attachment in sorted(summary.attachment_indexes, key=lambda index: index.offset):
        if attachment.offset < data_start or attachment.data_offset + attachment.data_size > summary_start:
            raise _Unusable(f"the attachment index {attachment.name!r} points outside the data section")
        listing.add_attachment(attachment)
    _metadata(source, summary.metadata_indexes, listing, summary_start)
    if summary.statistics is not None:  # a file written without these indexes still says how many
        listing.attachment_count = max(listing.attachment_count, summary.statistics.attachment_count)
        listing.metadata_count = max(listing.metadata_count, summary.statistics.metadata_count)
    return LogIndex(
        format="mcap",
        file_size=size,
        channels=declarations.channels(),
        spans=spans,
        context={**context, **listing.context()},
    )


def read_index(source: ByteSource) -> LogIndex:
    """The channels and chunk spans of an MCAP file, from range reads of its start, its footer and its
    summary section; a scan of its records when the summary cannot be used (``salvaged``).

    ``BadLogFile`` when the file is not MCAP, is cut off before any complete message, uses a compression
    openlqs does not read, or declares channels of different types on one topic.
    """
    size = source.size
    if size == 0:
        raise BadLogFile("The file is empty.")
    tail_start = max(0, size - TAIL_READ)
    tail = source.read(tail_start, size)
    head = tail if tail_start == 0 else source.read(0, min(size, HEAD_READ))
    header, data_start = read_header(source, head)
    # The header's strings go to the ingestion's context: a writer's name, not a place for megabytes.
    context: dict[str, Any] = {
        "mcap": {"profile": header.profile[:MAX_HEADER_TEXT], "library": header.library[:MAX_HEADER_TEXT]}
    }
    footer = _footer(tail, tail_start, data_start, size)
    if footer is None:
        return scan_index(source, data_start, "the file does not end with a footer (cut off?)", context)
    try:
        return _from_summary(source, tail, tail_start, footer, data_start, context)
    except _Unusable as unusable:
        return scan_index(source, data_start, str(unusable), context)
