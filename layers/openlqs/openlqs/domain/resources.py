"""Groups, logs and topics: the rules of the LogQS resource API (and the kinds of ResourcesTable)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

from openlqs.domain.common import (
    Context,
    Environment,
    LockState,
    check_unlocked,
    lock_changes,
    patch_fields,
    updated,
)
from openlqs.domain.filtering import apply_filters, compile_filters, order_and_page
from openlqs.domain.ports import Counter, ResourceKind, ResourceRepository, WriteConditions
from openlqs.errors import BadRequest, Conflict
from openlqs.models.common import CommonListParams, CommonModel
from openlqs.models.digestions import Digestion, DigestionPart, DigestionTopic
from openlqs.models.ingestions import Ingestion, IngestionPart
from openlqs.models.resources import (
    Group,
    GroupCreateRequest,
    GroupListParams,
    GroupUpdateRequest,
    Log,
    LogCreateRequest,
    LogListParams,
    LogUpdateRequest,
    Topic,
    TopicCreateRequest,
    TopicListParams,
    TopicUpdateRequest,
)

GROUP = ResourceKind("group", Group, unique_field="name")
LOG = ResourceKind("log", Log, parent_field="group_id", unique_field="name", unique_scope_field="group_id")
TOPIC = ResourceKind("topic", Topic, parent_field="log_id", unique_field="name", unique_scope_field="log_id")
#: Ingestion names are not unique (LogQS README); their rules are in ``openlqs.domain.ingestions``.
INGESTION = ResourceKind("ingestion", Ingestion, parent_field="log_id")
INGESTION_PART = ResourceKind("ingestion_part", IngestionPart, parent_field="ingestion_id")
#: Digestions of a log, and their topics and parts; their rules are in ``openlqs.domain.digestions``.
DIGESTION = ResourceKind("digestion", Digestion, parent_field="log_id")
DIGESTION_TOPIC = ResourceKind("digestion_topic", DigestionTopic, parent_field="digestion_id")
DIGESTION_PART = ResourceKind("digestion_part", DigestionPart, parent_field="digestion_id")


class TopicRecords(Protocol):
    """What deleting a topic needs from the record service."""

    def delete_topic_records(self, topic: Topic) -> None: ...


class LogChildren(Protocol):
    """Resources that go with their log when it is deleted (tags, queries)."""

    def delete_log_children(self, log: Log) -> None: ...


class LabelIndex(Protocol):
    """The logs that carry labels (``tag_label_ids_includes``), read from the label index."""

    def logs_with_labels(self, label_ids: Sequence[UUID]) -> set[UUID]: ...


M = TypeVar("M", bound=CommonModel)

#: Counter scope of datastore-wide counts.
DATASTORE_SCOPE = "datastore"

#: Filters that exist on the wire but match no stored field (accepted and ignored).
_INERT_FILTERS = frozenset({"latched"})


def list_page(
    repository: ResourceRepository,
    kind: ResourceKind[M],
    params: CommonListParams,
    *,
    parent_id: UUID | None = None,
    only: set[UUID] | None = None,
    ignored: frozenset[str] = frozenset(),
) -> tuple[int, list[M]]:
    """Filter, order and page one resource type; returns (count of matches, page). ``only`` keeps the
    resources of those ids (found through an index); ``ignored`` filters are applied by the caller."""
    filters = params.filters()
    if parent_id is not None and kind.parent_field is not None:
        filters.pop(kind.parent_field, None)
    predicates = compile_filters(filters, ignored=_INERT_FILTERS | ignored)
    resources = {
        str(r.id): r for r in repository.list_resources(kind, parent_id) if only is None or r.id in only
    }
    rows = apply_filters((r.model_dump() for r in resources.values()), predicates)
    page = order_and_page(
        rows,
        order=params.order,
        descending=params.descending,
        offset=params.offset,
        limit=params.limit,
        orderable=kind.model.model_fields,
    )
    return len(rows), [resources[str(row["id"])] for row in page]


class ResourceService(Generic[M]):
    """Shared plumbing of the resource services (``M``: the model of the kind served)."""

    kind: ResourceKind[M]

    def __init__(self, repository: ResourceRepository, environment: Environment | None = None) -> None:
        self.repository = repository
        self.env = environment or Environment()

    def _new(self, context: Context, fields: dict[str, Any], *, resource_id: UUID | None = None) -> M:
        """A new resource; ``resource_id`` for ids derived from the request (idempotent creates)."""
        now = self.env.now()
        lock = {"locked_by": context.actor, "locked_at": now} if fields.get("locked") else {}
        resource = self.kind.model.model_validate(
            {
                "id": resource_id or self.env.new_id(),
                "created_at": now,
                "created_by": context.actor,
                **fields,
                **lock,
            }
        )
        if fields.get("locked"):
            resource._internal["lock_token"] = context.lock_token
        return resource

    def _changed(self, resource: M, request: Any, context: Context, *, non_nullable: Iterable[str] = ()) -> M:
        """Apply a PATCH body: lock rules first (for lockable resources), then the supplied fields."""
        now = self.env.now()
        changes = patch_fields(request, non_nullable=non_nullable)
        locked = getattr(resource, "locked", None)
        if locked is None:
            return updated(resource, changes, context, now)
        unlocking_only = request.model_fields_set == {"locked"} and request.locked is False
        if not unlocking_only or resource._internal.get("lock_token") is not None:
            check_unlocked(
                LockState(locked), resource._internal, context, what=f"{self.kind.name} {resource.id}"
            )
        lock_fields, lock_internal = lock_changes(locked, request.locked, context, now)
        new = updated(resource, {**changes, **lock_fields}, context, now)
        new._internal.update(lock_internal)
        return new

    def get(self, resource_id: UUID) -> M:
        return self.repository.get(self.kind, resource_id)


class GroupService(ResourceService[Group]):
    kind = GROUP

    def list(self, params: GroupListParams) -> tuple[int, list[Group]]:
        return list_page(self.repository, GROUP, params)

    def create(self, request: GroupCreateRequest, context: Context) -> Group:
        group = self._new(context, request.model_dump())
        self.repository.create(GROUP, group)
        return group

    def update(self, group_id: UUID, request: GroupUpdateRequest, context: Context) -> Group:
        group = self.get(group_id)
        new = self._changed(group, request, context, non_nullable=("name",))
        return self.repository.replace(GROUP, group, new)

    def delete(self, group_id: UUID, context: Context) -> None:
        group = self.get(group_id)
        check_unlocked(group, group._internal, context, what=f"group {group_id}")
        self.repository.delete(
            GROUP, group, WriteConditions(require_empty=(Counter(str(group_id), LOG.name),))
        )


class LogService(ResourceService[Log]):
    kind = LOG

    def __init__(
        self,
        repository: ResourceRepository,
        environment: Environment | None = None,
        *,
        labels: LabelIndex | None = None,
        children: Sequence[LogChildren] = (),
    ) -> None:
        super().__init__(repository, environment)
        self.labels = labels
        self.children = tuple(children)

    def list(self, params: LogListParams) -> tuple[int, list[Log]]:
        only = None
        if params.tag_label_ids_includes and self.labels is not None:
            only = self.labels.logs_with_labels(params.tag_label_ids_includes)
        return list_page(
            self.repository,
            LOG,
            params,
            parent_id=params.group_id,
            only=only,
            ignored=frozenset({"tag_label_ids_includes"}) if self.labels is not None else frozenset(),
        )

    def _counters(self, log: Log) -> tuple[Counter, Counter]:
        return (
            Counter(
                DATASTORE_SCOPE,
                LOG.name,
                self.env.limits.max_logs_per_datastore,
                "max_logs_per_datastore",
            ),
            Counter(str(log.group_id), LOG.name),
        )

    def create(self, request: LogCreateRequest, context: Context) -> Log:
        log = self._new(context, request.model_dump())
        self.repository.create(
            LOG, log, WriteConditions(increment=self._counters(log), requires=((GROUP, log.group_id),))
        )
        return log

    def update(self, log_id: UUID, request: LogUpdateRequest, context: Context) -> Log:
        log = self.get(log_id)
        new = self._changed(log, request, context, non_nullable=("name", "group_id"))
        conditions = WriteConditions()
        if new.group_id != log.group_id:
            conditions = WriteConditions(
                increment=(Counter(str(new.group_id), LOG.name),),
                decrement=(Counter(str(log.group_id), LOG.name),),
                requires=((GROUP, new.group_id),),
            )
        saved = self.repository.replace(LOG, log, new, conditions)
        if new.group_id != log.group_id:
            self._move_children(saved)
        return saved

    def _move_children(self, log: Log) -> None:
        """Topics, ingestions, digestions and their parts carry their log's group id; they follow a
        moved log."""
        for topic in self.repository.list_resources(TOPIC, log.id):
            self._regroup(TOPIC, topic.id, log.group_id)
        for ingestion in self.repository.list_resources(INGESTION, log.id):
            self._regroup(INGESTION, ingestion.id, log.group_id)
            for part in self.repository.list_resources(INGESTION_PART, ingestion.id):
                self._regroup(INGESTION_PART, part.id, log.group_id)
        for digestion in self.repository.list_resources(DIGESTION, log.id):
            self._regroup(DIGESTION, digestion.id, log.group_id)
            for digestion_part in self.repository.list_resources(DIGESTION_PART, digestion.id):
                self._regroup(DIGESTION_PART, digestion_part.id, log.group_id)

    def _regroup(self, kind: ResourceKind[Any], resource_id: UUID, group_id: UUID) -> None:
        # Children are written concurrently (statistics, ingestion progress): re-read on conflict.
        def move(resource: Any) -> None:
            resource.group_id = group_id

        self.repository.update(kind, resource_id, move)

    def delete(self, log_id: UUID, context: Context) -> None:
        """Delete a log without topics or ingestions (409 otherwise), with its tags and queries."""
        log = self.get(log_id)
        check_unlocked(log, log._internal, context, what=f"log {log_id}")
        in_use = (
            Counter(str(log_id), TOPIC.name),
            Counter(str(log_id), INGESTION.name),
            Counter(str(log_id), DIGESTION.name),
        )
        for counter in in_use:
            # Checked before the children go, so a refused delete leaves them; the transaction checks again.
            if self.repository.count(counter) > 0:
                raise Conflict(f"{log_id} still has {counter.kind}s; delete them first.")
        for children in self.children:
            children.delete_log_children(log)
        self.repository.delete(LOG, log, WriteConditions(decrement=self._counters(log), require_empty=in_use))


class TopicService(ResourceService[Topic]):
    kind = TOPIC

    def __init__(
        self,
        repository: ResourceRepository,
        environment: Environment | None = None,
        *,
        records: TopicRecords | None = None,
        default_bucket_width_ns: int = 10_000_000_000,
    ) -> None:
        super().__init__(repository, environment)
        self.records = records
        self.default_bucket_width_ns = default_bucket_width_ns

    def list(self, params: TopicListParams) -> tuple[int, list[Topic]]:
        return list_page(self.repository, TOPIC, params, parent_id=params.log_id)

    def _counter(self, log_id: UUID) -> Counter:
        return Counter(str(log_id), TOPIC.name, self.env.limits.max_topics_per_log, "max_topics_per_log")

    def create(
        self, request: TopicCreateRequest, context: Context, *, bucket_width_ns: int | None = None
    ) -> Topic:
        log = self.repository.get(LOG, request.log_id)
        if request.associated_topic_id is not None:
            self.get(request.associated_topic_id)
        topic = self._new(context, {**request.model_dump(), "group_id": log.group_id})
        topic._internal["bucket_width_ns"] = bucket_width_ns or self.default_bucket_width_ns
        self.repository.create(
            TOPIC, topic, WriteConditions(increment=(self._counter(log.id),), requires=((LOG, log.id),))
        )
        return topic

    def update(self, topic_id: UUID, request: TopicUpdateRequest, context: Context) -> Topic:
        topic = self.get(topic_id)
        if request.associated_topic_id is not None:
            if request.associated_topic_id == topic_id:
                raise BadRequest("A topic cannot be associated with itself.")
            self.get(request.associated_topic_id)
        new = self._changed(topic, request, context, non_nullable=("name", "strict"))
        return self.repository.replace(TOPIC, topic, new)

    def delete(self, topic_id: UUID, context: Context) -> None:
        """Delete a topic with its records (taken out of the log's statistics first)."""
        topic = self.get(topic_id)
        check_unlocked(topic, topic._internal, context, what=f"topic {topic_id}")
        if self.records is not None:
            self.records.delete_topic_records(topic)
            topic = self.get(topic_id)
        self.repository.delete(TOPIC, topic, WriteConditions(decrement=(self._counter(topic.log_id),)))
