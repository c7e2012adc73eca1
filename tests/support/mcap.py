"""MCAP files for tests: written with the ``mcap`` package's writer, or record by record where the
writer cannot (records of unknown opcodes, an unknown compression, a message on an undeclared
channel); and what the ``mcap`` package's readers find in them, to compare the indexer with."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import lz4.frame
import zstandard
from mcap.exceptions import McapError
from mcap.reader import NonSeekingReader, make_reader
from mcap.writer import CompressionType, IndexType, Writer
from rosbags.typesys import Stores, get_typestore

from openlqs.formats.base import ChunkColumns, LogIndex, MessagePosition
from openlqs.formats.compression import decompress
from openlqs.formats.mcap import McapFormat
from tests.support.sources import BytesSource

ROS2 = get_typestore(Stores.LATEST)
STRING_DEFINITION = "string data\n"
MAGIC = b"\x89MCAP0\r\n"


def ros2_string(text: str) -> bytes:
    """A ``std_msgs/msg/String`` as CDR bytes (with the 4-byte encapsulation header)."""
    message = ROS2.types["std_msgs/msg/String"](data=text)
    return bytes(ROS2.serialize_cdr(message, "std_msgs/msg/String"))


def record_bytes(data: bytes, position: MessagePosition, cache: dict[int, bytes] | None = None) -> bytes:
    """A message's bytes found through its record offsets, as the reading core finds them: the bytes at
    ``data_offset``/``data_length``, decompressed by ``chunk_compression``, sliced by ``chunk_offset``/
    ``chunk_length``."""
    raw = data[position.data_offset : position.data_offset + position.data_length]
    if position.chunk_compression is None:
        return raw
    chunk = None if cache is None else cache.get(position.data_offset)
    if chunk is None:
        chunk = decompress(raw, position.chunk_compression)
        if cache is not None:
            cache[position.data_offset] = chunk
    assert position.chunk_offset is not None and position.chunk_length is not None
    return chunk[position.chunk_offset : position.chunk_offset + position.chunk_length]


@dataclass(frozen=True)
class Indexed:
    """One message as the indexer found it, its bytes read back through its record offsets."""

    topic: str
    channel_id: int
    log_time: int
    data: bytes
    position: MessagePosition


def all_columns(data: bytes, index: LogIndex) -> Iterator[ChunkColumns]:
    """Every span of ``index`` indexed into columns, as the pipeline's parts would (span by span)."""
    for span in index.spans:
        yield from McapFormat().index_columns(data[span.start : span.end], span.start)


def indexed_messages(data: bytes, index: LogIndex | None = None) -> list[Indexed]:
    """Every message of an MCAP file through ``read_index`` and ``index_columns``, in file order."""
    index = index or McapFormat().read_index(BytesSource(data))
    cache: dict[int, bytes] = {}
    found = []
    for columns in all_columns(data, index):
        for position in columns.positions():
            channel = index.channels[position.connection_id]
            found.append(
                Indexed(
                    channel.topic,
                    position.connection_id,
                    position.timestamp,
                    record_bytes(data, position, cache),
                    position,
                )
            )
    return found


def reference_messages(data: bytes) -> list[tuple[str, int, int, bytes]]:
    """``(topic, channel id, log time, data)`` of every message the ``mcap`` package reads, in file
    order (its non-seeking reader, which needs no index)."""
    reader = NonSeekingReader(io.BytesIO(data))
    return [
        (channel.topic, channel.id, message.log_time, message.data)
        for _, channel, message in reader.iter_messages(log_time_order=False)
    ]


def reference_messages_of_cut_file(data: bytes) -> list[tuple[str, int, int, bytes]]:
    """What the ``mcap`` package's non-seeking reader yields from a cut-off file before it stops."""
    found = []
    reader = NonSeekingReader(io.BytesIO(data))
    try:
        for _, channel, message in reader.iter_messages(log_time_order=False):
            found.append((channel.topic, channel.id, message.log_time, message.data))
    except (McapError, EOFError, struct.error, ValueError):
        pass
    return found


def seeking_reference(data: bytes) -> list[tuple[str, int, bytes]]:
    """``(topic, log time, data)`` in log-time order from the ``mcap`` package's indexed reader."""
    reader = make_reader(io.BytesIO(data))
    return [(channel.topic, message.log_time, message.data) for _, channel, message in reader.iter_messages()]


def as_tuples(found: Iterable[Indexed]) -> list[tuple[str, int, int, bytes]]:
    return [(m.topic, m.channel_id, m.log_time, m.data) for m in found]


@dataclass(frozen=True)
class Topic:
    """A channel to write: topic, schema (name, encoding, data) and message encoding."""

    topic: str
    schema_name: str = "std_msgs/msg/String"
    schema_encoding: str = "ros2msg"
    schema_data: bytes = STRING_DEFINITION.encode()
    message_encoding: str = "cdr"
    metadata: dict[str, str] = field(default_factory=dict)


COMPRESSIONS = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4, "none": CompressionType.NONE}


def write_mcap(
    messages: Iterable[tuple[str, int, bytes]],
    topics: Iterable[Topic] = (),
    *,
    compression: str = "zstd",
    chunked: bool = True,
    chunk_size: int = 1024,
    index_types: IndexType = IndexType.ALL,
    statistics: bool = True,
    summary: bool = True,
    attachments: Iterable[tuple[str, str, bytes]] = (),
    metadata: Iterable[tuple[str, dict[str, str]]] = (),
    profile: str = "ros2",
) -> bytes:
    """An MCAP file written by the ``mcap`` package: ``(topic, log_time, data)`` messages in the order
    given, on channels declared as ``topics`` say (a ``std_msgs/msg/String`` channel for any other
    topic), then the attachments ``(name, media_type, data)`` and metadata ``(name, pairs)``.

    ``summary=False`` leaves the summary section out altogether (no schemas, channels, statistics or
    indexes after the data end)."""
    stream = io.BytesIO()
    writer = Writer(
        stream,
        chunk_size=chunk_size,
        compression=COMPRESSIONS[compression],
        index_types=index_types if summary else IndexType.NONE,
        repeat_channels=summary,
        repeat_schemas=summary,
        use_chunking=chunked,
        use_statistics=statistics and summary,
        use_summary_offsets=summary,
    )
    writer.start(profile=profile)
    declared = {topic.topic: topic for topic in topics}
    channels: dict[str, int] = {}
    schemas: dict[tuple[str, str, bytes], int] = {}

    def channel_of(name: str) -> int:
        if name not in channels:
            topic = declared.get(name, Topic(name))
            key = (topic.schema_name, topic.schema_encoding, topic.schema_data)
            if key not in schemas:
                schemas[key] = writer.register_schema(*key)
            channels[name] = writer.register_channel(
                name, topic.message_encoding, schemas[key], dict(topic.metadata)
            )
        return channels[name]

    for topic in declared:
        channel_of(topic)
    for sequence, (topic_name, log_time, data) in enumerate(messages):
        writer.add_message(channel_of(topic_name), log_time, data, log_time, sequence)
    for name, media_type, data in attachments:
        writer.add_attachment(create_time=7, log_time=8, name=name, media_type=media_type, data=data)
    for name, pairs in metadata:
        writer.add_metadata(name, pairs)
    writer.finish()
    return stream.getvalue()


def string_messages(count: int, topics: tuple[str, ...] = ("/a", "/b"), start: int = 1_000) -> list[Any]:
    """``count`` ``std_msgs/msg/String`` messages round-robin over ``topics``, 10 ns apart."""
    return [(topics[i % len(topics)], start + 10 * i, ros2_string(f"message {i}")) for i in range(count)]


# -- Raw records, for files the writer cannot make -------------------------------------------------


def record(opcode: int, content: bytes) -> bytes:
    return struct.pack("<BQ", opcode, len(content)) + content


def padded(record_bytes: bytes, extra: int) -> bytes:
    """A record with ``extra`` bytes appended to its content, as a writer of a newer version of the
    format may append fields: readers must skip them by the record's length."""
    opcode, length = struct.unpack_from("<BQ", record_bytes)
    return struct.pack("<BQ", opcode, length + extra) + record_bytes[9:] + b"\xaa" * extra


def string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<I", len(data)) + data


def header_record(profile: str = "", library: str = "openlqs tests") -> bytes:
    return record(0x01, string(profile) + string(library))


def schema_record(schema_id: int, name: str, encoding: str, data: bytes) -> bytes:
    return record(
        0x03,
        struct.pack("<H", schema_id) + string(name) + string(encoding) + struct.pack("<I", len(data)) + data,
    )


def channel_record(
    channel_id: int, schema_id: int, topic: str, encoding: str = "cdr", **metadata: str
) -> bytes:
    pairs = b"".join(string(key) + string(value) for key, value in metadata.items())
    content = struct.pack("<HH", channel_id, schema_id) + string(topic) + string(encoding)
    return record(0x04, content + struct.pack("<I", len(pairs)) + pairs)


def message_record(channel_id: int, log_time: int, data: bytes, sequence: int = 0) -> bytes:
    return record(0x05, struct.pack("<HIQQ", channel_id, sequence, log_time, log_time) + data)


def chunk_record(
    records: bytes, compression: str = "zstd", *, crc: int | None = None, start: int = 0, end: int = 0
) -> bytes:
    """A chunk of ``records``; ``crc`` None computes it (0 means none), any other value is written as is."""
    if compression == "zstd":
        compressed = zstandard.compress(records)
    elif compression == "lz4":
        compressed = lz4.frame.compress(records)
    else:
        compressed = records
    checksum = zlib.crc32(records) if crc is None else crc
    content = struct.pack("<QQQI", start, end, len(records), checksum) + string(compression)
    return record(0x06, content + struct.pack("<Q", len(compressed)) + compressed)


def message_index_record(channel_id: int, entries: Iterable[tuple[int, int]]) -> bytes:
    body = b"".join(struct.pack("<QQ", log_time, offset) for log_time, offset in entries)
    return record(0x07, struct.pack("<HI", channel_id, len(body)) + body)


def data_end_record() -> bytes:
    return record(0x0F, struct.pack("<I", 0))


def footer_and_magic(summary_start: int = 0) -> bytes:
    return record(0x02, struct.pack("<QQI", summary_start, 0, 0)) + MAGIC


def raw_mcap(*records: bytes, footer: bool = True) -> bytes:
    """Magic, a header, ``records``, a data end and (``footer``) an empty footer and the magic."""
    body = MAGIC + header_record() + b"".join(records)
    return body + data_end_record() + footer_and_magic() if footer else body


def string_schema_and_channel(channel_id: int = 1, topic: str = "/a", schema_id: int = 1) -> bytes:
    return schema_record(
        schema_id, "std_msgs/msg/String", "ros2msg", STRING_DEFINITION.encode()
    ) + channel_record(channel_id, schema_id, topic)
