"""Writing an indexed ROS 1 bag (v2.0) in fragments: lz4 chunks with their index data, then the index.

The file is ``#ROSBAG V2.0 | bag header record (4,096 bytes) | fragments... | connection records |
chunk info records``. A fragment is a run of chunks, each holding the connection records of the
connections it uses and then their message data records, and each followed by one index data record per
connection (the time and in-chunk offset of each of its messages), as ``rosbag`` writes them. The bag
header points at the index section (``index_pos``), so it is written once the fragments are placed.

Message data records are built with numpy: every header is the same 38 bytes (``op``, ``conn``,
``time``), so the records of a chunk are one structured array of prefixes with the bytes spliced in.
Only ROS 1 topics can be written (``ExportError`` naming any other), at times from 1970 to 2106.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from openlqs.formats.export import (
    ExportChannel,
    ExportError,
    Fragment,
    MessageRun,
    PlacedChunk,
    chunk_ranges,
    splice,
)
from openlqs.formats.messages import MessageDecodeError, ros1_md5sum
from openlqs.formats.ros1.bag import (
    MAGIC,
    OP_BAG_HEADER,
    OP_CHUNK,
    OP_CHUNK_INFO,
    OP_CONNECTION,
    OP_INDEX_DATA,
    OP_MESSAGE_DATA,
)

#: The bag header record is padded to this many bytes (as ROS writes it, so it can be rewritten).
HEADER_RECORD_BYTES = 4096
#: A message data record's prefix: header length, ``op``, ``conn`` and ``time`` fields, data length.
_MESSAGE_PREFIX = np.dtype(
    [
        ("header_len", "<u4"),
        ("op_len", "<u4"),
        ("op_name", "S3"),
        ("op", "u1"),
        ("conn_len", "<u4"),
        ("conn_name", "S5"),
        ("conn", "<u4"),
        ("time_len", "<u4"),
        ("time_name", "S5"),
        ("sec", "<u4"),
        ("nsec", "<u4"),
        ("data_len", "<u4"),
    ]
)
_INDEX_ENTRY = np.dtype([("sec", "<u4"), ("nsec", "<u4"), ("offset", "<u4")])
_U32 = struct.Struct("<I")
#: Largest time a bag can hold (u32 seconds).
_MAX_NS = (2**32) * 1_000_000_000 - 1


def _field(name: str, value: bytes) -> bytes:
    text = name.encode() + b"=" + value
    return _U32.pack(len(text)) + text


def _record(fields: Sequence[tuple[str, bytes]], data: bytes) -> bytes:
    header = b"".join(_field(name, value) for name, value in fields)
    return _U32.pack(len(header)) + header + _U32.pack(len(data)) + data


def _time(ns: int) -> bytes:
    return struct.pack("<II", ns // 1_000_000_000, ns % 1_000_000_000)


def connection_record(channel: ExportChannel) -> bytes:
    """A connection record: the topic in its header, the connection header (type, md5sum, definition)
    as its data."""
    definition = channel.type_data or ""
    md5sum = channel.context.get("md5sum")
    if not isinstance(md5sum, str) or not md5sum:
        try:
            md5sum = ros1_md5sum(channel.type_name or "", definition)
        except MessageDecodeError as error:
            raise ExportError(f"topic {channel.topic!r}: {error}") from error
    details = [
        ("topic", channel.topic.encode()),
        ("type", (channel.type_name or "").encode()),
        ("md5sum", md5sum.encode()),
        ("message_definition", definition.encode()),
    ]
    if channel.latched:
        details.append(("latching", b"1"))
    data = b"".join(_field(name, value) for name, value in details)
    return _record(
        [("op", bytes([OP_CONNECTION])), ("conn", _U32.pack(channel.id)), ("topic", channel.topic.encode())],
        data,
    )


class BagExport:
    """``ExportFormat`` of indexed ROS 1 bags (``context.export.format = "bag"``)."""

    name = "bag"
    extension = "bag"
    content_type = "application/octet-stream"
    #: Chunk compression: lz4 frames, as rosbag and rosbags read and write them.
    compression = "lz4"

    def check(self, channels: Sequence[ExportChannel]) -> None:
        for channel in channels:
            if channel.type_encoding != "ros1" or not channel.type_name or channel.type_data is None:
                encoding = channel.type_encoding or "untyped"
                raise ExportError(
                    f"context.export.format: a bag holds ROS 1 messages only, and topic {channel.topic!r} is "
                    f"{encoding}; export it as mcap instead."
                )
            if not 0 <= channel.id <= 0xFFFFFFFF:
                raise ExportError(f"a bag's connection ids are u32s, not {channel.id}")

    def head_size(self, channels: Sequence[ExportChannel]) -> int:
        return len(MAGIC) + HEADER_RECORD_BYTES

    def head(self, channels: Sequence[ExportChannel], chunks: Sequence[PlacedChunk], tail_at: int) -> bytes:
        fields = [
            ("op", bytes([OP_BAG_HEADER])),
            ("index_pos", struct.pack("<Q", tail_at)),
            ("conn_count", _U32.pack(len(channels))),
            ("chunk_count", _U32.pack(len(chunks))),
        ]
        header = b"".join(_field(name, value) for name, value in fields)
        padding = HEADER_RECORD_BYTES - 4 - len(header) - 4
        return MAGIC + _U32.pack(len(header)) + header + _U32.pack(padding) + b" " * padding

    def fragment(self, channels: Sequence[ExportChannel], run: MessageRun) -> Fragment:
        import lz4.frame

        if len(run) and (int(run.timestamps.min()) < 0 or int(run.timestamps.max()) > _MAX_NS):
            raise ExportError(
                "a bag holds times from 1970 to 2106 only (u32 seconds); export it as mcap instead"
            )
        by_id = {channel.id: channel for channel in channels}
        offsets = np.concatenate(([0], np.cumsum(run.sizes)))
        pieces: list[bytes] = []
        chunks: list[dict[str, Any]] = []
        at = 0
        for start, stop in chunk_ranges(run.sizes, _MESSAGE_PREFIX.itemsize):
            ids = run.channel_ids[start:stop]
            used = np.unique(ids).tolist()
            connections = b"".join(connection_record(by_id[int(i)]) for i in used)
            messages, record_starts = message_data_records(run, start, stop, offsets)
            data = connections + messages
            chunk = _record(
                [
                    ("op", bytes([OP_CHUNK])),
                    ("compression", self.compression.encode()),
                    ("size", _U32.pack(len(data))),
                ],
                lz4.frame.compress(data),
            )
            times = run.timestamps[start:stop]
            index = _index_data(ids, times, record_starts + len(connections), used)
            chunks.append(
                {
                    "offset": at,
                    "start_time": int(times.min()),
                    "end_time": int(times.max()),
                    "counts": {str(i): int((ids == i).sum()) for i in used},
                }
            )
            pieces += [chunk, index]
            at += len(chunk) + len(index)
        return Fragment(b"".join(pieces), chunks)

    def tail(self, channels: Sequence[ExportChannel], chunks: Sequence[PlacedChunk], tail_at: int) -> bytes:
        infos = []
        for placed in chunks:
            chunk = placed.chunk
            counts = sorted((int(k), int(v)) for k, v in chunk["counts"].items())
            infos.append(
                _record(
                    [
                        ("op", bytes([OP_CHUNK_INFO])),
                        ("ver", _U32.pack(1)),
                        ("chunk_pos", struct.pack("<Q", placed.offset)),
                        ("start_time", _time(int(chunk["start_time"]))),
                        ("end_time", _time(int(chunk["end_time"]))),
                        ("count", _U32.pack(len(counts))),
                    ],
                    b"".join(struct.pack("<II", conn, count) for conn, count in counts),
                )
            )
        return b"".join([*(connection_record(channel) for channel in channels), *infos])


def message_data_records(
    run: MessageRun, start: int, stop: int, offsets: npt.NDArray[Any]
) -> tuple[bytes, npt.NDArray[np.int64]]:
    """The message data records of messages [start, stop) of ``run`` back to back, and where each
    record starts."""
    sizes = run.sizes[start:stop]
    times = run.timestamps[start:stop]
    prefixes = np.zeros(stop - start, dtype=_MESSAGE_PREFIX)
    prefixes["header_len"] = 38
    prefixes["op_len"], prefixes["op_name"], prefixes["op"] = 4, b"op=", OP_MESSAGE_DATA
    prefixes["conn_len"], prefixes["conn_name"] = 9, b"conn="
    prefixes["conn"] = run.channel_ids[start:stop]
    prefixes["time_len"], prefixes["time_name"] = 13, b"time="
    prefixes["sec"], prefixes["nsec"] = times // 1_000_000_000, times % 1_000_000_000
    prefixes["data_len"] = sizes
    return splice(prefixes, sizes, memoryview(run.data)[int(offsets[start]) : int(offsets[stop])])


def _index_data(
    ids: npt.NDArray[np.int64],
    times: npt.NDArray[np.int64],
    record_starts: npt.NDArray[np.int64],
    used: list[int],
) -> bytes:
    """One index data record (version 1) per connection of a chunk: each message's time and offset."""
    records = []
    for conn in used:
        mine = ids == conn
        entries = np.empty(int(mine.sum()), dtype=_INDEX_ENTRY)
        entries["sec"] = times[mine] // 1_000_000_000
        entries["nsec"] = times[mine] % 1_000_000_000
        entries["offset"] = record_starts[mine]
        records.append(
            _record(
                [
                    ("op", bytes([OP_INDEX_DATA])),
                    ("ver", _U32.pack(1)),
                    ("conn", _U32.pack(conn)),
                    ("count", _U32.pack(len(entries))),
                ],
                entries.tobytes(),
            )
        )
    return b"".join(records)
