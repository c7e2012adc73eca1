"""Save the local stack's tables and bucket to a data directory, and restore them at start.

Layout of the data directory::

    datastore_id                          the local datastore's id (generated once)
    checkpoint.json                       the first journal segment the snapshot does not hold
    dynamodb/<LogicalId>.jsonl            one {"Item": <DynamoDB JSON>} per line (DynamoDB export format)
    s3/<LogicalId>/manifest.jsonl         one object per line: key, etag, blob, content type, metadata
    s3/<LogicalId>/uploads.jsonl          one multipart upload in progress per line, with its parts
    s3/<LogicalId>/blobs/<etag>           object (and part) bytes, written once per etag
    journal/<n>.jsonl                     what each write left since the snapshot (openlqs.local.journal)
    kms/<LogicalId>.json                  a KMS key's id and material, written once (openlqs.local.kms)

A snapshot is a checkpoint of the journal: the journal is rotated first, the tables and buckets are
saved, ``checkpoint.json`` then names the first segment to replay over them, and older segments go.
A restore loads the snapshot and replays the journal from there. Files are written to a temporary name
and renamed, so a crash leaves the previous snapshot whole. Tables are keyed by logical id, so renaming
a table in the template keeps its data.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from openlqs.local.journal import Journal
from openlqs.local.moto_fence import UploadState, restore_upload, s3_uploads, set_object_state

DATASTORE_ID_FILE = "datastore_id"
CHECKPOINT_FILE = "checkpoint.json"
_BATCH_WRITE_LIMIT = 25
_SAFE_BLOB_NAME = re.compile(r"^[0-9A-Za-z-]{1,128}$")


class RestoreError(RuntimeError):
    """A snapshot in the data directory cannot be loaded into the current tables."""


@contextlib.contextmanager
def atomic_write(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on success, flush it to disk and rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(descriptor, mode, encoding=encoding) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_or_create_datastore_id(data_dir: Path) -> str:
    """The datastore id kept in ``data_dir``, generated (uuid4) and saved on first use."""
    path = data_dir / DATASTORE_ID_FILE
    if path.is_file():
        return str(uuid.UUID(path.read_text(encoding="utf-8").strip()))
    datastore_id = str(uuid.uuid4())
    with atomic_write(path) as stream:
        stream.write(datastore_id + "\n")
    return datastore_id


def to_json_value(value: Mapping[str, Any]) -> dict[str, Any]:
    """A boto3 DynamoDB attribute value as DynamoDB JSON (binary values base64-encoded)."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode("ascii")}
    if kind == "BS":
        return {"BS": [base64.b64encode(item).decode("ascii") for item in inner]}
    if kind == "M":
        return {"M": {key: to_json_value(item) for key, item in inner.items()}}
    if kind == "L":
        return {"L": [to_json_value(item) for item in inner]}
    return {kind: inner}


def from_json_value(value: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`to_json_value`: DynamoDB JSON back to a boto3 attribute value."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(item) for item in inner]}
    if kind == "M":
        return {"M": {key: from_json_value(item) for key, item in inner.items()}}
    if kind == "L":
        return {"L": [from_json_value(item) for item in inner]}
    return {kind: inner}


@dataclass(frozen=True)
class ObjectEntry:
    """One S3 object of a snapshot: its key and where its bytes are kept."""

    key: str
    etag: str
    blob: str
    content_type: str | None
    metadata: dict[str, str]

    def to_json(self) -> str:
        """The manifest line for this object."""
        return json.dumps(
            {
                "Key": self.key,
                "ETag": self.etag,
                "Blob": self.blob,
                "ContentType": self.content_type,
                "Metadata": self.metadata,
            }
        )

    @classmethod
    def from_json(cls, line: str) -> ObjectEntry:
        """Parse a manifest line."""
        data = json.loads(line)
        return cls(
            data["Key"], data["ETag"], data["Blob"], data.get("ContentType"), data.get("Metadata") or {}
        )


@dataclass(frozen=True)
class Checkpoint:
    """A snapshot in progress: the first journal segment it does not hold, and when it began."""

    first_segment: int
    started_at: float


class Snapshotter:
    """Saves and restores the tables and buckets of the local stack (names by logical id)."""

    def __init__(
        self,
        data_dir: Path,
        dynamodb_client: Any,
        s3_client: Any,
        tables: Mapping[str, str],
        buckets: Mapping[str, str],
        journal: Journal | None = None,
        s3_reading: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext,
    ) -> None:
        self.data_dir = data_dir
        self.dynamodb = dynamodb_client
        self.s3 = s3_client
        self.tables = dict(tables)
        self.buckets = dict(buckets)
        self.journal = journal
        #: Held while moto's in-process uploads are read (the moto server's S3 read lock).
        self.s3_reading = s3_reading

    def table_file(self, logical_id: str) -> Path:
        """Where a table's items are kept."""
        return self.data_dir / "dynamodb" / f"{logical_id}.jsonl"

    def bucket_dir(self, logical_id: str) -> Path:
        """Where a bucket's manifest and object bytes are kept."""
        return self.data_dir / "s3" / logical_id

    def blob_dir(self, logical_id: str) -> Path:
        """Where a bucket's object and part bytes are kept (one file per ETag)."""
        return self.bucket_dir(logical_id) / "blobs"

    # Checkpoints

    def begin_checkpoint(self) -> Checkpoint:
        """Rotate the journal: every write from now on is in the segments a restore replays."""
        first = self.journal.rotate() if self.journal is not None else 0
        return Checkpoint(first, time.time())

    def finish_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Name the first segment to replay, then drop older segments and bytes nothing refers to.

        Call it after :meth:`save` has saved every table and bucket written since the last checkpoint.
        """
        if self.journal is None:
            return
        with atomic_write(self.data_dir / CHECKPOINT_FILE) as stream:
            stream.write(json.dumps({"journal": checkpoint.first_segment}) + "\n")
        self.journal.remove_before(checkpoint.first_segment)
        self._collect_blobs(checkpoint)

    def _replay_from(self) -> int:
        path = self.data_dir / CHECKPOINT_FILE
        if not path.is_file():
            return 0
        return int(json.loads(path.read_text(encoding="utf-8"))["journal"])

    def _collect_blobs(self, checkpoint: Checkpoint) -> None:
        """Delete the blobs older than the checkpoint that no manifest, upload or live journal entry needs
        (a newer blob may belong to a write whose entry is not written yet)."""
        referenced: dict[str, set[str]] = {logical_id: set() for logical_id in self.buckets}
        for logical_id in self.buckets:
            referenced[logical_id].update(entry.blob for entry in self._read_manifest(logical_id))
            for upload in self._read_uploads(logical_id):
                referenced[logical_id].update(part["blob"] for part in upload["parts"])
        if self.journal is not None:
            for entry in self.journal.entries(checkpoint.first_segment):
                blob = (entry.get("object") or {}).get("blob") or entry.get("blob")
                if isinstance(blob, str) and entry.get("bucket") in referenced:
                    referenced[entry["bucket"]].add(blob)
        for logical_id, names in referenced.items():
            folder = self.blob_dir(logical_id)
            if not folder.is_dir():
                continue
            for blob in folder.iterdir():
                if blob.name in names or blob.name.startswith("."):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if blob.stat().st_mtime < checkpoint.started_at:
                        blob.unlink()

    # Save

    def save(self, should_save: Callable[[str], bool] = lambda _name: True) -> list[str]:
        """Save every table and bucket whose physical name ``should_save``; returns the names saved."""
        saved = []
        for logical_id, name in self.tables.items():
            if should_save(name):
                self.save_table(logical_id)
                saved.append(name)
        for logical_id, name in self.buckets.items():
            if should_save(name):
                self.save_bucket(logical_id)
                saved.append(name)
        return saved

    def save_table(self, logical_id: str) -> int:
        """Scan one table into its snapshot file; returns the number of items."""
        count = 0
        with atomic_write(self.table_file(logical_id)) as stream:
            for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.tables[logical_id]):
                for item in page.get("Items", []):
                    item_json = {name: to_json_value(value) for name, value in item.items()}
                    stream.write(json.dumps({"Item": item_json}, separators=(",", ":")) + "\n")
                    count += 1
        return count

    def save_bucket(self, logical_id: str) -> int:
        """Save one bucket: fetch only objects whose etag has no blob yet, rewrite the manifest, drop
        blobs nothing refers to. Returns the number of objects."""
        bucket = self.buckets[logical_id]
        folder = self.bucket_dir(logical_id)
        blobs = folder / "blobs"
        blobs.mkdir(parents=True, exist_ok=True)
        previous = {entry.key: entry for entry in self._read_manifest(logical_id)}
        entries = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for listed in page.get("Contents", []):
                key, etag = listed["Key"], listed["ETag"].strip('"')
                known = previous.get(key)
                if known is not None and known.etag == etag and (blobs / known.blob).is_file():
                    entries.append(known)
                    continue
                entry = self._fetch_object(bucket, key, blobs)
                if entry is not None:
                    entries.append(entry)
        with atomic_write(folder / "manifest.jsonl") as stream:
            stream.writelines(entry.to_json() + "\n" for entry in entries)
        self._save_uploads(logical_id)
        if self.journal is None:
            referenced = {entry.blob for entry in entries}
            for blob in blobs.iterdir():
                if blob.name not in referenced and not blob.name.startswith("."):
                    blob.unlink(missing_ok=True)
        return len(entries)

    def _save_uploads(self, logical_id: str) -> None:
        """The bucket's multipart uploads in progress, with their parts' bytes (once per ETag)."""
        bucket = self.buckets[logical_id]
        lines = []
        with self.s3_reading():
            for upload in s3_uploads(bucket):
                parts = []
                for number, part in sorted(upload.parts.items()):
                    name = blob_name(part.etag)
                    path = self.blob_dir(logical_id) / name
                    if not path.is_file():
                        with atomic_write(path, "wb") as stream:
                            part.copy_to(stream)
                    parts.append({"part": number, "etag": part.etag, "blob": name})
                record = {"upload_id": upload.upload_id, "key": upload.key, "metadata": upload.metadata}
                lines.append(json.dumps({**record, "parts": parts}) + "\n")
        with atomic_write(self.bucket_dir(logical_id) / "uploads.jsonl") as stream:
            stream.writelines(lines)

    def _read_uploads(self, logical_id: str) -> list[dict[str, Any]]:
        path = self.bucket_dir(logical_id) / "uploads.jsonl"
        if not path.is_file():
            return []
        with path.open(encoding="utf-8") as stream:
            return [json.loads(line) for line in stream if line.strip()]

    def _fetch_object(self, bucket: str, key: str, blobs: Path) -> ObjectEntry | None:
        """The manifest entry of an object, its bytes fetched when no blob holds them yet."""
        try:
            response = self.s3.get_object(Bucket=bucket, Key=key)
        except self.s3.exceptions.NoSuchKey:
            return None  # deleted since it was listed; the next save sees the deletion
        etag = response["ETag"].strip('"')
        blob = blob_name(etag)
        body = response["Body"]
        try:
            if not (blobs / blob).is_file():
                with atomic_write(blobs / blob, "wb") as stream:
                    shutil.copyfileobj(body, stream, length=1024 * 1024)
        finally:
            body.close()
        return ObjectEntry(key, etag, blob, response.get("ContentType"), response.get("Metadata") or {})

    def _read_manifest(self, logical_id: str) -> list[ObjectEntry]:
        path = self.bucket_dir(logical_id) / "manifest.jsonl"
        if not path.is_file():
            return []
        with path.open(encoding="utf-8") as stream:
            return [ObjectEntry.from_json(line) for line in stream if line.strip()]

    # Restore

    def restore(self) -> dict[str, int]:
        """Load every saved table and bucket into the (empty) local resources.

        Returns the number of items or objects restored per physical name. Raises
        :class:`RestoreError` naming the file when a snapshot no longer fits the template.
        """
        restored = {}
        for logical_id, name in self.tables.items():
            restored[name] = self.restore_table(logical_id)
        for logical_id, name in self.buckets.items():
            restored[name] = self.restore_bucket(logical_id)
        uploads = {
            (logical_id, upload["upload_id"]): upload
            for logical_id in self.buckets
            for upload in self._read_uploads(logical_id)
        }
        if self.journal is not None:
            self._replay(self.journal.entries(self._replay_from()), uploads, restored)
        for (logical_id, _), upload in uploads.items():
            self._restore_upload(logical_id, upload)
        return restored

    def _replay(
        self, entries: Iterator[dict[str, Any]], uploads: dict[tuple[str, str], Any], restored: dict[str, int]
    ) -> None:
        """Apply the journal over the snapshot: the last state of each item, object and upload."""
        items: dict[tuple[str, str], dict[str, Any]] = {}
        objects: dict[tuple[str, str], dict[str, Any] | None] = {}
        for entry in entries:
            kind, bucket = entry.get("kind"), str(entry.get("bucket"))
            if kind == "item" and entry.get("table") in self.tables:
                items[(entry["table"], json.dumps(entry["key"], sort_keys=True))] = entry
            elif kind == "object" and bucket in self.buckets:
                objects[(bucket, entry["key"])] = entry.get("object")
            elif kind == "upload" and bucket in self.buckets:
                record = {"upload_id": entry["upload_id"], "key": entry["key"], "metadata": entry["metadata"]}
                uploads[(bucket, entry["upload_id"])] = {**record, "parts": []}
            elif kind == "part" and (bucket, str(entry.get("upload_id"))) in uploads:
                parts = uploads[(bucket, entry["upload_id"])]["parts"]
                parts[:] = [part for part in parts if part["part"] != entry["part"]]
                parts.append({"part": entry["part"], "etag": entry["etag"], "blob": entry["blob"]})
            elif kind == "upload_end":
                uploads.pop((bucket, str(entry.get("upload_id"))), None)
        for (logical_id, _), entry in items.items():
            table = self.tables[logical_id]
            item = entry["item"]
            if item is None:
                self.dynamodb.delete_item(
                    TableName=table, Key={k: from_json_value(v) for k, v in entry["key"].items()}
                )
            else:
                self._write_batch(
                    table, [{"PutRequest": {"Item": {k: from_json_value(v) for k, v in item.items()}}}]
                )
        for (logical_id, key), stored in objects.items():
            bucket = self.buckets[logical_id]
            if stored is None:
                self.s3.delete_object(Bucket=bucket, Key=key)
                continue
            with (self.blob_dir(logical_id) / stored["blob"]).open("rb") as body:
                self.s3.put_object(Bucket=bucket, Key=key, Body=body)
            with self.s3_reading():
                set_object_state(bucket, key, stored["etag"], stored["metadata"])
        restored.update({f"journal:{self.tables.get(t, t)}": 1 for t, _ in items})

    def _restore_upload(self, logical_id: str, upload: dict[str, Any]) -> None:
        parts = {}
        for part in upload["parts"]:
            parts[int(part["part"])] = (self.blob_dir(logical_id) / part["blob"]).read_bytes()
        state = UploadState(upload["upload_id"], upload["key"], dict(upload["metadata"]), {})
        with self.s3_reading():
            restore_upload(self.buckets[logical_id], state, parts)

    def restore_table(self, logical_id: str) -> int:
        """Put the saved items back into one table; returns how many."""
        path = self.table_file(logical_id)
        if not path.is_file():
            return 0
        count = 0
        batch: list[dict[str, Any]] = []
        try:
            with path.open(encoding="utf-8") as stream:
                for line in stream:
                    if not line.strip():
                        continue
                    item = {k: from_json_value(v) for k, v in json.loads(line)["Item"].items()}
                    batch.append({"PutRequest": {"Item": item}})
                    if len(batch) == _BATCH_WRITE_LIMIT:
                        count += self._write_batch(self.tables[logical_id], batch)
                        batch = []
            count += self._write_batch(self.tables[logical_id], batch)
        except Exception as error:
            raise RestoreError(
                f"cannot restore {logical_id} from {path}: {error}; "
                f"move {self.data_dir} away to start with empty tables"
            ) from error
        return count

    def _write_batch(self, table: str, batch: list[dict[str, Any]]) -> int:
        pending: dict[str, Any] = {table: batch} if batch else {}
        while pending:
            pending = self.dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        return len(batch)

    def restore_bucket(self, logical_id: str) -> int:
        """Upload the saved objects back into one bucket; returns how many.

        S3 gives an object put in one piece a different etag than the multipart upload that first
        created it, so the manifest is rewritten with the new etags: the next save does not fetch
        these objects again.
        """
        bucket = self.buckets[logical_id]
        blobs = self.bucket_dir(logical_id) / "blobs"
        entries = self._read_manifest(logical_id)
        restored = []
        for entry in entries:
            extra: dict[str, Any] = {"Metadata": entry.metadata}
            if entry.content_type:
                extra["ContentType"] = entry.content_type
            try:
                with (blobs / entry.blob).open("rb") as body:
                    response = self.s3.put_object(Bucket=bucket, Key=entry.key, Body=body, **extra)
            except Exception as error:
                raise RestoreError(
                    f"cannot restore s3://{bucket}/{entry.key} from {blobs / entry.blob}: {error}"
                ) from error
            etag = response["ETag"].strip('"')
            if etag != entry.etag:
                # A multipart upload's ETag is not the MD5 of the bytes: the object keeps the one it had.
                with self.s3_reading():
                    set_object_state(bucket, entry.key, entry.etag, None)
                etag = entry.etag
            restored.append(ObjectEntry(entry.key, etag, entry.blob, entry.content_type, entry.metadata))
        if restored != entries:
            with atomic_write(self.bucket_dir(logical_id) / "manifest.jsonl") as stream:
                stream.writelines(entry.to_json() + "\n" for entry in restored)
        return len(restored)


def blob_name(etag: str) -> str:
    """The file name of an object's bytes in a bucket's ``blobs`` folder (the ETag when it is safe)."""
    if _SAFE_BLOB_NAME.match(etag):
        return etag
    return hashlib.sha256(etag.encode()).hexdigest()
