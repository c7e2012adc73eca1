"""A small, fast MCAP writer for conversions: what ``convert`` writes, nothing more.

The ``mcap`` package's writer spends ~10 µs of Python on each message (a record object, a stream
write per field, index bookkeeping); a ``.db3`` of millions of small messages spent most of its
conversion there. This writer packs each message record with one ``struct`` call into the open chunk's
buffer and keeps the chunk's message index as flat integer arrays, so a message costs ~1 µs.
``add_messages`` writes a run of messages, given as arrays and their bytes one after the other, with
numpy: the same bytes as ``add_message`` one by one, without Python per message.

What it writes (MCAP specification, major version 0), as the ``mcap`` package's writer does with
chunking, every index and summary offsets on:

- magic, Header (profile, library); Schema and Channel records at the top level as they are registered;
- Chunk records of zstd-compressed records (at most ``chunk_size`` bytes of records, plus one message),
  each followed by one MessageIndex record per channel it holds (log time, offset in the chunk);
- DataEnd; a summary section (Schemas, Channels, Statistics, ChunkIndexes) with SummaryOffsets; Footer;
  magic.

CRCs are 0 ("not computed", as the specification allows): readers skip the check. Times are u64
nanoseconds; channel and schema ids are u16, counted from 1.
"""

from __future__ import annotations

import struct
import sys
from array import array
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import zstandard

MAGIC = b"\x89MCAP0\r\n"

_HEADER, _FOOTER, _SCHEMA, _CHANNEL, _MESSAGE, _CHUNK = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
_MESSAGE_INDEX, _CHUNK_INDEX, _STATISTICS, _SUMMARY_OFFSET, _DATA_END = 0x07, 0x08, 0x0B, 0x0E, 0x0F

#: A message record's opcode, length, channel id, sequence, log time and publish time.
_MESSAGE_HEAD = struct.Struct("<BQHIQQ")
_MESSAGE_FIXED = 2 + 4 + 8 + 8
_U8, _U16, _U32, _U64 = struct.Struct("<B"), struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q")
_RECORD_HEAD = struct.Struct("<BQ")
#: ``_MESSAGE_HEAD`` as a packed numpy record, for runs of messages.
_MESSAGE_RECORD = np.dtype(
    [
        ("opcode", "u1"),
        ("length", "<u8"),
        ("channel", "<u2"),
        ("sequence", "<u4"),
        ("log_time", "<u8"),
        ("publish_time", "<u8"),
    ]
)
assert _MESSAGE_RECORD.itemsize == _MESSAGE_HEAD.size
_LITTLE = sys.byteorder == "little"


def _string(text: str) -> bytes:
    data = text.encode()
    return _U32.pack(len(data)) + data


def _prefixed(data: bytes) -> bytes:
    return _U32.pack(len(data)) + data


def _record(opcode: int, content: bytes) -> bytes:
    return _RECORD_HEAD.pack(opcode, len(content)) + content


def _u64_array(values: array[int]) -> bytes:
    if not _LITTLE:
        values = array("Q", values)
        values.byteswap()
    return values.tobytes()


@dataclass
class _OpenChunk:
    records: bytearray = field(default_factory=bytearray)
    start: int = 0
    end: int = 0
    #: Per channel id: log time, offset, log time, offset, ...
    indexes: dict[int, array[int]] = field(default_factory=dict)


class FastMcapWriter:
    """Writes an MCAP file to ``out`` (which needs ``write`` only); see the module's docstring."""

    def __init__(self, out: BinaryIO, *, chunk_size: int, compression_level: int = 3) -> None:
        self.out = out
        self.chunk_size = chunk_size
        self.position = 0
        self.compressor = zstandard.ZstdCompressor(level=compression_level)
        self.schemas: list[bytes] = []
        self.channels: list[bytes] = []
        self.chunk_indexes: list[bytes] = []
        self.channel_counts: dict[int, int] = {}
        self.message_count = 0
        self.first_time: int | None = None
        self.last_time = 0
        self.chunk = _OpenChunk()

    def _write(self, data: bytes | bytearray) -> None:
        self.out.write(data)
        self.position += len(data)

    def start(self, *, profile: str, library: str) -> None:
        self._write(MAGIC)
        self._write(_record(_HEADER, _string(profile) + _string(library)))

    def register_schema(self, *, name: str, encoding: str, data: bytes) -> int:
        schema_id = len(self.schemas) + 1
        record = _record(_SCHEMA, _U16.pack(schema_id) + _string(name) + _string(encoding) + _prefixed(data))
        self.schemas.append(record)
        self._write(record)
        return schema_id

    def register_channel(
        self, *, topic: str, message_encoding: str, schema_id: int, metadata: dict[str, str]
    ) -> int:
        channel_id = len(self.channels) + 1
        pairs = b"".join(_string(key) + _string(value) for key, value in metadata.items())
        content = (
            _U16.pack(channel_id)
            + _U16.pack(schema_id)
            + _string(topic)
            + _string(message_encoding)
            + _prefixed(pairs)
        )
        record = _record(_CHANNEL, content)
        self.channels.append(record)
        self.channel_counts[channel_id] = 0
        self._write(record)
        return channel_id

    def add_message(
        self, channel_id: int, *, log_time: int, data: bytes, publish_time: int, sequence: int = 0
    ) -> None:
        chunk = self.chunk
        records = chunk.records
        index = chunk.indexes.get(channel_id)
        if index is None:
            index = chunk.indexes[channel_id] = array("Q")
        if not records:
            chunk.start = chunk.end = log_time
        elif log_time < chunk.start:
            chunk.start = log_time
        elif log_time > chunk.end:
            chunk.end = log_time
        index.append(log_time)
        index.append(len(records))
        records += _MESSAGE_HEAD.pack(
            _MESSAGE, _MESSAGE_FIXED + len(data), channel_id, sequence, log_time, publish_time
        )
        records += data
        self.channel_counts[channel_id] += 1
        if len(records) >= self.chunk_size:
            self._close_chunk()

    def add_messages(
        self,
        channel_ids: npt.NDArray[np.integer],
        log_times: npt.NDArray[np.integer],
        lengths: npt.NDArray[np.integer],
        data: bytes,
    ) -> None:
        """Add messages as ``add_message`` would one by one (sequence 0, publish time = log time): the
        i-th has channel ``channel_ids[i]``, time ``log_times[i]`` and the next ``lengths[i]`` bytes of
        ``data``. Chunks close where they would."""
        data_lengths: npt.NDArray[np.int64] = np.asarray(lengths, dtype=np.int64)
        sizes: npt.NDArray[np.int64] = data_lengths + _MESSAGE_HEAD.size
        ends = np.cumsum(sizes)  # the run's record bytes after each message
        data_ends = np.cumsum(data_lengths)
        at = 0
        while at < len(sizes):
            before = int(ends[at - 1]) if at else 0
            # The open chunk closes after the first message that brings it to chunk_size.
            room = self.chunk_size - len(self.chunk.records)
            stop = min(len(sizes), int(np.searchsorted(ends, before + room, side="left")) + 1)
            first = int(data_ends[at - 1]) if at else 0
            self._append_run(
                np.asarray(channel_ids[at:stop], dtype=np.int64),
                np.asarray(log_times[at:stop], dtype=np.int64),
                sizes[at:stop],
                memoryview(data)[first : int(data_ends[stop - 1])],
            )
            if len(self.chunk.records) >= self.chunk_size:
                self._close_chunk()
            at = stop

    def _append_run(
        self,
        channel_ids: npt.NDArray[np.int64],
        log_times: npt.NDArray[np.int64],
        sizes: npt.NDArray[np.int64],
        data: memoryview,
    ) -> None:
        """Messages that all go into the open chunk: their records, index entries and counts."""
        chunk = self.chunk
        count = len(sizes)
        if not chunk.records:
            chunk.start, chunk.end = int(log_times.min()), int(log_times.max())
        else:
            chunk.start, chunk.end = (
                min(chunk.start, int(log_times.min())),
                max(chunk.end, int(log_times.max())),
            )
        starts = np.cumsum(sizes) - sizes  # each record's offset in the run
        heads = np.zeros(count, dtype=_MESSAGE_RECORD)
        heads["opcode"] = _MESSAGE
        heads["length"] = sizes - _RECORD_HEAD.size
        heads["channel"] = channel_ids
        heads["log_time"] = log_times
        heads["publish_time"] = log_times
        size = int(starts[-1] + sizes[-1])
        run = np.empty(size, dtype=np.uint8)
        # Each record's head, then its bytes: heads scattered to their offsets, the bytes in between in
        # order. Two bytes of scratch a record byte and 124 a message; runs are at most a chunk.
        kind = np.dtype(np.int32 if size < 2**31 else np.int64)
        head_at = (starts.astype(kind)[:, None] + np.arange(_MESSAGE_HEAD.size).astype(kind)).ravel()
        run[head_at] = heads.view(np.uint8).ravel()
        between = np.ones(size, dtype=bool)
        between[head_at] = False
        run[between] = np.frombuffer(data, dtype=np.uint8)
        offsets = starts + len(chunk.records)
        for channel_id in np.unique(channel_ids).tolist():
            mine = channel_ids == channel_id
            index = chunk.indexes.get(channel_id)
            if index is None:
                index = chunk.indexes[channel_id] = array("Q")
            pairs = np.column_stack((log_times[mine], offsets[mine])).astype(np.uint64)
            index.frombytes(pairs.tobytes())
            self.channel_counts[channel_id] += int(np.count_nonzero(mine))
        chunk.records += run.tobytes()

    def _close_chunk(self) -> None:
        chunk = self.chunk
        if not chunk.records:
            return
        compressed = self.compressor.compress(bytes(chunk.records))
        content = b"".join(
            (
                _U64.pack(chunk.start),
                _U64.pack(chunk.end),
                _U64.pack(len(chunk.records)),
                _U32.pack(0),
                _string("zstd"),
                _U64.pack(len(compressed)),
                compressed,
            )
        )
        chunk_start = self.position
        self._write(_RECORD_HEAD.pack(_CHUNK, len(content)))
        self._write(content)
        chunk_length = self.position - chunk_start
        offsets: list[bytes] = []
        index_start = self.position
        count = 0
        for channel_id in sorted(chunk.indexes):
            entries = _u64_array(chunk.indexes[channel_id])
            offsets.append(_U16.pack(channel_id) + _U64.pack(self.position))
            self._write(_record(_MESSAGE_INDEX, _U16.pack(channel_id) + _prefixed(entries)))
            count += len(chunk.indexes[channel_id]) // 2
        self.chunk_indexes.append(
            _record(
                _CHUNK_INDEX,
                b"".join(
                    (
                        _U64.pack(chunk.start),
                        _U64.pack(chunk.end),
                        _U64.pack(chunk_start),
                        _U64.pack(chunk_length),
                        _prefixed(b"".join(offsets)),
                        _U64.pack(self.position - index_start),
                        _string("zstd"),
                        _U64.pack(len(compressed)),
                        _U64.pack(len(chunk.records)),
                    )
                ),
            )
        )
        self.message_count += count
        self.first_time = chunk.start if self.first_time is None else min(self.first_time, chunk.start)
        self.last_time = max(self.last_time, chunk.end)
        self.chunk = _OpenChunk()

    def finish(self) -> None:
        self._close_chunk()
        self._write(_record(_DATA_END, _U32.pack(0)))
        summary_start = self.position
        groups: list[tuple[int, int, int]] = []
        statistics = _record(
            _STATISTICS,
            b"".join(
                (
                    _U64.pack(self.message_count),
                    _U16.pack(len(self.schemas)),
                    _U32.pack(len(self.channels)),
                    _U32.pack(0),
                    _U32.pack(0),
                    _U32.pack(len(self.chunk_indexes)),
                    _U64.pack(self.first_time or 0),
                    _U64.pack(self.last_time),
                    _prefixed(
                        b"".join(_U16.pack(c) + _U64.pack(n) for c, n in sorted(self.channel_counts.items()))
                    ),
                )
            ),
        )
        for opcode, records in (
            (_SCHEMA, self.schemas),
            (_CHANNEL, self.channels),
            (_STATISTICS, [statistics]),
            (_CHUNK_INDEX, self.chunk_indexes),
        ):
            if not records:
                continue
            start = self.position
            for record in records:
                self._write(record)
            groups.append((opcode, start, self.position - start))
        offset_start = self.position
        for opcode, start, length in groups:
            self._write(_record(_SUMMARY_OFFSET, _U8.pack(opcode) + _U64.pack(start) + _U64.pack(length)))
        self._write(_record(_FOOTER, _U64.pack(summary_start) + _U64.pack(offset_start) + _U32.pack(0)))
        self._write(MAGIC)
