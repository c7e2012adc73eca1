"""Objects and multipart uploads, for log objects (ObjectsBucket) and registered object stores alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from openlqs.domain.common import Environment
from openlqs.domain.object_keys import relative_key
from openlqs.domain.ports import BlobPart, BlobStore, Upload, UploadRepository
from openlqs.errors import BadRequest, Conflict, Forbidden, NotFound
from openlqs.models.objects import (
    MAX_PART_NUMBER,
    ObjectCreateRequest,
    ObjectListParams,
    ObjectListResponse,
    ObjectPart,
    ObjectPartCreateRequest,
    ObjectPartListParams,
    ObjectPartListResponse,
    StoredObject,
    UploadState,
)


@dataclass(frozen=True)
class ObjectSpace:
    """Where a family of objects lives: a log's prefix in ObjectsBucket, or an object store's bucket."""

    scope: str
    prefix: str
    blobs: BlobStore
    description: str
    read_only: bool = False

    def full_key(self, key: str) -> str:
        return self.prefix + relative_key(key, self.prefix)

    def writable(self) -> None:
        if self.read_only:
            raise Forbidden(f"{self.description} is read-only.")


def delete_under(space: ObjectSpace, prefix: str) -> list[str]:
    """Delete every object of ``space`` under ``prefix`` (relative to the space); the keys deleted."""
    full = space.full_key(prefix.rstrip("/")) + "/"
    deleted: list[str] = []
    token: str | None = None
    while True:
        listing = space.blobs.list_objects(
            prefix=full, delimiter=None, start_after=None, continuation_token=token, max_keys=1000
        )
        for blob in listing.objects:
            space.blobs.delete(blob.key)
            deleted.append(blob.key)
        token = listing.next_continuation_token
        if not listing.is_truncated or not token:
            return deleted


def log_scope(log_id: UUID) -> str:
    return f"log#{log_id}"


def store_scope(object_store_id: UUID) -> str:
    return f"store#{object_store_id}"


@dataclass(frozen=True)
class ByteRedirect:
    """Where to read an object's bytes: a presigned URL (the client sends its Range header there)."""

    url: str


class ObjectService:
    """Multipart uploads driven through the API, metadata, listings and byte reads."""

    def __init__(self, uploads: UploadRepository, environment: Environment | None = None) -> None:
        self.uploads = uploads
        self.env = environment or Environment()

    # -- objects ---------------------------------------------------------------------------------
    def create(self, space: ObjectSpace, request: ObjectCreateRequest) -> StoredObject:
        """Start a multipart upload; 409 when the key exists or is being uploaded."""
        space.writable()
        key = space.full_key(request.key)
        if space.blobs.head(key) is not None or self.uploads.find(space.scope, key) is not None:
            raise Conflict(f"Object {request.key!r} already exists in {space.description}.")
        upload_id = space.blobs.create_upload(key, request.content_type)
        try:
            self.uploads.create(Upload(space.scope, key, upload_id, request.content_type, self.env.now()))
        except Conflict:
            space.blobs.abort_upload(key, upload_id)
            raise Conflict(
                f"Object {request.key!r} is already being uploaded to {space.description}."
            ) from None
        return StoredObject(key=key, upload_state=UploadState.processing)

    def _upload(self, space: ObjectSpace, key: str) -> Upload:
        upload = self.uploads.find(space.scope, key)
        if upload is not None:
            return upload
        if space.blobs.head(key) is not None:
            raise Conflict(f"Object {key!r} is already complete; its parts cannot change.")
        raise NotFound(f"Object {key!r} not found in {space.description}.")

    def fetch(self, space: ObjectSpace, key: str) -> StoredObject:
        """Metadata with a presigned GET URL; an upload in progress reports ``processing``."""
        full = space.full_key(key)
        info = space.blobs.head(full)
        if info is None:
            if self.uploads.find(space.scope, full) is not None:
                return StoredObject(key=full, upload_state=UploadState.processing)
            raise NotFound(f"Object {key!r} not found in {space.description}.")
        return StoredObject(
            key=full,
            etag=info.etag,
            size=info.size,
            last_modified=info.last_modified,
            presigned_url=space.blobs.presign_get(full),
            upload_state=UploadState.complete,
        )

    def locate_bytes(self, space: ObjectSpace, key: str) -> ByteRedirect:
        """A presigned URL serving the object's bytes (and honouring Range); 409 while uploading."""
        full = space.full_key(key)
        if space.blobs.head(full) is None:
            if self.uploads.find(space.scope, full) is not None:
                raise Conflict(f"Object {key!r} is still being uploaded; complete the upload first.")
            raise NotFound(f"Object {key!r} not found in {space.description}.")
        return ByteRedirect(space.blobs.presign_get(full))

    def update(self, space: ObjectSpace, key: str, upload_state: UploadState) -> StoredObject:
        """``complete`` finishes the multipart upload (empty parts skipped); ``aborted`` abandons it."""
        space.writable()
        full = space.full_key(key)
        if upload_state is UploadState.processing:
            if self.uploads.find(space.scope, full) is None:
                return self.fetch(space, key)
            return StoredObject(key=full, upload_state=UploadState.processing)
        upload = self._upload(space, full)
        if upload_state is UploadState.aborted:
            space.blobs.abort_upload(full, upload.upload_id)
            self.uploads.delete(space.scope, full)
            return StoredObject(key=full, upload_state=UploadState.aborted)
        parts = self._all_parts(space, upload)
        if not parts:
            raise BadRequest(f"Object {key!r} has no uploaded parts; upload at least one part first.")
        problems = part_problems(upload.part_sizes, parts)
        if problems:
            raise BadRequest(f"Object {key!r} cannot be completed: {problems}.")
        non_empty = [part for part in parts if part.size > 0]
        if non_empty:
            space.blobs.complete_upload(full, upload.upload_id, non_empty)
        else:
            # Every part is empty: S3 refuses such a completion, so store the empty object directly.
            space.blobs.abort_upload(full, upload.upload_id)
            space.blobs.put(full, b"", upload.content_type)
        self.uploads.delete(space.scope, full)
        return self.fetch(space, key)

    def delete(self, space: ObjectSpace, key: str) -> None:
        space.writable()
        full = space.full_key(key)
        upload = self.uploads.find(space.scope, full)
        if upload is not None:
            space.blobs.abort_upload(full, upload.upload_id)
            self.uploads.delete(space.scope, full)
            return
        if space.blobs.head(full) is None:
            raise NotFound(f"Object {key!r} not found in {space.description}.")
        space.blobs.delete(full)

    def list_objects(self, space: ObjectSpace, params: ObjectListParams) -> ObjectListResponse:
        """ListObjectsV2 under the space's prefix; ``processing=True`` lists uploads in progress."""
        prefix = space.prefix + (self._relative_prefix(space, params.prefix) or "")
        start_after = (
            space.prefix + relative_key(params.start_after, space.prefix) if params.start_after else None
        )
        if params.processing:
            uploads = [
                u
                for u in self.uploads.list_scope(space.scope, prefix)
                if not start_after or u.key > start_after
            ]
            page = uploads[: params.max_keys]
            return ObjectListResponse(
                data=[StoredObject(key=u.key, upload_state=UploadState.processing) for u in page],
                is_truncated=len(uploads) > len(page),
                key_count=len(page),
                max_keys=params.max_keys,
                continuation_token=params.continuation_token,
                next_continuation_token=None,
                prefix=params.prefix,
                start_after=params.start_after,
                delimiter=params.delimiter,
                common_prefixes=None,
            )
        listing = space.blobs.list_objects(
            prefix=prefix,
            delimiter=params.delimiter,
            start_after=start_after,
            continuation_token=params.continuation_token,
            max_keys=params.max_keys,
        )
        return ObjectListResponse(
            data=[
                StoredObject(
                    key=info.key,
                    etag=info.etag,
                    size=info.size,
                    last_modified=info.last_modified,
                    upload_state=UploadState.complete,
                )
                for info in listing.objects
            ],
            is_truncated=listing.is_truncated,
            key_count=len(listing.objects) + len(listing.common_prefixes),
            max_keys=params.max_keys,
            continuation_token=params.continuation_token,
            next_continuation_token=listing.next_continuation_token,
            prefix=params.prefix,
            start_after=params.start_after,
            delimiter=params.delimiter,
            common_prefixes=listing.common_prefixes if params.delimiter else None,
        )

    @staticmethod
    def _relative_prefix(space: ObjectSpace, prefix: str | None) -> str | None:
        if not prefix:
            return None
        if space.prefix and prefix.startswith(space.prefix):
            prefix = prefix[len(space.prefix) :]
        if prefix.startswith("/") or ".." in prefix.split("/"):
            raise BadRequest(f"The prefix {prefix!r} must be relative and cannot contain '..' segments.")
        return prefix

    # -- parts -----------------------------------------------------------------------------------
    def _all_parts(self, space: ObjectSpace, upload: Upload) -> list[BlobPart]:
        parts: list[BlobPart] = []
        marker: int | None = None
        while True:
            listing = space.blobs.list_parts(upload.key, upload.upload_id, marker=marker, max_parts=1000)
            parts.extend(listing.parts)
            if not listing.is_truncated or listing.next_part_number_marker is None:
                return parts
            marker = listing.next_part_number_marker

    def create_part(self, space: ObjectSpace, key: str, request: ObjectPartCreateRequest) -> ObjectPart:
        """A presigned ``UploadPart`` URL for one part (generated on request, so it is always fresh)."""
        space.writable()
        upload = self._upload(space, space.full_key(key))
        number = request.part_number
        if number is None:
            existing = self._all_parts(space, upload)
            taken = [*(part.part_number for part in existing), *(upload.part_sizes or {})]
            number = max(taken, default=0) + 1
            if number > MAX_PART_NUMBER:
                raise BadRequest(f"An upload has at most {MAX_PART_NUMBER} parts.")
        # Kept before the URL is given: completing checks each part against the size declared here.
        self.uploads.declare_part(space.scope, upload.key, number, request.size)
        url = space.blobs.presign_upload_part(upload.key, upload.upload_id, number)
        return ObjectPart(
            part_number=number, etag="", size=request.size, last_modified=None, presigned_url=url
        )

    def list_parts(
        self, space: ObjectSpace, key: str, params: ObjectPartListParams
    ) -> ObjectPartListResponse:
        full = space.full_key(key)
        upload = self.uploads.find(space.scope, full)
        if upload is None:
            if space.blobs.head(full) is None:
                raise NotFound(f"Object {key!r} not found in {space.description}.")
            # A completed object has no upload left to list parts of.
            return ObjectPartListResponse(
                data=[],
                part_number_marker=params.part_number_marker,
                next_part_number_marker=None,
                max_parts=params.max_parts,
                is_truncated=False,
            )
        listing = space.blobs.list_parts(
            full, upload.upload_id, marker=params.part_number_marker, max_parts=params.max_parts
        )
        return ObjectPartListResponse(
            data=[_part(part) for part in listing.parts],
            part_number_marker=params.part_number_marker,
            next_part_number_marker=listing.next_part_number_marker,
            max_parts=params.max_parts,
            is_truncated=listing.is_truncated,
        )

    def fetch_part(self, space: ObjectSpace, key: str, part_number: int) -> ObjectPart:
        upload = self._upload(space, space.full_key(key))
        listing = space.blobs.list_parts(upload.key, upload.upload_id, marker=part_number - 1, max_parts=1)
        for part in listing.parts:
            if part.part_number == part_number:
                return _part(part)
        raise NotFound(f"Part {part_number} of object {key!r} has not been uploaded.")


#: Parts a refusal names one by one at most; the others are counted.
_NAMED_PARTS = 10


def part_problems(declared: dict[int, int] | None, parts: list[BlobPart]) -> str | None:
    """Why the uploaded ``parts`` are not the object the client declared, or None when they are.

    S3 completes an upload from any ascending part numbers (parts 1 and 3 of 3 make an object with a
    hole), so completing checks that every part from 1 to the highest number asked for (or uploaded) is
    there with the size declared when its URL was asked for. A part declared empty may be left out (the
    official client declares a final empty part when the size is a multiple of the part size). Without
    declared sizes (an upload started before they were kept) the part numbers must still run 1..N.
    """
    uploaded = {part.part_number: part.size for part in parts}
    sizes = declared or {}
    last = max([*uploaded, *sizes], default=0)
    missing = [n for n in range(1, last + 1) if n not in uploaded and sizes.get(n) != 0]
    wrong = [
        f"part {n} has {uploaded[n]} bytes, {sizes[n]} were declared"
        for n in sorted(uploaded)
        if n in sizes and uploaded[n] != sizes[n]
    ]
    problems = []
    if missing:
        problems.append(f"{_numbers(missing)} {'is' if len(missing) == 1 else 'are'} missing")
    if wrong:
        more = len(wrong) - _NAMED_PARTS
        problems.append("; ".join(wrong[:_NAMED_PARTS]) + (f"; and {more} more" if more > 0 else ""))
    return "; ".join(problems) or None


def _numbers(numbers: list[int]) -> str:
    """``part 2`` or ``parts 2-5, 9`` (ascending numbers, as runs)."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    text = ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)
    return f"part {text}" if len(numbers) == 1 else f"parts {text}"


def _part(part: BlobPart) -> ObjectPart:
    return ObjectPart(
        part_number=part.part_number,
        etag=part.etag,
        size=part.size,
        last_modified=part.last_modified,
        presigned_url=None,
    )


BlobStoreFactory = Callable[..., BlobStore]
