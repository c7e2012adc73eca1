"""Digestions, their topics and their parts: the rules of their API (next §1).

A digestion follows the process life cycle of ingestions (``openlqs.domain.ingestions``): created
``ready`` (or ``queued``), queued by a PATCH, then moved by its state machine through ``processing`` and
``finalizing`` to ``completed`` or ``failed``. What it selects (its topics) can change only while it is
``ready``, ``failed`` or ``cancelled``, so running work never has its input swapped. Entering ``queued``
needs at least one topic, every topic of the digestion's log, and an export its topics fit.

A part's index is kept beside the part (``DigestionIndexStore``, encoded by ``records.part_index``),
so that lists read no index; a fetch returns it.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from openlqs.domain.common import Context, Environment, check_unlocked, patch_fields, updated
from openlqs.domain.filtering import check_json_filter
from openlqs.domain.ingestions import (
    ACTIVE_STATES,
    EDITABLE_STATES,
    NIL_ID,
    PART_LIFE_CYCLE,
    ProcessService,
    attempt_counters,
    attempt_of,
    completed_parts_counter,
    enter_state,
)
from openlqs.domain.ports import Counter, DigestionIndexStore, ResourceRepository, WriteConditions
from openlqs.domain.resources import (
    DIGESTION,
    DIGESTION_PART,
    DIGESTION_TOPIC,
    LOG,
    TOPIC,
    ResourceService,
    list_page,
)
from openlqs.domain.workflows import ProcessWorkflows
from openlqs.errors import BadRequest, InvalidTransition, NotFound
from openlqs.models.common import ProcessState
from openlqs.models.digestions import (
    EXPORT,
    Digestion,
    DigestionCreateRequest,
    DigestionListParams,
    DigestionPart,
    DigestionPartCreateRequest,
    DigestionPartListParams,
    DigestionPartUpdateRequest,
    DigestionTopic,
    DigestionTopicCreateRequest,
    DigestionTopicListParams,
    DigestionTopicUpdateRequest,
    DigestionUpdateRequest,
    ExportSpec,
    export_spec,
)
from openlqs.models.ingestions import ProcessUpdateFields
from openlqs.models.resources import Topic
from openlqs.records.part_index import CorruptIndex, PartIndex

S = ProcessState

#: Export formats and the topics they can hold (a bag holds ROS 1 messages only).
BAG_ENCODINGS = frozenset({"ros1"})


class DigestionOutputs(Protocol):
    """What a digestion's runs leave (part blobs, export fragments, the export), filled in by the
    digestion pipeline's side."""

    def cancel(self, digestion: Digestion, reason: str) -> None:
        """Stop the current attempt's execution, settle its parts and remove its unfinished output."""
        ...

    def delete_outputs(self, digestion: Digestion) -> None:
        """Delete every object the digestion's runs wrote."""
        ...


def check_export_fits(spec: ExportSpec, topics: Mapping[UUID, Topic]) -> None:
    """Refuse an export its topics do not fit: a bag of topics that are not ROS 1 (400 naming
    ``context.export.format``)."""
    if spec.format != "bag":
        return
    for topic in topics.values():
        if topic.type_encoding not in BAG_ENCODINGS:
            encoding = topic.type_encoding or "untyped"
            raise BadRequest(
                f"context.export.format: a bag holds ROS 1 messages only, and topic {topic.name!r} "
                f"({topic.id}) is {encoding}; export it as mcap instead."
            )


def _parent(digestion_id: UUID) -> Counter:
    return Counter(str(digestion_id), DIGESTION_PART.name)


@dataclass(frozen=True)
class PlannedPart:
    """A part the digestion pipeline planned: its place, its records and what it notes."""

    sequence: int
    index: PartIndex
    context: dict[str, Any]
    created_at: datetime
    internal: dict[str, Any] = field(default_factory=dict)


#: The counter kind of a digestion attempt's completed parts.
COMPLETED_DIGESTION_PARTS = "completed_digestion_part"


def completed_digestion_parts(digestion_id: UUID, attempt: int) -> Counter:
    """How many parts of one attempt of a digestion completed (the numerator of its progress)."""
    return completed_parts_counter(digestion_id, attempt, COMPLETED_DIGESTION_PARTS)


class DigestionService(ProcessService[Digestion]):
    """Digestions of logs: create, edit, queue, cancel and delete through the API.

    ``parts`` are deleted with their digestion; ``outputs`` stops a cancelled attempt and deletes what
    runs wrote (skipped when None).
    """

    kind = DIGESTION

    def __init__(
        self,
        repository: ResourceRepository,
        parts: DigestionPartService,
        environment: Environment | None = None,
        *,
        outputs: DigestionOutputs | None = None,
        workflows: ProcessWorkflows | None = None,
    ) -> None:
        super().__init__(repository, environment, workflows=workflows)
        self.parts = parts
        self.outputs = outputs

    def get(self, resource_id: UUID) -> Digestion:
        return self.repository.get(DIGESTION, resource_id)

    def list(self, params: DigestionListParams) -> tuple[int, list[Digestion]]:
        return list_page(self.repository, DIGESTION, params, parent_id=params.log_id)

    @staticmethod
    def _counter(log_id: UUID) -> Counter:
        return Counter(str(log_id), DIGESTION.name)

    def topics_of(self, digestion_id: UUID) -> builtins.list[DigestionTopic]:
        """The digestion's topics, in creation order."""
        return self.repository.list_resources(DIGESTION_TOPIC, digestion_id)

    def topic_for(self, digestion: Digestion, topic_id: UUID, *, field: str = "topic_id") -> Topic:
        """The topic ``topic_id`` names, which must be of the digestion's log (``BadRequest`` naming
        ``field`` otherwise, ``NotFound`` when it does not exist)."""
        topic = self.repository.find(TOPIC, topic_id)
        if topic is None:
            raise NotFound(f"{field}: topic {topic_id} not found.")
        if topic.log_id != digestion.log_id:
            raise BadRequest(
                f"{field}: topic {topic_id} ({topic.name}) is a topic of log {topic.log_id}, not of log "
                f"{digestion.log_id} of digestion {digestion.id}."
            )
        return topic

    def check_selection(self, digestion: Digestion) -> dict[UUID, Topic]:
        """Everything queueing needs: topics, all of the digestion's log, that its export fits."""
        selected = self.topics_of(digestion.id)
        if not selected:
            raise BadRequest(f"Digestion {digestion.id} cannot be queued without topics; add some first.")
        topics = {
            entry.topic_id: self.topic_for(digestion, entry.topic_id, field=f"digestion topic {entry.id}")
            for entry in selected
        }
        spec = export_spec(digestion.context)
        if spec is not None:
            check_export_fits(spec, topics)
            if isinstance(spec.latched, list):
                names = {topic.name for topic in topics.values()}
                unknown = sorted(set(spec.latched) - names)
                if unknown:
                    raise BadRequest(
                        f"context.export.latched: the digestion has no topic named {', '.join(unknown)}."
                    )
        return topics

    def _check_entering(self, process: Any, state: ProcessState) -> None:
        if state == S.queued:
            self.check_selection(process)

    def _check_edit(self, old: Any, new: Any, request: ProcessUpdateFields) -> None:
        """An export asked for while running would never be written: ``context.export`` changes only
        while the digestion is ready, failed or cancelled; a new one must fit the topics."""
        if "context" not in request.model_fields_set:
            return
        before, after = (old.context or {}).get(EXPORT), (new.context or {}).get(EXPORT)
        if before == after:
            return
        state = ProcessState(old.state)
        if state not in EDITABLE_STATES:
            raise InvalidTransition(
                f"cannot change context.export of digestion {old.id} while it is {state}."
            )
        spec = export_spec(new.context)
        if spec is not None:
            topics = {
                entry.topic_id: self.repository.find(TOPIC, entry.topic_id)
                for entry in self.topics_of(old.id)
            }
            check_export_fits(spec, {key: topic for key, topic in topics.items() if topic is not None})

    def _entered(self, previous: ProcessState, new: Any) -> None:
        if new.state == S.failed and previous in ACTIVE_STATES:
            new.error_name = "DigestionCancelled"
            new.error_message = f"Stopped by a request while {previous}; queue it again or delete it."

    def create(self, request: DigestionCreateRequest, context: Context) -> Digestion:
        """Create a digestion in ``ready`` (add topics, then queue it) or ``queued``."""
        state = self._initial_state(request.state)
        log = self.repository.get(LOG, request.log_id)
        digestion = self._new(context, {**request.model_dump(), "group_id": log.group_id})
        self._apply_workflow(digestion)
        self._check_entering(digestion, state)
        enter_state(digestion, None, state, digestion.created_at)
        self.repository.create(
            DIGESTION,
            digestion,
            WriteConditions(increment=(self._counter(log.id),), requires=((LOG, log.id),)),
        )
        return digestion

    def update(self, digestion_id: UUID, request: DigestionUpdateRequest, context: Context) -> Digestion:
        """Edit a digestion and move it along ``USER_TRANSITIONS``; cancelling (``cancelled`` or
        ``failed``) a running one stops its execution."""
        before = self.get(digestion_id).state
        saved = self._edit(digestion_id, request, context, non_nullable=("state",))
        stopped = ProcessState(before) in ACTIVE_STATES and saved.state in (S.cancelled, S.failed)
        if stopped and self.outputs is not None:
            self.outputs.cancel(saved, f"{saved.state} by a request while {before}")
        return saved

    def requeue_interrupted(self, digestion_id: UUID) -> Digestion:
        """Queue a running digestion again as a new attempt (its execution was lost with the local stack)."""
        return self.transition(digestion_id, S.queued, expected_from={S.processing, S.finalizing})

    def delete(self, digestion_id: UUID, context: Context) -> None:
        """Delete a digestion with its topics, parts, part blobs and export; refused while it runs."""
        digestion = self.get(digestion_id)
        check_unlocked(digestion, digestion._internal, context, what=f"digestion {digestion_id}")
        state = ProcessState(digestion.state)
        if state in ACTIVE_STATES:
            raise InvalidTransition(
                f"cannot delete digestion {digestion_id} while it is {state}; cancel it or let it end."
            )
        if self.outputs is not None:
            self.outputs.delete_outputs(digestion)
        parts = _parent(digestion_id)
        for part in self.repository.list_resources(DIGESTION_PART, digestion_id):
            self.parts.remove(part)
        topics = Counter(str(digestion_id), DIGESTION_TOPIC.name)
        for entry in self.topics_of(digestion_id):
            self.repository.delete(DIGESTION_TOPIC, entry, WriteConditions(decrement=(topics,)))
        self.repository.delete(
            DIGESTION,
            digestion,
            WriteConditions(
                decrement=(self._counter(digestion.log_id),),
                require_empty=(parts, topics),
                discard=attempt_counters(digestion_id, attempt_of(digestion), COMPLETED_DIGESTION_PARTS),
            ),
        )


class DigestionTopicService(ResourceService[DigestionTopic]):
    """The topics of digestions: what each selects. A digestion topic has no lock of its own: a locked
    digestion's ``lock_token`` guards its topics (423 without it)."""

    kind = DIGESTION_TOPIC

    def __init__(
        self,
        repository: ResourceRepository,
        digestions: DigestionService,
        environment: Environment | None = None,
    ) -> None:
        super().__init__(repository, environment)
        self.digestions = digestions

    def _counter(self, digestion_id: UUID) -> Counter:
        # A digestion selects at most as many topics as a log may hold.
        return Counter(
            str(digestion_id),
            DIGESTION_TOPIC.name,
            self.env.limits.max_topics_per_log,
            "max_topics_per_log",
        )

    def get(self, resource_id: UUID, digestion_id: UUID | None = None) -> DigestionTopic:
        """The digestion topic; with a parent id other than the nil placeholder, it must be its."""
        entry = self.repository.get(DIGESTION_TOPIC, resource_id)
        if digestion_id is not None and digestion_id not in (NIL_ID, entry.digestion_id):
            raise NotFound(f"Digestion topic {resource_id} not found in digestion {digestion_id}.")
        return entry

    def list(
        self, params: DigestionTopicListParams, digestion_id: UUID | None = None
    ) -> tuple[int, list[DigestionTopic]]:
        """Topics of one digestion (the path's, else the ``digestion_id`` filter's) or of all; ``log_id``
        and ``group_id`` match through the digestion."""
        if digestion_id is not None and digestion_id != NIL_ID:
            self.digestions.get(digestion_id)
        else:
            digestion_id = params.digestion_id
        joined = {name: getattr(params, name) for name in ("log_id", "group_id")}
        if not any(value is not None for value in joined.values()):
            return list_page(self.repository, DIGESTION_TOPIC, params, parent_id=digestion_id)
        digestions = {
            d.id
            for d in self.repository.list_resources(DIGESTION, joined["log_id"])
            if all(value is None or getattr(d, name) == value for name, value in joined.items())
        }
        everything = params.model_copy(
            update={"offset": 0, "limit": 1_000_000_000, "log_id": None, "group_id": None}
        )
        _, found = list_page(self.repository, DIGESTION_TOPIC, everything, parent_id=digestion_id)
        matching = [entry for entry in found if entry.digestion_id in digestions]
        return len(matching), matching[params.offset : params.offset + params.limit]

    def _editable(self, digestion_id: UUID, context: Context) -> Any:
        digestion = self.digestions.get(digestion_id)
        check_unlocked(digestion, digestion._internal, context, what=f"digestion {digestion_id}")
        state = ProcessState(digestion.state)
        if state not in EDITABLE_STATES:
            raise InvalidTransition(
                f"cannot change the topics of digestion {digestion_id} while it is {state}; topics change "
                "while it is ready, failed or cancelled."
            )
        return digestion

    @staticmethod
    def _check_filters(fields: Mapping[str, Any]) -> None:
        for name in ("query_data_filter", "context_filter"):
            if fields.get(name) is not None:
                check_json_filter(name, fields[name])

    def create(
        self, digestion_id: UUID, request: DigestionTopicCreateRequest, context: Context
    ) -> DigestionTopic:
        """Add a topic of the digestion's log (with its window, frequency and filters) to a digestion."""
        digestion = self._editable(digestion_id, context)
        topic = self.digestions.topic_for(digestion, request.topic_id)
        spec = export_spec(digestion.context)
        if spec is not None:
            check_export_fits(spec, {topic.id: topic})
        fields = request.model_dump()
        self._check_filters(fields)
        entry = self._new(context, {**fields, "digestion_id": digestion.id})
        self.repository.create(
            DIGESTION_TOPIC,
            entry,
            WriteConditions(increment=(self._counter(digestion.id),), requires=((DIGESTION, digestion.id),)),
        )
        return entry

    def update(
        self,
        entry_id: UUID,
        request: DigestionTopicUpdateRequest,
        context: Context,
        *,
        digestion_id: UUID | None = None,
    ) -> DigestionTopic:
        """Change a digestion topic's window, frequency or filters."""
        entry = self.get(entry_id, digestion_id)
        self._editable(entry.digestion_id, context)
        changes = patch_fields(request, ignore=())
        self._check_filters(changes)
        new = updated(entry, changes, context, self.env.now())
        if new.start_time is not None and new.end_time is not None and new.start_time > new.end_time:
            raise BadRequest(f"start_time ({new.start_time}) is after end_time ({new.end_time}).")
        return self.repository.replace(DIGESTION_TOPIC, entry, new)

    def delete(self, entry_id: UUID, context: Context, *, digestion_id: UUID | None = None) -> None:
        entry = self.get(entry_id, digestion_id)
        self._editable(entry.digestion_id, context)
        self.repository.delete(
            DIGESTION_TOPIC, entry, WriteConditions(decrement=(self._counter(entry.digestion_id),))
        )


class DigestionPartService(ProcessService[DigestionPart]):
    """Parts of digestions; their indexes are kept in ``indexes``. Nested routes name the parent, but a
    part is found by its own id (the nil parent id included)."""

    kind = DIGESTION_PART
    life_cycle = PART_LIFE_CYCLE

    def __init__(
        self,
        repository: ResourceRepository,
        indexes: DigestionIndexStore,
        environment: Environment | None = None,
        *,
        workflows: ProcessWorkflows | None = None,
    ) -> None:
        super().__init__(repository, environment, workflows=workflows)
        self.indexes = indexes

    def get(self, resource_id: UUID, digestion_id: UUID | None = None) -> DigestionPart:
        """The part with its index; with a parent id other than the nil placeholder, it must be its."""
        part = self.repository.get(DIGESTION_PART, resource_id)
        if digestion_id is not None and digestion_id not in (NIL_ID, part.digestion_id):
            raise NotFound(f"Digestion part {resource_id} not found in digestion {digestion_id}.")
        index = self.index_of(part.id)
        return part if index is None else part.model_copy(update={"index": index.entries()})

    def state_of(self, part_id: UUID) -> DigestionPart:
        """The part without its index (what the pipeline moves along)."""
        return self.repository.get(DIGESTION_PART, part_id)

    def index_of(self, part_id: UUID) -> PartIndex | None:
        blob = self.indexes.get(part_id)
        if blob is None:
            return None
        try:
            return PartIndex.decode(blob)
        except CorruptIndex as error:
            raise BadRequest(f"The index of digestion part {part_id} cannot be read: {error}") from error

    def list(
        self, params: DigestionPartListParams, digestion_id: UUID | None = None
    ) -> tuple[int, list[DigestionPart]]:
        """Parts of one digestion (the path's, else the filter's) or of all; without their indexes."""
        if digestion_id is not None and digestion_id != NIL_ID:
            self.repository.get(DIGESTION, digestion_id)
        else:
            digestion_id = params.digestion_id
        return list_page(self.repository, DIGESTION_PART, params, parent_id=digestion_id)

    def _store(self, part: DigestionPart, index: PartIndex | None) -> DigestionPart:
        if index is not None:
            self.indexes.put(part.id, part.digestion_id, index.encode())
        self.repository.create(
            DIGESTION_PART,
            part,
            WriteConditions(
                increment=(_parent(part.digestion_id),), requires=((DIGESTION, part.digestion_id),)
            ),
        )
        return part

    def create(
        self, digestion_id: UUID, request: DigestionPartCreateRequest, context: Context
    ) -> DigestionPart:
        """Create a part of an existing digestion (its log and group are the digestion's)."""
        digestion = self.repository.get(DIGESTION, digestion_id)
        state = self._initial_state(request.state)
        part = self._new_child(
            digestion, "digestion_id", request.model_dump(exclude={"index"}), context, state
        )
        index = None if request.index is None else PartIndex.from_entries(request.index)
        self._store(part, index)
        return part.model_copy(update={"index": request.index})

    def create_planned(
        self, digestion: Digestion, planned: Sequence[PlannedPart]
    ) -> builtins.list[DigestionPart]:
        """Parts the pipeline planned, written in batches (their indexes, then the parts; the parts
        counter raised batch by batch; the digestion, which the caller holds, not checked again).

        Each is ``queued`` (readers refuse ``ready`` parts), created at its ``created_at`` so that
        parts listed by ``created_at`` come in sequence order, with the server-only ``internal``
        attributes its writing needs."""
        parts = [self._planned(digestion, entry) for entry in planned]
        self.indexes.put_many(
            [
                (part.id, digestion.id, entry.index.encode())
                for part, entry in zip(parts, planned, strict=True)
            ]
        )
        self.repository.create_many(DIGESTION_PART, parts, _parent(digestion.id))
        return parts

    def _planned(self, digestion: Digestion, planned: PlannedPart) -> DigestionPart:
        sequence, context, created_at = planned.sequence, planned.context, planned.created_at
        part = self._new(
            Context(),
            {
                "sequence": sequence,
                "digestion_id": digestion.id,
                "log_id": digestion.log_id,
                "group_id": digestion.group_id,
                "context": context,
                "state": S.queued,
            },
        )
        part.created_at = created_at
        part._internal.update(planned.internal)
        self._apply_workflow(part, parent=digestion)  # the digestion's: no read
        enter_state(part, None, S.queued, created_at)
        return part

    def next_created_at(self, previous: datetime | None) -> datetime:
        """Now, or just after ``previous`` when the clock has not moved past it."""
        now = self.env.now()
        if previous is not None and now <= previous:
            return previous + timedelta(microseconds=1)
        return now

    def update(
        self,
        part_id: UUID,
        request: DigestionPartUpdateRequest,
        context: Context,
        *,
        digestion_id: UUID | None = None,
    ) -> DigestionPart:
        """Edit a part (its index too) and move it along ``USER_TRANSITIONS``."""
        self.get(part_id, digestion_id)
        if "index" in request.model_fields_set:
            part = self.state_of(part_id)
            check_unlocked(part, part._internal, context, what=f"digestion part {part_id}")
        saved = self._edit(
            part_id, request.model_copy(update={"index": None}), context, non_nullable=("state", "sequence")
        )
        if "index" in request.model_fields_set:
            if request.index is None:
                self.indexes.delete(part_id)
            else:
                self.indexes.put(part_id, saved.digestion_id, PartIndex.from_entries(request.index).encode())
        return self.get(saved.id)

    def remove(self, part: DigestionPart) -> None:
        """Delete a part and its index (no lock check: the pipeline replacing a digestion's parts)."""
        self.repository.delete(DIGESTION_PART, part, WriteConditions(decrement=(_parent(part.digestion_id),)))
        self.indexes.delete(part.id)

    def delete(self, part_id: UUID, context: Context, *, digestion_id: UUID | None = None) -> None:
        part = self.get(part_id, digestion_id)
        check_unlocked(part, part._internal, context, what=f"digestion part {part_id}")
        self.remove(self.state_of(part_id))
