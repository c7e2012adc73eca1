"""Ingestions and ingestion parts: the LogQS process life cycle and the rules of their API.

Two tables of transitions govern a process's ``state``. ``USER_TRANSITIONS`` is what a caller of the
REST API may do (queue, retry, cancel, archive); ``LIFE_CYCLE`` adds the moves only the ingestion
pipeline makes (``queued → processing → finalizing → completed``, and ``failed`` from any state that is
still running); ``PART_LIFE_CYCLE`` lets a part complete straight from ``processing``. Setting the
current state again is never a transition. Every transition sets ``previous_state`` and
``transitioned_at`` (creation sets ``transitioned_at`` too: it is when the current state began);
entering ``queued`` starts a new attempt.
"""

from __future__ import annotations

import builtins
import itertools
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from openlqs.domain.common import Context, Environment, check_unlocked, retry_on_conflict, updated
from openlqs.domain.object_keys import log_prefix, relative_key, validate_object_key
from openlqs.domain.object_stores import OBJECT_STORE
from openlqs.domain.ports import (
    AttemptCancellation,
    Counter,
    LogObjectStore,
    RecordCleanup,
    ResourceRepository,
    WriteConditions,
)
from openlqs.domain.resources import INGESTION, INGESTION_PART, LOG, ResourceService, list_page
from openlqs.domain.workflows import ProcessWorkflows
from openlqs.errors import BadRequest, DuplicateIngestion, InvalidTransition, NotFound
from openlqs.models.common import ProcessState
from openlqs.models.ingestions import (
    Ingestion,
    IngestionCreateRequest,
    IngestionListParams,
    IngestionPart,
    IngestionPartCreateRequest,
    IngestionPartListParams,
    IngestionPartUpdateRequest,
    IngestionUpdateRequest,
    ProcessModel,
    ProcessUpdateFields,
)
from openlqs.models.workflows import ProcessType

S = ProcessState
P = TypeVar("P", bound=ProcessModel)

#: Parts ``IngestionPartService.create_many`` holds as models at once.
CREATE_MANY_MODELS = 1000

#: The placeholder parent id the official client sends when it fetches a part by id alone.
NIL_ID = UUID(int=0)

#: States a process may be created in through the API.
CREATE_STATES = frozenset({S.ready, S.queued})
#: States in which work is scheduled or running: the work's definition cannot change.
ACTIVE_STATES = frozenset({S.queued, S.processing, S.finalizing})
#: States in which an ingestion's object may change.
EDITABLE_STATES = frozenset({S.ready, S.failed, S.cancelled})
#: States of an ingestion whose records are in its log, or will be: another ingestion of the same file
#: would add them a second time.
HOLDING_STATES = frozenset({S.queued, S.processing, S.finalizing, S.completed, S.archived})
#: ``_internal`` key of an ingestion's object fingerprint, taken when it is queued.
FINGERPRINT = "object_fingerprint"
#: ``context`` key that lets an ingestion add the records of a file its log already holds.
ALLOW_DUPLICATE = "allow_duplicate"

#: Transitions a caller of the REST API may make. Moving a queued or running process to ``cancelled`` or
#: ``failed`` stops its work and removes what its attempt wrote (``AttemptCancellation``).
USER_TRANSITIONS: Mapping[ProcessState, frozenset[ProcessState]] = {
    S.ready: frozenset({S.queued, S.cancelled}),
    S.queued: frozenset({S.cancelled, S.failed}),
    S.processing: frozenset({S.cancelled, S.failed}),
    S.finalizing: frozenset({S.cancelled, S.failed}),
    S.completed: frozenset({S.archived}),
    S.failed: frozenset({S.queued, S.cancelled, S.archived}),
    S.cancelled: frozenset({S.queued, S.archived}),
    S.archived: frozenset(),
}

#: Every transition, the pipeline's included (a superset of ``USER_TRANSITIONS``). A running process goes
#: back to ``queued`` only when its work was lost (the local stack restarted under it): a new attempt.
LIFE_CYCLE: Mapping[ProcessState, frozenset[ProcessState]] = {
    S.ready: frozenset({S.queued, S.cancelled, S.failed}),
    S.queued: frozenset({S.processing, S.cancelled, S.failed}),
    S.processing: frozenset({S.finalizing, S.failed, S.cancelled, S.queued}),
    S.finalizing: frozenset({S.completed, S.failed, S.cancelled, S.queued}),
    S.completed: frozenset({S.archived}),
    S.failed: frozenset({S.queued, S.cancelled, S.archived}),
    S.cancelled: frozenset({S.queued, S.archived}),
    S.archived: frozenset(),
}

#: A part has no finalizing step of its own: the worker that processed it completes it.
PART_LIFE_CYCLE: Mapping[ProcessState, frozenset[ProcessState]] = {
    **LIFE_CYCLE,
    S.processing: frozenset({S.finalizing, S.completed, S.failed, S.cancelled, S.queued}),
}


def check_transition(
    what: str,
    current: ProcessState,
    wanted: ProcessState,
    allowed: Mapping[ProcessState, frozenset[ProcessState]] = USER_TRANSITIONS,
) -> None:
    """Refuse a move that ``allowed`` does not list (``InvalidTransition``); staying put is always allowed."""
    if wanted != current and wanted not in allowed[current]:
        raise InvalidTransition(f"cannot move {what} from {current} to {wanted}.")


def attempt_of(process: ProcessModel) -> int:
    """How many times the process has entered ``queued`` (0 before the first time).

    The ingestion trigger names its Step Functions execution after the ingestion id and this number,
    so one attempt can never start two executions.
    """
    return int(process._internal.get("attempt", 0))


def enter_state(
    process: ProcessModel, previous: ProcessState | None, state: ProcessState, now: datetime
) -> None:
    """Put a (freshly copied) process in ``state``, with what entering that state implies.

    Entering ``queued`` starts a new attempt: the attempt counter goes up, progress restarts at 0 and
    the previous attempt's error is cleared. Entering ``completed`` sets progress to 1.
    """
    process.state = state
    process.previous_state = previous
    process.transitioned_at = now
    if state == S.queued:
        process._internal["attempt"] = attempt_of(process) + 1
        process.progress = 0.0
        process.error = None
        process.error_name = None
        process.error_message = None
        process.error_payload = None
    elif state == S.completed:
        process.progress = 1.0


def _parts_counter(ingestion_id: UUID) -> Counter:
    return Counter(str(ingestion_id), INGESTION_PART.name)


#: The counter of an attempt's completed parts: ``count#{ingestion}#{attempt}#completed_ingestion_part``
#: (``completed_digestion_part`` for a digestion's).
COMPLETED_PARTS = "completed_ingestion_part"
#: The attempts whose completed-parts counters a deleted process takes with it (the latest ones: one
#: transaction holds at most 100 writes).
DISCARDED_ATTEMPT_COUNTERS = 90


def completed_parts_counter(process_id: UUID, attempt: int, parts: str = COMPLETED_PARTS) -> Counter:
    """How many parts of one attempt of a process completed (the numerator of its progress)."""
    return Counter(f"{process_id}#{attempt}", parts)


def attempt_counters(process_id: UUID, last_attempt: int, parts: str = COMPLETED_PARTS) -> list[Counter]:
    """The completed-parts counters a deleted process takes with it: its latest attempts'."""
    first = max(1, last_attempt - DISCARDED_ATTEMPT_COUNTERS + 1)
    return [completed_parts_counter(process_id, attempt, parts) for attempt in range(first, last_attempt + 1)]


class ProcessService(ResourceService[P]):
    """What every process shares: creation state, workflow, API edits and pipeline transitions.

    ``workflows`` decides and checks a process's workflow (``openlqs.domain.workflows``); without it
    (tests of other rules) ``workflow_id`` is stored as given. The process type is the kind's name.
    """

    #: The transitions ``transition`` allows (the API allows ``USER_TRANSITIONS`` only).
    life_cycle: Mapping[ProcessState, frozenset[ProcessState]] = LIFE_CYCLE

    def __init__(
        self,
        repository: ResourceRepository,
        environment: Environment | None = None,
        *,
        workflows: ProcessWorkflows | None = None,
    ) -> None:
        super().__init__(repository, environment)
        self.workflows = workflows

    @property
    def process_type(self) -> ProcessType:
        return ProcessType(self.kind.name)

    def _new_child(
        self,
        parent: Any,
        parent_field: str,
        fields: dict[str, Any],
        context: Context,
        state: ProcessState,
    ) -> P:
        """A new part of ``parent`` (an ingestion or a digestion): its log and group are the parent's, its
        workflow too unless it names one, and it enters ``state``."""
        child = self._new(
            context,
            {**fields, parent_field: parent.id, "log_id": parent.log_id, "group_id": parent.group_id},
        )
        self._apply_workflow(child, parent=parent)
        enter_state(child, None, state, child.created_at)
        return child

    def _apply_workflow(self, process: P, *, parent: ProcessModel | None = None) -> None:
        """Give a new process its workflow (its own, its parent's, or its type's default) and check it
        (``ProcessWorkflows.apply``); call before storing it."""
        if self.workflows is not None:
            self.workflows.apply(self.process_type, process, parent=parent)

    def _what(self, process_id: UUID) -> str:
        return f"{self.kind.title.lower()} {process_id}"

    def _initial_state(self, requested: ProcessState) -> ProcessState:
        state = ProcessState(requested)
        if state not in CREATE_STATES:
            raise BadRequest(f"A {self.kind.title.lower()} is created ready or queued, not {state}.")
        return state

    def _check_entering(self, process: Any, state: ProcessState) -> None:
        """Conditions for entering ``state`` beyond the transition table (none by default)."""

    def _check_edit(self, old: Any, new: Any, request: ProcessUpdateFields) -> None:
        """Refuse or complete field changes of an API update (nothing by default)."""

    def _entered(self, previous: ProcessState, new: Any) -> None:
        """Complete a process an API update moved from ``previous`` into its state (nothing by default)."""

    def _edit(
        self,
        process_id: UUID,
        request: ProcessUpdateFields,
        context: Context,
        non_nullable: tuple[str, ...],
    ) -> P:
        """Apply an API update: locks, transition rules, then the fields; re-read after a concurrent write."""

        def change(process: P) -> P:
            new = self._changed(process, request, context, non_nullable=non_nullable)
            current, wanted = ProcessState(process.state), ProcessState(new.state)
            check_transition(self._what(process.id), current, wanted, USER_TRANSITIONS)
            touched = request.model_fields_set & {"workflow_id", "workflow_context"}
            if touched and new.workflow_id is not None and self.workflows is not None:
                self.workflows.check(self.process_type, new.workflow_id, new.workflow_context)
            self._check_edit(process, new, request)
            if wanted != current:
                self._check_entering(new, wanted)
                enter_state(new, current, wanted, new.updated_at or self.env.now())
                self._entered(current, new)
            return new

        return self.repository.update(self.kind, process_id, change)

    def transition(
        self,
        process_id: UUID,
        to_state: ProcessState,
        *,
        expected_from: set[ProcessState] | None = None,
        progress: float | None = None,
        error_name: str | None = None,
        error_message: str | None = None,
        error_payload: dict | None = None,
        amend: Callable[[P], None] | None = None,
    ) -> P:
        """Move a process along its ``life_cycle`` (the pipeline's entry point; locks do not apply).

        ``expected_from`` names the states the caller believes the process is in; any other state is
        ``InvalidTransition``, so a stale or duplicate worker cannot move a process it no longer owns.
        Moving to the current state only updates ``progress`` and the error fields that are given. The
        write is conditional on the process's version and re-read after a concurrent write. ``amend``
        changes the new version further in the same write (what a worker notes as it finishes).
        """
        to_state = ProcessState(to_state)
        if progress is not None and not 0.0 <= progress <= 1.0:
            raise BadRequest(f"progress must be within [0, 1], not {progress}.")
        given: dict[str, Any] = {
            "progress": progress,
            "error_name": error_name,
            "error_message": error_message,
            "error_payload": error_payload,
        }
        changes = {name: value for name, value in given.items() if value is not None}

        def change(process: P) -> P:
            current = ProcessState(process.state)
            if expected_from is not None and current not in expected_from:
                expected = " or ".join(sorted(expected_from))
                raise InvalidTransition(
                    f"cannot move {self._what(process_id)} from {current} to {to_state}: "
                    f"expected it {expected}."
                )
            check_transition(self._what(process_id), current, to_state, self.life_cycle)
            now = self.env.now()
            new = updated(process, changes, Context(), now)
            if to_state != current:
                self._check_entering(new, to_state)
                enter_state(new, current, to_state, now)
            if amend is not None:
                amend(new)
            return new

        return self.repository.update(self.kind, process_id, change)


class IngestionService(ProcessService[Ingestion]):
    """Ingestions of logs: create, edit, queue, cancel, archive and delete through the API.

    ``objects`` answers whether a log object exists (checked when an ingestion is queued; skipped when
    None). ``records`` removes an ingestion's records when it is deleted (skipped when None).
    """

    kind = INGESTION

    def __init__(
        self,
        repository: ResourceRepository,
        environment: Environment | None = None,
        *,
        datastore_id: UUID,
        objects: LogObjectStore | None = None,
        records: RecordCleanup | None = None,
        cancellation: AttemptCancellation | None = None,
        workflows: ProcessWorkflows | None = None,
    ) -> None:
        super().__init__(repository, environment, workflows=workflows)
        self.datastore_id = datastore_id
        self.objects = objects
        self.records = records
        self.cancellation = cancellation

    def get(self, resource_id: UUID) -> Ingestion:
        return self.repository.get(INGESTION, resource_id)

    def list(self, params: IngestionListParams) -> tuple[int, list[Ingestion]]:
        return list_page(self.repository, INGESTION, params, parent_id=params.log_id)

    def _counter(self, log_id: UUID) -> Counter:
        return Counter(
            str(log_id), INGESTION.name, self.env.limits.max_ingestions_per_log, "max_ingestions_per_log"
        )

    def object_key(self, log_id: UUID, object_store_id: UUID | None, object_key: str | None) -> str | None:
        """The key to store: relative to the log for a log object (a full storage key of the same log is
        shortened; another log's is ``BadRequest``), as given for an object store's object."""
        if object_key is None:
            return None
        if object_store_id is not None:
            self.repository.get(OBJECT_STORE, object_store_id)
            return validate_object_key(object_key, what="object_key")
        return relative_key(object_key, log_prefix(self.datastore_id, log_id), what="object_key")

    def _check_entering(self, process: Any, state: ProcessState) -> None:
        """Queueing needs an object to read (a key, and the object itself) whose content the log does not
        hold already (``DuplicateIngestion``); the object's fingerprint is kept on the ingestion."""
        if state != S.queued:
            return
        ingestion = process
        if ingestion.object_key is None:
            raise BadRequest(f"Ingestion {ingestion.id} cannot be queued without an object_key.")
        if self.objects is None:
            return
        fingerprint = self._fingerprint(ingestion)
        if fingerprint is None:
            where = (
                f"object store {ingestion.object_store_id}"
                if ingestion.object_store_id is not None
                else f"log {ingestion.log_id}"
            )
            raise NotFound(f"Object {ingestion.object_key!r} not found in {where}.")
        ingestion._internal[FINGERPRINT] = fingerprint
        if not (ingestion.context or {}).get(ALLOW_DUPLICATE):
            self._refuse_duplicate(ingestion, fingerprint)

    def _fingerprint(self, ingestion: Ingestion) -> str | None:
        assert self.objects is not None and ingestion.object_key is not None
        if ingestion.object_store_id is not None:
            return self.objects.fingerprint_in_store(ingestion.object_store_id, ingestion.object_key)
        return self.objects.fingerprint(ingestion.log_id, ingestion.object_key)

    def _refuse_duplicate(self, ingestion: Ingestion, fingerprint: str) -> None:
        """Refuse to queue a file whose content another ingestion of the log holds or is ingesting."""
        for other in self.repository.list_resources(INGESTION, ingestion.log_id):
            if other.id == ingestion.id or ProcessState(other.state) not in HOLDING_STATES:
                continue
            theirs = other._internal.get(FINGERPRINT)
            if theirs is None and other.object_key is not None:
                # Queued before fingerprints were kept: its object as it is now.
                try:
                    theirs = self._fingerprint(other)
                except NotFound:
                    theirs = None
            if theirs != fingerprint:
                continue
            raise DuplicateIngestion(
                f"Log {ingestion.log_id} already holds the records of this file: ingestion {other.id} "
                f"({other.name or other.object_key}) is {other.state} for {other.object_key!r}, which has "
                f"the same size and content as {ingestion.object_key!r}. Ingesting it again would add "
                f"every record a second time. To ingest it anew, delete ingestion {other.id} first (its "
                "records go with it); to keep both, create the ingestion with context "
                f'{{"{ALLOW_DUPLICATE}": true}}.'
            )

    def _check_edit(self, old: Any, new: Any, request: ProcessUpdateFields) -> None:
        """Normalise a changed object reference, and refuse it unless the ingestion is editable."""
        if not request.model_fields_set & {"object_key", "object_store_id"}:
            return
        state = ProcessState(old.state)
        if state not in EDITABLE_STATES:
            fields = ("object_store_id", "object_key")
            changed = [name for name in fields if getattr(new, name) != getattr(old, name)]
            if changed:
                raise InvalidTransition(
                    f"cannot change {' and '.join(changed)} of ingestion {old.id} while it is {state}."
                )
        new.object_key = self.object_key(new.log_id, new.object_store_id, new.object_key)

    def create(
        self, request: IngestionCreateRequest, context: Context, *, ingestion_id: UUID | None = None
    ) -> Ingestion:
        """Create an ingestion in ``ready`` (editable) or ``queued`` (processing starts at once)."""
        state = self._initial_state(request.state)
        ingestion = self._build(request, context, ingestion_id)
        self._apply_workflow(ingestion)
        self._check_entering(ingestion, state)
        enter_state(ingestion, None, state, ingestion.created_at)
        return self._store(ingestion)

    def _build(
        self, request: IngestionCreateRequest, context: Context, ingestion_id: UUID | None
    ) -> Ingestion:
        log = self.repository.get(LOG, request.log_id)
        fields = {
            **request.model_dump(),
            "group_id": log.group_id,
            "object_key": self.object_key(log.id, request.object_store_id, request.object_key),
        }
        return self._new(context, fields, resource_id=ingestion_id)

    def _store(self, ingestion: Ingestion) -> Ingestion:
        self.repository.create(
            INGESTION,
            ingestion,
            WriteConditions(
                increment=(self._counter(ingestion.log_id),), requires=((LOG, ingestion.log_id),)
            ),
        )
        return ingestion

    def update(self, ingestion_id: UUID, request: IngestionUpdateRequest, context: Context) -> Ingestion:
        """Edit an ingestion and move it along ``USER_TRANSITIONS``.

        Cancelling (``cancelled``, or ``failed``) an ingestion that is queued or running stops its
        execution and removes what its attempt wrote; it can then be queued again or deleted.
        """
        before = self.get(ingestion_id).state
        saved = self._edit(ingestion_id, request, context, non_nullable=("state",))
        stopped = ProcessState(before) in ACTIVE_STATES and saved.state in (S.cancelled, S.failed)
        if stopped and self.cancellation is not None:
            self.cancellation.cancel(saved, f"{saved.state} by a request while {before}")
        return saved

    def _entered(self, previous: ProcessState, new: Any) -> None:
        if new.state == S.failed and previous in ACTIVE_STATES:
            new.error_name = "IngestionCancelled"
            new.error_message = f"Stopped by a request while {previous}; queue it again or delete it."

    def requeue_interrupted(self, ingestion_id: UUID) -> Ingestion:
        """Queue a running ingestion again as a new attempt, its work having been lost with the process
        that ran it (the local stack's restart); a queued one is left as it is."""
        return self.transition(ingestion_id, S.queued, expected_from={S.processing, S.finalizing})

    def delete(self, ingestion_id: UUID, context: Context) -> None:
        """Delete an ingestion with its records and parts; refused while its work is queued or running.

        A task of a stopped attempt may still write the ingestion or its parts just after a cancel (a
        plan storing what it made, then taking it back): the delete reads again and goes on."""
        retry_on_conflict(lambda: self._delete(ingestion_id, context))

    def _delete(self, ingestion_id: UUID, context: Context) -> None:
        ingestion = self.get(ingestion_id)
        check_unlocked(ingestion, ingestion._internal, context, what=f"ingestion {ingestion_id}")
        state = ProcessState(ingestion.state)
        if state in ACTIVE_STATES:
            raise InvalidTransition(
                f"cannot delete ingestion {ingestion_id} while it is {state}; cancel it or let it end."
            )
        if self.records is not None:
            self.records.delete_ingestion_records(ingestion)
        if self.objects is not None:
            self.objects.delete_derived(ingestion)
        parts = _parts_counter(ingestion_id)
        # In batches: a terabyte log has ~20,000 parts, far too many for one transaction each.
        self.repository.delete_many(
            INGESTION_PART, self.repository.list_resources(INGESTION_PART, ingestion_id), parts
        )
        completed = attempt_counters(ingestion_id, attempt_of(ingestion))
        self.repository.delete(
            INGESTION,
            ingestion,
            WriteConditions(
                decrement=(self._counter(ingestion.log_id),), require_empty=(parts,), discard=completed
            ),
        )


class IngestionPartService(ProcessService[IngestionPart]):
    """Parts of ingestions. Nested routes name the parent, but a part is found by its own id."""

    kind = INGESTION_PART
    life_cycle = PART_LIFE_CYCLE

    def get(self, resource_id: UUID, ingestion_id: UUID | None = None) -> IngestionPart:
        """The part; with a parent id other than the nil placeholder, it must be that ingestion's."""
        part = self.repository.get(INGESTION_PART, resource_id)
        if ingestion_id is not None and ingestion_id not in (NIL_ID, part.ingestion_id):
            raise NotFound(f"Ingestion part {resource_id} not found in ingestion {ingestion_id}.")
        return part

    def list(
        self, params: IngestionPartListParams, ingestion_id: UUID | None = None
    ) -> tuple[int, list[IngestionPart]]:
        """Parts of one ingestion (the path's, else the ``ingestion_id`` filter's) or of all; no index."""
        if ingestion_id is not None and ingestion_id != NIL_ID:
            self.repository.get(INGESTION, ingestion_id)
        else:
            ingestion_id = params.ingestion_id
        count, parts = list_page(self.repository, INGESTION_PART, params, parent_id=ingestion_id)
        return count, [part.model_copy(update={"index": None}) for part in parts]

    def create(
        self, ingestion_id: UUID, request: IngestionPartCreateRequest, context: Context
    ) -> IngestionPart:
        """Create a part of an existing ingestion; its log and group come from the ingestion."""
        ingestion = self.repository.get(INGESTION, ingestion_id)
        state = self._initial_state(request.state)
        part = self._new_child(ingestion, "ingestion_id", request.model_dump(), context, state)
        self.repository.create(
            INGESTION_PART,
            part,
            WriteConditions(increment=(_parts_counter(ingestion.id),), requires=((INGESTION, ingestion.id),)),
        )
        return part

    def create_many(
        self, ingestion: Ingestion, requests: Iterable[IngestionPartCreateRequest], context: Context
    ) -> builtins.list[tuple[UUID, int]]:
        """Create the parts of an ingestion in batches (the pipeline's plan: thousands of parts at once);
        the id and sequence of each, in the order of ``requests``.

        Not one transaction: the ingestion is not checked again (the caller holds it), and the parts
        counter is raised batch by batch (``ResourceRepository.create_many``). At most
        ``CREATE_MANY_MODELS`` parts are held at once, whatever their number.
        """
        created: builtins.list[tuple[UUID, int]] = []
        pending = iter(requests)
        while chunk := builtins.list(itertools.islice(pending, CREATE_MANY_MODELS)):
            parts = []
            for request in chunk:
                state = self._initial_state(request.state)
                # The ingestion's workflow: no read.
                parts.append(self._new_child(ingestion, "ingestion_id", request.model_dump(), context, state))
            self.repository.create_many(INGESTION_PART, parts, _parts_counter(ingestion.id))
            created += [(part.id, part.sequence) for part in parts]
        return created

    def all_of(self, ingestion_id: UUID) -> builtins.list[IngestionPart]:
        """Every part of an ingestion, in sequence order (one listing: no filters, no pages)."""
        parts = self.repository.list_resources(INGESTION_PART, ingestion_id)
        return sorted(parts, key=lambda part: (part.sequence, str(part.id)))

    def delete_all(self, ingestion_id: UUID) -> None:
        """Delete every part of an ingestion, in batches (a new plan replaces them)."""
        self.repository.delete_many(
            INGESTION_PART,
            self.repository.list_resources(INGESTION_PART, ingestion_id),
            _parts_counter(ingestion_id),
        )

    def update(
        self,
        part_id: UUID,
        request: IngestionPartUpdateRequest,
        context: Context,
        *,
        ingestion_id: UUID | None = None,
    ) -> IngestionPart:
        """Edit a part and move it along ``USER_TRANSITIONS``."""
        self.get(part_id, ingestion_id)  # NotFound unless the part is that ingestion's
        return self._edit(part_id, request, context, non_nullable=("state", "sequence"))

    def delete(self, part_id: UUID, context: Context, *, ingestion_id: UUID | None = None) -> None:
        """Delete one part (its records stay: they belong to the ingestion)."""
        part = self.get(part_id, ingestion_id)
        check_unlocked(part, part._internal, context, what=f"ingestion part {part_id}")
        self.repository.delete(
            INGESTION_PART, part, WriteConditions(decrement=(_parts_counter(part.ingestion_id),))
        )
