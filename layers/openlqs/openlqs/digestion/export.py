"""Assembling a digestion's export from its parts' fragments, as one streaming multipart upload.

Each part wrote its fragment (the format's chunks of its records) while it wrote its blob, so the export
never reads the source logs again: it is the format's head, the latched records (read now: a few), the
fragments in sequence order, and the format's tail. Large fragments are copied server-side
(``UploadPartCopy``); small ones are read and sent with their neighbours, since every part of a multipart
upload but the last must hold at least 5 MiB. The first part is sent last, once the head can be written
(a bag's header points at its index, which is known at the end).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from openlqs.domain.ports import BlobPart, BlobStore

#: S3's least size of a part of a multipart upload (all but the last).
MIN_PART_BYTES = 5 * 1024 * 1024
#: Bytes sent per part when they are sent from here (they are held in memory until then).
PART_BYTES = 16 * 1024 * 1024
#: S3's largest part (a copied range is cut into parts no larger).
MAX_PART_BYTES = 5 * 1024**3
#: Completing an upload needs each part's number and ETag only.
_SENT = datetime.fromtimestamp(0, UTC)


class ExportUpload:
    """A multipart upload of ``key`` written front to back.

    :meth:`write` appends bytes, :meth:`copy` appends another object's bytes (copied server-side when
    there are enough of them), :meth:`finish` writes the head over the file's first bytes and completes
    the upload, :meth:`abort` gives it up. ``part_bytes`` is how much is buffered before a part is sent.
    """

    def __init__(
        self,
        blobs: BlobStore,
        key: str,
        content_type: str | None,
        *,
        part_bytes: int = PART_BYTES,
        min_part_bytes: int = MIN_PART_BYTES,
    ) -> None:
        self.blobs = blobs
        self.key = key
        self.part_bytes = max(part_bytes, min_part_bytes)
        self.min_part_bytes = min_part_bytes
        self.upload_id = blobs.create_upload(key, content_type)
        #: Part 1, kept until the end (its first bytes are the head); complete once it holds the least.
        self.first = bytearray()
        self.buffer = bytearray()
        self.parts: list[BlobPart] = []
        self.size = 0
        #: Bytes copied server-side, and bytes sent from here (for the benchmark and the logs).
        self.copied = 0

    @property
    def _first_open(self) -> bool:
        return len(self.first) < self.min_part_bytes

    def _send(self, body: bytes | bytearray) -> None:
        number = len(self.parts) + 2  # part 1 goes last
        etag = self.blobs.upload_part(self.key, self.upload_id, number, bytes(body))
        self.parts.append(BlobPart(number, etag, len(body), _SENT))

    def write(self, data: bytes) -> None:
        """Append ``data``."""
        self.size += len(data)
        if self._first_open:
            room = self.min_part_bytes - len(self.first)
            self.first += data[:room]
            data = data[room:]
        self.buffer += data
        while len(self.buffer) >= self.part_bytes:
            self._send(self.buffer[: self.part_bytes])
            del self.buffer[: self.part_bytes]

    def copy(self, source_key: str, size: int, read: Callable[[str, int, int], bytes]) -> None:
        """Append bytes 0 to ``size`` of the object ``source_key`` of the same bucket: ranges of at
        least ``min_part_bytes`` are copied server-side, the rest is read with ``read(key, first, last)``
        (inclusive) and written."""
        at = 0
        if self._first_open or self.buffer:
            # Fill the open part from the object's start, so that what follows is at a part boundary.
            want = (
                (self.min_part_bytes - len(self.first))
                if self._first_open
                else self.part_bytes - len(self.buffer)
            )
            take = min(want, size)
            if take:
                self.write(read(source_key, 0, take - 1))
            at = take
        while size - at >= self.min_part_bytes and not self.buffer and not self._first_open:
            length = min(MAX_PART_BYTES, size - at)
            if 0 < size - at - length < self.min_part_bytes:
                length -= self.min_part_bytes  # leave the last range long enough to be copied too
            number = len(self.parts) + 2
            etag = self.blobs.copy_part(self.key, self.upload_id, number, source_key, at, at + length - 1)
            self.parts.append(BlobPart(number, etag, length, _SENT))
            self.copied += length
            self.size += length
            at += length
        if at < size:
            self.write(read(source_key, at, size - 1))

    def finish(self, head: bytes) -> int:
        """Write ``head`` over the first bytes, send what is buffered and part 1, complete; the size."""
        if len(head) > len(self.first):
            raise ValueError(f"the head ({len(head)} bytes) is longer than the file's first part")
        self.first[: len(head)] = head
        if self.buffer:
            self._send(self.buffer)
            self.buffer = bytearray()
        etag = self.blobs.upload_part(self.key, self.upload_id, 1, bytes(self.first))
        parts = [BlobPart(1, etag, len(self.first), _SENT), *self.parts]
        self.blobs.complete_upload(self.key, self.upload_id, parts)
        return self.size

    def abort(self) -> None:
        self.blobs.abort_upload(self.key, self.upload_id)
