"""Rules shared by every resource: identity, time, locks and partial updates."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel

from openlqs.domain.ports import GatewayStage, ResourceKind, WriteConditions
from openlqs.errors import BadRequest, ConcurrentChange, Locked
from openlqs.models.common import CommonModel

M = TypeVar("M", bound=CommonModel)
T = TypeVar("T")

#: Attempts of a read-modify-write before a concurrent writer's ``ConcurrentChange`` is passed on.
CONFLICT_ATTEMPTS = 8
#: Backoff between attempts (seconds): a random wait up to ``BASE * 2**attempt``, at most ``CAP``.
CONFLICT_BACKOFF_BASE_S = 0.01
CONFLICT_BACKOFF_CAP_S = 0.5


def utc_now() -> datetime:
    return datetime.now(UTC)


class Lockable(Protocol):
    @property
    def locked(self) -> bool: ...


@dataclass(frozen=True)
class LockState:
    """A lock flag on its own, for things that are not lockable models (a record row, a generic model)."""

    locked: bool


@dataclass(frozen=True)
class Limits:
    """Per-datastore limits (LogQS configures these per DataStore)."""

    max_logs_per_datastore: int
    max_topics_per_log: int
    max_ingestions_per_log: int
    max_records_per_log: int


@dataclass(frozen=True)
class Context:
    """Who is asking and how: the actor (``created_by``: the caller's user id, or its key's id for a key
    without a user; None when no key made the request), the caller's user, the request's lock token, and
    the API Gateway stage the request came through (None when it came some other way)."""

    actor: UUID | None = None
    lock_token: str | None = None
    stage: GatewayStage | None = None
    user_id: UUID | None = None


@dataclass
class Environment:
    """Clock and id source, injectable for tests."""

    now: Callable[[], datetime] = utc_now
    new_id: Callable[[], UUID] = uuid4
    limits: Limits = field(default_factory=lambda: Limits(100_000, 1_000, 1_000, 1_000_000_000))


def check_unlocked(resource: Lockable, internal: dict[str, Any], context: Context, *, what: str) -> None:
    """Refuse to change a locked resource unless the request carries its lock token."""
    if not resource.locked:
        return
    stored = internal.get("lock_token")
    if stored is not None and context.lock_token == stored:
        return
    raise Locked(f"{what} is locked; pass its lock_token to change it.")


def lock_changes(
    current_locked: bool, wanted_locked: bool | None, context: Context, now: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Field and internal changes for a lock/unlock (the token is kept server-side, never returned)."""
    if wanted_locked is None or wanted_locked == current_locked:
        return {}, {}
    if wanted_locked:
        return (
            {"locked": True, "locked_by": context.actor, "locked_at": now},
            {"lock_token": context.lock_token},
        )
    return {"locked": False, "locked_by": None, "locked_at": None}, {"lock_token": None}


def patch_fields(
    request: BaseModel, *, non_nullable: Iterable[str] = (), ignore: Iterable[str] = ("locked",)
) -> dict[str, Any]:
    """The fields a PATCH body supplied (explicit null means "set to null"), refusing null where invalid."""
    skip = set(ignore)
    changes = {name: getattr(request, name) for name in request.model_fields_set if name not in skip}
    for name in non_nullable:
        if name in changes and changes[name] is None:
            raise BadRequest(f"{name} cannot be null.")
    return changes


def updated(resource: M, changes: dict[str, Any], context: Context, now: datetime) -> M:
    """A copy of ``resource`` with ``changes`` applied and the update stamped."""
    copy = resource.model_copy(update={**changes, "updated_at": now, "updated_by": context.actor})
    copy._version = resource._version
    copy._internal = dict(resource._internal)
    return copy


def retry_on_conflict(operation: Callable[[], T], attempts: int = CONFLICT_ATTEMPTS) -> T:
    """Run a read-modify-write again while a concurrent write makes it fail with ``ConcurrentChange``.

    ``operation`` must read what it changes each time. Any other ``Conflict`` (a taken name, a state
    that does not allow the change, a duplicate) is the caller's, not a race, and is raised at once.
    Between attempts it waits a random time that doubles in range with each attempt ("full jitter"):
    writers that lost together do not read and write together again, so on a busy item the losers
    spread out and each gets its turn.
    """
    for attempt in range(attempts):
        try:
            return operation()
        except ConcurrentChange:
            if attempt == attempts - 1:
                raise
        time.sleep(random.uniform(0, min(CONFLICT_BACKOFF_CAP_S, CONFLICT_BACKOFF_BASE_S * 2**attempt)))
    raise AssertionError("unreachable")


class VersionedUpdates:
    """``ResourceRepository.update`` for any repository with ``get`` and a version-checked ``replace``.

    Read the resource, let ``change`` change a copy (or return a new one), write it on the version read;
    again, from a fresh read, while a concurrent write gets in between (``retry_on_conflict``).
    """

    def get(self, kind: ResourceKind[M], resource_id: UUID) -> M:
        raise NotImplementedError

    def replace(
        self, kind: ResourceKind[M], old: M, new: M, conditions: WriteConditions = WriteConditions()
    ) -> M:
        raise NotImplementedError

    def update(
        self,
        kind: ResourceKind[M],
        resource_id: UUID,
        change: Callable[[M], M | None],
        conditions: WriteConditions = WriteConditions(),
    ) -> M:
        def attempt() -> M:
            current = self.get(kind, resource_id)
            copy = current.model_copy(deep=True)
            copy._version, copy._internal = current._version, dict(current._internal)
            new = change(copy)
            return self.replace(kind, current, copy if new is None else new, conditions)

        return retry_on_conflict(attempt)
