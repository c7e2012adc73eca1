"""A rosbag2 sqlite3 storage file (``.db3``) rewritten as an MCAP file, message for message.

Message bytes in sqlite pages cannot be range-read as one span, so a record cannot point into a
``.db3``; the MCAP written here can be indexed like any MCAP, and records point into it. It has the
shape of rosbag2's own MCAP storage:

- profile ``ros2``; zstd chunks of at most :data:`CHUNK_SIZE` bytes (plus one message); message
  indexes, chunk indexes, statistics and summary offsets in the summary;
- one schema per type: ``ros2msg`` (or ``ros2idl``) text from the file's ``message_definitions``
  table, else from rosbags' stores of standard types (:mod:`.definitions`), else a schema with the
  type's name, MCAP's "no schema" encoding ``""`` and empty data (a ``ros2msg`` schema with empty data
  would claim the type has no fields, and decoders would trust it);
- one channel per topic, ``message_encoding`` = the topic's serialization format, channel metadata
  ``offered_qos_profiles`` (QoS YAML text) and ``topic_type_hash``, as rosbag2 writes them;
- messages in timestamp order, then insertion order; ``log_time`` = ``publish_time`` = the stored
  timestamp (sqlite3 storage keeps only the receive time). Message-compressed recordings are
  decompressed on the way, so the MCAP holds the plain message bytes.

Memory stays bounded: rows are streamed from the cursor and the writer holds one chunk at a time. The
writer is :mod:`.mcap_writer`'s (about ten times the ``mcap`` package's writer on small messages).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from openlqs.errors import BadLogFile
from openlqs.formats.rosbag2.definitions import definition_from_store
from openlqs.formats.rosbag2.mcap_writer import FastMcapWriter
from openlqs.formats.rosbag2.metadata import COMPRESSION_MODES, CompressionMode, Rosbag2Metadata
from openlqs.formats.rosbag2.sqlite import Db3MessageDefinition, Db3Reader, Db3Topic
from openlqs.formats.rosbag2.zstd import ZstdMessageDecompressor

#: Uncompressed size past which a chunk is closed: 4 MiB keeps the writer's memory small and a record
#: read (one chunk decompressed per record span) cheap, while zstd still compresses well.
CHUNK_SIZE = 4 * 1024 * 1024
#: The largest message a message-compressed recording may decompress to (sqlite's blob limit is 1 GB).
MAX_MESSAGE_BYTES = 1 << 30
#: The MCAP header's library field.
LIBRARY = "openlqs rosbag2 sqlite3 conversion"
#: Definition encodings that go into a schema as they are.
DEFINITION_ENCODINGS = ("ros2msg", "ros2idl")

DefinitionEncoding = Literal["ros2msg", "ros2idl"]


class ConvertedTopic(BaseModel):
    """One topic (a ``topics`` row) of a converted ``.db3``, as its MCAP channel holds it.

    ``definition_source`` is ``file`` (the ``message_definitions`` table), ``rosbags:<store>`` or None
    (no definition: the channel's schema has encoding ``""`` and empty data, so the topic's
    ``type_data`` stays null); ``definition_note`` says where from, or why none, in words.
    Timestamps are nanoseconds; ``first_timestamp``/``last_timestamp`` are None without messages.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    type: str
    serialization_format: str
    offered_qos_profiles: str
    type_description_hash: str
    channel_id: int
    message_count: int
    first_timestamp: int | None
    last_timestamp: int | None
    definition_encoding: DefinitionEncoding | None
    definition_source: str | None
    definition_note: str


class ConversionSummary(BaseModel):
    """What a conversion wrote: topics in ``topics`` table order, message total, MCAP size in bytes."""

    model_config = ConfigDict(frozen=True)

    schema_version: int
    ros_distro: str
    topics: list[ConvertedTopic]
    message_count: int
    output_bytes: int


class _CountingSink:
    """The writer's output: positions count from the MCAP's first byte, whatever ``out`` is.

    mcap's writer asks its stream for ``tell()`` to fill chunk and summary offsets; a multipart upload
    stream has no position, and a file might not start at 0.
    """

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.written = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.out.write(data)
        self.written += len(data)
        return len(data)

    def tell(self) -> int:
        return self.written

    def flush(self) -> None:
        self.out.flush()


@dataclass(frozen=True)
class _Definition:
    encoding: DefinitionEncoding | None
    text: str
    source: str | None
    note: str


class _Channel:
    """A topic on its way into the MCAP: its channel and what was written to it so far."""

    def __init__(self, topic: Db3Topic, qos: str, type_hash: str, channel_id: int) -> None:
        self.topic = topic
        self.qos = qos
        self.type_hash = type_hash
        self.channel_id = channel_id
        self.count = 0
        self.first: int | None = None
        self.last: int | None = None


def convert_db3_to_mcap(
    db3_path: Path,
    out: BinaryIO,
    *,
    compression_mode: CompressionMode,
    metadata: Rosbag2Metadata | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> ConversionSummary:
    """Write the messages of the rosbag2 sqlite3 file ``db3_path`` to ``out`` as an MCAP file.

    ``compression_mode`` is the recording's: ``message`` decompresses every message (zstd); ``none``
    and ``file`` copy the bytes (a ``file``-compressed ``.db3.zstd`` is decompressed before, with
    :func:`~openlqs.formats.rosbag2.zstd.decompress_zstd_stream`). ``metadata`` (the recording's
    ``metadata.yaml``) fills what old files lack: topics' QoS profiles and type hashes, and the ROS
    distribution that picks rosbags' store. ``out`` needs ``write`` and ``flush`` only; it receives the
    MCAP from its first byte on. A failed conversion leaves a partial MCAP in ``out``, to discard.

    ``BadLogFile``: not a sqlite database, not rosbag2's tables, a message on a topic id the
    ``topics`` table lacks, a message that is not a blob or has a negative timestamp, a message that
    does not decompress (each naming its topic and timestamp). ``ValueError`` for a
    ``compression_mode`` that is none of the three (a caller's mistake, not a bad file).
    """
    if compression_mode not in COMPRESSION_MODES.values():
        raise ValueError(f"compression_mode must be none, file or message, not {compression_mode!r}")
    with Db3Reader(db3_path) as reader:
        ros_distro = reader.ros_distro or (metadata.ros_distro if metadata else "")
        sink = _CountingSink(out)
        writer = FastMcapWriter(sink, chunk_size=chunk_size)  # type: ignore[arg-type]  # write is all it uses
        writer.start(profile="ros2", library=LIBRARY)
        channels: dict[int, _Channel] = {}
        for topic in reader.topics:
            recorded = metadata.topic(topic.name) if metadata else None
            qos = (
                topic.offered_qos_profiles
                if topic.offered_qos_profiles is not None
                else recorded.topic_metadata.offered_qos_text
                if recorded
                else ""
            )
            type_hash = topic.type_description_hash or (
                recorded.topic_metadata.type_description_hash if recorded else ""
            )
            channels[topic.id] = _Channel(topic, qos, type_hash, 0)
        definitions = {
            type_name: _definition(type_name, reader.message_definitions, channels.values(), ros_distro)
            for type_name in dict.fromkeys(topic.type for topic in reader.topics)
        }
        schema_ids = {
            type_name: writer.register_schema(
                name=type_name,
                encoding=definition.encoding or "",
                data=definition.text.encode(),
            )
            for type_name, definition in definitions.items()
        }
        for channel in channels.values():
            channel.channel_id = writer.register_channel(
                topic=channel.topic.name,
                message_encoding=channel.topic.serialization_format,
                schema_id=schema_ids[channel.topic.type],
                metadata={"offered_qos_profiles": channel.qos, "topic_type_hash": channel.type_hash},
            )
        decompress = (
            ZstdMessageDecompressor(max_output_bytes=MAX_MESSAGE_BYTES)
            if compression_mode == "message"
            else None
        )
        # Batches where each message is copied as it is, along rosbag2's timestamp index; rows where
        # messages are decompressed one by one, or there is no index to walk.
        rows: Iterable[tuple[Any, Any, Any]]
        if decompress is None and reader.batches_walk_the_index():
            rows, total = _write_batches(reader, writer, channels)
        else:
            rows, total = reader.messages(), 0
        add_message = writer.add_message
        for topic_id, timestamp, data in rows:
            target = channels.get(topic_id)
            if target is None:
                raise _unknown_topic(db3_path, topic_id, timestamp)
            # Runs once per message: a well-formed, uncompressed row skips the checking call.
            if (
                type(timestamp) is not int
                or timestamp < 0
                or type(data) is not bytes
                or decompress is not None
            ):
                data = _message_bytes(data, timestamp, target.topic.name, decompress)
            add_message(target.channel_id, log_time=timestamp, data=data, publish_time=timestamp)
            target.count += 1
            if target.first is None:
                target.first = timestamp
            target.last = timestamp
            total += 1
        writer.finish()
        return ConversionSummary(
            schema_version=reader.schema_version,
            ros_distro=ros_distro,
            topics=[_converted(channel, definitions[channel.topic.type]) for channel in channels.values()],
            message_count=total,
            output_bytes=sink.written,
        )


def _write_batches(
    reader: Db3Reader, writer: FastMcapWriter, channels: dict[int, _Channel]
) -> tuple[Iterable[tuple[Any, Any, Any]], int]:
    """Write the messages batch by batch (``Db3Reader.message_batches``, ``FastMcapWriter.add_messages``):
    no Python per message. Returns the rows still to write one by one (those from a batch holding a row
    that is not rosbag2's on, whose check names it) and how many messages were written."""
    known = np.array(sorted(channels), dtype=np.int64)
    channel_of = np.array([channels[topic_id].channel_id for topic_id in known.tolist()], dtype=np.int64)
    total = 0
    for batch in reader.message_batches():
        if batch.irregular:
            return reader.messages_after(batch.after), total
        at = np.minimum(np.searchsorted(known, batch.topic_ids), max(len(known) - 1, 0))
        found = known[at] == batch.topic_ids if len(known) else np.zeros(len(batch), dtype=bool)
        if not found.all():
            first = int(np.flatnonzero(~found)[0])
            raise _unknown_topic(reader.path, int(batch.topic_ids[first]), int(batch.timestamps[first]))
        writer.add_messages(channel_of[at], batch.timestamps, batch.lengths, batch.data)
        for topic_id in np.unique(batch.topic_ids).tolist():
            times = batch.timestamps[batch.topic_ids == topic_id]
            target = channels[topic_id]
            target.count += len(times)
            if target.first is None:
                target.first = int(times[0])
            target.last = int(times[-1])
        total += len(batch)
    return (), total


def _unknown_topic(path: Path, topic_id: object, timestamp: object) -> BadLogFile:
    return BadLogFile(
        f"{path.name}: the message at {timestamp} ns names topic id {topic_id}, "
        f"which its topics table does not have."
    )


def _message_bytes(
    data: object, timestamp: object, topic: str, decompress: ZstdMessageDecompressor | None
) -> bytes:
    """A message's bytes once its row is checked, decompressed when the recording compresses messages."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise BadLogFile(f"A message on {topic} has a timestamp that is not an integer ({timestamp!r}).")
    if not isinstance(data, bytes):
        raise BadLogFile(
            f"The message on {topic} at {timestamp} ns is not a blob (found {type(data).__name__})."
        )
    if timestamp < 0:
        raise BadLogFile(f"The message on {topic} has a negative timestamp ({timestamp} ns).")
    if decompress is None:
        return data
    try:
        return decompress(data)
    except BadLogFile as error:
        raise BadLogFile(
            f"The message on {topic} at {timestamp} ns does not decompress: {error.detail}"
        ) from error


def _definition(
    type_name: str,
    rows: list[Db3MessageDefinition],
    channels: Iterable[_Channel],
    ros_distro: str,
) -> _Definition:
    """Where ``type_name``'s definition comes from: the file's table, else rosbags' stores, else nowhere."""
    type_hash = next((c.type_hash for c in channels if c.topic.type == type_name and c.type_hash), "")
    candidates = [row for row in rows if row.topic_type == type_name]
    usable = [row for row in candidates if row.encoding in DEFINITION_ENCODINGS and row.text.strip()]
    if usable:
        row = next((r for r in usable if type_hash and r.type_description_hash == type_hash), usable[0])
        encoding: DefinitionEncoding = "ros2idl" if row.encoding == "ros2idl" else "ros2msg"
        return _Definition(encoding, row.text, "file", "from the file's message_definitions table")
    lookup = definition_from_store(type_name, type_description_hash=type_hash, ros_distro=ros_distro)
    unusable = (
        f"the file's message_definitions row has encoding {candidates[0].encoding!r} and "
        f"{'text' if candidates[0].text.strip() else 'no text'}; "
        if candidates
        else ""
    )
    if lookup.definition is None:
        return _Definition(None, "", None, unusable + lookup.note)
    return _Definition(
        "ros2msg", lookup.definition.text, f"rosbags:{lookup.definition.store}", unusable + lookup.note
    )


def _converted(channel: _Channel, definition: _Definition) -> ConvertedTopic:
    return ConvertedTopic(
        name=channel.topic.name,
        type=channel.topic.type,
        serialization_format=channel.topic.serialization_format,
        offered_qos_profiles=channel.qos,
        type_description_hash=channel.type_hash,
        channel_id=channel.channel_id,
        message_count=channel.count,
        first_timestamp=channel.first,
        last_timestamp=channel.last,
        definition_encoding=definition.encoding,
        definition_source=definition.source,
        definition_note=definition.note,
    )


def decompress_mcap_messages(
    source: BinaryIO, out: BinaryIO, *, chunk_size: int = CHUNK_SIZE
) -> ConversionSummary:
    """Rewrite the MCAP ``source`` of a message-compressed recording (``compression_mode: message``:
    every message's data is one zstd frame) into ``out`` with every message decompressed: records then
    point at the CDR bytes themselves, which every reader (the official client too) takes as they are.

    Header profile, schemas, channels (with their metadata), log and publish times and sequence numbers
    are kept; messages are written in the file's order; memory holds one chunk at a time. ``BadLogFile``
    for a file the ``mcap`` package cannot read, or a message that does not decompress (naming its
    topic and time). The summary's topics carry no definitions (``definition_source`` None).
    """
    from mcap.exceptions import McapError
    from mcap.reader import make_reader

    sink = _CountingSink(out)
    writer = FastMcapWriter(sink, chunk_size=chunk_size)  # type: ignore[arg-type]  # write is all it uses
    decompress = ZstdMessageDecompressor(max_output_bytes=MAX_MESSAGE_BYTES)
    schema_ids: dict[int, int] = {}
    channel_ids: dict[int, int] = {}
    counts: dict[int, list[Any]] = {}
    total = 0
    try:
        reader = make_reader(source)
        header = reader.get_header()
        writer.start(profile=header.profile or "ros2", library=LIBRARY)
        for schema, channel, message in reader.iter_messages(log_time_order=False):
            if channel.id not in channel_ids:
                schema_id = 0
                if schema is not None:
                    if schema.id not in schema_ids:
                        schema_ids[schema.id] = writer.register_schema(
                            name=schema.name, encoding=schema.encoding, data=schema.data
                        )
                    schema_id = schema_ids[schema.id]
                channel_ids[channel.id] = writer.register_channel(
                    topic=channel.topic,
                    message_encoding=channel.message_encoding,
                    schema_id=schema_id,
                    metadata=dict(channel.metadata),
                )
                counts[channel.id] = [
                    channel.topic,
                    schema.name if schema else "",
                    channel.message_encoding,
                    0,
                ]
            try:
                data = decompress(message.data)
            except BadLogFile as error:
                raise BadLogFile(
                    f"The message on {channel.topic} at {message.log_time} ns does not decompress: "
                    f"{error.detail}"
                ) from error
            writer.add_message(
                channel_ids[channel.id],
                log_time=message.log_time,
                data=data,
                publish_time=message.publish_time,
                sequence=message.sequence,
            )
            counts[channel.id][3] += 1
            total += 1
    except McapError as error:
        raise BadLogFile(f"The MCAP file cannot be read: {error}.") from error
    writer.finish()
    return ConversionSummary(
        schema_version=0,
        ros_distro="",
        topics=[
            ConvertedTopic(
                name=name,
                type=type_name,
                serialization_format=encoding,
                offered_qos_profiles="",
                type_description_hash="",
                channel_id=channel_ids[channel_id],
                message_count=count,
                first_timestamp=None,
                last_timestamp=None,
                definition_encoding=None,
                definition_source=None,
                definition_note="kept from the file's schemas",
            )
            for channel_id, (name, type_name, encoding, count) in counts.items()
        ],
        message_count=total,
        output_bytes=sink.written,
    )
