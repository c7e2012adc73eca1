"""``lqs.list``, ``lqs.create``, ``lqs.fetch``, ``lqs.update`` and ``lqs.delete``: one method per resource.

Names, argument order and return shapes are the official LogQS client's (``lqs.fetch.group(group_id)``,
``lqs.update.log(log_id, data={...})``...), so code written for it runs against this client unchanged.
Keyword arguments are checked against the API's own request models: a misspelt filter is a
``TypeError`` here, not a silently ignored query parameter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from pydantic import BaseModel

from openlqs.client.models import Object, ObjectList, ObjectPart, ObjectPartList
from openlqs.client.transport import error_from_response, quote_key
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
from openlqs.models.common import DataResponse, PaginatedResponse

if TYPE_CHECKING:
    from openlqs.client.client import LogQS
    from openlqs.client.models import (
        APIKey,
        Callback,
        Digestion,
        DigestionPart,
        DigestionTopic,
        Group,
        Hook,
        Ingestion,
        IngestionPart,
        Label,
        Log,
        ObjectStore,
        Query,
        Record,
        Tag,
        Topic,
        User,
        Workflow,
    )

T = TypeVar("T")
#: A page of a list route: ``data`` plus ``offset``, ``limit``, ``order``, ``sort`` and ``count``.
Page = PaginatedResponse
M = TypeVar("M", bound=BaseModel)


def _checked(method: str, given: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(model.model_fields))
    if unknown:
        raise TypeError(f"{method}() got unexpected keyword argument(s): {', '.join(unknown)}")
    return given


class _Verb:
    def __init__(self, client: LogQS) -> None:
        self._client = client

    @property
    def _resource(self) -> Any:
        return self._client.resource

    def _parse(self, model: type[M], response: Any) -> M:
        return model.model_validate_json(response.content)


class List(_Verb):
    """``lqs.list.<resource>(**filters)``: one page, with ``count`` unless ``include_count=False``."""

    def _page(
        self, path: str, resource: type[T], params_model: type[BaseModel], params: dict[str, Any]
    ) -> Page[T]:
        _checked(f"list.{path}", params, params_model)
        response = self._client.transport.api("GET", path, params=params)
        return self._parse(PaginatedResponse[resource], response)  # type: ignore[valid-type]

    def group(self, **params: Any) -> Page[Group]:
        return self._page("groups", self._resource.Group, resources.GroupListParams, params)

    def log(self, **params: Any) -> Page[Log]:
        return self._page("logs", self._resource.Log, resources.LogListParams, params)

    def topic(self, **params: Any) -> Page[Topic]:
        return self._page("topics", self._resource.Topic, resources.TopicListParams, params)

    def record(self, topic_id: UUID | str, **params: Any) -> Page[Record]:
        return self._page(
            f"topics/{topic_id}/records", self._resource.Record, records.RecordListParams, params
        )

    def ingestion(self, **params: Any) -> Page[Ingestion]:
        return self._page("ingestions", self._resource.Ingestion, ingestions.IngestionListParams, params)

    def ingestion_part(self, ingestion_id: UUID | str | None = None, **params: Any) -> Page[IngestionPart]:
        path = "ingestionParts" if ingestion_id is None else f"ingestions/{ingestion_id}/parts"
        return self._page(path, self._resource.IngestionPart, ingestions.IngestionPartListParams, params)

    def object_store(self, **params: Any) -> Page[ObjectStore]:
        return self._page("objectStores", self._resource.ObjectStore, objects.ObjectStoreListParams, params)

    def digestion(self, **params: Any) -> Page[Digestion]:
        return self._page("digestions", self._resource.Digestion, digestions.DigestionListParams, params)

    def digestion_topic(self, digestion_id: UUID | str | None = None, **params: Any) -> Page[DigestionTopic]:
        path = "digestionTopics" if digestion_id is None else f"digestions/{digestion_id}/topics"
        return self._page(path, self._resource.DigestionTopic, digestions.DigestionTopicListParams, params)

    def digestion_part(self, digestion_id: UUID | str | None = None, **params: Any) -> Page[DigestionPart]:
        """Parts of a digestion (or all), without their index: fetch a part for it."""
        path = "digestionParts" if digestion_id is None else f"digestions/{digestion_id}/parts"
        return self._page(path, self._resource.DigestionPart, digestions.DigestionPartListParams, params)

    # The official client's plural spellings.
    digestions = digestion
    digestion_topics = digestion_topic
    digestion_parts = digestion_part

    def api_key(self, **params: Any) -> Page[APIKey]:
        """API keys (admin only); secrets are never listed."""
        return self._page("apiKeys", self._resource.APIKey, api_keys.APIKeyListParams, params)

    def label(self, **params: Any) -> Page[Label]:
        return self._page("labels", self._resource.Label, labels.LabelListParams, params)

    def tag(self, log_id: UUID | str | None = None, **params: Any) -> Page[Tag]:
        """Tags of one log, or of every log (``label_id=``, time ranges...)."""
        path = "tags" if log_id is None else f"logs/{log_id}/tags"
        return self._page(path, self._resource.Tag, labels.TagListParams, params)

    def query(self, log_id: UUID | str | None = None, **params: Any) -> Page[Query]:
        path = "queries" if log_id is None else f"logs/{log_id}/queries"
        return self._page(path, self._resource.Query, queries.QueryListParams, params)

    def user(self, **params: Any) -> Page[User]:
        """Users (admin only)."""
        return self._page("users", self._resource.User, users.UserListParams, params)

    def workflow(self, **params: Any) -> Page[Workflow]:
        return self._page("workflows", self._resource.Workflow, workflows.WorkflowListParams, params)

    def hook(self, workflow_id: UUID | str | None = None, **params: Any) -> Page[Hook]:
        """Hooks of one workflow, or of all (``secret`` is never returned)."""
        path = "hooks" if workflow_id is None else f"workflows/{workflow_id}/hooks"
        return self._page(path, self._resource.Hook, workflows.HookListParams, params)

    def callback(self, **params: Any) -> Page[Callback]:
        return self._page("callbacks", self._resource.Callback, workflows.CallbackListParams, params)

    def log_object(self, log_id: UUID | str, **params: Any) -> ObjectList:
        """One page of a log's objects; ``continuation_token`` as in S3's ListObjectsV2."""
        params.pop("processing", None)  # accepted for compatibility: every upload state is listed
        _checked("list.log_object", params, objects.ObjectListParams)
        return self._parse(
            ObjectList, self._client.transport.api("GET", f"logs/{log_id}/objects", params=params)
        )

    def log_object_part(self, object_key: str, log_id: UUID | str, **params: Any) -> ObjectPartList:
        _checked("list.log_object_part", params, objects.ObjectPartListParams)
        path = f"logs/{log_id}/objects/{quote_key(object_key)}/parts"
        return self._parse(ObjectPartList, self._client.transport.api("GET", path, params=params))


class Fetch(_Verb):
    """``lqs.fetch.<resource>(id)``: ``{"data": resource}``."""

    def _one(self, path: str, resource: type[T], params: dict[str, Any] | None = None) -> DataResponse[T]:
        response = self._client.transport.api("GET", path, params=params)
        return self._parse(DataResponse[resource], response)  # type: ignore[valid-type]

    def group(self, group_id: UUID | str) -> DataResponse[Group]:
        return self._one(f"groups/{group_id}", self._resource.Group)

    def log(self, log_id: UUID | str) -> DataResponse[Log]:
        return self._one(f"logs/{log_id}", self._resource.Log)

    def topic(self, topic_id: UUID | str) -> DataResponse[Topic]:
        return self._one(f"topics/{topic_id}", self._resource.Topic)

    def record(
        self,
        timestamp: int,
        topic_id: UUID | str,
        include_auxiliary_data: bool = False,
        include_raw_data: bool = False,
        **params: Any,
    ) -> DataResponse[Record]:
        params = _checked("fetch.record", params, records.RecordFetchParams)
        params |= {"include_auxiliary_data": include_auxiliary_data, "include_raw_data": include_raw_data}
        return self._one(f"topics/{topic_id}/records/{timestamp}", self._resource.Record, params)

    def ingestion(self, ingestion_id: UUID | str) -> DataResponse[Ingestion]:
        return self._one(f"ingestions/{ingestion_id}", self._resource.Ingestion)

    def ingestion_part(
        self, ingestion_part_id: UUID | str, ingestion_id: UUID | str | None = None
    ) -> DataResponse[IngestionPart]:
        return self._one(_part_path(ingestion_part_id, ingestion_id), self._resource.IngestionPart)

    def object_store(self, object_store_id: UUID | str) -> DataResponse[ObjectStore]:
        return self._one(f"objectStores/{object_store_id}", self._resource.ObjectStore)

    def digestion(self, digestion_id: UUID | str) -> DataResponse[Digestion]:
        return self._one(f"digestions/{digestion_id}", self._resource.Digestion)

    def digestion_topic(
        self, digestion_topic_id: UUID | str, digestion_id: UUID | str | None = None
    ) -> DataResponse[DigestionTopic]:
        path = _digestion_child_path("topics", digestion_topic_id, digestion_id)
        return self._one(path, self._resource.DigestionTopic)

    def digestion_part(
        self, digestion_part_id: UUID | str, digestion_id: UUID | str | None = None
    ) -> DataResponse[DigestionPart]:
        """A part with its ``index`` (one entry per record, in the order of its blob's bytes)."""
        path = _digestion_child_path("parts", digestion_part_id, digestion_id)
        return self._one(path, self._resource.DigestionPart)

    def api_key(self, api_key_id: UUID | str) -> DataResponse[APIKey]:
        return self._one(f"apiKeys/{api_key_id}", self._resource.APIKey)

    def label(self, label_id: UUID | str) -> DataResponse[Label]:
        return self._one(f"labels/{label_id}", self._resource.Label)

    def tag(self, tag_id: UUID | str, log_id: UUID | str | None = None) -> DataResponse[Tag]:
        return self._one(_child_path("tags", tag_id, log_id), self._resource.Tag)

    def query(self, query_id: UUID | str, log_id: UUID | str | None = None) -> DataResponse[Query]:
        return self._one(_child_path("queries", query_id, log_id), self._resource.Query)

    def user(self, user_id: UUID | str) -> DataResponse[User]:
        return self._one(f"users/{user_id}", self._resource.User)

    def me(self) -> DataResponse[User | None]:
        """The user owning this client's key (``data`` is None for a key without a user)."""
        return self._one("users/me", self._resource.User | None)

    def workflow(self, workflow_id: UUID | str) -> DataResponse[Workflow]:
        return self._one(f"workflows/{workflow_id}", self._resource.Workflow)

    def hook(self, hook_id: UUID | str, workflow_id: UUID | str | None = None) -> DataResponse[Hook]:
        return self._one(_hook_path(hook_id, workflow_id), self._resource.Hook)

    def callback(self, callback_id: UUID | str) -> DataResponse[Callback]:
        return self._one(f"callbacks/{callback_id}", self._resource.Callback)

    def log_object(
        self,
        object_key: str,
        log_id: UUID | str,
        redirect: bool = False,
        offset: int | None = None,
        length: int | None = None,
    ) -> DataResponse[Object] | bytes:
        """The object's metadata (with a presigned URL), or with ``redirect=True`` its bytes.

        ``offset``/``length`` select a byte range of the bytes (a negative ``offset`` counts from the
        end). The redirect is followed without the API credentials: they are not the storage's.
        """
        return self._object(f"logs/{log_id}/objects/{quote_key(object_key)}", redirect, offset, length)

    def object(
        self,
        object_key: str,
        object_store_id: UUID | str,
        redirect: bool = False,
        offset: int | None = None,
        length: int | None = None,
    ) -> DataResponse[Object] | bytes:
        """An object of a registered object store: metadata, or its bytes (as ``log_object``)."""
        path = f"objectStores/{object_store_id}/objects/{quote_key(object_key)}"
        return self._object(path, redirect, offset, length)

    def _object(
        self, path: str, redirect: bool, offset: int | None, length: int | None
    ) -> DataResponse[Object] | bytes:
        if not redirect:
            return self._one(path, Object, {"offset": offset, "length": length})
        transport = self._client.transport
        response = transport.api("GET", path, params={"redirect": True}, allow_redirect_status=True)
        if response.is_redirect:
            if length == 0:
                return b""  # no Range can say "nothing": S3 would answer an invalid one with everything
            response = transport.send(
                "GET", response.headers["location"], headers=_range_header(offset, length)
            )
            if not response.is_success:
                raise error_from_response(response)
            if response.status_code == 206:
                # The storage cut the window; a suffix range (negative offset) cannot bound the length.
                return response.content if length is None else response.content[:length]
        return _window(response.content, offset, length)

    def log_object_part(
        self, object_key: str, part_number: int, log_id: UUID | str
    ) -> DataResponse[ObjectPart]:
        path = f"logs/{log_id}/objects/{quote_key(object_key)}/parts/{part_number}"
        return self._one(path, ObjectPart)


def _window(content: bytes, offset: int | None, length: int | None) -> bytes:
    """``length`` bytes of a whole object from ``offset`` (negative: from the end), as a Range would."""
    start = offset or 0
    if start < 0:
        start = max(0, len(content) + start)
    return content[start : None if length is None else start + length]


def _range_header(offset: int | None, length: int | None) -> dict[str, str]:
    if offset is None and length is None:
        return {}
    if offset is not None and offset < 0:
        return {"Range": f"bytes={offset}"}
    start = offset or 0
    end = "" if length is None else str(start + length - 1)
    return {"Range": f"bytes={start}-{end}"}


def _part_path(ingestion_part_id: UUID | str, ingestion_id: UUID | str | None) -> str:
    if ingestion_id is None:
        return f"ingestionParts/{ingestion_part_id}"
    return f"ingestions/{ingestion_id}/parts/{ingestion_part_id}"


def _hook_path(hook_id: UUID | str, workflow_id: UUID | str | None) -> str:
    return f"hooks/{hook_id}" if workflow_id is None else f"workflows/{workflow_id}/hooks/{hook_id}"


def _digestion_child_path(children: str, child_id: UUID | str, digestion_id: UUID | str | None) -> str:
    """``digestions/{id}/parts/{id}``, or the flat ``digestionParts/{id}`` without a digestion."""
    if digestion_id is None:
        return f"digestion{children.capitalize()}/{child_id}"
    return f"digestions/{digestion_id}/{children}/{child_id}"


def _lock(lock_token: str | None) -> dict[str, Any]:
    return {"lock_token": lock_token} if lock_token else {}


class Create(_Verb):
    """``lqs.create.<resource>(...)``: ``{"data": created resource}``."""

    def _create(
        self,
        path: str,
        resource: type[T],
        request: type[BaseModel],
        body: dict[str, Any],
        lock_token: str | None = None,
    ) -> DataResponse[T]:
        _checked(f"create.{path}", body, request)
        response = self._client.transport.api("POST", path, params=_lock(lock_token), body=body)
        return self._parse(DataResponse[resource], response)  # type: ignore[valid-type]

    def group(self, name: str, **fields: Any) -> DataResponse[Group]:
        return self._create(
            "groups", self._resource.Group, resources.GroupCreateRequest, {"name": name, **fields}
        )

    def log(
        self, group_id: UUID | str, name: str, lock_token: str | None = None, **fields: Any
    ) -> DataResponse[Log]:
        body = {"group_id": group_id, "name": name, **fields}
        return self._create("logs", self._resource.Log, resources.LogCreateRequest, body, lock_token)

    def topic(
        self, log_id: UUID | str, name: str, lock_token: str | None = None, **fields: Any
    ) -> DataResponse[Topic]:
        body = {"log_id": log_id, "name": name, **fields}
        return self._create("topics", self._resource.Topic, resources.TopicCreateRequest, body, lock_token)

    def record(
        self, timestamp: int, topic_id: UUID | str, lock_token: str | None = None, **fields: Any
    ) -> DataResponse[Record]:
        path = f"topics/{topic_id}/records"
        body = {"timestamp": timestamp, **fields}
        return self._create(path, self._resource.Record, records.RecordCreateRequest, body, lock_token)

    def ingestion(
        self, log_id: UUID | str, lock_token: str | None = None, **fields: Any
    ) -> DataResponse[Ingestion]:
        body = {"log_id": log_id, **fields}
        request = ingestions.IngestionCreateRequest
        return self._create("ingestions", self._resource.Ingestion, request, body, lock_token)

    def ingestion_part(
        self, ingestion_id: UUID | str, sequence: int, lock_token: str | None = None, **fields: Any
    ) -> DataResponse[IngestionPart]:
        path = f"ingestions/{ingestion_id}/parts"
        body = {"sequence": sequence, **fields}
        request = ingestions.IngestionPartCreateRequest
        return self._create(path, self._resource.IngestionPart, request, body, lock_token)

    def digestion(
        self, log_id: UUID | str, lock_token: str | None = None, **fields: Any
    ) -> DataResponse[Digestion]:
        """A digestion of a log (``context={"export": {"format": "mcap"}}`` asks for an export too);
        add its topics, then queue it (``update.digestion(id, data={"state": "queued"})``)."""
        body = {"log_id": log_id, **fields}
        request = digestions.DigestionCreateRequest
        return self._create("digestions", self._resource.Digestion, request, body, lock_token)

    def digestion_topic(
        self, digestion_id: UUID | str, topic_id: UUID | str, lock_token: str | None = None, **fields: Any
    ) -> DataResponse[DigestionTopic]:
        """A topic of the digestion's log, with ``start_time``/``end_time``, ``frequency`` and filters."""
        path = f"digestions/{digestion_id}/topics"
        body = {"topic_id": topic_id, **fields}
        request = digestions.DigestionTopicCreateRequest
        return self._create(path, self._resource.DigestionTopic, request, body, lock_token)

    def digestion_part(
        self, digestion_id: UUID | str, sequence: int, lock_token: str | None = None, **fields: Any
    ) -> DataResponse[DigestionPart]:
        path = f"digestions/{digestion_id}/parts"
        body = {"sequence": sequence, **fields}
        request = digestions.DigestionPartCreateRequest
        return self._create(path, self._resource.DigestionPart, request, body, lock_token)

    def object_store(self, bucket_name: str, **fields: Any) -> DataResponse[ObjectStore]:
        body = {"bucket_name": bucket_name, **fields}
        request = objects.ObjectStoreCreateRequest
        return self._create("objectStores", self._resource.ObjectStore, request, body)

    def api_key(self, name: str, role: str = "read", **fields: Any) -> DataResponse[APIKey]:
        """A new key; ``data.secret`` holds its secret, shown this once."""
        body = {"name": name, "role": role, **fields}
        return self._create("apiKeys", self._resource.APIKey, api_keys.APIKeyCreateRequest, body)

    def label(self, value: str, note: str | None = None, category: str | None = None) -> DataResponse[Label]:
        body = {"value": value, "note": note, "category": category}
        return self._create("labels", self._resource.Label, labels.LabelCreateRequest, body)

    def tag(
        self,
        label_id: UUID | str,
        log_id: UUID | str,
        topic_id: UUID | str | None = None,
        note: str | None = None,
        context: dict[str, Any] | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        lock_token: str | None = None,
    ) -> DataResponse[Tag]:
        """Tag a log, a topic of it, or a time range (nanoseconds; None: unbounded)."""
        body = {
            "label_id": str(label_id),
            "topic_id": None if topic_id is None else str(topic_id),
            "note": note,
            "context": context,
            "start_time": start_time,
            "end_time": end_time,
        }
        path = f"logs/{log_id}/tags"
        return self._create(path, self._resource.Tag, labels.TagCreateRequest, body, lock_token)

    def query(
        self,
        log_id: UUID | str,
        name: str | None = None,
        note: str | None = None,
        context: dict[str, Any] | None = None,
        statement: str | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> DataResponse[Query]:
        """A query of one log; its SQL runs now and the result is in ``data.rows`` (or ``data.error``)."""
        body = {
            "name": name,
            "note": note,
            "context": context,
            "statement": statement,
            "parameters": parameters,
        }
        return self._create(f"logs/{log_id}/queries", self._resource.Query, queries.QueryCreateRequest, body)

    def user(self, username: str, **fields: Any) -> DataResponse[User]:
        """A new user (admin only); ``password`` is write-only."""
        body = {"username": username, **fields}
        return self._create("users", self._resource.User, users.UserCreateRequest, body)

    def workflow(self, name: str, **fields: Any) -> DataResponse[Workflow]:
        """A workflow; ``process_type`` defaults to ``digestion`` (as in the official client)."""
        body = {"name": name, **fields}
        return self._create("workflows", self._resource.Workflow, workflows.WorkflowCreateRequest, body)

    def hook(
        self, workflow_id: UUID | str, trigger_process: str, trigger_state: str, **fields: Any
    ) -> DataResponse[Hook]:
        """A hook of a workflow: POSTed to when its processes of ``trigger_process`` enter ``trigger_state``
        (``uri``; ``secret`` signs the deliveries and is never returned)."""
        body = {"trigger_process": trigger_process, "trigger_state": trigger_state, **fields}
        request = workflows.HookForWorkflowCreateRequest
        return self._create(f"workflows/{workflow_id}/hooks", self._resource.Hook, request, body)

    def callback(self, name: str, **fields: Any) -> DataResponse[Callback]:
        body = {"name": name, **fields}
        return self._create("callbacks", self._resource.Callback, workflows.CallbackCreateRequest, body)

    def log_object(self, key: str, log_id: UUID | str, **fields: Any) -> DataResponse[Object]:
        """Start a multipart upload of ``key``; parts come from ``log_object_part``."""
        body = {"key": key, **fields}
        return self._create(f"logs/{log_id}/objects", Object, objects.ObjectCreateRequest, body)

    def log_object_part(
        self, object_key: str, size: int, log_id: UUID | str, part_number: int | None = None
    ) -> DataResponse[ObjectPart]:
        """A presigned URL to PUT one part to (generated now, so it is fresh)."""
        path = f"logs/{log_id}/objects/{quote_key(object_key)}/parts"
        body = {"size": size, "part_number": part_number}
        return self._create(path, ObjectPart, objects.ObjectPartCreateRequest, body)


class Update(_Verb):
    """``lqs.update.<resource>(id, data={...})``: ``{"data": updated resource}``."""

    def _update(
        self,
        path: str,
        resource: type[T],
        request: type[BaseModel],
        data: dict[str, Any],
        lock_token: str | None = None,
    ) -> DataResponse[T]:
        _checked(f"update.{path}", data, request)
        response = self._client.transport.api("PATCH", path, params=_lock(lock_token), body=data)
        return self._parse(DataResponse[resource], response)  # type: ignore[valid-type]

    def group(
        self, group_id: UUID | str, data: dict[str, Any], lock_token: str | None = None
    ) -> DataResponse[Group]:
        return self._update(
            f"groups/{group_id}", self._resource.Group, resources.GroupUpdateRequest, data, lock_token
        )

    def log(
        self, log_id: UUID | str, data: dict[str, Any], lock_token: str | None = None
    ) -> DataResponse[Log]:
        return self._update(
            f"logs/{log_id}", self._resource.Log, resources.LogUpdateRequest, data, lock_token
        )

    def topic(
        self, topic_id: UUID | str, data: dict[str, Any], lock_token: str | None = None
    ) -> DataResponse[Topic]:
        return self._update(
            f"topics/{topic_id}", self._resource.Topic, resources.TopicUpdateRequest, data, lock_token
        )

    def record(
        self, timestamp: int, topic_id: UUID | str, data: dict[str, Any], lock_token: str | None = None
    ) -> DataResponse[Record]:
        path = f"topics/{topic_id}/records/{timestamp}"
        return self._update(path, self._resource.Record, records.RecordUpdateRequest, data, lock_token)

    def ingestion(
        self, ingestion_id: UUID | str, data: dict[str, Any], lock_token: str | None = None
    ) -> DataResponse[Ingestion]:
        path = f"ingestions/{ingestion_id}"
        return self._update(
            path, self._resource.Ingestion, ingestions.IngestionUpdateRequest, data, lock_token
        )

    def ingestion_part(
        self,
        ingestion_part_id: UUID | str,
        data: dict[str, Any],
        ingestion_id: UUID | str | None = None,
        lock_token: str | None = None,
    ) -> DataResponse[IngestionPart]:
        path = _part_path(ingestion_part_id, ingestion_id)
        request = ingestions.IngestionPartUpdateRequest
        return self._update(path, self._resource.IngestionPart, request, data, lock_token)

    def digestion(
        self, digestion_id: UUID | str, data: dict[str, Any], lock_token: str | None = None
    ) -> DataResponse[Digestion]:
        path = f"digestions/{digestion_id}"
        request = digestions.DigestionUpdateRequest
        return self._update(path, self._resource.Digestion, request, data, lock_token)

    def digestion_topic(
        self,
        digestion_topic_id: UUID | str,
        data: dict[str, Any],
        digestion_id: UUID | str | None = None,
        lock_token: str | None = None,
    ) -> DataResponse[DigestionTopic]:
        path = _digestion_child_path("topics", digestion_topic_id, digestion_id)
        request = digestions.DigestionTopicUpdateRequest
        return self._update(path, self._resource.DigestionTopic, request, data, lock_token)

    def digestion_part(
        self,
        digestion_part_id: UUID | str,
        data: dict[str, Any],
        digestion_id: UUID | str | None = None,
        lock_token: str | None = None,
    ) -> DataResponse[DigestionPart]:
        path = _digestion_child_path("parts", digestion_part_id, digestion_id)
        request = digestions.DigestionPartUpdateRequest
        return self._update(path, self._resource.DigestionPart, request, data, lock_token)

    def object_store(self, object_store_id: UUID | str, data: dict[str, Any]) -> DataResponse[ObjectStore]:
        path = f"objectStores/{object_store_id}"
        return self._update(path, self._resource.ObjectStore, objects.ObjectStoreUpdateRequest, data)

    def label(self, label_id: UUID | str, data: dict[str, Any]) -> DataResponse[Label]:
        return self._update(f"labels/{label_id}", self._resource.Label, labels.LabelUpdateRequest, data)

    def tag(
        self,
        tag_id: UUID | str,
        data: dict[str, Any],
        log_id: UUID | str | None = None,
        lock_token: str | None = None,
    ) -> DataResponse[Tag]:
        path = _child_path("tags", tag_id, log_id)
        return self._update(path, self._resource.Tag, labels.TagUpdateRequest, data, lock_token)

    def query(
        self,
        query_id: UUID | str,
        data: dict[str, Any],
        log_id: UUID | str | None = None,
        lock_token: str | None = None,
    ) -> DataResponse[Query]:
        """Change a query; a new statement or parameters run again."""
        path = _child_path("queries", query_id, log_id)
        return self._update(path, self._resource.Query, queries.QueryUpdateRequest, data, lock_token)

    def user(self, user_id: UUID | str, data: dict[str, Any]) -> DataResponse[User]:
        return self._update(f"users/{user_id}", self._resource.User, users.UserUpdateRequest, data)

    def api_key(self, api_key_id: UUID | str, data: dict[str, Any]) -> DataResponse[APIKey]:
        """Rename a key, change its role, or disable it (``data={"disabled": True}``)."""
        return self._update(
            f"apiKeys/{api_key_id}", self._resource.APIKey, api_keys.APIKeyUpdateRequest, data
        )

    def workflow(self, workflow_id: UUID | str, data: dict[str, Any]) -> DataResponse[Workflow]:
        path = f"workflows/{workflow_id}"
        return self._update(path, self._resource.Workflow, workflows.WorkflowUpdateRequest, data)

    def hook(
        self, hook_id: UUID | str, data: dict[str, Any], workflow_id: UUID | str | None = None
    ) -> DataResponse[Hook]:
        path = _hook_path(hook_id, workflow_id)
        return self._update(path, self._resource.Hook, workflows.HookUpdateRequest, data)

    def callback(self, callback_id: UUID | str, data: dict[str, Any]) -> DataResponse[Callback]:
        path = f"callbacks/{callback_id}"
        return self._update(path, self._resource.Callback, workflows.CallbackUpdateRequest, data)

    def log_object(self, log_id: UUID | str, object_key: str, data: dict[str, Any]) -> DataResponse[Object]:
        """``data={"upload_state": "complete"}`` completes an upload; ``"aborted"`` aborts it."""
        path = f"logs/{log_id}/objects/{quote_key(object_key)}"
        return self._update(path, Object, objects.ObjectUpdateRequest, data)


class Delete(_Verb):
    """``lqs.delete.<resource>(id)``: returns None (the API answers 204)."""

    def _delete(self, path: str, lock_token: str | None = None) -> None:
        self._client.transport.api("DELETE", path, params=_lock(lock_token))

    def group(self, group_id: UUID | str, lock_token: str | None = None) -> None:
        self._delete(f"groups/{group_id}", lock_token)

    def log(self, log_id: UUID | str, lock_token: str | None = None) -> None:
        self._delete(f"logs/{log_id}", lock_token)

    def topic(self, topic_id: UUID | str, lock_token: str | None = None) -> None:
        self._delete(f"topics/{topic_id}", lock_token)

    def record(self, timestamp: int, topic_id: UUID | str, lock_token: str | None = None) -> None:
        self._delete(f"topics/{topic_id}/records/{timestamp}", lock_token)

    def ingestion(self, ingestion_id: UUID | str, lock_token: str | None = None) -> None:
        self._delete(f"ingestions/{ingestion_id}", lock_token)

    def ingestion_part(
        self,
        ingestion_part_id: UUID | str,
        ingestion_id: UUID | str | None = None,
        lock_token: str | None = None,
    ) -> None:
        self._delete(_part_path(ingestion_part_id, ingestion_id), lock_token)

    def digestion(self, digestion_id: UUID | str, lock_token: str | None = None) -> None:
        """Delete a digestion with its topics, parts, blobs and export."""
        self._delete(f"digestions/{digestion_id}", lock_token)

    def digestion_topic(
        self,
        digestion_topic_id: UUID | str,
        digestion_id: UUID | str | None = None,
        lock_token: str | None = None,
    ) -> None:
        self._delete(_digestion_child_path("topics", digestion_topic_id, digestion_id), lock_token)

    def digestion_part(
        self,
        digestion_part_id: UUID | str,
        digestion_id: UUID | str | None = None,
        lock_token: str | None = None,
    ) -> None:
        self._delete(_digestion_child_path("parts", digestion_part_id, digestion_id), lock_token)

    def object_store(self, object_store_id: UUID | str) -> None:
        self._delete(f"objectStores/{object_store_id}")

    def log_object(self, log_id: UUID | str, object_key: str) -> None:
        self._delete(f"logs/{log_id}/objects/{quote_key(object_key)}")

    def workflow(self, workflow_id: UUID | str) -> None:
        """Delete a workflow (refused while it has hooks)."""
        self._delete(f"workflows/{workflow_id}")

    def hook(self, hook_id: UUID | str, workflow_id: UUID | str | None = None) -> None:
        self._delete(_hook_path(hook_id, workflow_id))

    def callback(self, callback_id: UUID | str) -> None:
        self._delete(f"callbacks/{callback_id}")

    def api_key(self, api_key_id: UUID | str) -> None:
        """Revoke a key for good (disabling it is the reversible way)."""
        self._delete(f"apiKeys/{api_key_id}")

    def label(self, label_id: UUID | str) -> None:
        """Delete a label (refused while tags use it)."""
        self._delete(f"labels/{label_id}")

    def tag(
        self, tag_id: UUID | str, log_id: UUID | str | None = None, lock_token: str | None = None
    ) -> None:
        self._delete(_child_path("tags", tag_id, log_id), lock_token)

    def query(
        self, query_id: UUID | str, log_id: UUID | str | None = None, lock_token: str | None = None
    ) -> None:
        self._delete(_child_path("queries", query_id, log_id), lock_token)

    def user(self, user_id: UUID | str) -> None:
        self._delete(f"users/{user_id}")


def _child_path(kind: str, child_id: UUID | str, log_id: UUID | str | None) -> str:
    """``logs/{log}/{kind}/{id}`` when the log is named, else the flat ``{kind}/{id}``."""
    return f"{kind}/{child_id}" if log_id is None else f"logs/{log_id}/{kind}/{child_id}"
