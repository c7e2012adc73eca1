"""ROS 2 recordings for tests: written with rosbags' rosbag2 writer or by hand (old sqlite schemas,
split recordings), and read back independently of openlqs (Python's ``sqlite3``, the ``mcap`` package).
"""

from __future__ import annotations

import hashlib
import io
import shutil
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from mcap.reader import make_reader
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

#: A message type no rosbags store knows, so its definition can only come from the recording.
CUSTOM_TYPE = "openlqs_test_msgs/msg/Reading"
CUSTOM_DEFINITION = "string label\nfloat64[] values\nstd_msgs/Header header\n"

TYPESTORE = get_typestore(Stores.LATEST)
TYPESTORE.register(get_types_from_msg(CUSTOM_DEFINITION, CUSTOM_TYPE))

Storage = Literal["sqlite3", "mcap"]
Compression = Literal["none", "file", "message"]

QOS_RELIABLE = Qos(
    QosHistory.KEEP_LAST,
    10,
    QosReliability.RELIABLE,
    QosDurability.VOLATILE,
    QosTime(0, 0),
    QosTime(0, 0),
    QosLiveliness.AUTOMATIC,
    QosTime(0, 0),
    False,
)


@dataclass(frozen=True)
class Message:
    """One message of a recording: topic, type, timestamp (ns) and CDR bytes."""

    topic: str
    type: str
    timestamp: int
    data: bytes


@dataclass
class Recording:
    """A recording written for a test: its folder and, in write order, the messages of each file."""

    path: Path
    files: list[str]
    messages: list[list[Message]] = field(default_factory=list)

    @property
    def all_messages(self) -> list[Message]:
        return [message for part in self.messages for message in part]


def string_message(topic: str, timestamp: int, text: str) -> Message:
    data = TYPESTORE.serialize_cdr(TYPESTORE.types["std_msgs/msg/String"](data=text), "std_msgs/msg/String")
    return Message(topic, "std_msgs/msg/String", timestamp, bytes(data))


def point_message(topic: str, timestamp: int, x: float) -> Message:
    point = TYPESTORE.types["geometry_msgs/msg/Point"](x=x, y=-x, z=0.5)
    return Message(
        topic, "geometry_msgs/msg/Point", timestamp, bytes(TYPESTORE.serialize_cdr(point, point.__msgtype__))
    )


def reading_message(topic: str, timestamp: int, label: str, values: Sequence[float]) -> Message:
    types = TYPESTORE.types
    header = types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=timestamp // 10**9, nanosec=timestamp % 10**9),
        frame_id="base",
    )
    reading = types[CUSTOM_TYPE](label=label, values=np.array(values, dtype=np.float64), header=header)
    return Message(topic, CUSTOM_TYPE, timestamp, bytes(TYPESTORE.serialize_cdr(reading, CUSTOM_TYPE)))


def mixed_messages(start: int, count: int) -> list[Message]:
    """``count`` messages on three topics (a string, a point, a custom type), with equal timestamps too."""
    messages: list[Message] = []
    for i in range(count):
        timestamp = start + (i // 2) * 1_000_000  # pairs share a timestamp
        kind = i % 3
        if kind == 0:
            messages.append(string_message("/chatter", timestamp, f"hello {i}"))
        elif kind == 1:
            messages.append(point_message("/point", timestamp, float(i)))
        else:
            messages.append(reading_message("/reading", timestamp, f"r{i}", [i, i / 2, -i]))
    return messages


def write_rosbags_recording(
    path: Path,
    messages: Iterable[Message],
    *,
    storage: Storage,
    compression: Compression = "none",
    version: Literal[8, 9] = 9,
) -> Recording:
    """A one-file recording written by rosbags' rosbag2 writer; topics get a QoS profile each."""
    writer = Writer(path, version=version, storage_plugin=StoragePlugin[storage.upper()])
    if compression != "none":
        writer.set_compression(CompressionMode[compression.upper()], CompressionFormat.ZSTD)
    written = list(messages)
    with writer:
        connections: dict[str, Any] = {}
        for message in written:
            if message.topic not in connections:
                connections[message.topic] = writer.add_connection(
                    message.topic, message.type, typestore=TYPESTORE, offered_qos_profiles=[QOS_RELIABLE]
                )
            writer.write(connections[message.topic], message.timestamp, message.data)
    metadata = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    return Recording(path, list(metadata["relative_file_paths"]), [written])


def write_split_recording(
    path: Path, parts: Sequence[Sequence[Message]], *, storage: Storage, compression: Compression = "none"
) -> Recording:
    """A recording split into ``run_0``, ``run_1``, … the way rosbag2 splits (rosbags' writer cannot):
    each part written by rosbags' writer, then gathered in one folder under one hand-written
    metadata.yaml (version 9, with ``files``)."""
    path.mkdir()
    files: list[str] = []
    file_entries: list[dict[str, Any]] = []
    topics: dict[str, dict[str, Any]] = {}
    for index, part in enumerate(parts):
        piece = write_rosbags_recording(
            path.parent / f"{path.name}-part{index}", part, storage=storage, compression=compression
        )
        metadata = yaml.safe_load((piece.path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        (source,) = piece.files
        name = f"run_{index}{source[len(piece.path.name) :]}"
        shutil.move(piece.path / source, path / name)
        shutil.rmtree(piece.path)
        files.append(name)
        entry = metadata["files"][0]
        file_entries.append({**entry, "path": name})
        for topic in metadata["topics_with_message_count"]:
            known = topics.setdefault(topic["topic_metadata"]["name"], {**topic, "message_count": 0})
            known["message_count"] += topic["message_count"]
    timestamps = [m.timestamp for part in parts for m in part]
    start, end = min(timestamps), max(timestamps)
    information = {
        "version": 9,
        "storage_identifier": storage,
        "duration": {"nanoseconds": end - start},
        "starting_time": {"nanoseconds_since_epoch": start},
        "message_count": len(timestamps),
        "topics_with_message_count": list(topics.values()),
        "compression_format": "" if compression == "none" else "zstd",
        "compression_mode": "" if compression == "none" else compression,
        "relative_file_paths": files,
        "files": file_entries,
        "custom_data": None,
        "ros_distro": "jazzy",
    }
    (path / "metadata.yaml").write_text(yaml.safe_dump({"rosbag2_bagfile_information": information}))
    return Recording(path, files, [list(part) for part in parts])


# rosbag2's sqlite3 tables by schema version (rosbag2_storage_sqlite3), for files older rosbag2s wrote.
_TOPICS_V1 = (
    "CREATE TABLE topics(id INTEGER PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, "
    "serialization_format TEXT NOT NULL)"
)
_TOPICS_V2 = _TOPICS_V1[:-1] + ", offered_qos_profiles TEXT NOT NULL)"
_TOPICS_V4 = _TOPICS_V2[:-1] + ", type_description_hash TEXT NOT NULL)"
_MESSAGES = (
    "CREATE TABLE messages(id INTEGER PRIMARY KEY, topic_id INTEGER NOT NULL, "
    "timestamp INTEGER NOT NULL, data BLOB NOT NULL)"
)
_INDEX = "CREATE INDEX timestamp_idx ON messages (timestamp ASC)"
_SCHEMA = "CREATE TABLE schema(schema_version INTEGER PRIMARY KEY, ros_distro TEXT NOT NULL)"
_METADATA = (
    "CREATE TABLE metadata(id INTEGER PRIMARY KEY, metadata_version INTEGER NOT NULL, metadata TEXT NOT NULL)"
)
_DEFINITIONS = (
    "CREATE TABLE message_definitions(id INTEGER PRIMARY KEY, topic_type TEXT NOT NULL, "
    "encoding TEXT NOT NULL, encoded_message_definition TEXT NOT NULL, type_description_hash TEXT NOT NULL)"
)


@dataclass(frozen=True)
class Db3Topic:
    """A topic of a hand-written ``.db3``."""

    name: str
    type: str
    serialization_format: str = "cdr"
    qos: str = "- history: 1\n  depth: 10"
    type_hash: str = ""


def write_db3(
    path: Path,
    schema_version: Literal[1, 2, 3, 4],
    topics: Sequence[Db3Topic],
    rows: Iterable[tuple[int, int, bytes]],
    *,
    ros_distro: str = "humble",
    definitions: Sequence[tuple[str, str, str]] = (),
    with_index: bool = True,
) -> None:
    """A ``.db3`` with rosbag2's tables of ``schema_version``; ``rows`` are (topic id, timestamp, data),
    topic ids counting from 1 in ``topics`` order; ``definitions`` (type, encoding, text) need version 4.
    """
    connection = sqlite3.connect(path)
    topics_table = {1: _TOPICS_V1, 2: _TOPICS_V2, 3: _TOPICS_V2, 4: _TOPICS_V4}[schema_version]
    for statement in (topics_table, _MESSAGES, *([_INDEX] if with_index else [])):
        connection.execute(statement)
    if schema_version >= 3:
        connection.execute(_SCHEMA)
        connection.execute(_METADATA)
        connection.execute("INSERT INTO schema VALUES (?, ?)", (schema_version, ros_distro))
    if schema_version >= 4:
        connection.execute(_DEFINITIONS)
        connection.executemany(
            "INSERT INTO message_definitions (topic_type, encoding, encoded_message_definition, "
            "type_description_hash) VALUES (?, ?, ?, '')",
            definitions,
        )
    for topic in topics:
        values: list[Any] = [topic.name, topic.type, topic.serialization_format]
        if schema_version >= 2:
            values.append(topic.qos)
        if schema_version >= 4:
            values.append(topic.type_hash)
        marks = ", ".join("?" * (len(values) + 1))
        connection.execute(f"INSERT INTO topics VALUES ({marks})", [None, *values])
    connection.executemany("INSERT INTO messages (topic_id, timestamp, data) VALUES (?, ?, ?)", rows)
    connection.commit()
    connection.close()


# Independent readings.


@dataclass(frozen=True)
class McapMessage:
    """One message of an MCAP file as the ``mcap`` package reads it, with its channel and schema."""

    topic: str
    schema_name: str
    schema_encoding: str
    schema_data: bytes
    message_encoding: str
    channel_metadata: dict[str, str]
    log_time: int
    publish_time: int
    data: bytes


def read_mcap(source: bytes | Path) -> list[McapMessage]:
    """Every message of an MCAP file in log-time order, read with the ``mcap`` package."""
    stream = io.BytesIO(source) if isinstance(source, bytes) else source.open("rb")
    with stream:
        reader = make_reader(stream)
        return [
            McapMessage(
                channel.topic,
                schema.name if schema else "",
                schema.encoding if schema else "",
                schema.data if schema else b"",
                channel.message_encoding,
                dict(channel.metadata),
                message.log_time,
                message.publish_time,
                message.data,
            )
            for schema, channel, message in reader.iter_messages(log_time_order=True)
        ]


def read_db3(path: Path) -> list[Message]:
    """Every message of a ``.db3`` in rosbag2's replay order (timestamp, then id), with Python's sqlite3."""
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute(
            "SELECT topics.name, topics.type, messages.timestamp, messages.data FROM messages "
            "JOIN topics ON topics.id = messages.topic_id ORDER BY messages.timestamp, messages.id"
        ).fetchall()
    finally:
        connection.close()
    return [Message(name, type_name, timestamp, bytes(data)) for name, type_name, timestamp, data in rows]


def topic_digests(messages: Iterable[Message | McapMessage]) -> dict[str, tuple[int, int, int, str]]:
    """Per topic: message count, first and last timestamp, sha256 of the bytes concatenated in order."""
    result: dict[str, tuple[int, int, int, Any]] = {}
    for message in messages:
        timestamp = message.timestamp if isinstance(message, Message) else message.log_time
        count, first, _, digest = result.get(message.topic, (0, timestamp, timestamp, hashlib.sha256()))
        digest.update(message.data)
        result[message.topic] = (count + 1, first, timestamp, digest)
    return {topic: (c, f, la, d.hexdigest()) for topic, (c, f, la, d) in result.items()}


def in_replay_order(messages: Iterable[Message]) -> list[Message]:
    """Messages as rosbag2 replays them: by timestamp, ties in write order (``sorted`` is stable)."""
    return sorted(messages, key=lambda message: message.timestamp)
