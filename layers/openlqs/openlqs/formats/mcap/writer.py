"""Writing an MCAP file in fragments: zstd chunks with message indexes, then a summary with chunk indexes.

The file is ``magic | Header | Schemas | Channels | fragments... | DataEnd | summary | summary offsets |
Footer | magic``. A fragment is a run of chunks, each followed by its MessageIndex records, as the MCAP
writers of the ``mcap`` package lay them out; the summary repeats the schemas and channels and holds
the Statistics and one ChunkIndex per chunk, so that indexed readers seek straight to a time.

The message records of a chunk are built with numpy (a fixed 31-byte prefix per message, the bytes
spliced in with one mask), not one call per message: a part writes tens of thousands of small messages.
The ``mcap`` package's record classes write the few other records.

Each topic is written as it is typed (``type_encoding``): ``ros1`` as ``ros1``/``ros1msg``, ``cdr`` as
``cdr`` with the ``ros2msg`` or ``ros2idl`` schema it came with, ``json`` as ``json``/``jsonschema``;
any other topic keeps the message encoding its MCAP channel had (``context.message_encoding``), with
no schema when openlqs holds none.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from mcap.data_stream import RecordBuilder
from mcap.opcode import Opcode
from mcap.records import (
    Channel,
    Chunk,
    ChunkIndex,
    DataEnd,
    Footer,
    Header,
    McapRecord,
    Schema,
    Statistics,
    SummaryOffset,
)

from openlqs.formats.export import (
    ExportChannel,
    ExportError,
    Fragment,
    MessageRun,
    PlacedChunk,
    chunk_ranges,
    splice,
)
from openlqs.formats.mcap.records import MAGIC
from openlqs.version import __version__

#: A message record's prefix: opcode, record length, channel id, sequence, log time, publish time.
_MESSAGE_PREFIX = np.dtype(
    [("op", "u1"), ("length", "<u8"), ("channel", "<u2"), ("sequence", "<u4"), ("log", "<u8"), ("pub", "<u8")]
)
_MESSAGE_FIELDS = 22  # what a message record's length counts before its data
_INDEX_ENTRY = np.dtype([("time", "<u8"), ("offset", "<u8")])
_INDEX_PREFIX = struct.Struct("<BQHI")  # opcode, length, channel id, byte length of the entries
_FOOTER_PREFIX = struct.Struct("<BQ")
#: zstd level of the chunks (the ``mcap`` package's writer uses the library's default, 3).
ZSTD_LEVEL = 3
LIBRARY = f"openlqs {__version__}"

#: ``type_encoding`` → (message encoding, schema encoding).
_ENCODINGS = {"ros1": ("ros1", "ros1msg"), "cdr": ("cdr", "ros2msg"), "json": ("json", "jsonschema")}
_CDR_SCHEMAS = frozenset({"ros2msg", "ros2idl"})


def _record(record: McapRecord) -> bytes:
    builder = RecordBuilder()
    record.write(builder)
    return bytes(builder.end())


def _encodings(channel: ExportChannel) -> tuple[str, str | None]:
    """The channel's message encoding and its schema encoding (None: no schema)."""
    context = channel.context
    known = _ENCODINGS.get(channel.type_encoding or "")
    if known is not None:
        message, schema = known
        if channel.type_encoding == "cdr" and context.get("schema_encoding") in _CDR_SCHEMAS:
            schema = str(context["schema_encoding"])
        return message, schema
    schema_encoding = context.get("schema_encoding")
    has_schema = isinstance(schema_encoding, str) and schema_encoding and channel.type_data is not None
    return str(context.get("message_encoding") or ""), str(schema_encoding) if has_schema else None


def _metadata(channel: ExportChannel) -> dict[str, str]:
    stored = channel.context.get("metadata")
    metadata = {str(k): str(v) for k, v in stored.items()} if isinstance(stored, Mapping) else {}
    if channel.latched and channel.type_encoding == "ros1":
        metadata["latching"] = "1"  # the ros1 profile's way of saying so
    return metadata


class McapExport:
    """``ExportFormat`` of MCAP files (``context.export.format = "mcap"``)."""

    name = "mcap"
    extension = "mcap"
    content_type = "application/octet-stream"

    def check(self, channels: Sequence[ExportChannel]) -> None:
        for channel in channels:
            if not 0 < channel.id <= 0xFFFF:
                raise ExportError(f"an MCAP file holds channels 1 to 65535, not {channel.id}")

    # -- schemas and channels ----------------------------------------------------------------------
    def _declarations(self, channels: Sequence[ExportChannel]) -> tuple[list[Schema], list[Channel]]:
        schemas: dict[tuple[str, str, str], Schema] = {}
        records = []
        for channel in channels:
            message_encoding, schema_encoding = _encodings(channel)
            schema_id = 0
            if schema_encoding is not None:
                name = channel.type_name or str(channel.context.get("schema_name") or "")
                key = (name, schema_encoding, channel.type_data or "")
                if key not in schemas:
                    schemas[key] = Schema(
                        id=len(schemas) + 1,
                        name=name,
                        encoding=schema_encoding,
                        data=(channel.type_data or "").encode("utf-8"),
                    )
                schema_id = schemas[key].id
            records.append(
                Channel(
                    id=channel.id,
                    schema_id=schema_id,
                    topic=channel.topic,
                    message_encoding=message_encoding,
                    metadata=_metadata(channel),
                )
            )
        return list(schemas.values()), records

    @staticmethod
    def _profile(channels: Sequence[ExportChannel]) -> str:
        encodings = {channel.type_encoding or "" for channel in channels}
        return {frozenset({"ros1"}): "ros1", frozenset({"cdr"}): "ros2"}.get(frozenset(encodings), "")

    def head(self, channels: Sequence[ExportChannel], chunks: Sequence[PlacedChunk], tail_at: int) -> bytes:
        schemas, records = self._declarations(channels)
        return b"".join(
            [
                MAGIC,
                _record(Header(profile=self._profile(channels), library=LIBRARY)),
                *(_record(schema) for schema in schemas),
                *(_record(record) for record in records),
            ]
        )

    def head_size(self, channels: Sequence[ExportChannel]) -> int:
        return len(self.head(channels, [], 0))

    # -- fragments ---------------------------------------------------------------------------------
    def fragment(self, channels: Sequence[ExportChannel], run: MessageRun) -> Fragment:
        import zstandard

        compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        pieces: list[bytes] = []
        chunks: list[dict[str, Any]] = []
        at = 0
        offsets = np.concatenate(([0], np.cumsum(run.sizes)))
        for start, stop in chunk_ranges(run.sizes, _MESSAGE_FIELDS + 9):
            records = message_records(run, start, stop, offsets)
            compressed = compressor.compress(records)
            times = run.timestamps[start:stop]
            chunk = _record(
                Chunk(
                    compression="zstd",
                    data=compressed,
                    message_start_time=int(times.min()),
                    message_end_time=int(times.max()),
                    uncompressed_crc=zlib.crc32(records),
                    uncompressed_size=len(records),
                )
            )
            indexes, index_offsets, counts = _message_indexes(run, start, stop, len(chunk))
            chunks.append(
                {
                    "offset": at,
                    "length": len(chunk),
                    "start_time": int(times.min()),
                    "end_time": int(times.max()),
                    "message_index_offsets": {str(k): at + v for k, v in index_offsets.items()},
                    "message_index_length": len(indexes),
                    "compressed_size": len(compressed),
                    "uncompressed_size": len(records),
                    "counts": {str(k): v for k, v in counts.items()},
                }
            )
            pieces += [chunk, indexes]
            at += len(chunk) + len(indexes)
        return Fragment(b"".join(pieces), chunks)

    # -- the end -----------------------------------------------------------------------------------
    def tail(self, channels: Sequence[ExportChannel], chunks: Sequence[PlacedChunk], tail_at: int) -> bytes:
        schemas, records = self._declarations(channels)
        data_end = _record(DataEnd(data_section_crc=0))
        summary_start = tail_at + len(data_end)
        counts: dict[int, int] = {channel.id: 0 for channel in channels}
        for placed in chunks:
            for channel_id, count in placed.chunk["counts"].items():
                counts[int(channel_id)] = counts.get(int(channel_id), 0) + int(count)
        starts = [int(p.chunk["start_time"]) for p in chunks]
        ends = [int(p.chunk["end_time"]) for p in chunks]
        groups: list[tuple[Opcode, list[bytes]]] = [
            (Opcode.SCHEMA, [_record(schema) for schema in schemas]),
            (Opcode.CHANNEL, [_record(record) for record in records]),
            (
                Opcode.STATISTICS,
                [
                    _record(
                        Statistics(
                            message_count=sum(counts.values()),
                            schema_count=len(schemas),
                            channel_count=len(records),
                            attachment_count=0,
                            metadata_count=0,
                            chunk_count=len(chunks),
                            message_start_time=min(starts) if starts else 0,
                            message_end_time=max(ends) if ends else 0,
                            channel_message_counts=counts,
                        )
                    )
                ],
            ),
            (Opcode.CHUNK_INDEX, [_record(_chunk_index(placed)) for placed in chunks]),
        ]
        summary: list[bytes] = []
        offsets: list[bytes] = []
        position = summary_start
        for opcode, group in groups:
            if not group:
                continue
            length = sum(len(record) for record in group)
            offsets.append(
                _record(SummaryOffset(group_opcode=opcode, group_start=position, group_length=length))
            )
            summary += group
            position += length
        summary_bytes, offset_bytes = b"".join(summary), b"".join(offsets)
        summary_offset_start = summary_start + len(summary_bytes)
        footer_start = _FOOTER_PREFIX.pack(Opcode.FOOTER, 20) + struct.pack(
            "<QQ", summary_start, summary_offset_start
        )
        crc = zlib.crc32(footer_start, zlib.crc32(offset_bytes, zlib.crc32(summary_bytes)))
        footer = _record(
            Footer(summary_start=summary_start, summary_offset_start=summary_offset_start, summary_crc=crc)
        )
        return b"".join([data_end, summary_bytes, offset_bytes, footer, MAGIC])


def _chunk_index(placed: PlacedChunk) -> ChunkIndex:
    chunk = placed.chunk
    base = placed.offset - int(chunk["offset"])  # the fragment's start in the file
    return ChunkIndex(
        message_start_time=int(chunk["start_time"]),
        message_end_time=int(chunk["end_time"]),
        chunk_start_offset=placed.offset,
        chunk_length=int(chunk["length"]),
        message_index_offsets={int(k): base + int(v) for k, v in chunk["message_index_offsets"].items()},
        message_index_length=int(chunk["message_index_length"]),
        compression="zstd",
        compressed_size=int(chunk["compressed_size"]),
        uncompressed_size=int(chunk["uncompressed_size"]),
    )


def message_records(run: MessageRun, start: int, stop: int, offsets: npt.NDArray[Any]) -> bytes:
    """The Message records of messages [start, stop) of ``run``, back to back (a chunk's records)."""
    sizes = run.sizes[start:stop]
    prefixes = np.zeros(stop - start, dtype=_MESSAGE_PREFIX)
    prefixes["op"] = Opcode.MESSAGE
    prefixes["length"] = sizes + _MESSAGE_FIELDS
    prefixes["channel"] = run.channel_ids[start:stop]
    if run.sequences is not None:
        prefixes["sequence"] = run.sequences[start:stop]
    prefixes["log"] = run.timestamps[start:stop]
    prefixes["pub"] = run.timestamps[start:stop]
    records, _ = splice(prefixes, sizes, memoryview(run.data)[int(offsets[start]) : int(offsets[stop])])
    return records


def _message_indexes(
    run: MessageRun, start: int, stop: int, chunk_length: int
) -> tuple[bytes, dict[int, int], dict[int, int]]:
    """The MessageIndex records that follow a chunk (one per channel, in channel order), each one's
    offset from the chunk's start, and the messages of each channel."""
    width = _MESSAGE_PREFIX.itemsize
    sizes = run.sizes[start:stop]
    record_starts = np.concatenate(([0], np.cumsum(sizes + width)[:-1])).astype(np.uint64)
    channel_ids = run.channel_ids[start:stop]
    times = run.timestamps[start:stop]
    pieces: list[bytes] = []
    offsets: dict[int, int] = {}
    counts: dict[int, int] = {}
    at = chunk_length
    for channel_id in np.unique(channel_ids).tolist():
        mine = channel_ids == channel_id
        entries = np.empty(int(mine.sum()), dtype=_INDEX_ENTRY)
        entries["time"] = times[mine]
        entries["offset"] = record_starts[mine]
        body = entries.tobytes()
        record = _INDEX_PREFIX.pack(Opcode.MESSAGE_INDEX, 6 + len(body), channel_id, len(body)) + body
        offsets[int(channel_id)] = at
        counts[int(channel_id)] = len(entries)
        pieces.append(record)
        at += len(record)
    return b"".join(pieces), offsets, counts
