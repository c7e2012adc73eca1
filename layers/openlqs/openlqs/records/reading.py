"""Reading the bytes records point to: ranged reads, chunk decompression, a bounded chunk cache.

A record of a compressed chunk points at the whole chunk (``data_offset``/``data_length``) and at the
message inside the decompressed chunk (``chunk_offset``/``chunk_length``). ``RecordBytesReader`` reads
each chunk once and keeps decompressed chunks in a ``ChunkCache`` bounded in bytes, so reading a topic in
time order reads every chunk once; uncompressed neighbours share one ranged read. Where the bytes live
(``locate``) and how a range is read (``read_range``) are the caller's: HTTP for the client, S3 for the
API.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from openlqs.formats.compression import UNCOMPRESSED, decompress
from openlqs.records.lru import WeighedLru

#: Largest ranged read used to serve several uncompressed records at once.
MAX_COALESCED_READ = 8 * 1024 * 1024
#: A read this small is always worth sharing, however few of its bytes are wanted.
SMALL_READ = 64 * 1024
#: Decompressed chunks a cache keeps by default (bytes).
CHUNK_CACHE_BYTES = 256 * 1024 * 1024


class RecordSpan(Protocol):
    """The fields of a record that say where its bytes are."""

    @property
    def data_offset(self) -> int | None: ...
    @property
    def data_length(self) -> int | None: ...
    @property
    def chunk_compression(self) -> str | None: ...
    @property
    def chunk_offset(self) -> int | None: ...
    @property
    def chunk_length(self) -> int | None: ...


R = TypeVar("R", bound=RecordSpan)
L = TypeVar("L", bound=Hashable)


class ChunkCache(WeighedLru[Hashable, bytes]):
    """Decompressed chunks, least recently used first out, at most ``max_bytes`` (thread-safe)."""

    def __init__(self, max_bytes: int = CHUNK_CACHE_BYTES) -> None:
        super().__init__(max_bytes, lambda _key, chunk: len(chunk))

    @property
    def max_bytes(self) -> int:
        return self.max_weight

    @property
    def size(self) -> int:
        return self.weight


def span_of(record: RecordSpan) -> tuple[int, int]:
    if record.data_offset is None or record.data_length is None:
        raise ValueError("the record does not point into a file (no data_offset/data_length)")
    return record.data_offset, record.data_length


def is_compressed(record: RecordSpan) -> bool:
    return (record.chunk_compression or "") not in UNCOMPRESSED


class RecordBytesReader(Generic[R, L]):
    """The message bytes of records, wherever ``locate`` says they are."""

    def __init__(
        self,
        locate: Callable[[R], L],
        read_range: Callable[[L, int, int], bytes],
        cache: ChunkCache | None = None,
    ) -> None:
        self.locate = locate
        self.read_range = read_range
        self.cache = cache if cache is not None else ChunkCache()

    def record_bytes(self, record: R, location: L | None = None) -> bytes:
        """One record's bytes (``location`` when the caller already knows it)."""
        offset, length = span_of(record)
        where = self.locate(record) if location is None else location
        if not is_compressed(record):
            return self._read(where, offset, length)
        chunk = self._chunk(where, offset, length, record.chunk_compression)
        start, size = record.chunk_offset or 0, record.chunk_length or 0
        return chunk[start : start + size]

    def _read(self, location: L, offset: int, length: int) -> bytes:
        if length == 0:
            return b""
        data = self.read_range(location, offset, length)
        if len(data) != length:
            raise ValueError(f"read {len(data)} bytes at {offset}, expected {length}")
        return data

    def _chunk(self, location: L, offset: int, length: int, compression: str | None) -> bytes:
        key = (location, offset, length)
        chunk = self.cache.get(key)
        if chunk is None:
            chunk = decompress(self._read(location, offset, length), compression)
            self.cache.put(key, chunk)
        return chunk

    def read_spans(
        self,
        location: L,
        offsets: Sequence[int],
        lengths: Sequence[int],
        compressions: Sequence[str | None],
        chunk_offsets: Sequence[int | None],
        chunk_lengths: Sequence[int | None],
        *,
        max_gap: int = SMALL_READ,
    ) -> list[bytes]:
        """The message bytes of many records of one object (as columns), in the order given.

        Uncompressed records are served by ranged reads of neighbours in file order, a gap of up to
        ``max_gap`` bytes read through (a digestion part wants every record of its span: fewer, larger
        reads); each compressed chunk is read and decompressed once (through the cache).
        """
        found: list[bytes] = [b""] * len(offsets)
        plain = [i for i, compression in enumerate(compressions) if (compression or "") in UNCOMPRESSED]
        plain.sort(key=offsets.__getitem__)
        window: list[int] = []
        start = end = 0

        def flush() -> None:
            data = self._read(location, start, end - start)
            for i in window:
                at = offsets[i] - start
                found[i] = data[at : at + lengths[i]]

        for i in plain:
            offset, length = offsets[i], lengths[i]
            if window and (offset - end > max_gap or max(end, offset + length) - start > MAX_COALESCED_READ):
                flush()
                window = []
            if not window:
                start, end = offset, offset + length
            else:
                end = max(end, offset + length)
            window.append(i)
        if window:
            flush()
        for i, compression in enumerate(compressions):
            if (compression or "") in UNCOMPRESSED:
                continue
            chunk = self._chunk(location, offsets[i], lengths[i], compression)
            at, size = chunk_offsets[i] or 0, chunk_lengths[i] or 0
            found[i] = chunk[at : at + size]
        return found

    def _groups(
        self, records: Iterable[R], errors: tuple[type[Exception], ...] = ()
    ) -> Iterator[R | _Batch[R, L] | _Failed[R]]:
        """The records in the order given: compressed ones alone, uncompressed neighbours batched.

        A record whose location raises one of ``errors`` comes as ``_Failed`` (other errors propagate).
        """
        batch: _Batch[R, L] | None = None
        for record in records:
            if is_compressed(record):
                if batch is not None:
                    yield batch
                    batch = None
                yield record
                continue
            try:
                location = self.locate(record)
            except errors as error:
                yield _Failed(record, error)
                continue
            if batch is not None and not batch.add(record, location):
                yield batch
                batch = None
            if batch is None:
                batch = _Batch(location)
                batch.add(record, location)
        if batch is not None:
            yield batch

    def iter_bytes(self, records: Iterable[R]) -> Iterator[tuple[R, bytes]]:
        """``(record, bytes)`` in the order given, neighbouring uncompressed reads coalesced."""
        for group in self._groups(records):
            if isinstance(group, _Batch):
                yield from group.read(self)
            elif not isinstance(group, _Failed):
                yield group, self.record_bytes(group)

    def iter_results(
        self, records: Iterable[R], errors: tuple[type[Exception], ...] = (ValueError,)
    ) -> Iterator[tuple[R, bytes | Exception]]:
        """``(record, bytes or the error reading them)`` in the order given; only ``errors`` are caught.

        A failed read is the error of the records that need it, not of the whole page: a coalesced read
        that fails (one record past the end of its object…) is retried record by record, and a chunk
        that cannot be read or decompressed is tried once for all its records.
        """
        failed_chunks: dict[Hashable, Exception] = {}
        for group in self._groups(records, errors):
            if isinstance(group, _Failed):
                yield group.record, group.error
            elif isinstance(group, _Batch):
                try:
                    pairs: list[tuple[R, bytes | Exception]] = list(group.read(self))
                except errors:
                    pairs = [(record, self._try_read(group, record, errors)) for record in group.records]
                yield from pairs
            else:
                yield group, self._try_chunk(group, failed_chunks, errors)

    def _try_read(
        self, batch: _Batch[R, L], record: R, errors: tuple[type[Exception], ...]
    ) -> bytes | Exception:
        try:
            return self._read(batch.location, *span_of(record))
        except errors as error:
            return error

    def _try_chunk(
        self, record: R, failed: dict[Hashable, Exception], errors: tuple[type[Exception], ...]
    ) -> bytes | Exception:
        try:
            location = self.locate(record)
            key = (location, *span_of(record))
        except errors as error:
            return error
        if key not in failed:
            try:
                return self.record_bytes(record, location)
            except errors as error:
                failed[key] = error
        return failed[key]


@dataclass(frozen=True)
class _Failed(Generic[R]):
    """A record that could not be located."""

    record: R
    error: Exception


class _Batch(Generic[R, L]):
    """Uncompressed records of one object served by one ranged read.

    A record joins while the window stays small, or stays at least half made of wanted bytes: a sparse
    topic is read record by record rather than with megabytes of other topics' messages.
    """

    def __init__(self, location: L) -> None:
        self.location = location
        self.records: list[R] = []
        self.start = self.end = self.wanted = 0

    def add(self, record: R, location: L) -> bool:
        offset, length = span_of(record)
        if self.records:
            start, end = min(self.start, offset), max(self.end, offset + length)
            window, wanted = end - start, self.wanted + length
            dense = window <= SMALL_READ or wanted * 2 >= window
            if location != self.location or window > MAX_COALESCED_READ or not dense:
                return False
            self.start, self.end, self.wanted = start, end, wanted
        else:
            self.start, self.end, self.wanted = offset, offset + length, length
        self.records.append(record)
        return True

    def read(self, reader: RecordBytesReader[R, L]) -> Iterator[tuple[R, bytes]]:
        data = reader._read(self.location, self.start, self.end - self.start)
        for record in self.records:
            offset, length = span_of(record)
            yield record, data[offset - self.start : offset - self.start + length]
