"""Interfaces the domain needs from storage. Adapters (``openlqs.adapters``) implement them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar
from uuid import UUID

from openlqs.models.common import CommonModel
from openlqs.records.rows import RecordBlock, RecordRow

M = TypeVar("M", bound=CommonModel)


@dataclass(frozen=True)
class ResourceKind:
    """What the store needs to know about one id-keyed resource type."""

    name: str
    model: type[CommonModel]
    #: Field naming the parent whose children are listed together (``group_id`` for logs).
    parent_field: str | None = None
    #: Field that must be unique, and the field scoping that uniqueness (None: the whole datastore).
    unique_field: str | None = None
    unique_scope_field: str | None = None


@dataclass(frozen=True)
class Counter:
    """A counted set of resources, for limits (``maximum``) and "still in use" checks."""

    scope: str
    kind: str
    maximum: int | None = None
    #: The setting that holds ``maximum``, named in ``LimitExceeded`` messages.
    limit_name: str = ""


@dataclass(frozen=True)
class WriteConditions:
    """Everything that must hold, atomically, for a create, replace or delete to happen."""

    increment: Sequence[Counter] = ()
    decrement: Sequence[Counter] = ()
    #: Resources that must exist (checked in the same transaction).
    requires: Sequence[tuple[ResourceKind, UUID]] = ()
    #: Counters that must be zero (a group with logs cannot be deleted).
    require_empty: Sequence[Counter] = field(default_factory=tuple)


class ResourceRepository(Protocol):
    def get(self, kind: ResourceKind, resource_id: UUID) -> CommonModel:
        """The resource, or ``NotFound``."""
        ...

    def find(self, kind: ResourceKind, resource_id: UUID) -> CommonModel | None: ...

    def list_resources(self, kind: ResourceKind, parent_id: UUID | None = None) -> list[CommonModel]:
        """Every resource of ``kind`` (of one parent when given), in creation order."""
        ...

    def create(
        self, kind: ResourceKind, resource: CommonModel, conditions: WriteConditions = WriteConditions()
    ) -> None:
        """Store a new resource; ``Conflict`` when its unique name is taken, ``LimitExceeded``/``NotFound``
        when a condition fails. Nothing is written unless everything holds."""
        ...

    def replace(
        self,
        kind: ResourceKind,
        old: CommonModel,
        new: CommonModel,
        conditions: WriteConditions = WriteConditions(),
    ) -> CommonModel:
        """Write ``new`` over ``old`` if nobody else wrote in between (``Conflict`` otherwise)."""
        ...

    def delete(
        self, kind: ResourceKind, resource: CommonModel, conditions: WriteConditions = WriteConditions()
    ) -> None: ...

    def count(self, counter: Counter) -> int: ...


class RecordRepository(Protocol):
    """Record blocks of topics (RecordsTable)."""

    def blocks(
        self,
        topic_id: UUID,
        first_bucket: int | None,
        last_bucket: int | None,
        *,
        descending: bool = False,
    ) -> Iterator[RecordBlock]:
        """Blocks whose bucket lies in [first_bucket, last_bucket] (None: unbounded), bucket-ordered."""
        ...

    def bucket_blocks(self, topic_id: UUID, bucket: int) -> list[RecordBlock]: ...

    def put_block(self, block: RecordBlock, expected_version: int | None) -> None:
        """Write a block; ``expected_version`` None means it must not exist yet (``Conflict`` otherwise)."""
        ...

    def delete_block(self, block: RecordBlock) -> None: ...

    def delete_topic(self, topic_id: UUID) -> int:
        """Delete every block of a topic; returns how many were deleted."""
        ...

    def first_and_last(self, topic_id: UUID) -> tuple[RecordRow | None, RecordRow | None]: ...
