"""The journal entries of the writes moto serves: what each write request left (see ``journal.py``).

The local moto server's request gate calls :meth:`DurableWrites.dynamodb` or :meth:`DurableWrites.s3`
after each write request of a table or bucket the stack keeps, inside the lock that orders that
service's requests and before the answer goes back. The state is read from moto itself
(``moto_fence``), so the entry is what is stored, whatever the request asked for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree

from openlqs.local.journal import Journal
from openlqs.local.moto_fence import ObjectState, dynamodb_item, dynamodb_key, s3_object, s3_upload
from openlqs.local.snapshot import atomic_write, blob_name

_UPLOAD_ID = re.compile(rb"<UploadId>([^<]+)</UploadId>")


def _s3_names(environ: Mapping[str, Any]) -> tuple[str, str]:
    """The bucket and key of a path-style request (WSGI hands the path over as latin-1 text)."""
    raw = str(environ.get("PATH_INFO") or "/")
    try:
        path = raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        path = raw
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key


def dynamodb_touched(operation: str, body: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The (table, key) of every item a DynamoDB write request may have changed."""
    touched: list[tuple[str, dict[str, Any]]] = []
    if operation == "PutItem":
        touched.append((body["TableName"], dynamodb_key(body["TableName"], body["Item"])))
    elif operation in ("UpdateItem", "DeleteItem"):
        touched.append((body["TableName"], body["Key"]))
    elif operation == "BatchWriteItem":
        for table, requests in (body.get("RequestItems") or {}).items():
            for request in requests:
                if "PutRequest" in request:
                    touched.append((table, dynamodb_key(table, request["PutRequest"]["Item"])))
                elif "DeleteRequest" in request:
                    touched.append((table, request["DeleteRequest"]["Key"]))
    elif operation == "TransactWriteItems":
        for item in body.get("TransactItems") or []:
            for action, op in item.items():
                if action == "Put":
                    touched.append((op["TableName"], dynamodb_key(op["TableName"], op["Item"])))
                elif action in ("Update", "Delete"):
                    touched.append((op["TableName"], op["Key"]))
    return touched


class DurableWrites:
    """Journals the state writes leave in the tables and buckets the local stack keeps.

    ``tables`` and ``buckets`` map physical names to logical ids (what snapshots are keyed by);
    ``blob_dir`` gives the folder of a bucket's blobs (object bytes, written once per ETag).
    """

    def __init__(
        self,
        journal: Journal,
        tables: Mapping[str, str],
        buckets: Mapping[str, str],
        blob_dir: Any,
    ) -> None:
        self.journal = journal
        self.tables = dict(tables)
        self.buckets = dict(buckets)
        self.blob_dir = blob_dir

    # DynamoDB

    def dynamodb(self, operation: str, body: Mapping[str, Any]) -> None:
        """Journal the items a write request named, as they are now (whether it succeeded or not)."""
        try:
            touched = dynamodb_touched(operation, body)
        except (KeyError, TypeError, AttributeError):
            return  # a malformed request moto refused: it wrote nothing
        entries = []
        for table, key in touched:
            logical_id = self.tables.get(table)
            if logical_id is None:
                continue
            entries.append(
                {"kind": "item", "table": logical_id, "key": key, "item": dynamodb_item(table, key)}
            )
        self.journal.append(entries)

    # S3

    def s3(
        self, environ: Mapping[str, Any], status: int, response: bytes, request_body: bytes | None
    ) -> None:
        """Journal what an S3 write request (path-style) left, after moto answered ``status``."""
        bucket, key = _s3_names(environ)
        logical_id = self.buckets.get(bucket)
        if logical_id is None or status >= 300:
            return
        method = str(environ.get("REQUEST_METHOD") or "")
        query = parse_qs(str(environ.get("QUERY_STRING") or ""), keep_blank_values=True)
        upload_ids = query.get("uploadId") or []
        upload_id = upload_ids[0] if upload_ids else None
        if not key:
            if method == "POST" and "delete" in query and request_body:
                self.journal.append(
                    [self._object(bucket, logical_id, name) for name in _deleted(request_body)]
                )
            return
        if method == "PUT" and upload_id and "partNumber" in query:
            self.journal.append(self._part(bucket, logical_id, upload_id, int(query["partNumber"][0])))
        elif method == "PUT":
            self.journal.append([self._object(bucket, logical_id, key)])
        elif method == "POST" and "uploads" in query:
            created = _UPLOAD_ID.search(response)
            if created is not None:
                self.journal.append(self._upload(bucket, logical_id, created.group(1).decode()))
        elif method == "POST" and upload_id:
            self.journal.append(
                [
                    self._object(bucket, logical_id, key),
                    {"kind": "upload_end", "bucket": logical_id, "upload_id": upload_id},
                ]
            )
        elif method == "DELETE" and upload_id:
            self.journal.append([{"kind": "upload_end", "bucket": logical_id, "upload_id": upload_id}])
        elif method == "DELETE":
            self.journal.append([self._object(bucket, logical_id, key)])

    def _blob(self, logical_id: str, state: ObjectState) -> str:
        """Store the bytes once per ETag; returns the blob's name."""
        name = blob_name(state.etag)
        path = Path(self.blob_dir(logical_id)) / name
        if not path.is_file():
            with atomic_write(path, "wb") as stream:
                state.copy_to(stream)
        return name

    def _object(self, bucket: str, logical_id: str, key: str) -> dict[str, Any]:
        state = s3_object(bucket, key)
        stored = None
        if state is not None:
            stored = {"etag": state.etag, "blob": self._blob(logical_id, state), "metadata": state.metadata}
        return {"kind": "object", "bucket": logical_id, "key": key, "object": stored}

    def _upload(self, bucket: str, logical_id: str, upload_id: str) -> list[dict[str, Any]]:
        upload = s3_upload(bucket, upload_id)
        if upload is None:
            return []
        return [
            {
                "kind": "upload",
                "bucket": logical_id,
                "upload_id": upload_id,
                "key": upload.key,
                "metadata": upload.metadata,
            }
        ]

    def _part(self, bucket: str, logical_id: str, upload_id: str, number: int) -> list[dict[str, Any]]:
        upload = s3_upload(bucket, upload_id)
        part = None if upload is None else upload.parts.get(number)
        if part is None:
            return []
        return [
            {
                "kind": "part",
                "bucket": logical_id,
                "upload_id": upload_id,
                "part": number,
                "etag": part.etag,
                "blob": self._blob(logical_id, part),
            }
        ]


def _deleted(body: bytes) -> list[str]:
    """The keys a DeleteObjects request names."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return []
    return [
        element.text or "" for element in root.iter() if element.tag.endswith("}Key") or element.tag == "Key"
    ]
