"""Interfaces the domain needs from storage. Adapters (``openlqs.adapters``) implement them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

from openlqs.models.common import CommonModel, ProcessState
from openlqs.models.ingestions import Ingestion
from openlqs.records.blocks import RecordBlock
from openlqs.records.rows import BlockStats, RecordRow, RecordSummary

M = TypeVar("M", bound=CommonModel)
M_co = TypeVar("M_co", bound=CommonModel, covariant=True)


@dataclass(frozen=True)
class ResourceKind(Generic[M_co]):
    """What the store needs to know about one id-keyed resource type (``M_co``: its model)."""

    name: str
    model: type[M_co]
    #: Field naming the parent whose children are listed together (``group_id`` for logs).
    parent_field: str | None = None
    #: Field that must be unique, and the field scoping that uniqueness (None: the whole datastore).
    unique_field: str | None = None
    unique_scope_field: str | None = None

    @property
    def title(self) -> str:
        """The kind as messages name it: ``Ingestion part`` for ``ingestion_part``."""
        return self.name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Counter:
    """A counted set of resources, for limits (``maximum``) and "still in use" checks."""

    scope: str
    kind: str
    maximum: int | None = None
    #: The setting that holds ``maximum``, named in ``LimitExceeded`` messages.
    limit_name: str = ""


@dataclass(frozen=True)
class LabelledLog:
    """An entry of the label index: log ``log_id`` carries label ``label_id`` (as many times as it has
    tags of that label). Tag writes change it in their own transaction, so ``GET
    logs?tag_label_ids_includes=`` reads it instead of every tag."""

    label_id: UUID
    log_id: UUID


@dataclass(frozen=True)
class WriteConditions:
    """Everything that must hold, atomically, for a create, replace or delete to happen."""

    increment: Sequence[Counter] = ()
    decrement: Sequence[Counter] = ()
    #: Resources that must exist (checked in the same transaction).
    requires: Sequence[tuple[ResourceKind[Any], UUID]] = ()
    #: Counters that must be zero (a group with logs cannot be deleted); a delete removes them too.
    require_empty: Sequence[Counter] = field(default_factory=tuple)
    #: Label index entries to count up (+1) or down (-1) with the write.
    labelled_logs: Sequence[tuple[LabelledLog, int]] = ()
    #: Counters a delete removes whatever they hold (they count for the resource deleted only).
    discard: Sequence[Counter] = ()


class ResourceRepository(Protocol):
    def get(self, kind: ResourceKind[M], resource_id: UUID) -> M:
        """The resource, or ``NotFound``."""
        ...

    def find(self, kind: ResourceKind[M], resource_id: UUID) -> M | None: ...

    def list_resources(self, kind: ResourceKind[M], parent_id: UUID | None = None) -> list[M]:
        """Every resource of ``kind`` (of one parent when given), in creation order."""
        ...

    def create(
        self, kind: ResourceKind[M], resource: M, conditions: WriteConditions = WriteConditions()
    ) -> None:
        """Store a new resource; ``Conflict`` when its unique name is taken, ``LimitExceeded``/``NotFound``
        when a condition fails. Nothing is written unless everything holds."""
        ...

    def replace(
        self, kind: ResourceKind[M], old: M, new: M, conditions: WriteConditions = WriteConditions()
    ) -> M:
        """Write ``new`` over ``old`` if nobody else wrote in between (``Conflict`` otherwise)."""
        ...

    def update(
        self,
        kind: ResourceKind[M],
        resource_id: UUID,
        change: Callable[[M], M | None],
        conditions: WriteConditions = WriteConditions(),
    ) -> M:
        """Read, change and write back one resource, again while a concurrent write gets in between.

        ``change`` gets a copy of the current resource and changes it in place (returning None) or returns
        a new one; it is called again, on a fresh copy, after a concurrent write. ``InvalidTransition`` and
        any other error it raises end the update at once.
        """
        ...

    def delete(
        self, kind: ResourceKind[M], resource: M, conditions: WriteConditions = WriteConditions()
    ) -> None: ...

    def create_many(
        self, kind: ResourceKind[M], resources: Sequence[M], counter: Counter | None = None
    ) -> None:
        """Store many new resources of a kind without unique names, in batches (not one transaction).

        ``counter`` goes up by each batch's size once that batch is stored: a failure midway leaves it
        at most one batch below the resources stored, never above (a "still has children" check can
        then never refuse wrongly). A counter with a ``maximum`` is refused: a batch cannot hold a limit.
        """
        ...

    def delete_many(
        self, kind: ResourceKind[M], resources: Sequence[M], counter: Counter | None = None
    ) -> None:
        """Delete many resources of a kind without unique names, in batches (not one transaction).

        ``counter`` goes down by each batch's size before that batch is deleted, so that, as in
        ``create_many``, it is never above the resources left.
        """
        ...

    def count(self, counter: Counter) -> int: ...

    def add_to_counter(self, counter: Counter, amount: int) -> int:
        """Add ``amount`` to a counter atomically (no read); its new value."""
        ...

    def raise_progress(
        self, kind: ResourceKind[M], resource_id: UUID, progress: float, *, state: ProcessState, attempt: int
    ) -> bool:
        """Set a process's ``progress`` if it is still in ``state`` on ``attempt`` and below ``progress``
        (one conditional write, no read, no version change); whether it was set."""
        ...

    def labelled_logs(self, label_id: UUID) -> set[UUID]:
        """The logs that carry ``label_id`` (an index: possibly a moment behind the tags)."""
        ...

    def forget_labelled_log(self, entry: LabelledLog) -> None:
        """Remove an index entry whose count fell to zero (nothing when tags still count in it)."""
        ...


class BlockStream(Protocol):
    """Blocks of a windowed read, in bucket order, read from the table as they are taken."""

    def __iter__(self) -> Iterator[RecordBlock]: ...

    def __next__(self) -> RecordBlock: ...

    def buffered(self) -> int:
        """Blocks already read from the table and not yet taken (taking them costs no request)."""
        ...

    def exhausted(self) -> bool:
        """Every block was taken and no more are left to read."""
        ...


class RecordRepository(Protocol):
    """Record blocks of topics (RecordsTable)."""

    def blocks(
        self,
        topic_id: UUID,
        first_bucket: int | None,
        last_bucket: int | None,
        *,
        descending: bool = False,
    ) -> BlockStream:
        """Blocks whose bucket lies in [first_bucket, last_bucket] (None: unbounded), bucket-ordered."""
        ...

    def block_stats(
        self, topic_id: UUID, first_bucket: int | None, last_bucket: int | None
    ) -> Iterator[BlockStats]:
        """Row count and time range of every block in [first_bucket, last_bucket], without their rows
        (possibly a moment behind the blocks: an index)."""
        ...

    def bucket_blocks(self, topic_id: UUID, bucket: int) -> list[RecordBlock]: ...

    def put_block(self, block: RecordBlock, expected_version: int | None) -> None:
        """Write a block; ``expected_version`` None means it must not exist yet (``Conflict`` otherwise)."""
        ...

    def delete_block(self, block: RecordBlock) -> None: ...

    def put_blocks(self, blocks: list[RecordBlock]) -> None:
        """Write or overwrite blocks unconditionally (ingestion writers own their segments)."""
        ...

    def delete_segments(self, topic_id: UUID, segment_prefix: str) -> int: ...

    def topic_summary(self, topic_id: UUID) -> RecordSummary: ...

    def delete_topic(self, topic_id: UUID) -> int:
        """Delete every block of a topic; returns how many were deleted."""
        ...

    def first_and_last(self, topic_id: UUID) -> tuple[RecordRow | None, RecordRow | None]: ...


@dataclass(frozen=True)
class BlobInfo:
    """What the object store says about one stored object."""

    key: str
    etag: str
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class BlobPart:
    part_number: int
    etag: str
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class BlobListing:
    objects: list[BlobInfo]
    common_prefixes: list[str]
    is_truncated: bool
    next_continuation_token: str | None


@dataclass(frozen=True)
class BlobPartListing:
    parts: list[BlobPart]
    is_truncated: bool
    next_part_number_marker: int | None


class BlobStore(Protocol):
    """One S3-compatible bucket (the managed ObjectsBucket or a registered object store)."""

    def head(self, key: str) -> BlobInfo | None: ...

    def list_objects(
        self,
        *,
        prefix: str,
        delimiter: str | None,
        start_after: str | None,
        continuation_token: str | None,
        max_keys: int,
    ) -> BlobListing: ...

    def create_upload(self, key: str, content_type: str | None) -> str:
        """Start a multipart upload; returns its upload id."""
        ...

    def presign_upload_part(self, key: str, upload_id: str, part_number: int) -> str: ...

    def list_parts(self, key: str, upload_id: str, *, marker: int | None, max_parts: int) -> BlobPartListing:
        """Uploaded parts; ``NotFound`` when the upload no longer exists."""
        ...

    def complete_upload(self, key: str, upload_id: str, parts: list[BlobPart]) -> None: ...

    def abort_upload(self, key: str, upload_id: str) -> None: ...

    def put(self, key: str, body: bytes, content_type: str | None) -> None: ...

    def presign_get(self, key: str) -> str: ...

    def copy(self, source_key: str, target_key: str) -> None:
        """Server-side copy within the bucket (multipart for large objects)."""
        ...

    def read(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` inclusive."""
        ...

    def delete(self, key: str) -> None: ...

    def upload_part(self, key: str, upload_id: str, part_number: int, body: bytes) -> str:
        """Send one part of a multipart upload from here; returns its ETag."""
        ...

    def copy_part(
        self, key: str, upload_id: str, part_number: int, source_key: str, first: int, last: int
    ) -> str:
        """Make bytes ``first`` to ``last`` (inclusive) of another object of the bucket one part of a
        multipart upload, server-side; returns its ETag."""
        ...

    def download_file(self, key: str, path: Path) -> int:
        """Copy the object to the local file ``path`` in ranged pieces (bounded memory); its size.
        ``NotFound`` when it does not exist."""
        ...

    def upload_file(self, path: Path, key: str, content_type: str | None) -> None:
        """Store the local file ``path`` as the object ``key``: a multipart upload of bounded pieces for
        a large file (memory stays bounded whatever its size)."""
        ...


@dataclass(frozen=True)
class Upload:
    """A multipart upload in progress, keyed by its scope (a log or an object store) and full key.

    ``part_sizes`` is the size the client declared for each part number when it asked for the part's
    URL (None for an upload started before sizes were kept).
    """

    scope: str
    key: str
    upload_id: str
    content_type: str | None
    created_at: datetime
    part_sizes: dict[int, int] | None = field(default_factory=dict)


class UploadRepository(Protocol):
    def find(self, scope: str, key: str) -> Upload | None: ...

    def create(self, upload: Upload) -> None:
        """``Conflict`` when an upload of that key is already in progress."""
        ...

    def declare_part(self, scope: str, key: str, part_number: int, size: int) -> None:
        """Keep the size declared for a part (the last declaration of a number counts). Concurrent
        declarations of other parts are all kept; nothing is kept for an upload that is gone, or that
        keeps no sizes."""
        ...

    def delete(self, scope: str, key: str) -> None: ...

    def list_scope(self, scope: str, prefix: str) -> list[Upload]: ...


class SecretBox(Protocol):
    """Encrypts secrets at rest (KMS in AWS); ``context`` binds a ciphertext to its owner."""

    def encrypt(self, plaintext: str, context: dict[str, str]) -> str: ...

    def decrypt(self, ciphertext: str, context: dict[str, str]) -> str: ...


class LogObjectStore(Protocol):
    """The managed objects of logs, as far as ingestions need them."""

    def exists(self, log_id: UUID, key: str) -> bool:
        """Whether the log has a (completely uploaded) object at ``key``, relative to the log."""
        ...

    def exists_in_store(self, object_store_id: UUID, key: str) -> bool:
        """Whether a registered object store has an object at ``key`` (relative to its key prefix)."""
        ...

    def fingerprint(self, log_id: UUID, key: str) -> str | None:
        """What identifies the log object's bytes whatever route stored them; None when it is missing."""
        ...

    def delete_derived(self, ingestion: Ingestion) -> list[str]:
        """Delete the objects an ingestion derived from its files (``derived/{ingestion_id}/`` next to
        its object); the keys deleted."""
        ...

    def fingerprint_in_store(self, object_store_id: UUID, key: str) -> str | None:
        """The same for an object of a registered object store."""
        ...


class RecordCleanup(Protocol):
    """Removes what an ingestion wrote to RecordsTable (filled in by the ingestion pipeline)."""

    def delete_ingestion_records(self, ingestion: Ingestion) -> None:
        """Delete every record the ingestion created, adjusting topic and log statistics."""
        ...


@dataclass(frozen=True)
class GatewayStage:
    """The API Gateway stage a request came through: its REST API's id and the stage's name."""

    api_id: str
    name: str


class AuthorizerCache(Protocol):
    """API Gateway's cache of the authorizer's answers (one per ``Authorization`` value) on a stage.

    A key that is disabled, deleted or given another role must not keep its cached answer: the cache is
    flushed after such a change is stored.
    """

    def flush(self, stage: GatewayStage) -> None:
        """Forget every cached answer of ``stage``; ``ServiceUnavailable`` when API Gateway did not."""
        ...


class Executions(Protocol):
    """Runs of one state machine (Step Functions in AWS and locally), by execution name."""

    def start(self, name: str, payload: dict[str, Any]) -> str | None:
        """Start the execution ``name`` with input ``payload``; its ARN, or None when an execution of that
        name was already started (a name is used once, so a duplicate request starts nothing)."""
        ...

    def stop(self, name: str, cause: str) -> None:
        """Stop the execution ``name`` if it is running (nothing when it ended or never started)."""
        ...

    def status(self, name: str) -> str | None:
        """``RUNNING``, ``SUCCEEDED``, ``FAILED``, ``TIMED_OUT`` or ``ABORTED``; None when never started."""
        ...


class DigestionIndexStore(Protocol):
    """Where the indexes of digestion parts are kept: one encoded index (``records.part_index``) per
    part, beside the part rather than in it, so that listing parts reads no index."""

    def put(self, part_id: UUID, digestion_id: UUID, blob: bytes) -> None: ...

    def put_many(self, indexes: Sequence[tuple[UUID, UUID, bytes]]) -> None:
        """``put`` of each (part id, digestion id, blob), in batches."""
        ...

    def get(self, part_id: UUID) -> bytes | None: ...

    def delete(self, part_id: UUID) -> None: ...


class AttemptCancellation(Protocol):
    """Stops what an ingestion's current attempt is doing and removes what it wrote (filled in by the
    ingestion pipeline's side, which knows what an attempt leaves)."""

    def cancel(self, ingestion: Ingestion, reason: str) -> None: ...
