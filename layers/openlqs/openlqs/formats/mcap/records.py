"""MCAP records as indexing needs them: opcodes, layouts, and parsing straight from bytes.

An MCAP file is ``magic | records | magic``; every record is ``opcode: u8 | length: u64 | content``
(little-endian). Content fields are fixed-width integers, strings (``u32`` length + UTF-8), byte
arrays (``u32`` or ``u64`` length + bytes) and maps (``u32`` byte length + key/value pairs). A record
may carry fields after the ones listed here (the format grows by appending fields): parsers read what
they know and callers move on by the record's length, never by what was parsed.

Nothing here does I/O: callers hand in a buffer, where the record's content is, and the buffer's file
offset (``base``) for error messages. Malformed content is a :class:`~openlqs.errors.BadLogFile` naming
the record and its byte offset, never an ``IndexError`` or ``struct.error``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from openlqs.errors import BadLogFile

#: The first (and last) 8 bytes of every MCAP file; ``0`` is the major version.
MAGIC = b"\x89MCAP0\r\n"
#: A record's opcode and content length.
RECORD_PREFIX = struct.Struct("<BQ")
#: A message record's fixed content: channel id, sequence, log time, publish time (then its data).
MESSAGE_FIELDS = struct.Struct("<HIQQ")
#: A record prefix and a message's channel id, sequence and log time, unpacked in one call.
MESSAGE_PREFIX = struct.Struct("<BQHIQ")
#: The footer record (prefix and 20 bytes of content) and the magic after it: the file's last bytes.
FOOTER_CONTENT = struct.Struct("<QQI")
FOOTER_SIZE = RECORD_PREFIX.size + FOOTER_CONTENT.size
TAIL_SIZE = FOOTER_SIZE + len(MAGIC)
#: A chunk record's fixed fields before the compression name: start and end time, uncompressed size,
#: uncompressed CRC.
CHUNK_FIELDS = struct.Struct("<QQQI")

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class Op(IntEnum):
    """Record opcodes (0x01-0x7F are the format's; 0x80-0xFF are for extensions and are skipped)."""

    HEADER = 0x01
    FOOTER = 0x02
    SCHEMA = 0x03
    CHANNEL = 0x04
    MESSAGE = 0x05
    CHUNK = 0x06
    MESSAGE_INDEX = 0x07
    CHUNK_INDEX = 0x08
    ATTACHMENT = 0x09
    ATTACHMENT_INDEX = 0x0A
    STATISTICS = 0x0B
    METADATA = 0x0C
    METADATA_INDEX = 0x0D
    SUMMARY_OFFSET = 0x0E
    DATA_END = 0x0F


_NAMES = {op.value: op.name.lower().replace("_", " ") for op in Op}


def op_name(opcode: int) -> str:
    """A record's kind, for messages: ``chunk index``, or ``0x81`` for an opcode the format does not
    define."""
    return _NAMES.get(opcode, f"0x{opcode:02x}")


Buffer = bytes | bytearray | memoryview


def next_record(buf: Buffer, position: int, end: int | None = None) -> tuple[int, int, int] | None:
    """The record at ``position`` of ``buf`` as ``(opcode, content start, content end)``; None when it
    does not end before ``end`` (default: the end of ``buf``)."""
    limit = len(buf) if end is None else end
    if position + RECORD_PREFIX.size > limit:
        return None
    opcode, length = RECORD_PREFIX.unpack_from(buf, position)
    start = position + RECORD_PREFIX.size
    if length > limit - start:
        return None
    return opcode, start, start + length


class Fields:
    """Reads the content of one record field by field, bounds-checked.

    ``what`` and ``offset`` (the record's opcode offset in the file) name the record in errors.
    """

    __slots__ = ("_buf", "_end", "offset", "position", "what")

    def __init__(self, buf: Buffer, start: int, end: int, what: str, offset: int) -> None:
        self._buf = buf
        self.position = start
        self._end = end
        self.what = what
        self.offset = offset

    def error(self, problem: str) -> BadLogFile:
        return BadLogFile(f"The {self.what} record at byte {self.offset} is malformed: {problem}.")

    def _take(self, size: int) -> int:
        at = self.position
        if size > self._end - at:
            raise self.error(f"it ends {size - (self._end - at)} bytes short of its fields")
        self.position = at + size
        return at

    def u8(self) -> int:
        return self._buf[self._take(1)]

    def u16(self) -> int:
        return int(_U16.unpack_from(self._buf, self._take(2))[0])

    def u32(self) -> int:
        return int(_U32.unpack_from(self._buf, self._take(4))[0])

    def u64(self) -> int:
        return int(_U64.unpack_from(self._buf, self._take(8))[0])

    def unpack(self, layout: struct.Struct) -> tuple[int, ...]:
        return tuple(layout.unpack_from(self._buf, self._take(layout.size)))

    def raw(self, size: int) -> bytes:
        at = self._take(size)
        return bytes(self._buf[at : at + size])

    def span(self, size: int) -> tuple[int, int]:
        """Where the next ``size`` bytes are in the buffer (skipped, not copied)."""
        at = self._take(size)
        return at, at + size

    def string(self) -> str:
        data = self.raw(self.u32())
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise self.error(f"a string is not UTF-8 ({error})") from error

    def string_map(self) -> dict[str, str]:
        length = self.u32()
        entries = Fields(self._buf, *self.span(length), self.what, self.offset)
        result: dict[str, str] = {}
        while entries.position < entries._end:
            key = entries.string()
            result[key] = entries.string()
        return result

    def u16_u64_map(self) -> dict[int, int]:
        length = self.u32()
        if length % 10:
            raise self.error(f"a map of u16 to u64 is {length} bytes long, not a multiple of 10")
        at = self._take(length)
        return dict(struct.iter_unpack("<HQ", self._buf[at : at + length]))


@dataclass(frozen=True)
class Header:
    profile: str
    library: str


@dataclass(frozen=True)
class Footer:
    summary_start: int
    summary_offset_start: int
    summary_crc: int


@dataclass(frozen=True)
class Schema:
    id: int
    name: str
    encoding: str
    data: bytes


@dataclass(frozen=True)
class ChannelRecord:
    id: int
    schema_id: int
    topic: str
    message_encoding: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class Chunk:
    """A chunk record's header, with file offsets: where the record starts and ends, and where its
    ``records`` field (compressed or not) is."""

    start: int
    end: int
    message_start_time: int
    message_end_time: int
    uncompressed_size: int
    uncompressed_crc: int
    compression: str
    records_start: int
    records_length: int

    @property
    def body_start(self) -> int:
        """The record's body: its first byte after the opcode and the length."""
        return self.start + RECORD_PREFIX.size


@dataclass(frozen=True)
class ChunkIndex:
    message_start_time: int
    message_end_time: int
    chunk_start_offset: int
    chunk_length: int
    message_index_offsets: dict[int, int]
    message_index_length: int
    compression: str
    compressed_size: int
    uncompressed_size: int

    @property
    def end(self) -> int:
        """Where the chunk's message index records end."""
        return self.chunk_start_offset + self.chunk_length + self.message_index_length


@dataclass(frozen=True)
class Attachment:
    """An attachment record's fields, with the file offset and length of its data (not read)."""

    log_time: int
    create_time: int
    name: str
    media_type: str
    data_offset: int
    data_length: int


@dataclass(frozen=True)
class AttachmentIndex:
    offset: int
    length: int
    log_time: int
    create_time: int
    data_size: int
    name: str
    media_type: str

    @property
    def data_offset(self) -> int:
        """Where the attachment's data is in the file: after the record prefix, the two times, the name
        and the media type (each a ``u32`` length and its UTF-8 bytes) and the data's ``u64`` length."""
        names = len(self.name.encode()) + len(self.media_type.encode())
        return self.offset + RECORD_PREFIX.size + 8 + 8 + 4 + 4 + names + 8


@dataclass(frozen=True)
class Statistics:
    message_count: int
    schema_count: int
    channel_count: int
    attachment_count: int
    metadata_count: int
    chunk_count: int
    message_start_time: int
    message_end_time: int
    channel_message_counts: dict[int, int]


@dataclass(frozen=True)
class Metadata:
    name: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class MetadataIndex:
    offset: int
    length: int
    name: str


def _fields(buf: Buffer, start: int, end: int, opcode: int, base: int) -> Fields:
    return Fields(buf, start, end, op_name(opcode), base + start - RECORD_PREFIX.size)


def parse_header(buf: Buffer, start: int, end: int, base: int = 0) -> Header:
    fields = _fields(buf, start, end, Op.HEADER, base)
    return Header(fields.string(), fields.string())


def parse_footer(buf: Buffer, start: int, end: int, base: int = 0) -> Footer:
    fields = _fields(buf, start, end, Op.FOOTER, base)
    return Footer(*fields.unpack(FOOTER_CONTENT))


def parse_schema(buf: Buffer, start: int, end: int, base: int = 0) -> Schema:
    fields = _fields(buf, start, end, Op.SCHEMA, base)
    schema_id, name, encoding = fields.u16(), fields.string(), fields.string()
    return Schema(schema_id, name, encoding, fields.raw(fields.u32()))


def parse_channel(buf: Buffer, start: int, end: int, base: int = 0) -> ChannelRecord:
    fields = _fields(buf, start, end, Op.CHANNEL, base)
    channel_id, schema_id = fields.u16(), fields.u16()
    topic, encoding = fields.string(), fields.string()
    return ChannelRecord(channel_id, schema_id, topic, encoding, fields.string_map())


def parse_chunk(buf: Buffer, start: int, end: int, base: int = 0) -> Chunk:
    """A chunk record's header; its ``records`` field must lie inside the record."""
    fields = _fields(buf, start, end, Op.CHUNK, base)
    start_time, end_time, size, crc = fields.unpack(CHUNK_FIELDS)
    compression = fields.string()
    length = fields.u64()
    records_start, _ = fields.span(length)
    return Chunk(
        start=base + start - RECORD_PREFIX.size,
        end=base + end,
        message_start_time=start_time,
        message_end_time=end_time,
        uncompressed_size=size,
        uncompressed_crc=crc,
        compression=compression,
        records_start=base + records_start,
        records_length=length,
    )


def parse_chunk_index(buf: Buffer, start: int, end: int, base: int = 0) -> ChunkIndex:
    fields = _fields(buf, start, end, Op.CHUNK_INDEX, base)
    start_time, end_time, offset, length = (fields.u64() for _ in range(4))
    offsets = fields.u16_u64_map()
    index_length = fields.u64()
    compression = fields.string()
    return ChunkIndex(
        start_time, end_time, offset, length, offsets, index_length, compression, fields.u64(), fields.u64()
    )


def parse_attachment(
    buf: Buffer, start: int, end: int, base: int = 0, head_end: int | None = None
) -> Attachment:
    """An attachment record's fields and where its data is. Only the record's head (up to ``head_end``
    in ``buf``, the whole content by default) needs to be read: the data itself is not."""
    fields = _fields(buf, start, end if head_end is None else head_end, Op.ATTACHMENT, base)
    log_time, create_time = fields.u64(), fields.u64()
    name, media_type = fields.string(), fields.string()
    length = fields.u64()
    data_start = fields.position
    if length > end - data_start:
        raise fields.error("its data runs past the record")
    return Attachment(log_time, create_time, name, media_type, base + data_start, length)


def parse_attachment_index(buf: Buffer, start: int, end: int, base: int = 0) -> AttachmentIndex:
    fields = _fields(buf, start, end, Op.ATTACHMENT_INDEX, base)
    offset, length, log_time, create_time, data_size = (fields.u64() for _ in range(5))
    return AttachmentIndex(offset, length, log_time, create_time, data_size, fields.string(), fields.string())


def parse_statistics(buf: Buffer, start: int, end: int, base: int = 0) -> Statistics:
    fields = _fields(buf, start, end, Op.STATISTICS, base)
    message_count, schema_count = fields.u64(), fields.u16()
    counts = (fields.u32() for _ in range(4))
    channel_count, attachment_count, metadata_count, chunk_count = counts
    start_time, end_time = fields.u64(), fields.u64()
    return Statistics(
        message_count,
        schema_count,
        channel_count,
        attachment_count,
        metadata_count,
        chunk_count,
        start_time,
        end_time,
        fields.u16_u64_map(),
    )


def parse_metadata(buf: Buffer, start: int, end: int, base: int = 0) -> Metadata:
    fields = _fields(buf, start, end, Op.METADATA, base)
    return Metadata(fields.string(), fields.string_map())


def parse_metadata_index(buf: Buffer, start: int, end: int, base: int = 0) -> MetadataIndex:
    fields = _fields(buf, start, end, Op.METADATA_INDEX, base)
    return MetadataIndex(fields.u64(), fields.u64(), fields.string())


def parse_message_index(buf: Buffer, start: int, end: int, base: int = 0) -> tuple[int, int, int]:
    """A message index record as ``(channel id, entries start, entries end)`` in ``buf``: its entries are
    ``(log_time: u64, offset: u64)`` pairs, read by callers as one array."""
    fields = _fields(buf, start, end, Op.MESSAGE_INDEX, base)
    channel_id = fields.u16()
    length = fields.u32()
    if length % 16:
        raise fields.error(f"its entries take {length} bytes, not a multiple of 16")
    return (channel_id, *fields.span(length))
