"""Object stores (external S3-compatible buckets) and the object spaces of logs and stores."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from uuid import UUID

from openlqs.domain.common import Context, Environment
from openlqs.domain.object_keys import derived_prefix, log_prefix
from openlqs.domain.objects import ObjectSpace, delete_under, log_scope, store_scope
from openlqs.domain.ports import BlobStore, ResourceKind, ResourceRepository, SecretBox
from openlqs.domain.resources import LOG, ResourceService, list_page
from openlqs.domain.secrets import SealedSecrets, without_field
from openlqs.errors import Forbidden, OpenLQSError
from openlqs.models.ingestions import Ingestion
from openlqs.models.objects import (
    ObjectStore,
    ObjectStoreCreateRequest,
    ObjectStoreListParams,
    ObjectStoreUpdateRequest,
)

OBJECT_STORE = ResourceKind("object_store", ObjectStore, unique_field="name")

#: Builds a client for an object store from its settings and decrypted secret.
StoreBlobFactory = Callable[[ObjectStore, str | None], BlobStore]


class ObjectStoreService(ResourceService):
    """Registered buckets. ``secret_access_key`` is encrypted at rest and never returned."""

    kind = OBJECT_STORE

    def __init__(
        self,
        repository: ResourceRepository,
        secrets: SecretBox | None,
        environment: Environment | None = None,
    ) -> None:
        super().__init__(repository, environment)
        self.secrets = SealedSecrets(secrets, OBJECT_STORE)

    def secret_of(self, store: ObjectStore) -> str | None:
        return self.secrets.open(store)

    def list(self, params: ObjectStoreListParams) -> tuple[int, list[ObjectStore]]:
        return list_page(self.repository, OBJECT_STORE, params)

    def create(self, request: ObjectStoreCreateRequest, context: Context) -> ObjectStore:
        fields = request.model_dump(exclude={"secret_access_key"})
        store = self._new(context, fields)
        self.secrets.seal(store, request.secret_access_key)
        self.repository.create(OBJECT_STORE, store)
        return store

    def update(self, store_id: UUID, request: ObjectStoreUpdateRequest, context: Context) -> ObjectStore:
        store = self.get(store_id)
        secret_given = "secret_access_key" in request.model_fields_set
        plain = without_field(request, "secret_access_key")
        new = self._changed(
            store, plain, context, non_nullable=("bucket_name", "disabled", "read_only", "default")
        )
        if secret_given:
            self.secrets.seal(new, request.secret_access_key)
        return self.repository.replace(OBJECT_STORE, store, new)

    def delete(self, store_id: UUID, context: Context) -> None:
        self.repository.delete(OBJECT_STORE, self.get(store_id))


class ObjectSpaces:
    """Resolves where a log's or an object store's objects live."""

    def __init__(
        self,
        resources: ResourceRepository,
        managed: BlobStore,
        stores: ObjectStoreService,
        store_blobs: StoreBlobFactory,
        datastore_id: UUID,
    ) -> None:
        self.resources = resources
        self.managed = managed
        self.stores = stores
        self.store_blobs = store_blobs
        self.datastore_id = datastore_id

    def for_log(self, log_id: UUID) -> ObjectSpace:
        """The log's folder of the managed bucket; NotFound when there is no such log."""
        self.resources.get(LOG, log_id)
        return self.of_log(log_id)

    def of_log(self, log_id: UUID) -> ObjectSpace:
        """The folder of a log the caller knows exists (it read a resource of it), without reading it."""
        return ObjectSpace(
            scope=log_scope(log_id),
            prefix=log_prefix(self.datastore_id, log_id),
            blobs=self.managed,
            description=f"log {log_id}",
        )

    def for_ingestion(self, log_id: UUID, object_store_id: UUID | None) -> ObjectSpace:
        """Where an ingestion's object is: its object store's bucket, else its log's folder."""
        return self.for_store(object_store_id) if object_store_id is not None else self.for_log(log_id)

    def delete_derived(self, ingestion: Ingestion) -> list[str]:
        """Delete the objects the ingestion derived (``derived/{ingestion_id}/`` next to its object); the
        keys deleted. Only an ingestion of a log's own objects whose plan converts files derives objects
        (a plan's ``files`` with a ``derived_key``); for the others, and when the log is gone, nothing is
        asked of S3."""
        plan = ingestion._internal.get("plan") or {}
        converts = any(isinstance(f, dict) and f.get("derived_key") for f in plan.get("files") or [])
        if not ingestion.object_key or not converts or ingestion.object_store_id is not None:
            return []
        try:
            space = self.for_ingestion(ingestion.log_id, ingestion.object_store_id)
        except OpenLQSError:
            return []
        if space.read_only:
            return []
        return delete_under(space, derived_prefix(ingestion.object_key, ingestion.id))

    def for_store(self, store_id: UUID) -> ObjectSpace:
        store = self.stores.get(store_id)
        if store.disabled:
            raise Forbidden(f"Object store {store_id} is disabled.")
        prefix = store.key_prefix or ""
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return ObjectSpace(
            scope=store_scope(store_id),
            prefix=prefix.lstrip("/"),
            blobs=self.store_blobs(store, self.stores.secret_of(store)),
            description=f"object store {store_id}",
            read_only=store.read_only,
        )

    def exists(self, log_id: UUID, key: str) -> bool:
        """Whether a completed log object exists (ingestions may only read their own log's objects)."""
        space = self.for_log(log_id)
        return space.blobs.head(space.full_key(key)) is not None

    def exists_in_store(self, object_store_id: UUID, key: str) -> bool:
        space = self.for_store(object_store_id)
        return space.blobs.head(space.full_key(key)) is not None

    def fingerprint(self, log_id: UUID, key: str) -> str | None:
        """The content fingerprint of a log object (:func:`content_fingerprint`); None when it is missing."""
        space = self.for_log(log_id)
        return space_fingerprint(space.blobs, space.full_key(key))

    def fingerprint_in_store(self, object_store_id: UUID, key: str) -> str | None:
        space = self.for_store(object_store_id)
        return space_fingerprint(space.blobs, space.full_key(key))


#: How many bytes of each end of an object its fingerprint reads.
FINGERPRINT_SPAN = 1024 * 1024


def content_fingerprint(blobs: BlobStore, key: str, size: int) -> str:
    """What identifies a file's bytes whatever route stored it: its size and a SHA-256 of its first and
    last MiB (of all of it up to 2 MiB), read with at most two range reads.

    S3's ETag cannot do this: it depends on how the object was uploaded (one PUT, or multipart with the
    uploader's part size), and a server-side copy changes it. A log's header and its index (at the end
    of a bag; the summary of an MCAP file) name its connections, chunk offsets and times, so two
    different recordings of one size do not share both ends.
    """
    digest = hashlib.sha256(f"{size}:".encode())
    if 0 < size <= 2 * FINGERPRINT_SPAN:
        digest.update(blobs.read(key, 0, size - 1))
    elif size > 2 * FINGERPRINT_SPAN:
        digest.update(blobs.read(key, 0, FINGERPRINT_SPAN - 1))
        digest.update(blobs.read(key, size - FINGERPRINT_SPAN, size - 1))
    return f"{FINGERPRINT_ALGORITHM}:{digest.hexdigest()}"


#: Names the fingerprint's recipe, so that a later recipe never matches an earlier one by accident.
FINGERPRINT_ALGORITHM = "size-sha256-ends-1MiB"


def space_fingerprint(blobs: BlobStore, full_key: str) -> str | None:
    """The fingerprint of the object at ``full_key``, or None when there is none."""
    info = blobs.head(full_key)
    return None if info is None else content_fingerprint(blobs, full_key, info.size)
