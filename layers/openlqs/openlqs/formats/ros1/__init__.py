"""ROS 1 bags (format 2.0): the :class:`~openlqs.formats.base.LogFormat` of ``#ROSBAG V2.0`` files."""

from __future__ import annotations

from collections.abc import Iterator

from openlqs.formats.base import ByteSource, Channel, ChunkColumns, LogIndex
from openlqs.formats.ros1.bag import MAGIC, BagIndex, Connection, index_chunk_columns, read_index

#: The first bytes of every ROS 1 bag, whatever its version (only 2.0 is indexed).
BAG_PREFIX = b"#ROSBAG V"


def channel_of(connection: Connection) -> Channel:
    """A bag connection as a neutral channel: ``ros1`` typed by its definition, md5sum in the context."""
    return Channel(
        id=connection.id,
        topic=connection.topic,
        type_name=connection.type_name,
        type_encoding="ros1",
        type_data=connection.message_definition,
        context={"md5sum": connection.md5sum},
    )


#: Why a bag is scanned: its header points at no index (a recording cut off before the bag was closed).
SALVAGE_REASON = "the bag header points at no index (a recording cut off before the bag was closed?)"


def log_index(index: BagIndex) -> LogIndex:
    """The bag's index as a neutral one; a salvaged bag says so in ``context["salvage"]``."""
    context = (
        {
            "salvage": {
                "index_missing": True,
                "reason": SALVAGE_REASON,
                "ignored_bytes": index.ignored_bytes,
            }
        }
        if index.salvaged
        else {}
    )
    return LogIndex(
        format=Ros1Format.name,
        file_size=index.file_size,
        channels={connection_id: channel_of(c) for connection_id, c in index.connections.items()},
        spans=index.chunks,
        salvaged=index.salvaged,
        ignored_bytes=index.ignored_bytes,
        context=context,
    )


class Ros1Format:
    """ROS 1 bags: the index at the header's ``index_pos``; chunks indexed from their index-data records."""

    name = "ros1"
    description = "ROS 1 bag ('#ROSBAG V2.0')"

    def sniff(self, head: bytes) -> bool:
        return head.startswith(BAG_PREFIX)

    def read_index(self, source: ByteSource) -> LogIndex:
        return log_index(read_index(source))

    def index_columns(self, data: bytes, base: int) -> Iterator[ChunkColumns]:
        return index_chunk_columns(data, base)


__all__ = ["MAGIC", "Ros1Format", "channel_of", "log_index"]
