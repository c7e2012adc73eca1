"""A synthetic 1 TB ROS 1 bag: the header, the chunk headers and the index are real records at their real
offsets; every other byte reads as zero and is never stored.

What is real: the bag header record (index position, connection and chunk counts), one chunk record
header at each chunk's position (op, compression, size), and the index (connection records, then one
chunk-info record per chunk with its position, time range and per-connection message counts), all
encoded as a ROS 1 bag 2.0 writer encodes them and parsed by openlqs's own reader. What is not: the chunk
bodies (zeros). Planning reads only the header, the index and a few chunk headers, so a plan of this
file does all the work it would do for a real terabyte bag, which no test machine can hold.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime

from openlqs.domain.ports import BlobInfo
from openlqs.formats.ros1.bag import MAGIC

OP_BAG_HEADER, OP_CHUNK, OP_CHUNK_INFO, OP_CONNECTION = 0x03, 0x05, 0x06, 0x07
#: rosbag pads the bag header record to this many bytes.
BAG_HEADER_LENGTH = 4096
START_NS = 1_700_000_000_000_000_000


def _fields(**values: bytes) -> bytes:
    encoded = [f"{name}=".encode() + value for name, value in values.items()]
    return b"".join(struct.pack("<I", len(item)) + item for item in encoded)


def _record(header: bytes, data: bytes) -> bytes:
    return struct.pack("<I", len(header)) + header + struct.pack("<I", len(data)) + data


def _time(ns: int) -> bytes:
    return struct.pack("<II", ns // 1_000_000_000, ns % 1_000_000_000)


@dataclass(frozen=True)
class Topic:
    name: str
    type_name: str
    messages_per_chunk: int


#: A robot's recording: cameras, a lidar, IMU and odometry, diagnostics (~1,100 messages a chunk).
TOPICS = (
    Topic("/camera/front/image_raw", "sensor_msgs/Image", 30),
    Topic("/camera/left/image_raw", "sensor_msgs/Image", 30),
    Topic("/camera/right/image_raw", "sensor_msgs/Image", 30),
    Topic("/velodyne_points", "sensor_msgs/PointCloud2", 10),
    Topic("/imu/data", "sensor_msgs/Imu", 400),
    Topic("/odom", "nav_msgs/Odometry", 100),
    Topic("/tf", "tf2_msgs/TFMessage", 500),
    Topic("/diagnostics", "diagnostic_msgs/DiagnosticArray", 1),
)


@dataclass
class SyntheticBag:
    """``chunk_count`` chunks evenly spread over ``size`` bytes, then the index; one chunk a second."""

    size: int = 10**12
    chunk_count: int = 20_000
    compression: str = "lz4"
    topics: tuple[Topic, ...] = TOPICS
    #: (start, end) of every read, to show how little planning reads.
    reads: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        connections = b"".join(self._connection(i, topic) for i, topic in enumerate(self.topics))
        # Chunk-info records have a fixed size: the index's size, hence the chunks', is known before
        # their positions are written.
        self.index_pos = self.size - len(connections) - self.chunk_count * len(self._chunk_info(0, 0))
        self.chunk_size = (self.index_pos - BAG_HEADER_LENGTH - len(MAGIC)) // self.chunk_count
        self.index = connections + b"".join(
            self._chunk_info(i, self.chunk_pos(i)) for i in range(self.chunk_count)
        )
        assert len(self.index) == self.size - self.index_pos
        header = _fields(
            op=bytes([OP_BAG_HEADER]),
            index_pos=struct.pack("<Q", self.index_pos),
            conn_count=struct.pack("<I", len(self.topics)),
            chunk_count=struct.pack("<I", self.chunk_count),
        )
        padding = BAG_HEADER_LENGTH - len(header) - 8
        self.head = MAGIC + _record(header, b" " * padding)
        chunk_header = _fields(
            op=bytes([OP_CHUNK]),
            compression=self.compression.encode(),
            size=struct.pack("<I", 4 * self.chunk_size),
        )
        self.chunk_header = struct.pack("<I", len(chunk_header)) + chunk_header

    @property
    def message_count(self) -> int:
        return self.chunk_count * sum(topic.messages_per_chunk for topic in self.topics)

    def chunk_pos(self, i: int) -> int:
        return len(MAGIC) + BAG_HEADER_LENGTH + i * self.chunk_size

    def _connection(self, conn: int, topic: Topic) -> bytes:
        header = _fields(op=bytes([OP_CONNECTION]), conn=struct.pack("<I", conn), topic=topic.name.encode())
        data = _fields(
            topic=topic.name.encode(),
            type=topic.type_name.encode(),
            md5sum=b"0" * 32,
            message_definition=f"# {topic.type_name}\n".encode(),
        )
        return _record(header, data)

    def _chunk_info(self, i: int, position: int) -> bytes:
        header = _fields(
            op=bytes([OP_CHUNK_INFO]),
            ver=struct.pack("<I", 1),
            chunk_pos=struct.pack("<Q", position),
            start_time=_time(START_NS + i * 1_000_000_000),
            end_time=_time(START_NS + i * 1_000_000_000 + 999_000_000),
            count=struct.pack("<I", len(self.topics)),
        )
        data = b"".join(struct.pack("<II", c, t.messages_per_chunk) for c, t in enumerate(self.topics))
        return _record(header, data)

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of the bag; refuses to make up more than 1 MiB of
        zeros at once (a plan that read a chunk's body would be reading what it should not)."""
        end = min(end, self.size)
        self.reads.append((start, end))
        if end - start > 1024 * 1024 and not (start >= self.index_pos or end <= len(self.head)):
            raise AssertionError(f"read of {end - start} bytes at {start}: planning reads no chunk bodies")
        out = bytearray(end - start)
        for at, content in self._regions(start, end):
            lo, hi = max(start, at), min(end, at + len(content))
            if lo < hi:
                out[lo - start : hi - start] = content[lo - at : hi - at]
        return bytes(out)

    def _regions(self, start: int, end: int) -> list[tuple[int, bytes]]:
        regions = [(0, self.head), (self.index_pos, self.index)]
        first = max(0, (start - len(MAGIC) - BAG_HEADER_LENGTH) // self.chunk_size)
        last = min(self.chunk_count - 1, (end - len(MAGIC) - BAG_HEADER_LENGTH) // self.chunk_size)
        regions += [(self.chunk_pos(i), self.chunk_header) for i in range(first, last + 1)]
        return regions


class SyntheticObjects:
    """A ``BlobStore`` that serves one key from a :class:`SyntheticBag` and everything else from
    ``real`` (the bucket the manifest is written to)."""

    def __init__(self, real: object, key: str, bag: SyntheticBag) -> None:
        self.real, self.key, self.bag = real, key, bag

    def head(self, key: str) -> BlobInfo | None:
        if key == self.key:
            return BlobInfo(key, '"synthetic"', self.bag.size, datetime(2025, 1, 1, tzinfo=UTC))
        return self.real.head(key)  # type: ignore[attr-defined, no-any-return]

    def read(self, key: str, start: int, end: int) -> bytes:
        if key == self.key:
            return self.bag.read(start, end + 1)  # BlobStore.read's end is inclusive
        return self.real.read(key, start, end)  # type: ignore[attr-defined, no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)
