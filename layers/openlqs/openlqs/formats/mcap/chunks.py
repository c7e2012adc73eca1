"""The messages of MCAP chunks and runs of top-level messages, as record columns.

A chunk's records are decompressed (and their CRC checked), then its message records found one of
two ways:

* from the message index records that follow the chunk (one per channel: ``(log_time, offset)`` of
  each message): every message's channel, time and length are then read at its offset with a few
  numpy gathers, checked against the index, and the gaps between messages checked to hold only
  records that are not messages. This is the path of every indexed file;
* by walking the records one by one when the index is missing or does not fit the chunk.

Record offsets follow the LogQS contract (``logqs-next.md`` §5.2), so the official client reads them:

* zstd chunk: ``chunk_compression`` ``zstd_mcap``; ``data_offset``/``data_length`` are the chunk
  record's body (after opcode and length) and its length field; ``chunk_offset``/``chunk_length`` the
  message data inside the decompressed records;
* lz4 chunk: ``lz4``; ``data_offset``/``data_length`` are the compressed ``records`` field; the
  ``chunk_offset``/``chunk_length`` as for zstd;
* uncompressed chunk, or a message outside chunks: no compression; ``data_offset``/``data_length`` are
  the message data in the file.

Every record of one chunk shares its ``data_offset``/``data_length``: readers decompress once a chunk.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from openlqs.errors import BadLogFile
from openlqs.formats.base import ChunkColumns
from openlqs.formats.compression import decompress_lz4, decompress_zstd
from openlqs.formats.mcap.records import (
    MAGIC,
    MESSAGE_FIELDS,
    MESSAGE_PREFIX,
    RECORD_PREFIX,
    Buffer,
    Chunk,
    Op,
    next_record,
    parse_chunk,
    parse_message_index,
)

#: A chunk's ``compression`` → the record's ``chunk_compression`` (None: offsets point into the file).
STORED_COMPRESSIONS: dict[str, str | None] = {"": None, "zstd": "zstd_mcap", "lz4": "lz4"}
#: Where a message's data starts after its record's opcode: prefix, then the message's fixed fields.
MESSAGE_DATA_AT = RECORD_PREFIX.size + MESSAGE_FIELDS.size
#: The largest log time a record column holds (int64 nanoseconds: the year 2262).
MAX_TIME = 2**63 - 1
#: The largest chunk openlqs decompresses (the mcap package's readers refuse records over 4 GiB too): a
#: damaged header must not make a reader allocate what the file cannot hold.
MAX_CHUNK_BYTES = 4 * 1024**3

Ints = npt.NDArray[np.int64]
#: What a walk calls for a record that is not a message: ``(opcode, record start, content start,
#: content end)``, positions in the walked buffer.
OtherRecord = Callable[[int, int, int, int], None]
_INDEX_ENTRY = np.dtype([("log_time", "<u8"), ("offset", "<u8")])


def chunk_records(chunk: Chunk, data: Buffer, base: int) -> Buffer:
    """The chunk's decompressed ``records`` (a view of ``data`` when uncompressed), checked against the
    chunk's uncompressed size and CRC; ``BadLogFile`` naming the chunk's offset when they do not match
    or the compression is unknown."""
    where = {"chunk_offset": chunk.start}
    if chunk.compression not in STORED_COMPRESSIONS:
        raise BadLogFile(
            f"The chunk at byte {chunk.start} uses compression {chunk.compression!r}, which openlqs "
            "does not read (zstd, lz4 or none).",
            payload={**where, "compression": chunk.compression},
        )
    if chunk.uncompressed_size > MAX_CHUNK_BYTES:
        raise BadLogFile(
            f"The chunk at byte {chunk.start} says it holds {chunk.uncompressed_size} bytes uncompressed; "
            f"openlqs reads chunks of at most {MAX_CHUNK_BYTES} bytes.",
            payload=where,
        )
    start = chunk.records_start - base
    compressed = memoryview(data)[start : start + chunk.records_length]
    try:
        if chunk.compression == "zstd":
            records: Buffer = decompress_zstd(compressed, chunk.uncompressed_size)
        elif chunk.compression == "lz4":
            records = decompress_lz4(compressed)
        else:
            records = compressed
    except ValueError as error:
        raise BadLogFile(
            f"The {chunk.compression} chunk at byte {chunk.start} is corrupt: {error}", payload=where
        ) from error
    if chunk.compression and len(records) != chunk.uncompressed_size:
        raise BadLogFile(
            f"The chunk at byte {chunk.start} holds {len(records)} bytes; its header says "
            f"{chunk.uncompressed_size}.",
            payload=where,
        )
    crc = zlib.crc32(records) if chunk.uncompressed_crc else 0
    if crc != chunk.uncompressed_crc:
        raise BadLogFile(
            f"The chunk at byte {chunk.start} is corrupt: the CRC of its records is "
            f"{crc:#010x}, its header says {chunk.uncompressed_crc:#010x}.",
            payload={**where, "crc": crc, "expected_crc": chunk.uncompressed_crc},
        )
    return records


class Walk(NamedTuple):
    """The message records a walk found, in order, and where it stopped."""

    ids: list[int]
    times: list[int]
    starts: list[int]
    lengths: list[int]
    end: int


def walk_messages(
    records: Buffer,
    start: int,
    end: int,
    where: str,
    on_other: OtherRecord | None = None,
    stop: frozenset[int] = frozenset(),
) -> Walk:
    """Every message record of ``records[start:end]`` as channel ids, log times, record starts and data
    lengths, in order, until a record whose opcode is in ``stop``; ``on_other`` sees the other records.
    ``where`` names the buffer in errors (``the chunk at byte 1234``)."""
    ids: list[int] = []
    times: list[int] = []
    starts: list[int] = []
    lengths: list[int] = []
    add_id, add_time, add_start, add_length = ids.append, times.append, starts.append, lengths.append
    unpack_message, unpack_prefix = MESSAGE_PREFIX.unpack_from, RECORD_PREFIX.unpack_from
    message_size, prefix_size, fields_size = MESSAGE_PREFIX.size, RECORD_PREFIX.size, MESSAGE_FIELDS.size
    message = Op.MESSAGE.value
    position = start
    while position < end:
        if position + message_size <= end:
            opcode, length, channel_id, _, log_time = unpack_message(records, position)
        elif position + prefix_size <= end:
            opcode, length = unpack_prefix(records, position)
        else:
            raise BadLogFile(f"A record at offset {position} of {where} is cut short.")
        record_end = position + prefix_size + length
        if record_end > end:
            raise BadLogFile(f"A record at offset {position} of {where} runs past its end.")
        if opcode == message:
            if length < fields_size:
                raise BadLogFile(f"The message record at offset {position} of {where} is malformed.")
            add_id(channel_id)
            add_time(log_time)
            add_start(position)
            add_length(length - fields_size)
        elif opcode in stop:
            break
        elif on_other is not None:
            on_other(opcode, position, position + prefix_size, record_end)
        position = record_end
    return Walk(ids, times, starts, lengths, position)


def _gather(buffer: npt.NDArray[np.uint8], positions: Ints, dtype: str) -> npt.NDArray[np.uint64]:
    """The little-endian integers of ``dtype`` at each of ``positions`` (each inside ``buffer``), read
    through a view of ``buffer`` whose i-th integer starts at its byte i (overlapping and unaligned):
    one pick per position instead of one per byte, a third of the time."""
    kind = np.dtype(dtype)
    count = len(buffer) - kind.itemsize + 1
    if count <= 0:
        if len(positions):
            raise IndexError(f"no {dtype} fits in {len(buffer)} bytes")
        return np.zeros(0, dtype=np.uint64)
    every = np.ndarray((count,), dtype=kind, buffer=buffer, strides=(1,))
    picked: npt.NDArray[np.uint64] = every[positions].astype(np.uint64)
    return picked


def _only_other_records(records: Buffer, start: int, end: int) -> bool:
    """Whether ``records[start:end]`` is a run of whole records, none of them a message."""
    position = start
    while position < end:
        found = next_record(records, position, end)
        if found is None or found[0] == Op.MESSAGE:
            return False
        position = found[2]
    return True


def columns_from_indexes(
    records: Buffer, indexes: list[tuple[int, npt.NDArray[np.void]]]
) -> tuple[Ints, Ints, Ints, Ints] | None:
    """``(channel ids, log times, record starts, data lengths)`` of a chunk's messages from its message
    index records ``(channel id, entries)``, without walking the records; None when the index is missing
    or does not fit the chunk (a message it lists is not there as listed, or it leaves a message out)."""
    if not indexes:
        return None
    entries = np.concatenate([entry for _, entry in indexes])
    ids = np.concatenate([np.full(len(entry), channel, dtype=np.int64) for channel, entry in indexes])
    size = len(records)
    raw_offsets = entries["offset"]
    if len(raw_offsets) and int(raw_offsets.max()) > size - MESSAGE_DATA_AT:
        return None
    order = np.argsort(raw_offsets, kind="stable")
    starts = raw_offsets[order].astype(np.int64)
    ids, times = ids[order], entries["log_time"][order]
    buffer = np.frombuffer(records, dtype=np.uint8)
    lengths = _gather(buffer, starts + 1, "<u8")
    if bool((buffer[starts] != Op.MESSAGE).any()) or bool((lengths < MESSAGE_FIELDS.size).any()):
        return None
    if bool((lengths > size).any()):
        return None
    ends = starts + RECORD_PREFIX.size + lengths.astype(np.int64)
    # Every message lies inside the chunk and ends before the next one starts...
    if len(ends) and (int(ends.max()) > size or bool((ends[:-1] > starts[1:]).any())):
        return None
    # ...is the message the index says (channel and log time)...
    if not np.array_equal(_gather(buffer, starts + RECORD_PREFIX.size, "<u2").astype(np.int64), ids):
        return None
    if not np.array_equal(_gather(buffer, starts + RECORD_PREFIX.size + 6, "<u8"), times):
        return None
    # ...and what lies between them (schemas, channels) is whole records that are not messages.
    gap_starts = np.concatenate(([0], ends))
    gap_ends = np.concatenate((starts, [size]))
    for i in np.flatnonzero(gap_starts != gap_ends).tolist():
        if not _only_other_records(records, int(gap_starts[i]), int(gap_ends[i])):
            return None
    if len(times) and int(times.max()) > MAX_TIME:
        return None  # the walk names the message
    return ids, times.astype(np.int64), starts, lengths.astype(np.int64) - MESSAGE_FIELDS.size


def _times(times: list[int], starts: list[int], where: str) -> Ints:
    if times and max(times) > MAX_TIME:
        at = starts[next(i for i, time in enumerate(times) if time > MAX_TIME)]
        raise BadLogFile(f"The message at offset {at} of {where} has a log time past the year 2262.")
    return np.array(times, dtype=np.int64)


def chunk_columns(
    chunk: Chunk, data: Buffer, base: int, indexes: list[tuple[int, npt.NDArray[np.void]]] | None = None
) -> ChunkColumns:
    """The messages of one chunk record of ``data`` (file offset ``base``) as columns: from the message
    index records that follow it when they fit the chunk, else by walking its records."""
    records = chunk_records(chunk, data, base)
    where = f"the chunk at byte {chunk.start}"
    found = columns_from_indexes(records, indexes or [])
    if found is None:
        try:
            ids, times, starts, lengths, _ = walk_messages(records, 0, len(records), where)
            found = (
                np.array(ids, dtype=np.int64),
                _times(times, starts, where),
                np.array(starts, dtype=np.int64),
                np.array(lengths, dtype=np.int64),
            )
        except BadLogFile as error:
            raise BadLogFile(error.detail, payload={"chunk_offset": chunk.start}) from error
    ids_column, times_column, starts_column, lengths_column = found
    stored = STORED_COMPRESSIONS[chunk.compression]
    if stored == "zstd_mcap":
        chunk_start, chunk_length = chunk.body_start, chunk.end - chunk.body_start
    else:
        chunk_start, chunk_length = chunk.records_start, chunk.records_length
    shift = chunk.records_start if stored is None else 0
    offsets = starts_column + (shift + MESSAGE_DATA_AT)
    return ChunkColumns(ids_column, times_column, offsets, lengths_column, stored, chunk_start, chunk_length)


def _message_index(data: Buffer, start: int, end: int, base: int) -> tuple[int, npt.NDArray[np.void]]:
    channel_id, entries_start, entries_end = parse_message_index(data, start, end, base)
    count = (entries_end - entries_start) // _INDEX_ENTRY.itemsize
    return channel_id, np.frombuffer(data, dtype=_INDEX_ENTRY, count=count, offset=entries_start)


#: Records that end a run of top-level messages in :func:`index_columns`: a chunk, and the footer (the
#: magic after it is not a record).
_RUN_ENDS = frozenset({Op.CHUNK, Op.FOOTER})


def _run_columns(data: bytes, position: int, base: int) -> tuple[ChunkColumns | None, int]:
    """The top-level messages from ``position`` up to the next chunk or footer, and where they end."""
    size = len(data)
    ids, times, starts, lengths, end = walk_messages(
        data, position, size, f"the range at byte {base}", stop=_RUN_ENDS
    )
    if not ids:
        return None, end
    first, last = starts[0], starts[-1] + MESSAGE_DATA_AT + lengths[-1]
    columns = ChunkColumns(
        np.array(ids, dtype=np.int64),
        _times(times, [base + start for start in starts], "the file"),
        np.array(starts, dtype=np.int64) + (base + MESSAGE_DATA_AT),
        np.array(lengths, dtype=np.int64),
        None,
        base + first,
        last - first,
    )
    return columns, end


def index_columns(data: bytes, base: int) -> Iterator[ChunkColumns]:
    """Every message of ``data`` (file offset ``base``), chunk by chunk, in file order.

    ``data`` holds whole spans: chunk records with the message index records that follow them, and runs
    of top-level messages. Other records in it (schemas, channels, attachments, metadata, the data end,
    summary records, records of unknown opcodes) are skipped. One :class:`ChunkColumns` per chunk, and
    one per run of top-level messages between chunks. A chunk is indexed once the records after it are
    read, since its message index records follow it; a malformed message index makes the chunk's
    records be walked instead.
    """
    position = len(MAGIC) if base == 0 and data[: len(MAGIC)] == MAGIC else 0
    pending: Chunk | None = None
    indexes: list[tuple[int, npt.NDArray[np.void]]] | None = []
    size = len(data)
    while position < size:
        found = next_record(data, position)
        if found is None:
            raise BadLogFile(f"The record at byte {base + position} is cut short.")
        opcode, start, end = found
        if opcode == Op.MESSAGE_INDEX and pending is not None:
            if indexes is not None:
                try:
                    indexes.append(_message_index(data, start, end, base))
                except BadLogFile:
                    indexes = None
            position = end
            continue
        if pending is not None:
            yield chunk_columns(pending, data, base, indexes)
            pending, indexes = None, []
        if opcode == Op.CHUNK:
            pending = parse_chunk(data, start, end, base)
        elif opcode == Op.MESSAGE:
            run, end = _run_columns(data, position, base)
            if run is not None:
                yield run
        elif opcode == Op.FOOTER:
            break
        position = end
    if pending is not None:
        yield chunk_columns(pending, data, base, indexes)
