"""Resource models of the client: the wire models plus the LogQS resource methods.

``lqs.resource.Group`` and friends are subclasses bound to one client (``LogQS.resource``), so two
clients pointed at two deployments never share state. Every resource returned by a client is an
instance of that client's bound class, so ``lqs.fetch.group(...).data.update(note=...)`` works too.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Self, cast
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from openlqs.errors import NotFound
from openlqs.models import (
    api_keys,
    digestions,
    ingestions,
    labels,
    objects,
    queries,
    records,
    resources,
    users,
    workflows,
)
from openlqs.models.common import CommonListParams

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from openlqs.client.client import LogQS
    from openlqs.client.interface import Page

#: Page size used when a helper reads every page (the API's largest ``limit``).
PAGE_SIZE = 1000


def iterate_pages(
    list_page: Callable[..., Page[Any]], limit: int | None = None, **params: Any
) -> Iterator[Any]:
    """Every item of a list route, page by page (``offset`` paging), up to ``limit`` items if given."""
    offset = params.pop("offset", 0)
    remaining = limit
    while remaining is None or remaining > 0:
        page_size = PAGE_SIZE if remaining is None else min(PAGE_SIZE, remaining)
        page = list_page(**params, offset=offset, limit=page_size, include_count=False)
        yield from page.data
        if len(page.data) < page_size:
            return
        offset += len(page.data)
        if remaining is not None:
            remaining -= len(page.data)


#: Enums stay enums, as in the official client: ``ingestion.state`` is ``<ProcessState.completed:
#: 'completed'>`` (equal to ``"completed"`` and printed as it), ``topic.type_encoding`` a ``TypeEncoding``.
#: Set on each resource class: pydantic takes a model's config from its last base (the wire model).
ENUMS_KEPT = ConfigDict(use_enum_values=False)


class Resource(BaseModel):
    """The LogQS resource methods, mixed into a wire model.

    ``_client`` is set on the per-client subclasses that ``LogQS.resource`` creates; ``_verb`` names the
    resource in ``lqs.list``/``fetch``/... and ``_friendly_field`` is what ``fetch("Demo Group")`` matches.
    """

    _client: ClassVar[LogQS | None] = None
    _verb: ClassVar[str]
    _repr_fields: ClassVar[tuple[str, ...]] = ("id", "name")
    _friendly_field: ClassVar[str | None] = "name"
    _list_params: ClassVar[type[CommonListParams]]

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name, None)}" for name in self._repr_fields)
        return f"<{type(self).__name__} {shown}>"

    __str__ = __repr__

    @classmethod
    def client(cls) -> LogQS:
        if cls._client is None:
            raise RuntimeError(f"{cls.__name__} is not bound to a client: use lqs.resource.{cls.__name__}")
        return cls._client

    # Class-level verbs -----------------------------------------------------------------------------

    @classmethod
    def fetch(cls, id_or_name: UUID | str | None = None, **filters: Any) -> Self:
        """Fetch by id, or else the newest resource whose friendly name (or ``filters``) match.

        ``Group.fetch("Demo Group")`` lists groups named "Demo Group", newest first, and returns the
        first; no match raises ``openlqs.errors.NotFound``.
        """
        resource_id = _as_uuid(id_or_name)
        if resource_id is not None:
            found: Self = getattr(cls.client().fetch, cls._verb)(resource_id).data
            return found
        if id_or_name is not None:
            if cls._friendly_field is None:
                raise ValueError(f"{cls.__name__} has no name: fetch it by id")
            filters[cls._friendly_field] = id_or_name
        if not filters:
            raise ValueError(f"{cls.__name__}.fetch needs an id, a name or filters")
        page = cls._list(**filters, order="created_at", sort="DESC", limit=1)
        if not page.data:
            described = ", ".join(f"{key}={value!r}" for key, value in filters.items())
            raise NotFound(f"No {cls.__name__} with {described}.")
        first: Self = page.data[0]
        return first

    @classmethod
    def fetch_or_create(cls, **fields: Any) -> Self:
        """The resource matching ``fields`` (those that are list filters), created only if none exists.

        Only "not found" leads to a create: any other error (a 401, a timeout) is raised as is.
        """
        filters = {key: value for key, value in fields.items() if key in cls._list_params.model_fields}
        try:
            return cls.fetch(**filters)
        except NotFound:
            return cls.create(**fields)

    @classmethod
    def create(cls, **fields: Any) -> Self:
        created: Self = getattr(cls.client().create, cls._verb)(**fields).data
        return created

    @classmethod
    def list(cls, **filters: Any) -> list[Self]:
        """One page of resources (``limit``, ``offset`` as in the API)."""
        return list(cls._list(**filters).data)

    @classmethod
    def iterate(cls, limit: int | None = None, **filters: Any) -> Iterator[Self]:
        """Every matching resource, page by page."""
        return iterate_pages(cls._list, limit=limit, **filters)

    @classmethod
    def _list(cls, **params: Any) -> Page[Self]:
        page: Page[Self] = getattr(cls.client().list, cls._verb)(**params)
        return page

    # Instance verbs --------------------------------------------------------------------------------

    def _key(self) -> dict[str, Any]:
        """The arguments that name this resource in ``fetch``/``update``/``delete``."""
        return {f"{self._verb}_id": getattr(self, "id")}  # noqa: B009 (every keyed resource has an id)

    def update(self, **fields: Any) -> Self:
        """PATCH the given fields and update this instance with the server's answer."""
        updated = getattr(self.client().update, self._verb)(**self._key(), data=fields).data
        self._assign(updated)
        return self

    def refresh(self) -> Self:
        """Read this resource again from the server."""
        self._assign(getattr(self.client().fetch, self._verb)(**self._key()).data)
        return self

    def delete(self) -> None:
        getattr(self.client().delete, self._verb)(**self._key())

    def _assign(self, other: Any) -> None:
        for name in type(self).model_fields:
            object.__setattr__(self, name, getattr(other, name))


def _as_uuid(value: UUID | str | None) -> UUID | None:
    if value is None or isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        return None


class Group(Resource, resources.Group):
    model_config = ENUMS_KEPT
    _verb = "group"
    _list_params = resources.GroupListParams

    def list_logs(self, **filters: Any) -> list[Log]:
        """Every log of this group (all pages)."""
        return list(iterate_pages(self.client().list.log, group_id=self.id, **filters))


class Log(Resource, resources.Log):
    model_config = ENUMS_KEPT
    _verb = "log"
    _list_params = resources.LogListParams

    def list_topics(self, **filters: Any) -> list[Topic]:
        """Every topic of this log (all pages), e.g. ``log.list_topics(type_name="tf/tfMessage")``."""
        return list(iterate_pages(self.client().list.topic, log_id=self.id, **filters))

    def list_ingestions(self, **filters: Any) -> list[Ingestion]:
        return list(iterate_pages(self.client().list.ingestion, log_id=self.id, **filters))

    def list_objects(self, prefix: str | None = None) -> list[Object]:
        """Every object of this log (S3-style listing, all pages)."""
        return self.client().utils.list_all_log_objects(self.id, prefix=prefix)

    def list_tags(self, **filters: Any) -> list[Tag]:
        """Every tag of this log (all pages)."""
        return list(iterate_pages(self.client().list.tag, log_id=self.id, **filters))

    def list_queries(self, **filters: Any) -> list[Query]:
        return list(iterate_pages(self.client().list.query, log_id=self.id, **filters))


class Topic(Resource, resources.Topic):
    model_config = ENUMS_KEPT
    _verb = "topic"
    _list_params = resources.TopicListParams

    def list_records(self, limit: int | None = None, **filters: Any) -> list[Record]:
        """The records of this topic in time order (all pages, or the first ``limit``)."""
        return list(iterate_pages(self.client().list.record, limit=limit, topic_id=self.id, **filters))


class Record(Resource, records.Record):
    """A record has no id: it is named by its topic and timestamp."""

    model_config = ENUMS_KEPT
    _verb = "record"
    _list_params = records.RecordListParams
    _repr_fields = ("timestamp", "topic_id", "log_id")
    _friendly_field = None

    @classmethod
    def fetch(
        cls, id_or_name: UUID | str | int | None = None, topic_id: UUID | str | None = None, **filters: Any
    ) -> Self:
        """``Record.fetch(timestamp, topic_id)``: the record at that timestamp."""
        if id_or_name is None or topic_id is None:
            raise ValueError("Record.fetch needs a timestamp and a topic_id")
        return cast(Self, cls.client().fetch.record(int(id_or_name), topic_id, **filters).data)

    @classmethod
    def fetch_or_create(cls, **fields: Any) -> Self:
        try:
            return cls.fetch(fields["timestamp"], fields["topic_id"])
        except NotFound:
            return cls.create(**fields)

    def _key(self) -> dict[str, Any]:
        return {"timestamp": self.timestamp, "topic_id": self.topic_id}

    def get_raw_data(self) -> bytes:
        """The message bytes: the ``raw_data`` the server sent when there is some (a record listed or
        fetched with ``include_raw_data=True``), otherwise read through this record's offsets."""
        if self.raw_data is not None:
            return base64.b64decode(self.raw_data)
        return self.client().utils.fetch_record_bytes(self)

    def get_auxiliary_data(self) -> dict[str, Any] | list[Any] | None:
        """``auxiliary_data`` (a preview for image topics), fetched with ``include_auxiliary_data=True``
        and kept on this record when it is not loaded yet; None when the record has none."""
        if self.auxiliary_data is None:
            fetched = self.client().fetch.record(self.timestamp, self.topic_id, include_auxiliary_data=True)
            self.auxiliary_data = fetched.data.auxiliary_data
        return self.auxiliary_data

    def load_auxiliary_data_image(self) -> PILImage | None:
        """The preview image of this record (needs Pillow); see ``lqs.utils.load_auxiliary_data_image``."""
        return self.client().utils.load_auxiliary_data_image(self)


class Ingestion(Resource, ingestions.Ingestion):
    model_config = ENUMS_KEPT
    _verb = "ingestion"
    _list_params = ingestions.IngestionListParams
    _repr_fields = ("id", "name", "state")

    def list_ingestion_parts(self, **filters: Any) -> list[IngestionPart]:
        return list(iterate_pages(self.client().list.ingestion_part, ingestion_id=self.id, **filters))


class IngestionPart(Resource, ingestions.IngestionPart):
    model_config = ENUMS_KEPT
    _verb = "ingestion_part"
    _list_params = ingestions.IngestionPartListParams
    _repr_fields = ("id", "sequence", "state")
    _friendly_field = None

    def _key(self) -> dict[str, Any]:
        return {"ingestion_part_id": self.id, "ingestion_id": self.ingestion_id}


class Digestion(Resource, digestions.Digestion):
    """A selection of a log's records, written by the server as parts (and an export on request)."""

    model_config = ENUMS_KEPT
    _verb = "digestion"
    _list_params = digestions.DigestionListParams
    _repr_fields = ("id", "name", "state")

    def list_digestion_topics(self, **filters: Any) -> list[DigestionTopic]:
        return list(iterate_pages(self.client().list.digestion_topic, digestion_id=self.id, **filters))

    def list_digestion_parts(self, **filters: Any) -> list[DigestionPart]:
        """Every part, in sequence order (creation order), without their indexes."""
        return list(iterate_pages(self.client().list.digestion_part, digestion_id=self.id, **filters))

    def fetch_log(self) -> Log:
        return self.client().fetch.log(self.log_id).data


class DigestionTopic(Resource, digestions.DigestionTopic):
    model_config = ENUMS_KEPT
    _verb = "digestion_topic"
    _list_params = digestions.DigestionTopicListParams
    _repr_fields = ("id", "topic_id", "start_time", "end_time")
    _friendly_field = None

    def _key(self) -> dict[str, Any]:
        return {"digestion_topic_id": self.id, "digestion_id": self.digestion_id}


class DigestionPart(Resource, digestions.DigestionPart):
    model_config = ENUMS_KEPT
    _verb = "digestion_part"
    _list_params = digestions.DigestionPartListParams
    _repr_fields = ("id", "sequence", "state")
    _friendly_field = None

    def _key(self) -> dict[str, Any]:
        return {"digestion_part_id": self.id, "digestion_id": self.digestion_id}


class ObjectStore(Resource, objects.ObjectStore):
    model_config = ENUMS_KEPT
    _verb = "object_store"
    _list_params = objects.ObjectStoreListParams
    _repr_fields = ("id", "name", "bucket_name")


class APIKey(Resource, api_keys.APIKey):
    model_config = ENUMS_KEPT
    _verb = "api_key"
    _list_params = api_keys.APIKeyListParams
    _repr_fields = ("id", "name", "role")


class Label(Resource, labels.Label):
    model_config = ENUMS_KEPT
    _verb = "label"
    _list_params = labels.LabelListParams
    _repr_fields = ("id", "category", "value")
    _friendly_field = "value"

    def list_tags(self, **filters: Any) -> list[Tag]:
        """Every tag of this label, in every log (all pages)."""
        return list(iterate_pages(self.client().list.tag, label_id=self.id, **filters))


class Tag(Resource, labels.Tag):
    model_config = ENUMS_KEPT
    _verb = "tag"
    _list_params = labels.TagListParams
    _repr_fields = ("id", "label_id", "log_id", "start_time", "end_time")
    _friendly_field = None

    def list_records(self, limit: int | None = None, **filters: Any) -> list[Record]:
        """The records of this tag's topic in its time range (a tag of a whole log has no one topic:
        pass the topic with ``topic_id=``)."""
        topic_id = filters.pop("topic_id", None) or self.topic_id
        if topic_id is None:
            raise ValueError("this tag marks a whole log: name a topic with topic_id=")
        return list(
            iterate_pages(
                self.client().list.record, limit=limit, topic_id=topic_id, tag_id=self.id, **filters
            )
        )


class Query(Resource, queries.Query):
    model_config = ENUMS_KEPT
    _verb = "query"
    _list_params = queries.QueryListParams
    _repr_fields = ("id", "name", "statement")


class User(Resource, users.User):
    model_config = ENUMS_KEPT
    _verb = "user"
    _list_params = users.UserListParams
    _repr_fields = ("id", "username", "admin")
    _friendly_field = "username"


class Workflow(Resource, workflows.Workflow):
    model_config = ENUMS_KEPT
    _verb = "workflow"
    _list_params = workflows.WorkflowListParams
    _repr_fields = ("id", "name", "process_type")

    def list_hooks(self, **filters: Any) -> list[Hook]:
        """Every hook of this workflow (all pages)."""
        return list(iterate_pages(self.client().list.hook, workflow_id=self.id, **filters))

    def list_ingestions(self, **filters: Any) -> list[Ingestion]:
        """Every ingestion that runs under this workflow (all pages)."""
        return list(iterate_pages(self.client().list.ingestion, workflow_id=self.id, **filters))


class Hook(Resource, workflows.Hook):
    """A hook; ``context["last_delivery"]`` says how its last delivery went."""

    model_config = ENUMS_KEPT
    _verb = "hook"
    _list_params = workflows.HookListParams
    _repr_fields = ("id", "trigger_process", "trigger_state", "uri")

    def fetch_workflow(self) -> Workflow:
        found: Workflow = self.client().fetch.workflow(self.workflow_id).data
        return found


class Callback(Resource, workflows.Callback):
    model_config = ENUMS_KEPT
    _verb = "callback"
    _list_params = workflows.CallbackListParams


class Object(objects.StoredObject):
    """A log object (or an object of a registered store): its key, size, state and a presigned URL."""

    model_config = ConfigDict(extra="ignore")

    def __repr__(self) -> str:
        return f"<Object key={self.key}, size={self.size}, upload_state={self.upload_state}>"


class ObjectPart(objects.ObjectPart):
    model_config = ConfigDict(extra="ignore")


#: The resource classes a client binds, by name.
RESOURCE_CLASSES: tuple[type[Resource], ...] = (
    Label,
    Tag,
    Query,
    User,
    Group,
    Log,
    Topic,
    Record,
    Ingestion,
    IngestionPart,
    ObjectStore,
    APIKey,
    Workflow,
    Hook,
    Callback,
    Digestion,
    DigestionTopic,
    DigestionPart,
)


class ObjectList(objects.ObjectListResponse):
    """One page of an S3-style object listing (``next_continuation_token`` leads to the next)."""

    model_config = ConfigDict(extra="ignore")
    data: list[Object]  # type: ignore[assignment]


class ObjectPartList(objects.ObjectPartListResponse):
    model_config = ConfigDict(extra="ignore")
    data: list[ObjectPart]  # type: ignore[assignment]
