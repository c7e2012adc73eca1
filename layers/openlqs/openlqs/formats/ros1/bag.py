"""ROS 1 bag (format 2.0) reading for indexing: header, index, chunks and message positions.

Only what indexing needs is parsed, straight from bytes with ``struct``: the bag header record, the
connection and chunk-info records of the index (at the header's ``index_pos``), and the message-data
records inside chunks. Nothing here does I/O; callers hand in byte ranges (from S3 or a file).

Record layout: ``header_len:u32 | header | data_len:u32 | data``; a header is a run of fields
``field_len:u32 | name=value``. Times are ``sec:u32, nsec:u32``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import permutations
from typing import Any

import numpy as np
import numpy.typing as npt

from openlqs.errors import BadLogFile
from openlqs.formats.base import ByteSource, ChunkColumns, MessagePosition, ScanWindow, Span
from openlqs.formats.compression import decompress

MAGIC = b"#ROSBAG V2.0\n"
#: The bag header record is padded to about 4 KiB; one read of this size always holds it.
HEADER_READ_SIZE = 16 * 1024

OP_MESSAGE_DATA = 0x02
OP_BAG_HEADER = 0x03
OP_INDEX_DATA = 0x04
OP_CHUNK = 0x05
OP_CHUNK_INFO = 0x06
OP_CONNECTION = 0x07

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_TIME = struct.Struct("<II")
#: Chunk compressions as bags name them, and as records report them (LogQS ``chunk_compression``).
COMPRESSIONS = {"none": None, "bz2": "bz2", "lz4": "lz4"}


@dataclass(frozen=True)
class Connection:
    id: int
    topic: str
    type_name: str
    md5sum: str
    message_definition: str
    callerid: str | None = None
    latching: bool = False


@dataclass(frozen=True)
class BagIndex:
    file_size: int
    connections: dict[int, Connection]
    chunks: list[Span]
    #: True when the index was missing (recording cut off) and chunks were found by a scan.
    salvaged: bool = False
    #: Bytes at the end of the file that belong to no complete chunk (salvage only).
    ignored_bytes: int = 0

    def topics(self) -> dict[str, list[Connection]]:
        """Connections by topic name: several publishers on one name are one topic."""
        topics: dict[str, list[Connection]] = {}
        for connection in sorted(self.connections.values(), key=lambda c: c.id):
            topics.setdefault(connection.topic, []).append(connection)
        return topics


@dataclass
class _Record:
    header: dict[str, bytes]
    data_start: int
    data_end: int
    end: int = field(default=0)


def _time_ns(raw: bytes) -> int:
    sec, nsec = _TIME.unpack(raw)
    return sec * 1_000_000_000 + nsec


def parse_header(buf: bytes | memoryview, start: int, length: int) -> dict[str, bytes]:
    """The fields of a record header."""
    fields: dict[str, bytes] = {}
    position, end = start, start + length
    while position < end:
        if position + 4 > end:
            raise BadLogFile(f"Record header at byte {start} is malformed.")
        (field_length,) = _U32.unpack_from(buf, position)
        position += 4
        raw = bytes(buf[position : position + field_length])
        position += field_length
        name, separator, value = raw.partition(b"=")
        if not separator or position > end:
            raise BadLogFile(f"Record header at byte {start} is malformed.")
        fields[name.decode("ascii", "replace")] = value
    return fields


def read_record(buf: bytes | memoryview, position: int, base: int = 0) -> _Record | None:
    """The record at ``position`` of ``buf`` (None when ``buf`` ends before the record does).

    Offsets in the result are absolute: ``base`` is the file offset of ``buf[0]``.
    """
    if position + 4 > len(buf):
        return None
    (header_length,) = _U32.unpack_from(buf, position)
    header_start = position + 4
    if header_start + header_length + 4 > len(buf):
        return None
    header = parse_header(buf, header_start, header_length)
    (data_length,) = _U32.unpack_from(buf, header_start + header_length)
    data_start = header_start + header_length + 4
    data_end = data_start + data_length
    if data_end > len(buf):
        return None
    return _Record(header, base + data_start, base + data_end, base + data_end)


def _op(record: _Record) -> int:
    op = record.header.get("op")
    if op is None or len(op) != 1:
        raise BadLogFile("A record has no valid 'op' field.")
    return op[0]


def _connection(record: _Record, data: bytes | memoryview, base: int) -> Connection:
    details = parse_header(data, record.data_start - base, record.data_end - record.data_start)
    return _connection_from(record.header, details)


def _connection_from(header: dict[str, bytes], details: dict[str, bytes]) -> Connection:
    return Connection(
        id=_U32.unpack(header["conn"])[0],
        topic=header.get("topic", details.get("topic", b"")).decode(),
        type_name=details.get("type", b"").decode(),
        md5sum=details.get("md5sum", b"").decode(),
        message_definition=details.get("message_definition", b"").decode(),
        callerid=details["callerid"].decode() if "callerid" in details else None,
        latching=details.get("latching", b"0") == b"1",
    )


def _check_magic(source: ByteSource) -> bytes:
    if source.size == 0:
        raise BadLogFile("The file is empty.")
    head = source.read(0, HEADER_READ_SIZE)
    if not head.startswith(MAGIC):
        if head.startswith(b"#ROSBAG V"):
            raise BadLogFile(f"Unsupported bag version {head[:13].decode(errors='replace').strip()!r}.")
        raise BadLogFile("The file is not a ROS 1 bag (no '#ROSBAG V2.0' magic line).")
    return head


def read_index(source: ByteSource) -> BagIndex:
    """Read the bag header and its index with two range reads; salvage by a scan when the index is gone."""
    head = _check_magic(source)
    header = read_record(head, len(MAGIC))
    if header is None or _op(header) != OP_BAG_HEADER:
        raise BadLogFile("The bag header record is truncated or missing.")
    index_pos = _U64.unpack(header.header["index_pos"])[0]
    connection_count = _U32.unpack(header.header["conn_count"])[0]
    chunk_count = _U32.unpack(header.header["chunk_count"])[0]
    first_record = header.end
    if index_pos == 0 or index_pos >= source.size or index_pos < first_record:
        salvaged = salvage_index(source, first_record)
        if not salvaged.chunks and (chunk_count or connection_count):
            # A closed bag (its header counts what it holds) cut before any complete chunk: reporting it
            # as an empty log would lose every message it announced.
            raise BadLogFile(
                f"The bag is truncated: its header announces {connection_count} connections and "
                f"{chunk_count} chunks (the index at byte {index_pos}), but the file ends at byte "
                f"{source.size} before any complete chunk."
            )
        return salvaged
    data = source.read(index_pos, source.size)
    connections: dict[int, Connection] = {}
    infos: list[tuple[int, int, int, dict[int, int]]] = []
    position = 0
    while position < len(data):
        record = read_record(data, position, index_pos)
        if record is None:
            raise BadLogFile(f"The bag index at byte {index_pos + position} is truncated.")
        op = _op(record)
        if op == OP_CONNECTION:
            connection = _connection(record, data, index_pos)
            connections[connection.id] = connection
        elif op == OP_CHUNK_INFO:
            infos.append(_chunk_info(record, data, index_pos))
        position = record.end - index_pos
    if len(connections) != connection_count or len(infos) != chunk_count:
        raise BadLogFile(
            f"The bag index lists {len(connections)} connections and {len(infos)} chunks; "
            f"its header announces {connection_count} and {chunk_count}."
        )
    positions = [*sorted(info[0] for info in infos), index_pos]
    following = {start: positions[i + 1] for i, start in enumerate(positions[:-1])}
    chunks = [
        Span(start, following[start], start_time, end_time, possible_counts(counts, following[start] - start))
        for start, start_time, end_time, counts in sorted(infos)
    ]
    return BagIndex(source.size, connections, chunks)


#: Bytes an index-data record spends on each message of the chunk before it (time and offset).
INDEX_ENTRY_BYTES = 12


def possible_counts(counts: dict[int, int], span_bytes: int) -> dict[int, int]:
    """A chunk-info record's message counts, cut down to what the chunk's bytes can hold.

    The counts are the file's claim; indexing finds the real messages whatever they say, but planning
    sizes each topic's time buckets from them, and a count inflated ten million times would make a
    bucket (a block) per message.
    Every message of a chunk has a 12-byte entry in the index-data records between the chunk and the
    next one (and more bytes in the chunk itself), so a chunk holds fewer than ``span_bytes // 12``;
    counts claiming more are scaled down in proportion. A true count is never changed.
    """
    claimed = sum(counts.values())
    most = span_bytes // INDEX_ENTRY_BYTES
    if claimed <= most:
        return counts
    return {connection_id: count * most // claimed for connection_id, count in counts.items()}


def _chunk_info(record: _Record, data: bytes | memoryview, base: int) -> tuple[int, int, int, dict[int, int]]:
    header = record.header
    counts: dict[int, int] = {}
    body = data[record.data_start - base : record.data_end - base]
    for i in range(_U32.unpack(header["count"])[0]):
        connection_id, count = struct.unpack_from("<II", body, i * 8)
        counts[connection_id] = count
    return (
        _U64.unpack(header["chunk_pos"])[0],
        _time_ns(header["start_time"]),
        _time_ns(header["end_time"]),
        counts,
    )


def salvage_index(source: ByteSource, start: int) -> BagIndex:
    """Rebuild the index of a bag whose recording was cut off: every complete chunk, found by a scan.

    Whatever follows the last complete chunk (and its index-data records) is ignored and counted.
    """
    window = ScanWindow(source)
    connections: dict[int, Connection] = {}
    found: list[Span] = []
    position = last_complete = start
    while position + 4 <= source.size:
        (header_length,) = _U32.unpack(window.read(position, position + 4))
        data_length_at = position + 4 + header_length
        if data_length_at + 4 > source.size:
            break
        header = window.read(position + 4, data_length_at)
        (data_length,) = _U32.unpack(window.read(data_length_at, data_length_at + 4))
        record = _Record(
            parse_header(header, 0, header_length), data_length_at + 4, data_length_at + 4 + data_length
        )
        record.end = record.data_end
        if record.data_end > source.size:
            break
        op = _op(record)
        if op == OP_CHUNK:
            try:
                info, chunk_connections = _scan_chunk(
                    record, window.read(record.data_start, record.data_end), position
                )
            except BadLogFile:
                break  # a damaged chunk at the end of a cut-off recording
            connections.update(chunk_connections)
            found.append(info)
            last_complete = record.end
        elif op == OP_INDEX_DATA and found:
            last_complete = record.end
        elif op == OP_CONNECTION:
            details = parse_header(window.read(record.data_start, record.data_end), 0, data_length)
            connection = _connection_from(record.header, details)
            connections[connection.id] = connection
        position = record.end
    # A chunk's range runs to the next chunk: its index-data records belong to it.
    chunks = [
        Span(
            chunk.start,
            found[i + 1].start if i + 1 < len(found) else last_complete,
            chunk.start_time,
            chunk.end_time,
            chunk.counts,
        )
        for i, chunk in enumerate(found)
    ]
    return BagIndex(
        source.size, connections, chunks, salvaged=True, ignored_bytes=source.size - last_complete
    )


def _scan_chunk(record: _Record, compressed: bytes, position: int) -> tuple[Span, dict[int, Connection]]:
    data = decompress_chunk(record, compressed)
    counts: dict[int, int] = {}
    connections: dict[int, Connection] = {}
    times: list[int] = []
    inner = 0
    while inner < len(data):
        message = read_record(data, inner)
        if message is None:
            raise BadLogFile(f"The chunk at byte {position} is corrupt.")
        op = _op(message)
        if op == OP_MESSAGE_DATA:
            connection_id = _U32.unpack(message.header["conn"])[0]
            counts[connection_id] = counts.get(connection_id, 0) + 1
            times.append(_time_ns(message.header["time"]))
        elif op == OP_CONNECTION:
            connection = _connection(message, data, 0)
            connections[connection.id] = connection
        inner = message.end
    return Span(position, record.end, min(times, default=0), max(times, default=0), counts), connections


def decompress_chunk(record: _Record, compressed: bytes | memoryview) -> bytes:
    compression = record.header.get("compression", b"none").decode()
    try:
        return decompress(compressed, compression)
    except ValueError as error:
        raise BadLogFile(f"A {compression} chunk cannot be decompressed: {error}") from error


def index_chunks(data: bytes, base: int) -> Iterator[MessagePosition]:
    """Every message in the chunk records of ``data`` (file offset ``base``), in file order.

    ``data`` must hold whole chunks (and their index-data records), as parts are planned.
    """
    for columns in index_chunk_columns(data, base):
        yield from columns.positions()


@dataclass(frozen=True)
class _MessageHeaderLayout:
    """One field order of a message-data record's fixed 46-byte prefix, unpacked in one call.

    The prefix is ``header_len | 3 fields (op: 1 byte, conn: u32, time: 2 x u32) | data_len``; a record
    matches when the header length is 38 and the three field lengths are where this order puts them.
    """

    unpack: Callable[[bytes, int], tuple[Any, ...]]
    #: Where the three field lengths are in the unpacked values, and what they must be.
    length_at: tuple[int, int, int]
    lengths: tuple[int, int, int]
    op: int
    conn: int
    sec: int
    data_len: int


def _message_layouts() -> dict[tuple[int, int], _MessageHeaderLayout]:
    """The six possible field orders, keyed by the lengths of their first two fields."""
    parts = {"op": ("I3sB", 4), "conn": ("I5sI", 9), "time": ("I5sII", 13)}
    layouts = {}
    for order in permutations(("op", "conn", "time")):
        fmt, index, positions, lengths = "<I", 1, {}, []
        for name in order:
            code, length = parts[name]
            lengths.append((index, length))
            positions[name] = index + 2
            fmt += code
            index += len(code) - 1
        fmt += "I"
        (a, la), (b, lb), (c, lc) = lengths
        layouts[(parts[order[0]][1], parts[order[1]][1])] = _MessageHeaderLayout(
            struct.Struct(fmt).unpack_from,
            (a, b, c),
            (la, lb, lc),
            positions["op"],
            positions["conn"],
            positions["time"],
            index,
        )
    return layouts


_MESSAGE_HEADER_LENGTH = 38
_MESSAGE_PREFIX = 46
_LAYOUTS = _message_layouts()


#: One entry of an index-data record (version 1): the message's time and its offset in the chunk.
_INDEX_ENTRY = np.dtype([("sec", "<u4"), ("nsec", "<u4"), ("offset", "<u4")])


class _Words:
    """Little-endian u32s at any byte positions of a chunk (four 1-D byte gathers, no loop)."""

    def __init__(self, chunk: bytes) -> None:
        self._bytes = np.frombuffer(chunk, dtype=np.uint8)

    def at(self, positions: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The u32 at each of ``positions`` (each at least 4 bytes before the end)."""
        data = self._bytes
        word = data[positions].astype(np.int64)
        for k in (1, 2, 3):
            word |= data[positions + k].astype(np.int64) << (8 * k)
        return word


def _columns_from_index(
    chunk: bytes, indexes: list[tuple[_Record, memoryview]], shift: int
) -> tuple[npt.NDArray[np.int64], ...] | None:
    """Message columns from the index-data records that follow a chunk, without scanning the chunk's
    records: connection ids, times and offsets come from the index, each message's data length from the
    u32s at its offset (vectorised). None when the index is absent or does not fit the chunk (the caller
    then scans the records one by one)."""
    if not indexes:
        return None
    ids, times, offsets = [], [], []
    for record, body in indexes:
        header = record.header
        fields = (header.get("conn", b""), header.get("count", b""))
        if header.get("ver") != b"\x01\x00\x00\x00" or any(len(value) != 4 for value in fields):
            return None
        count = _U32.unpack(header["count"])[0]
        if len(body) != count * _INDEX_ENTRY.itemsize:
            return None
        entries = np.frombuffer(body, dtype=_INDEX_ENTRY)
        ids.append(np.full(count, _U32.unpack(header["conn"])[0], dtype=np.int64))
        times.append(entries["sec"].astype(np.int64) * 1_000_000_000 + entries["nsec"])
        offsets.append(entries["offset"].astype(np.int64))
    record_starts = np.concatenate(offsets)
    order = np.argsort(record_starts, kind="stable")
    record_starts = record_starts[order]
    size = len(chunk)
    if len(record_starts) and (record_starts[0] < 0 or record_starts[-1] + 4 > size):
        return None
    words = _Words(chunk)
    header_lengths = words.at(record_starts)
    length_at = record_starts + 4 + header_lengths
    if len(length_at) and int(length_at.max()) + 4 > size:
        return None
    lengths = words.at(length_at)
    data_starts = length_at + 4
    ends = data_starts + lengths
    # Every message lies inside the chunk and ends before the next one starts...
    if len(ends) and (int(ends.max()) > size or bool(np.any(ends[:-1] > record_starts[1:]))):
        return None
    # ...each is the message the index says (op, connection and time in its header)...
    all_ids, all_times = np.concatenate(ids)[order], np.concatenate(times)[order]
    if not _headers_agree(chunk, words, record_starts, header_lengths, all_ids, all_times):
        return None
    # ...and what lies between them (connection records) is whole records that are not messages.
    gap_starts = np.concatenate(([0], ends))
    gap_ends = np.concatenate((record_starts, [size]))
    for i in np.flatnonzero(gap_starts != gap_ends).tolist():
        if not _only_other_records(chunk, int(gap_starts[i]), int(gap_ends[i])):
            return None
    return all_ids, all_times, data_starts + shift, lengths


#: Where each field of a message header starts when the header is exactly op, conn and time in some
#: order (38 bytes, as ROS writes it): ``op=`` is 8 bytes with its length, ``conn=`` 13, ``time=`` 17.
_FIELD_STARTS = {"op": (0, 13, 17, 30), "conn": (0, 8, 17, 25), "time": (0, 8, 13, 21)}
#: A field's length and the first four bytes of its name, as u32s.
_FIELD_WORDS = {
    "op": (4, int.from_bytes(b"op=" + bytes([OP_MESSAGE_DATA]), "little")),
    "conn": (9, int.from_bytes(b"conn", "little")),
    "time": (13, int.from_bytes(b"time", "little")),
}


def _field_matches(words: _Words, headers: npt.NDArray[np.int64], name: str, values: list[Any]) -> Any:
    """Whether each header holds field ``name`` with ``values`` (u32s after ``name=``) at one of the
    places it can be (tried first where the first header has it)."""
    length, head = _FIELD_WORDS[name]
    found = np.zeros(len(headers), dtype=bool)
    if not len(headers):
        return found
    # Every header of a chunk has the same field order, as a rule: the first one's comes first.
    first = [o for o in _FIELD_STARTS[name] if int(words.at(headers[:1] + o + 4)[0]) == head]
    for offset in [*first, *(o for o in _FIELD_STARTS[name] if o not in first)]:
        left = np.flatnonzero(~found)
        if not len(left):
            break
        at = headers[left] + offset
        ok = (words.at(at) == length) & (words.at(at + 4) == head)
        for k, value in enumerate(values):
            ok &= words.at(at + 9 + 4 * k) == value[left]
        found[left[ok]] = True
    return found


def _headers_agree(
    chunk: bytes,
    words: _Words,
    starts: npt.NDArray[np.int64],
    header_lengths: npt.NDArray[np.int64],
    ids: npt.NDArray[np.int64],
    times: npt.NDArray[np.int64],
) -> bool:
    """Whether the record at each of ``starts`` is a message of connection ``ids`` at ``times``: checked
    vectorised for 38-byte headers, one by one for any other."""
    seconds, nanoseconds = np.divmod(times, 1_000_000_000)
    standard = header_lengths == _MESSAGE_HEADER_LENGTH
    for i in np.flatnonzero(~standard).tolist():
        record = read_record(chunk, int(starts[i]))
        time = _TIME.pack(int(seconds[i]), int(nanoseconds[i]))
        fields = (bytes([OP_MESSAGE_DATA]), _U32.pack(int(ids[i])), time)
        if record is None or tuple(record.header.get(k) for k in ("op", "conn", "time")) != fields:
            return False
    headers = starts[standard] + 4
    # The "=" after conn and time is not compared: a u32 value follows it at offset 9 either way.
    checks: dict[str, list[Any]] = {
        "op": [],
        "conn": [ids[standard]],
        "time": [seconds[standard], nanoseconds[standard]],
    }
    return all(bool(_field_matches(words, headers, name, values).all()) for name, values in checks.items())


def _only_other_records(chunk: bytes, start: int, end: int) -> bool:
    """Whether chunk[start:end] is a run of whole records, none of them a message."""
    position = start
    while position < end:
        record = read_record(chunk, position)
        if record is None or record.end > end or record.header.get("op") == bytes([OP_MESSAGE_DATA]):
            return False
        position = record.end
    return position == end


def chunk_columns(
    record: _Record, data: bytes, base: int, indexes: list[tuple[_Record, memoryview]] | None = None
) -> ChunkColumns:
    """Index one chunk record of ``data`` (file offset ``base``) into columns: from the index-data
    records that follow it when they fit the chunk, else by scanning its records."""
    compression = record.header.get("compression", b"none").decode()
    compressed = memoryview(data)[record.data_start - base : record.data_end - base]
    chunk = decompress_chunk(record, compressed)
    declared = _U32.unpack(record.header["size"])[0] if "size" in record.header else len(chunk)
    if declared != len(chunk):
        raise BadLogFile(
            f"The chunk at byte {record.data_start} holds {len(chunk)} bytes; its header says {declared}."
        )
    stored = COMPRESSIONS.get(compression)
    chunk_start = record.data_start
    shift = chunk_start if stored is None else 0
    indexed = _columns_from_index(chunk, indexes or [], shift)
    if indexed is not None:
        ids, times, starts, sizes = indexed
        chunk_length = record.data_end - record.data_start
        return ChunkColumns(ids, times, starts, sizes, stored, chunk_start, chunk_length)
    connection_ids: list[int] = []
    timestamps: list[int] = []
    offsets: list[int] = []
    lengths: list[int] = []
    add_connection, add_time = connection_ids.append, timestamps.append
    add_offset, add_length = offsets.append, lengths.append
    size = len(chunk)
    layout: _MessageHeaderLayout | None = None
    unpack: Callable[[bytes, int], tuple[Any, ...]] | None = None
    a = b = c = op = conn = sec = data_len = 0
    expected = (0, 0, 0)
    position = 0
    while position < size:
        if unpack is not None and position + _MESSAGE_PREFIX <= size:
            values = unpack(chunk, position)
            if (
                values[0] == _MESSAGE_HEADER_LENGTH
                and (values[a], values[b], values[c]) == expected
                and values[op] == OP_MESSAGE_DATA
            ):
                length = values[data_len]
                data_start = position + _MESSAGE_PREFIX
                position = data_start + length
                if position > size:
                    raise BadLogFile(f"The chunk at byte {chunk_start} is corrupt at offset {data_start}.")
                add_connection(values[conn])
                add_time(values[sec] * 1_000_000_000 + values[sec + 1])
                add_offset(shift + data_start)
                add_length(length)
                continue
        # Slow path: any record, and the first message (which tells the field order).
        message = read_record(chunk, position)
        if message is None:
            raise BadLogFile(f"The chunk at byte {chunk_start} is corrupt at offset {position}.")
        if _op(message) == OP_MESSAGE_DATA:
            add_connection(_U32.unpack(message.header["conn"])[0])
            add_time(_time_ns(message.header["time"]))
            add_offset(shift + message.data_start)
            add_length(message.data_end - message.data_start)
            if position + _MESSAGE_PREFIX <= size:
                (first,) = _U32.unpack_from(chunk, position + 4)
                if first in (4, 9, 13):
                    (second,) = _U32.unpack_from(chunk, position + 8 + first)
                    found = _LAYOUTS.get((first, second))
                    if found is not None and found is not layout:
                        layout, unpack = found, found.unpack
                        (a, b, c), expected = found.length_at, found.lengths
                        op, conn, sec, data_len = found.op, found.conn, found.sec, found.data_len
        position = message.end
    return ChunkColumns(
        connection_ids, timestamps, offsets, lengths, stored, chunk_start, record.data_end - record.data_start
    )


def index_chunk_columns(data: bytes, base: int) -> Iterator[ChunkColumns]:
    """Every chunk record of ``data`` (file offset ``base``) as columns, in file order.

    A chunk is indexed once the records after it are read: its index-data records (one per connection)
    follow it in a bag that was closed properly. A corrupt chunk is a ``BadLogFile`` whose payload
    names the chunk's offset (``chunk_offset``).
    """
    position = 0
    pending: _Record | None = None
    pending_at = 0
    indexes: list[tuple[_Record, memoryview]] = []
    view = memoryview(data)
    while position < len(data):
        record = read_record(data, position, base)
        if record is None:
            raise BadLogFile(f"A record at byte {base + position} is truncated.")
        op = _op(record)
        if op == OP_CHUNK:
            if pending is not None:
                yield _chunk_columns_at(pending, pending_at, data, base, indexes)
            pending, pending_at, indexes = record, base + position, []
        elif op == OP_INDEX_DATA and pending is not None:
            indexes.append((record, view[record.data_start - base : record.data_end - base]))
        position = record.end - base
    if pending is not None:
        yield _chunk_columns_at(pending, pending_at, data, base, indexes)


def _chunk_columns_at(
    record: _Record, start: int, data: bytes, base: int, indexes: list[tuple[_Record, memoryview]]
) -> ChunkColumns:
    try:
        return chunk_columns(record, data, base, indexes)
    except BadLogFile as error:
        raise BadLogFile(error.detail, payload={"chunk_offset": start, **error.payload}) from error
