"""Labels and tags (contract §3): the rules, and the label index kept with every tag write.

A label is unique per (category, value): a guard item in the create's transaction (decision 6). A tag
belongs to one log (and optionally one topic of it) and counts, in its own transaction, in two places:
its label's tag counter (a label still in use cannot be deleted) and the label index entry of (label,
log), which ``GET logs?tag_label_ids_includes=`` reads instead of the tags. A tag's log guards it:
changing a tag of a locked log needs the log's ``lock_token`` (423 otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from openlqs.domain.common import Context, Environment, check_unlocked
from openlqs.domain.ports import Counter, LabelledLog, ResourceKind, ResourceRepository, WriteConditions
from openlqs.domain.resources import LOG, TOPIC, ResourceService, list_page
from openlqs.errors import BadRequest, NotFound
from openlqs.models.labels import (
    Label,
    LabelCreateRequest,
    LabelListParams,
    LabelUpdateRequest,
    Tag,
    TagCreateRequest,
    TagListParams,
    TagUpdateRequest,
)
from openlqs.models.records import RecordListParams
from openlqs.models.resources import Log, Topic

LABEL = ResourceKind("label", Label, unique_field="value", unique_scope_field="category")
TAG = ResourceKind("tag", Tag, parent_field="log_id")


def _label_tags(label_id: UUID) -> Counter:
    """How many tags use a label (a label in use cannot be deleted)."""
    return Counter(str(label_id), TAG.name)


class LabelService(ResourceService[Label]):
    kind = LABEL

    def list(self, params: LabelListParams) -> tuple[int, list[Label]]:
        return list_page(self.repository, LABEL, params)

    def create(self, request: LabelCreateRequest, context: Context) -> Label:
        label = self._new(context, request.model_dump())
        self.repository.create(LABEL, label)
        return label

    def update(self, label_id: UUID, request: LabelUpdateRequest, context: Context) -> Label:
        label = self.get(label_id)
        new = self._changed(label, request, context, non_nullable=("value",))
        return self.repository.replace(LABEL, label, new)

    def delete(self, label_id: UUID, context: Context) -> None:
        """Delete a label no tag uses (409 otherwise: delete or relabel its tags first)."""
        label = self.get(label_id)
        self.repository.delete(LABEL, label, WriteConditions(require_empty=(_label_tags(label_id),)))


class TagService(ResourceService[Tag]):
    kind = TAG

    def __init__(self, repository: ResourceRepository, environment: Environment | None = None) -> None:
        super().__init__(repository, environment)

    def list(self, params: TagListParams, *, log_id: UUID | None = None) -> tuple[int, list[Tag]]:
        """Tags of one log (``logs/{id}/tags`` or ``log_id=``), else of every log."""
        parent = log_id or params.log_id
        if log_id is not None:
            params = params.model_copy(update={"log_id": log_id})
        return list_page(self.repository, TAG, params, parent_id=parent)

    def get_in(self, tag_id: UUID, log_id: UUID | None) -> Tag:
        """The tag, or 404 when it is not one of ``log_id``'s (a nested route names its log)."""
        tag = self.get(tag_id)
        if log_id is not None and tag.log_id != log_id:
            raise NotFound(f"Tag {tag_id} not found in log {log_id}.")
        return tag

    def create(self, log_id: UUID, request: TagCreateRequest, context: Context) -> Tag:
        log = self.repository.get(LOG, log_id)
        check_unlocked(log, log._internal, context, what=f"log {log_id}")
        self._check_label(request.label_id)
        if request.topic_id is not None:
            self._check_topic(request.topic_id, log)
        tag = self._new(context, {**request.model_dump(), "log_id": log_id})
        entry = LabelledLog(tag.label_id, log_id)
        self.repository.create(
            TAG,
            tag,
            WriteConditions(
                increment=(_label_tags(tag.label_id),),
                requires=((LOG, log_id), (LABEL, tag.label_id)),
                labelled_logs=((entry, 1),),
            ),
        )
        return tag

    def update(
        self, tag_id: UUID, request: TagUpdateRequest, context: Context, log_id: UUID | None = None
    ) -> Tag:
        tag = self.get_in(tag_id, log_id)
        log = self.repository.get(LOG, tag.log_id)
        check_unlocked(log, log._internal, context, what=f"log {tag.log_id}")
        new = self._changed(tag, request, context, non_nullable=("label_id",))
        if new.start_time is not None and new.end_time is not None and new.start_time > new.end_time:
            raise BadRequest(
                f"start_time ({new.start_time}) is after end_time ({new.end_time}) of tag {tag_id}."
            )
        if new.topic_id is not None and new.topic_id != tag.topic_id:
            self._check_topic(new.topic_id, log)
        if new.label_id == tag.label_id:
            return self.repository.replace(TAG, tag, new)
        self._check_label(new.label_id)
        old_entry, new_entry = LabelledLog(tag.label_id, tag.log_id), LabelledLog(new.label_id, tag.log_id)
        saved = self.repository.replace(
            TAG,
            tag,
            new,
            WriteConditions(
                increment=(_label_tags(new.label_id),),
                decrement=(_label_tags(tag.label_id),),
                requires=((LABEL, new.label_id),),
                labelled_logs=((new_entry, 1), (old_entry, -1)),
            ),
        )
        self.repository.forget_labelled_log(old_entry)
        return saved

    def delete(self, tag_id: UUID, context: Context, log_id: UUID | None = None) -> None:
        tag = self.get_in(tag_id, log_id)
        log = self.repository.find(LOG, tag.log_id)
        if log is not None:
            check_unlocked(log, log._internal, context, what=f"log {tag.log_id}")
        self._delete(tag)

    def _delete(self, tag: Tag) -> None:
        entry = LabelledLog(tag.label_id, tag.log_id)
        self.repository.delete(
            TAG,
            tag,
            WriteConditions(decrement=(_label_tags(tag.label_id),), labelled_logs=((entry, -1),)),
        )
        self.repository.forget_labelled_log(entry)

    def delete_log_children(self, log: Log) -> None:
        """Delete every tag of a log that is being deleted (its lock was checked by the log's delete)."""
        for tag in self.repository.list_resources(TAG, log.id):
            self._delete(tag)

    def logs_with_labels(self, label_ids: Sequence[UUID]) -> set[UUID]:
        """The logs carrying every one of ``label_ids``, from the label index."""
        found: set[UUID] | None = None
        for label_id in dict.fromkeys(label_ids):
            logs = self.repository.labelled_logs(label_id)
            found = logs if found is None else found & logs
            if not found:
                return set()
        return found or set()

    def record_window(self, tag_id: UUID, topic: Topic, params: RecordListParams) -> RecordListParams:
        """``params`` narrowed to a tag's time range (``tag_id`` of a record list). The tag must mark
        this topic, or its whole log."""
        tag = self.repository.find(TAG, tag_id)
        if tag is None:
            raise NotFound(f"tag_id: Tag {tag_id} not found.")
        if tag.topic_id is not None and tag.topic_id != topic.id:
            raise BadRequest(f"tag_id: tag {tag_id} marks topic {tag.topic_id}, not topic {topic.id}.")
        if tag.log_id != topic.log_id:
            raise BadRequest(
                f"tag_id: tag {tag_id} marks log {tag.log_id}, not the topic's log {topic.log_id}."
            )
        low, high = params.timestamp_gte, params.timestamp_lte
        if tag.start_time is not None:
            low = tag.start_time if low is None else max(low, tag.start_time)
        if tag.end_time is not None:
            high = tag.end_time if high is None else min(high, tag.end_time)
        return params.model_copy(update={"tag_id": None, "timestamp_gte": low, "timestamp_lte": high})

    def _check_label(self, label_id: UUID) -> None:
        if self.repository.find(LABEL, label_id) is None:
            raise NotFound(f"label_id: Label {label_id} not found.")

    def _check_topic(self, topic_id: UUID, log: Log) -> None:
        topic = self.repository.find(TOPIC, topic_id)
        if topic is None:
            raise NotFound(f"topic_id: Topic {topic_id} not found.")
        if topic.log_id != log.id:
            raise BadRequest(
                f"topic_id: topic {topic_id} belongs to log {topic.log_id}, not to log {log.id}."
            )
