"""Bags for tests: a byte source over a file, and small bags written with rosbags' writer."""

from __future__ import annotations

import bz2
from collections.abc import Iterable
from pathlib import Path

import lz4.frame
from rosbags.rosbag1 import Writer
from rosbags.typesys import Stores, get_typestore

from openlqs.bags.ros1 import MessagePosition

TYPESTORE = get_typestore(Stores.ROS1_NOETIC)


class FileSource:
    """``ByteSource`` over a file, counting the reads so tests can see how much was read."""

    def __init__(self, path: Path | str) -> None:
        self.data = Path(path).read_bytes()
        self.reads: list[tuple[int, int]] = []
        self._chunks: dict[int, bytes] = {}

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, start: int, end: int) -> bytes:
        self.reads.append((start, end))
        return self.data[start:end]

    def message_bytes(self, position: MessagePosition) -> bytes:
        """A message's bytes, found through its record offsets as a client would find them."""
        raw = self.data[position.data_offset : position.data_offset + position.data_length]
        if position.chunk_compression is None:
            return raw
        chunk = self._chunks.get(position.data_offset)
        if chunk is None:
            chunk = bz2.decompress(raw) if position.chunk_compression == "bz2" else lz4.frame.decompress(raw)
            self._chunks[position.data_offset] = chunk
        assert position.chunk_offset is not None and position.chunk_length is not None
        return chunk[position.chunk_offset : position.chunk_offset + position.chunk_length]


def string_message(text: str) -> bytes:
    message = TYPESTORE.types["std_msgs/msg/String"](data=text)
    return bytes(TYPESTORE.serialize_ros1(message, "std_msgs/msg/String"))


def write_string_bag(
    path: Path,
    messages: Iterable[tuple[str, int, str]],
    *,
    compression: Writer.CompressionFormat | None = None,
    chunk_threshold: int = 1024 * 1024,
) -> Path:
    """A bag of ``std_msgs/String`` messages ``(topic, timestamp, text)``, in the order given."""
    writer = Writer(path)
    if compression is not None:
        writer.set_compression(compression)
    writer.chunk_threshold = chunk_threshold
    with writer:
        connections = {}
        for topic, timestamp, text in messages:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, "std_msgs/msg/String", typestore=TYPESTORE)
            writer.write(connections[topic], timestamp, string_message(text))
    return path


#: Topics and message counts of the real example*.bag fixtures (shared/fixtures/bags/README.md).
EXAMPLE_BAG_TOPIC_COUNTS = {
    "/rosout": 10,
    "/tf": 2688,
    "/tf_static": 1,
    "/turtle1/cmd_vel": 357,
    "/turtle1/color_sensor": 1351,
    "/turtle1/pose": 1344,
    "/turtle2/cmd_vel": 208,
    "/turtle2/color_sensor": 1344,
    "/turtle2/pose": 1344,
}
