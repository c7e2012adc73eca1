"""Indexing an MCAP file by a sequential scan of its records, when its summary cannot be used.

A recording cut off before its footer, a file written without a summary or without chunk indexes, and
an unchunked file (messages at the top level) are read record by record from the start, as
``mcap recover`` does: every complete chunk is decompressed (its CRC checked) and walked for its
schemas, channels and messages; top-level messages are gathered into runs. What follows the last
complete record of a cut-off file is ignored and counted.

Spans are the chunks (with the message index records after them) and runs of top-level messages, a
run closed by anything but messages, schemas, channels and records of unknown opcodes, and kept under
:data:`UNCHUNKED_SPAN_BYTES` so that the pipeline's parts (contiguous spans of ~64 MiB) stay that size.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from openlqs.errors import BadLogFile
from openlqs.formats.base import ByteSource, LogIndex, ScanWindow, Span
from openlqs.formats.mcap.attachments import Listing
from openlqs.formats.mcap.channels import Declarations
from openlqs.formats.mcap.chunks import chunk_records, walk_messages
from openlqs.formats.mcap.records import (
    MESSAGE_FIELDS,
    MESSAGE_PREFIX,
    RECORD_PREFIX,
    Op,
    parse_attachment,
    parse_channel,
    parse_chunk,
    parse_metadata,
    parse_schema,
)

#: The largest run of top-level messages one span holds (a single larger message is a span alone).
UNCHUNKED_SPAN_BYTES = 4 * 1024 * 1024
#: An attachment's name and media type are read from this many bytes at its start (more when longer).
ATTACHMENT_HEAD = 64 * 1024
#: Records that do not end a run of top-level messages: these, and records of opcodes the format does
#: not define (extensions, padding).
_IN_RUNS = frozenset({Op.MESSAGE, Op.SCHEMA, Op.CHANNEL})
_DEFINED = frozenset(op.value for op in Op)


@dataclass
class _Found:
    """A span being gathered: its range, times and messages per channel."""

    start: int
    end: int
    start_time: int
    end_time: int
    counts: Counter[int] = field(default_factory=Counter)

    def add(self, channel_id: int, log_time: int, end: int) -> None:
        self.counts[channel_id] += 1
        self.start_time = min(self.start_time, log_time)
        self.end_time = max(self.end_time, log_time)
        self.end = end

    def span(self) -> Span:
        return Span(self.start, self.end, self.start_time, self.end_time, dict(sorted(self.counts.items())))


def _undeclared(channel_id: int, where: str, payload: dict[str, int]) -> BadLogFile:
    return BadLogFile(
        f"The message at {where} uses channel {channel_id}, which the file does not declare.",
        payload={**payload, "channel_id": channel_id},
    )


class _Scan:
    """One pass over the records of a file from ``start``; see :func:`scan_index`."""

    def __init__(self, source: ByteSource) -> None:
        self.source = source
        self.window = ScanWindow(source)
        self.declarations = Declarations()
        self.listing = Listing()
        self.spans: list[Span] = []
        self.chunk: _Found | None = None
        self.run: _Found | None = None
        #: True once the data end or the footer is read: nothing of the file is missing.
        self.complete = False

    def close_chunk(self) -> None:
        if self.chunk is not None:
            self.spans.append(self.chunk.span())
            self.chunk = None

    def close_run(self) -> None:
        if self.run is not None:
            self.spans.append(self.run.span())
            self.run = None

    def scan(self, start: int) -> int:
        """Read records from ``start`` until the data section ends or a record is incomplete; returns
        where the scan stopped."""
        size = self.source.size
        position = start
        unpack_prefix, unpack_message = RECORD_PREFIX.unpack_from, MESSAGE_PREFIX.unpack_from
        while position + RECORD_PREFIX.size <= size:
            buffer, at = self.window.at(position, position + MESSAGE_PREFIX.size)
            opcode, length = unpack_prefix(buffer, at)
            end = position + RECORD_PREFIX.size + length
            if opcode == 0 or end > size:
                break  # a record cut off by the end of the file, or zeros after a crash
            if opcode == Op.MESSAGE_INDEX and self.chunk is not None:
                self.chunk.end = end
                position = end
                continue
            self.close_chunk()
            if opcode == Op.MESSAGE:
                if length < MESSAGE_FIELDS.size:
                    raise BadLogFile(f"The message record at byte {position} is malformed.")
                _, _, channel_id, _, log_time = unpack_message(buffer, at)
                self.message(channel_id, log_time, position, end)
                position = end
                continue
            if opcode not in _IN_RUNS and opcode in _DEFINED:
                self.close_run()
            if opcode in (Op.DATA_END, Op.FOOTER):
                self.complete = True
                break
            self.record(opcode, position, end)
            position = end
        self.close_chunk()
        self.close_run()
        return position

    def record(self, opcode: int, position: int, end: int) -> None:
        content = position + RECORD_PREFIX.size
        if opcode == Op.CHUNK:
            self.scan_chunk(position, self.window.read(content, end))
        elif opcode == Op.SCHEMA:
            data = self.window.read(content, end)
            self.declarations.add_schema(parse_schema(data, 0, len(data), content), position)
        elif opcode == Op.CHANNEL:
            data = self.window.read(content, end)
            self.declarations.add_channel(parse_channel(data, 0, len(data), content), position)
        elif opcode == Op.ATTACHMENT:
            self.attachment(position, end)
        elif opcode == Op.METADATA:
            data = self.window.read(content, end)
            self.listing.add_metadata(parse_metadata(data, 0, len(data), content), position, end - position)
        # Anything else (a header again, summary records, records of unknown opcodes) is skipped.

    def message(self, channel_id: int, log_time: int, position: int, end: int) -> None:
        if channel_id not in self.declarations.records:
            raise _undeclared(channel_id, f"byte {position}", {"offset": position})
        run = self.run
        if run is not None and end - run.start > UNCHUNKED_SPAN_BYTES:
            self.close_run()
            run = None
        if run is None:
            run = self.run = _Found(position, end, log_time, log_time)
        run.add(channel_id, log_time, end)

    def scan_chunk(self, position: int, data: bytes) -> None:
        base = position + RECORD_PREFIX.size
        chunk = parse_chunk(data, 0, len(data), base)
        records = chunk_records(chunk, data, base)
        where = f"the chunk at byte {position}"

        def declare(opcode: int, start: int, content: int, end: int) -> None:
            try:
                if opcode == Op.SCHEMA:
                    self.declarations.add_schema(parse_schema(records, content, end), position)
                elif opcode == Op.CHANNEL:
                    self.declarations.add_channel(parse_channel(records, content, end), position)
            except BadLogFile as error:
                raise BadLogFile(
                    f"In the chunk at byte {position}, at offset {start}: {error}",
                    payload={"chunk_offset": position},
                ) from error

        try:
            ids, times, starts, _, _ = walk_messages(records, 0, len(records), where, declare)
        except BadLogFile as error:
            if error.payload:
                raise
            raise BadLogFile(error.detail, payload={"chunk_offset": position}) from error
        undeclared = set(ids) - set(self.declarations.records)
        if undeclared:
            first = next(i for i, channel_id in enumerate(ids) if channel_id in undeclared)
            raise _undeclared(ids[first], f"offset {starts[first]} of {where}", {"chunk_offset": position})
        if ids:
            found = _Found(position, chunk.end, min(times), max(times))
            found.counts.update(ids)
            self.chunk = found

    def attachment(self, position: int, end: int) -> None:
        content = position + RECORD_PREFIX.size
        length = end - content
        head = self.window.read(content, min(end, content + ATTACHMENT_HEAD))
        try:
            attachment = parse_attachment(head, 0, length, content, head_end=len(head))
        except BadLogFile:
            if len(head) == length:
                raise
            head = self.window.read(content, end)  # a name longer than the head read
            attachment = parse_attachment(head, 0, length, content)
        self.listing.add_attachment(attachment)


def scan_index(source: ByteSource, start: int, reason: str, context: dict[str, Any]) -> LogIndex:
    """The index of a file found by reading its records from ``start`` (after the header).

    ``reason`` says why the summary could not be used; it goes to ``context["salvage"]`` with the bytes
    ignored at the end. A file cut off before any complete message is a ``BadLogFile``.
    """
    scan = _Scan(source)
    stopped = scan.scan(start)
    ignored = 0 if scan.complete else source.size - stopped
    if not scan.complete and not scan.spans:
        raise BadLogFile(
            f"The MCAP file has no complete message to index ({reason}; the records stop being whole at "
            f"byte {stopped} of {source.size})."
        )
    return LogIndex(
        format="mcap",
        file_size=source.size,
        channels=scan.declarations.channels(),
        spans=scan.spans,
        salvaged=True,
        ignored_bytes=ignored,
        context={
            **context,
            **scan.listing.context(),
            "salvage": {"index_missing": True, "reason": reason, "ignored_bytes": ignored},
        },
    )
