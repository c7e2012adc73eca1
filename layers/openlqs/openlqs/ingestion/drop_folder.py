"""The drop folder: a file put at ``drop/{group name}/{log name}/{file}`` in ObjectsBucket is ingested.

Its group and log are fetched or created, the file is moved (server-side copy, then delete) to the log's
objects, and an ingestion is created in ``queued``. A file whose content the log already holds (or is
ingesting) is skipped, as the LogQS client's own sync skips ingested objects: no ingestion is created
and a warning names the ingestion that holds it (``IngestionService._refuse_duplicate``). The ingestion
id is derived from the dropped object's bucket, key and ETag, so the duplicate events S3 sends (a
multipart completion emits two, and delivery is at-least-once) create one ingestion.

A ROS 2 recording is dropped as a folder: ``drop/{group}/{log}/{run}/run_0.mcap``, …, and
``metadata.yaml``, which ``ros2 bag record`` (and ``upload_log_recording``) writes last. Its storage
files (``.mcap``, ``.db3``, ``.zstd`` in a sub-folder) are not ingested on their own: they wait in the
drop folder for their ``metadata.yaml``. When it arrives, the files it lists that are still on their way
are waited for (``recording_wait_s`` at most), then everything is moved into the log and one ingestion
of ``{run}/metadata.yaml`` is queued; a file still missing makes that ingestion fail naming it. A
storage file that arrives after its ``metadata.yaml`` is moved into the log beside it (queue the
ingestion again to take it in).
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from uuid import UUID, uuid5

from aws_lambda_powertools import Logger

from openlqs.domain.common import Context
from openlqs.domain.ingestions import IngestionService
from openlqs.domain.object_keys import validate_object_key
from openlqs.domain.object_stores import ObjectSpaces, content_fingerprint
from openlqs.domain.objects import ObjectSpace
from openlqs.domain.resources import GroupService, LogService
from openlqs.errors import BadLogFile, BadRequest, Conflict, DuplicateIngestion, NotFound
from openlqs.formats.rosbag2.metadata import parse_metadata, storage_files
from openlqs.models.common import ProcessState
from openlqs.models.ingestions import Ingestion, IngestionCreateRequest
from openlqs.models.resources import (
    Group,
    GroupCreateRequest,
    GroupListParams,
    Log,
    LogCreateRequest,
    LogListParams,
)

DROP_PREFIX = "drop/"
#: Namespace of ingestion ids derived from dropped objects.
DROP_NAMESPACE = UUID("4f1c6c55-0d7e-4d67-9a55-3f6a8f5c1d20")

#: The file that makes a dropped folder a ROS 2 recording, and what its storage files end with.
METADATA_NAME = "metadata.yaml"
STORAGE_SUFFIXES = (".mcap", ".db3", ".zstd")
#: How long a recording's metadata.yaml waits for the files it lists that are still being dropped.
RECORDING_WAIT_S = 120.0
RECORDING_POLL_S = 2.0

logger = Logger(service="openlqs")


@dataclass(frozen=True)
class DroppedFile:
    group_name: str
    log_name: str
    file_name: str


def parse_drop_key(key: str) -> DroppedFile | None:
    """``drop/{group}/{log}/{file}`` → its parts; None for any other key (nothing to do)."""
    if not key.startswith(DROP_PREFIX):
        return None
    parts = key[len(DROP_PREFIX) :].split("/", 2)
    if len(parts) != 3 or not all(parts):
        return None
    group_name, log_name, file_name = parts
    try:
        validate_object_key(file_name, what="dropped file name")
    except BadRequest:
        return None
    return DroppedFile(group_name, log_name, file_name)


def drop_ingestion_id(bucket: str, key: str, etag: str | None) -> UUID:
    return uuid5(DROP_NAMESPACE, f"{bucket}/{key}#{(etag or '').strip(chr(34))}")


class DropFolder:
    """Registers files dropped into ``bucket`` (the deployment's ObjectsBucket) as queued ingestions."""

    def __init__(
        self,
        groups: GroupService,
        logs: LogService,
        ingestions: IngestionService,
        spaces: ObjectSpaces,
        bucket: str,
        *,
        recording_wait_s: float = RECORDING_WAIT_S,
        recording_poll_s: float = RECORDING_POLL_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.groups = groups
        self.logs = logs
        self.ingestions = ingestions
        self.spaces = spaces
        self.bucket = bucket
        self.recording_wait_s = recording_wait_s
        self.recording_poll_s = recording_poll_s
        self.sleep = sleep

    def _group(self, name: str) -> Group:
        _, found = self.groups.list(GroupListParams(name=name, limit=1))
        if found:
            return found[0]
        try:
            return self.groups.create(GroupCreateRequest(name=name), Context())
        except Conflict:
            return self.groups.list(GroupListParams(name=name, limit=1))[1][0]

    def _log(self, group: Group, name: str) -> Log:
        _, found = self.logs.list(LogListParams(group_id=group.id, name=name, limit=1))
        if found:
            return found[0]
        try:
            return self.logs.create(LogCreateRequest(group_id=group.id, name=name), Context())
        except Conflict:
            return self.logs.list(LogListParams(group_id=group.id, name=name, limit=1))[1][0]

    def _existing(self, ingestion_id: UUID) -> Ingestion | None:
        try:
            return self.ingestions.get(ingestion_id)
        except NotFound:
            return None

    def register(self, *, bucket: str, key: str, etag: str | None, size: int | None) -> UUID | None:
        """Ingest a dropped file; returns its ingestion id (None when ``key`` is not a drop-folder file, or
        when its log already holds the file's records)."""
        if bucket != self.bucket:
            logger.warning("event for another bucket ignored", extra={"bucket": bucket})
            return None
        dropped = parse_drop_key(key)
        if dropped is None:
            logger.warning("not a drop-folder file; expected drop/{group}/{log}/{file}", extra={"key": key})
            return None
        ingestion_id = drop_ingestion_id(bucket, key, etag)
        if self._existing(ingestion_id) is not None:
            return ingestion_id
        folder, base = posixpath.split(dropped.file_name)
        if folder and base.endswith(STORAGE_SUFFIXES):
            self._recording_file(dropped, key, folder)
            return None
        log = self._log(self._group(dropped.group_name), dropped.log_name)
        space = self.spaces.for_log(log.id)
        if folder and base == METADATA_NAME:
            return self._recording(dropped, key, etag, size, log, space, ingestion_id)
        source = space.blobs.head(key)
        name = dropped.file_name
        target = space.blobs.head(space.full_key(name))
        if source is not None:
            # Contents, not ETags: an ETag depends on the upload's part size, and a server-side copy
            # changes it. A file of that name with other contents is kept, the new one beside it.
            same = (
                target is not None
                and target.size == source.size
                and content_fingerprint(space.blobs, key, source.size)
                == content_fingerprint(space.blobs, space.full_key(name), target.size)
            )
            if target is not None and not same:
                name = _target_name(name, source.etag)
            if not same:
                space.blobs.copy(key, space.full_key(name))
            space.blobs.delete(key)
        elif target is None:
            logger.warning("dropped file vanished before it was moved", extra={"key": key})
            return None
        drop = {"key": key, "etag": etag, "size": size}
        return self._queue(log, name, drop, ingestion_id, what="file")

    def _recording_file(self, dropped: DroppedFile, key: str, folder: str) -> None:
        """A storage file of a dropped recording: it waits for its metadata.yaml, unless that was taken
        into the log already (the file came late): then it joins it there."""
        _, found = self.groups.list(GroupListParams(name=dropped.group_name, limit=1))
        logs = (
            self.logs.list(LogListParams(group_id=found[0].id, name=dropped.log_name, limit=1))[1]
            if found
            else []
        )
        space = self.spaces.for_log(logs[0].id) if logs else None
        if space is None or space.blobs.head(space.full_key(f"{folder}/{METADATA_NAME}")) is None:
            logger.info("recording file waits for its metadata.yaml", extra={"key": key})
            return
        if space.blobs.head(key) is not None:
            space.blobs.copy(key, space.full_key(dropped.file_name))
            space.blobs.delete(key)
        logger.info("late recording file moved beside its metadata.yaml", extra={"key": key})

    def _recording(
        self,
        dropped: DroppedFile,
        key: str,
        etag: str | None,
        size: int | None,
        log: Log,
        space: ObjectSpace,
        ingestion_id: UUID,
    ) -> UUID | None:
        """A recording's metadata.yaml arrived: wait (bounded) for the files it lists, move them and it
        into the log, queue one ingestion of it. Files still missing are named by the ingestion's
        failure; a metadata.yaml that is not rosbag2's is ingested as it is, to fail saying why."""
        folder = posixpath.dirname(dropped.file_name)
        drop_folder = key[: -len(METADATA_NAME)]
        head = space.blobs.head(key)
        listed: list[str] = []
        if head is not None:
            try:
                metadata = parse_metadata(space.blobs.read(key, 0, head.size - 1) if head.size else b"")
                listed = [f.path for f in storage_files(metadata)]
            except BadLogFile as error:
                logger.warning(
                    "dropped metadata.yaml is not a recording's", extra={"key": key, "reason": error.detail}
                )
        deadline = time.monotonic() + self.recording_wait_s
        while True:
            missing = [
                path
                for path in listed
                if space.blobs.head(drop_folder + path) is None
                and space.blobs.head(space.full_key(f"{folder}/{path}")) is None
            ]
            if not missing or time.monotonic() >= deadline:
                break
            self.sleep(self.recording_poll_s)
        if missing:
            logger.warning(
                "recording files did not arrive in time", extra={"key": key, "missing": missing[:20]}
            )
        for path in listed:
            if path not in missing and space.blobs.head(drop_folder + path) is not None:
                space.blobs.copy(drop_folder + path, space.full_key(f"{folder}/{path}"))
                space.blobs.delete(drop_folder + path)
        name = f"{folder}/{METADATA_NAME}"
        if head is not None:
            space.blobs.copy(key, space.full_key(name))
            space.blobs.delete(key)
        elif space.blobs.head(space.full_key(name)) is None:
            logger.warning("dropped file vanished before it was moved", extra={"key": key})
            return None
        drop = {"key": key, "etag": etag, "size": size, "files": listed}
        return self._queue(log, name, drop, ingestion_id, what="recording")

    def _queue(
        self, log: Log, name: str, drop: dict[str, Any], ingestion_id: UUID, *, what: str
    ) -> UUID | None:
        """Queue the ingestion of the dropped file (or recording) moved to ``name`` in ``log``, with
        ``drop`` as its ``context.drop_folder``; None when the log already holds its records."""
        request = IngestionCreateRequest(
            log_id=log.id,
            name=name,
            object_key=name,
            state=ProcessState.queued,
            context={"drop_folder": drop},
        )
        key = drop["key"]
        try:
            self.ingestions.create(request, Context(), ingestion_id=ingestion_id)
        except DuplicateIngestion as duplicate:
            # The log holds these records already: skipped, as LogQS's sync skips ingested files.
            logger.warning(
                f"dropped {what} not ingested: its log already holds its records",
                extra={"key": key, "log_id": str(log.id), "reason": duplicate.detail},
            )
            return None
        except Conflict:
            if self._existing(ingestion_id) is None:
                raise
        logger.info(f"dropped {what} queued", extra={"key": key, "ingestion_id": str(ingestion_id)})
        return ingestion_id


def _target_name(file_name: str, etag: str) -> str:
    """Another file of that name is already in the log: keep both, the new one tagged with its ETag."""
    path = PurePosixPath(file_name)
    return str(path.with_name(f"{path.stem}.{etag[:8]}{path.suffix}"))
