"""Bags for tests: a byte source over a file, and small bags written with rosbags' writer."""

from __future__ import annotations

import bz2
import io
import struct
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lz4.frame
import numpy as np
from PIL import Image
from rosbags.rosbag1 import Reader, Writer
from rosbags.typesys import Stores, get_typestore

from openlqs.formats.base import MessagePosition
from openlqs.formats.ros1.bag import OP_CHUNK_INFO, read_record
from tests.support.sources import BytesSource

TYPESTORE = get_typestore(Stores.ROS1_NOETIC)


class FileSource(BytesSource):
    """``ByteSource`` over a file, counting the reads; it also reads messages by their offsets."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(Path(path).read_bytes())
        self._chunks: dict[int, bytes] = {}

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


def topic_counts(path: Path) -> dict[str, int]:
    """Messages per topic as rosbags reads them, message by message: a count independent of openlqs."""
    with Reader(path) as reader:
        return dict(Counter(connection.topic for connection, _, _ in reader.messages()))


def with_index_pos(data: bytes, index_pos: int) -> bytes:
    """The bag with its header's ``index_pos`` set to ``index_pos``."""
    at = data.index(b"index_pos=") + len(b"index_pos=")
    return data[:at] + struct.pack("<Q", index_pos) + data[at + 8 :]


def inflate_chunk_counts(data: bytes, factor: int) -> bytes:
    """The bag with every count of its chunk-info records multiplied by ``factor``."""
    (index_pos,) = struct.unpack_from("<Q", data, data.index(b"index_pos=") + len(b"index_pos="))
    out = bytearray(data)
    position = index_pos
    while position < len(data):
        record = read_record(data, position)
        assert record is not None
        if record.header["op"][0] == OP_CHUNK_INFO:
            for at in range(record.data_start + 4, record.data_end, 8):
                (count,) = struct.unpack_from("<I", data, at)
                struct.pack_into("<I", out, at, count * factor)
        position = record.end
    return bytes(out)


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


@dataclass(frozen=True)
class WrittenBag:
    """A bag written for a test, with what it holds per topic."""

    path: Path
    topic_types: dict[str, str]
    topic_counts: dict[str, int]


#: A whole second, so that 1-second windows start with a message of every topic.
IMAGE_BAG_START_NS = 1_700_000_000 * 1_000_000_000


def _header(seq: int, timestamp: int, frame_id: str) -> Any:
    types = TYPESTORE.types
    stamp = types["builtin_interfaces/msg/Time"](sec=timestamp // 10**9, nanosec=timestamp % 10**9)
    return types["std_msgs/msg/Header"](seq=seq, stamp=stamp, frame_id=frame_id)


def _test_pattern(width: int, height: int, channels: int) -> np.ndarray:
    """Red left half, blue right half, a green band along the top (or grey levels for one channel)."""
    if channels == 1:
        return np.tile(np.linspace(0, 255, width, dtype=np.uint8), (height, 1))
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2] = (255, 0, 0)
    pixels[:, width // 2 :] = (0, 0, 255)
    pixels[: height // 8] = (0, 255, 0)
    return pixels


def write_image_bag(
    path: Path,
    *,
    seconds: int = 3,
    images_per_topic: int = 2,
    rgb_size: tuple[int, int] = (1280, 720),
    mono_size: tuple[int, int] = (640, 480),
    jpeg_size: tuple[int, int] = (800, 600),
) -> WrittenBag:
    """A bag of camera topics and a 10 Hz ``geometry_msgs/Twist`` topic over ``seconds`` seconds.

    ``/camera/rgb`` is an rgb8 ``sensor_msgs/Image`` (``rgb_size`` as width, height), ``/camera/mono``
    a mono8 one and ``/camera/compressed`` a jpeg ``sensor_msgs/CompressedImage``: each has
    ``images_per_topic`` messages spread over the bag. ``/cmd_vel`` has ``10 * seconds`` messages from
    :data:`IMAGE_BAG_START_NS` (a whole second) on, 100 ms apart, with ``linear.x`` the message index.
    """
    types = TYPESTORE.types
    rgb = _test_pattern(*rgb_size, channels=3)
    mono = _test_pattern(*mono_size, channels=1)
    jpeg = io.BytesIO()
    Image.fromarray(_test_pattern(*jpeg_size, channels=3), "RGB").save(jpeg, format="JPEG", quality=90)
    jpeg_data = np.frombuffer(jpeg.getvalue(), dtype=np.uint8)

    topic_types = {
        "/camera/rgb": "sensor_msgs/msg/Image",
        "/camera/mono": "sensor_msgs/msg/Image",
        "/camera/compressed": "sensor_msgs/msg/CompressedImage",
        "/cmd_vel": "geometry_msgs/msg/Twist",
    }
    messages: list[tuple[int, str, object]] = []
    image_interval = seconds * 10**9 // images_per_topic
    for index in range(images_per_topic):
        timestamp = IMAGE_BAG_START_NS + index * image_interval + 50_000_000
        for topic, pixels, encoding in (("/camera/rgb", rgb, "rgb8"), ("/camera/mono", mono, "mono8")):
            height, width = pixels.shape[:2]
            channels = 1 if pixels.ndim == 2 else pixels.shape[2]
            image = types["sensor_msgs/msg/Image"](
                header=_header(index, timestamp, "camera"),
                height=height,
                width=width,
                encoding=encoding,
                is_bigendian=0,
                step=width * channels,
                data=pixels.reshape(-1),
            )
            messages.append((timestamp, topic, image))
        compressed = types["sensor_msgs/msg/CompressedImage"](
            header=_header(index, timestamp, "camera"), format="jpeg", data=jpeg_data
        )
        messages.append((timestamp, "/camera/compressed", compressed))
    vector = types["geometry_msgs/msg/Vector3"]
    for index in range(10 * seconds):
        twist = types["geometry_msgs/msg/Twist"](
            linear=vector(x=float(index), y=0.0, z=0.0), angular=vector(x=0.0, y=0.0, z=0.0)
        )
        messages.append((IMAGE_BAG_START_NS + index * 100_000_000, "/cmd_vel", twist))
    messages.sort(key=lambda message: message[0])

    counts = dict.fromkeys(topic_types, 0)
    with Writer(path) as writer:
        connections = {
            topic: writer.add_connection(topic, msgtype, typestore=TYPESTORE)
            for topic, msgtype in topic_types.items()
        }
        for timestamp, topic, message in messages:
            data = TYPESTORE.serialize_ros1(message, topic_types[topic])
            writer.write(connections[topic], timestamp, bytes(data))
            counts[topic] += 1
    return WrittenBag(path=path, topic_types=topic_types, topic_counts=counts)
