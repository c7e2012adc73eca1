"""ExportUpload: a multipart upload written front to back, copying large spans server-side."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from openlqs.digestion.export import ExportUpload
from openlqs.domain.ports import BlobPart
from openlqs.errors import Conflict

MIN = 100  # S3's 5 MiB, scaled down


@dataclass
class FakeBucket:
    """The multipart calls of a ``BlobStore``, with S3's rule that every part but the last holds MIN."""

    objects: dict[str, bytes] = field(default_factory=dict)
    parts: dict[int, bytes] = field(default_factory=dict)
    copies: list[tuple[int, str, int, int]] = field(default_factory=list)
    reads: list[tuple[str, int, int]] = field(default_factory=list)
    aborted: bool = False

    def create_upload(self, key: str, content_type: str | None) -> str:
        return "upload-1"

    def upload_part(self, key: str, upload_id: str, part_number: int, body: bytes) -> str:
        self.parts[part_number] = body
        return f"etag-{part_number}"

    def copy_part(
        self, key: str, upload_id: str, part_number: int, source_key: str, first: int, last: int
    ) -> str:
        self.copies.append((part_number, source_key, first, last))
        self.parts[part_number] = self.objects[source_key][first : last + 1]
        return f"etag-{part_number}"

    def complete_upload(self, key: str, upload_id: str, parts: list[BlobPart]) -> None:
        numbers = [part.part_number for part in parts]
        assert sorted(numbers) == list(range(1, len(numbers) + 1))
        for number in sorted(numbers)[:-1]:
            if len(self.parts[number]) < MIN:
                raise Conflict(f"EntityTooSmall: part {number}")
        self.objects[key] = b"".join(self.parts[n] for n in sorted(numbers))

    def abort_upload(self, key: str, upload_id: str) -> None:
        self.aborted = True

    def read(self, key: str, first: int, last: int) -> bytes:
        self.reads.append((key, first, last))
        return self.objects[key][first : last + 1]


def _upload(bucket: FakeBucket) -> ExportUpload:
    return ExportUpload(bucket, "export", None, part_bytes=150, min_part_bytes=MIN)  # type: ignore[arg-type]


def test_export_upload_writes_the_head_last_over_the_first_bytes() -> None:
    bucket = FakeBucket()
    upload = _upload(bucket)
    upload.write(bytes(10))
    upload.write(b"body" * 100)

    size = upload.finish(b"HEAD:HEAD:")

    assert bucket.objects["export"] == b"HEAD:HEAD:" + b"body" * 100
    assert size == 410


def test_export_upload_copies_large_fragments_and_reads_small_ones() -> None:
    bucket = FakeBucket(objects={"big": bytes(range(256)) * 4, "small": b"s" * 30})
    upload = _upload(bucket)
    upload.write(b"H" * 20)

    upload.copy("small", 30, bucket.read)
    upload.copy("big", 1024, bucket.read)
    upload.copy("small", 30, bucket.read)
    upload.write(b"TAIL")
    upload.finish(b"h" * 20)

    assert bucket.objects["export"] == b"h" * 20 + b"s" * 30 + bytes(range(256)) * 4 + b"s" * 30 + b"TAIL"
    # The big fragment filled the first part from its start, then went server-side in one range.
    assert bucket.copies == [(2, "big", 50, 1023)]
    assert ("big", 0, 49) in bucket.reads


def test_export_upload_of_a_small_file_is_one_part() -> None:
    bucket = FakeBucket(objects={"fragment": b"f" * 40})
    upload = _upload(bucket)
    upload.write(b"0123")
    upload.copy("fragment", 40, bucket.read)

    upload.finish(b"MAGI")

    assert list(bucket.parts) == [1]
    assert bucket.objects["export"] == b"MAGI" + b"f" * 40


def test_export_upload_refuses_a_head_longer_than_the_first_part() -> None:
    upload = _upload(FakeBucket())
    upload.write(b"ab")

    with pytest.raises(ValueError, match="head"):
        upload.finish(b"abc")


def test_export_upload_sends_buffered_parts_of_part_bytes_once_the_first_part_is_full() -> None:
    bucket = FakeBucket()
    upload = _upload(bucket)

    upload.write(b"a" * 100)  # the first part, kept until the end
    upload.write(b"b" * 320)
    upload.finish(b"A")

    assert [len(bucket.parts[n]) for n in sorted(bucket.parts)] == [100, 150, 150, 20]
