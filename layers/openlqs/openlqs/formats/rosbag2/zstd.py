"""zstd as rosbag2 uses it: whole storage files (``compression_mode: file``) and single messages
(``compression_mode: message``), decompressed with bounded memory.

zstandard's streaming decompressor hands its output on in pieces of a fixed size, whatever the ratio,
but it does not say whether its input ended inside a frame: a cut-off upload would pass as a shorter
file. So a stream's compressed bytes are also walked frame by frame (RFC 8878: frame header, block
headers, optional checksum, skippable frames) and it is complete only when it ends on a frame
boundary; the same walk recognises input that is not zstd at all from its first four bytes. A single
message whose frame states its size is decompressed in one call, which checks all of that itself.
"""

from __future__ import annotations

import io
import struct
from typing import BinaryIO

import zstandard

from openlqs.errors import BadLogFile

#: How much compressed input is read, and decompressed output written, at a time.
STREAM_PIECE_BYTES = 1024 * 1024

_ZSTD_MAGIC = 0xFD2FB528
_SKIPPABLE_MASK = 0xFFFFFFF0
_SKIPPABLE_MAGIC = 0x184D2A50
_U32 = struct.Struct("<I")


class _OutputLimitReached(Exception):
    """Raised from inside the decompressor's output when ``max_output_bytes`` would be passed."""


class _FrameWalker:
    """Follows zstd frame boundaries through compressed bytes fed in pieces of any size."""

    def __init__(self) -> None:
        self.frames = 0
        self.consumed = 0
        self._pending = bytearray()
        self._need = 4
        self._state = "magic"
        self._skip = 0
        self._after_skip = "magic"
        self._checksum = False
        self._last_block = False

    @property
    def at_frame_boundary(self) -> bool:
        return self._state == "magic" and not self._pending and not self._skip

    def feed(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        position = 0
        while position < len(view):
            if self._skip:
                step = min(self._skip, len(view) - position)
                self._skip -= step
                position += step
                if not self._skip:
                    self._skipped()
                continue
            take = min(self._need - len(self._pending), len(view) - position)
            self._pending += view[position : position + take]
            position += take
            if len(self._pending) == self._need:
                header = bytes(self._pending)
                self._pending.clear()
                self._header(header, self.consumed + position - self._need)
        self.consumed += len(view)

    def _header(self, header: bytes, offset: int) -> None:
        if self._state == "magic":
            (magic,) = _U32.unpack(header)
            if magic == _ZSTD_MAGIC:
                self._expect("descriptor", 1)
            elif magic & _SKIPPABLE_MASK == _SKIPPABLE_MAGIC:
                self._expect("skippable size", 4)
            elif self.frames == 0 and offset == 0:
                raise BadLogFile(f"The data is not zstd: it starts with {header!r}, not a zstd frame magic.")
            else:
                raise BadLogFile(f"The zstd data has bytes that are not a zstd frame at byte {offset}.")
        elif self._state == "descriptor":
            descriptor = header[0]
            if descriptor & 0x08:
                raise BadLogFile(f"The zstd data is corrupt: reserved frame header bit set at byte {offset}.")
            single_segment = bool(descriptor & 0x20)
            content_size_flag = descriptor >> 6
            rest = (0 if single_segment else 1) + (0, 1, 2, 4)[descriptor & 0x03]
            rest += (1 if single_segment else 0, 2, 4, 8)[content_size_flag]
            self._checksum = bool(descriptor & 0x04)
            if rest:
                self._expect("frame header", rest)
            else:
                self._expect("block", 3)
        elif self._state == "frame header":
            self._expect("block", 3)
        elif self._state == "block":
            value = header[0] | header[1] << 8 | header[2] << 16
            self._last_block = bool(value & 1)
            block_type = (value >> 1) & 0x03
            if block_type == 3:
                raise BadLogFile(f"The zstd data is corrupt: reserved block type at byte {offset}.")
            size = 1 if block_type == 1 else value >> 3
            if size:
                self._skip, self._after_skip = size, "block end"
            else:
                self._block_end()
        elif self._state == "checksum":
            self._frame_end()
        elif self._state == "skippable size":
            (size,) = _U32.unpack(header)
            self._expect("magic", 4)
            if size:
                self._skip, self._after_skip = size, "magic"

    def _skipped(self) -> None:
        if self._after_skip == "block end":
            self._block_end()

    def _block_end(self) -> None:
        if not self._last_block:
            self._expect("block", 3)
        elif self._checksum:
            self._expect("checksum", 4)
        else:
            self._frame_end()

    def _frame_end(self) -> None:
        self.frames += 1
        self._expect("magic", 4)

    def _expect(self, state: str, size: int) -> None:
        self._state, self._need = state, size


class _LimitedSink:
    """The decompressor's output: counts bytes, refuses to pass ``limit``, writes through to ``dst``."""

    def __init__(self, dst: BinaryIO, limit: int | None) -> None:
        self.dst = dst
        self.limit = limit
        self.written = 0

    def write(self, data: bytes | memoryview) -> int:
        size = len(data)
        if self.limit is not None and self.written + size > self.limit:
            raise _OutputLimitReached
        self.dst.write(data)
        self.written += size
        return size


def decompress_zstd_stream(
    src: BinaryIO,
    dst: BinaryIO,
    *,
    max_output_bytes: int | None,
    piece_bytes: int = STREAM_PIECE_BYTES,
) -> int:
    """Decompress the zstd stream ``src`` (one or more frames) into ``dst``; the bytes written.

    Memory stays bounded whatever the sizes: input is read and output written ``piece_bytes`` at a
    time (plus the decoder's window, at most zstandard's default limit of 128 MiB, 8 MiB for rosbag2's
    settings). ``BadLogFile`` when ``src`` is empty or not zstd, corrupt, cut off inside a frame, or
    would decompress to more than ``max_output_bytes`` (None: no limit); ``dst`` then holds a prefix
    of the output, for the caller to discard.
    """
    walker = _FrameWalker()
    sink = _LimitedSink(dst, max_output_bytes)
    decompressor = zstandard.ZstdDecompressor().stream_writer(
        sink,  # type: ignore[arg-type]  # write() is all the decompressor uses
        write_size=piece_bytes,
        write_return_read=True,
        closefd=False,
    )
    try:
        while piece := src.read(piece_bytes):
            walker.feed(piece)
            decompressor.write(piece)
        decompressor.flush()
    except _OutputLimitReached:
        raise BadLogFile(f"The zstd data decompresses to more than {max_output_bytes} bytes.") from None
    except zstandard.ZstdError as error:
        raise BadLogFile(
            f"The zstd data is corrupt (near compressed byte {walker.consumed}): {error}."
        ) from error
    if walker.consumed == 0:
        raise BadLogFile("The data is empty, not zstd.")
    if not walker.at_frame_boundary or walker.frames == 0:
        raise BadLogFile(
            f"The zstd data is truncated: it ends inside a frame after {walker.consumed} compressed bytes."
        )
    return sink.written


class ZstdMessageDecompressor:
    """Decompresses single zstd-compressed messages (rosbag2's ``compression_mode: message``).

    One instance per conversion (zstandard's decompression contexts are not thread-safe). A message
    whose frame states its size (rosbag2 and rosbags write it) is decompressed in one call once that
    size is checked against ``max_output_bytes``; one without goes through the bounded stream path.
    ``BadLogFile`` for data that does not decompress, with a generic message callers add context to.
    """

    def __init__(self, *, max_output_bytes: int) -> None:
        self.max_output_bytes = max_output_bytes
        self._context = zstandard.ZstdDecompressor()

    def __call__(self, data: bytes) -> bytes:
        try:
            size = zstandard.frame_content_size(data)
        except zstandard.ZstdError as error:
            raise BadLogFile(f"The message is not zstd data: {error}.") from error
        if size > self.max_output_bytes:
            raise BadLogFile(f"The message decompresses to {size} bytes, more than {self.max_output_bytes}.")
        if size < 0:
            out = io.BytesIO()
            decompress_zstd_stream(io.BytesIO(data), out, max_output_bytes=self.max_output_bytes)
            return out.getvalue()
        try:
            # One whole frame: zstandard refuses a cut-off frame and bytes after it.
            return bytes(self._context.decompress(data, allow_extra_data=False))
        except zstandard.ZstdError as error:
            raise BadLogFile(
                f"The message's zstd data is corrupt, truncated or followed by other bytes: {error}."
            ) from error
