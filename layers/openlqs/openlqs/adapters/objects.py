"""S3 implementation of ``BlobStore``, DynamoDB upload tracking, and KMS secret sealing."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from openlqs.adapters import keys
from openlqs.adapters.dynamodb import DynamoTable
from openlqs.domain.ports import BlobInfo, BlobListing, BlobPart, BlobPartListing, Upload
from openlqs.errors import BadRequest, Conflict, Forbidden, NotFound
from openlqs.models.objects import ObjectStore

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
#: Managed transfers of whole objects (a recording's files converted by a part): 16 MiB pieces, four
#: at a time, so a transfer holds at most ~64 MiB whatever the object's size.
_TRANSFER = TransferConfig(
    multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024, max_concurrency=4
)
#: The upload item's map of declared part sizes.
_PART_SIZES = "part_sizes"
#: S3 answers meaning the bucket refuses the credentials (a registered store's own keys).
_NO_ACCESS = {
    "AccessDenied",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
}


def s3_client(
    *,
    addressing_style: str = "auto",
    endpoint_url: str | None = None,
    region_name: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
) -> Any:
    config = Config(signature_version="s3v4", s3={"addressing_style": addressing_style})
    kwargs: dict[str, Any] = {"config": config}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    if region_name:
        kwargs["region_name"] = region_name
    if access_key_id and secret_access_key:
        kwargs.update(aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key)
    return boto3.client("s3", **kwargs)


class S3BlobStore:
    """One bucket. Presigned URLs go straight to S3 (another origin than the API)."""

    def __init__(
        self,
        bucket: str,
        client_factory: Callable[[], Any] = s3_client,
        *,
        upload_url_ttl_s: int = 3600,
        download_url_ttl_s: int = 900,
    ) -> None:
        self.bucket = bucket
        self._client_factory = client_factory
        self._client: Any = None
        self.upload_url_ttl_s = upload_url_ttl_s
        self.download_url_ttl_s = download_url_ttl_s

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = _BucketErrors(self._client_factory(), self.bucket)
        return self._client

    def head(self, key: str) -> BlobInfo | None:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response["Error"]["Code"] in _NOT_FOUND:
                return None
            raise
        return BlobInfo(
            key=key,
            etag=response["ETag"].strip('"'),
            size=response["ContentLength"],
            last_modified=response["LastModified"],
        )

    def list_objects(
        self,
        *,
        prefix: str,
        delimiter: str | None,
        start_after: str | None,
        continuation_token: str | None,
        max_keys: int,
    ) -> BlobListing:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": max_keys}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        if start_after:
            kwargs["StartAfter"] = start_after
        if continuation_token:
            kwargs["ContinuationToken"] = continuation_token
        try:
            response = self.client.list_objects_v2(**kwargs)
        except ClientError:
            if continuation_token:
                # S3 refuses a token it did not issue (InvalidArgument); a caller's typo is not a 500.
                raise BadRequest("continuation_token is not a token this listing issued.") from None
            raise
        return BlobListing(
            objects=[
                BlobInfo(item["Key"], item["ETag"].strip('"'), item["Size"], item["LastModified"])
                for item in response.get("Contents", [])
            ],
            common_prefixes=[p["Prefix"] for p in response.get("CommonPrefixes", [])],
            is_truncated=bool(response.get("IsTruncated")),
            next_continuation_token=response.get("NextContinuationToken"),
        )

    def create_upload(self, key: str, content_type: str | None) -> str:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if content_type:
            kwargs["ContentType"] = content_type
        return str(self.client.create_multipart_upload(**kwargs)["UploadId"])

    def presign_upload_part(self, key: str, upload_id: str, part_number: int) -> str:
        return str(
            self.client.generate_presigned_url(
                "upload_part",
                Params={"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number},
                ExpiresIn=self.upload_url_ttl_s,
            )
        )

    def list_parts(self, key: str, upload_id: str, *, marker: int | None, max_parts: int) -> BlobPartListing:
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "UploadId": upload_id,
            "MaxParts": max_parts,
        }
        if marker:
            kwargs["PartNumberMarker"] = marker
        try:
            response = self.client.list_parts(**kwargs)
        except ClientError as error:
            if error.response["Error"]["Code"] == "NoSuchUpload":
                raise NotFound(f"The upload of {key!r} no longer exists.") from None
            raise
        next_marker = response.get("NextPartNumberMarker")
        return BlobPartListing(
            parts=[
                BlobPart(p["PartNumber"], p["ETag"].strip('"'), p["Size"], p["LastModified"])
                for p in response.get("Parts", [])
            ],
            is_truncated=bool(response.get("IsTruncated")),
            next_part_number_marker=int(next_marker) if next_marker else None,
        )

    def complete_upload(self, key: str, upload_id: str, parts: list[BlobPart]) -> None:
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": p.part_number, "ETag": f'"{p.etag}"'} for p in parts]
                },
            )
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code in ("EntityTooSmall", "InvalidPart", "InvalidPartOrder"):
                raise Conflict(f"The upload of {key!r} cannot be completed: {code}.") from None
            raise

    def abort_upload(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as error:
            if error.response["Error"]["Code"] != "NoSuchUpload":
                raise

    def put(self, key: str, body: bytes, content_type: str | None) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body}
        if content_type:
            kwargs["ContentType"] = content_type
        self.client.put_object(**kwargs)

    def presign_get(self, key: str) -> str:
        return str(
            self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.download_url_ttl_s
            )
        )

    def copy(self, source_key: str, target_key: str) -> None:
        try:
            self.client.copy({"Bucket": self.bucket, "Key": source_key}, self.bucket, target_key)
        except ClientError as error:
            if error.response["Error"]["Code"] in _NOT_FOUND:
                raise NotFound(f"Object {source_key!r} not found.") from None
            raise

    def read(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` inclusive; fewer (none) past the end of the object, as S3 gives."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end}")
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code in _NOT_FOUND:
                raise NotFound(f"Object {key!r} not found.") from None
            if code == "InvalidRange":  # the range starts at or after the end of the object
                return b""
            raise
        return bytes(response["Body"].read())

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def upload_part(self, key: str, upload_id: str, part_number: int, body: bytes) -> str:
        response = self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=part_number, Body=body
        )
        return str(response["ETag"]).strip('"')

    def copy_part(
        self, key: str, upload_id: str, part_number: int, source_key: str, first: int, last: int
    ) -> str:
        try:
            response = self.client.upload_part_copy(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=part_number,
                CopySource={"Bucket": self.bucket, "Key": source_key},
                CopySourceRange=f"bytes={first}-{last}",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] in _NOT_FOUND:
                raise NotFound(f"Object {source_key!r} not found.") from None
            raise
        return str(response["CopyPartResult"]["ETag"]).strip('"')

    def download_file(self, key: str, path: Path) -> int:
        try:
            self.client.download_file(self.bucket, key, str(path), Config=_TRANSFER)
        except ClientError as error:
            if error.response["Error"]["Code"] in _NOT_FOUND:
                raise NotFound(f"Object {key!r} not found.") from None
            raise
        return path.stat().st_size

    def upload_file(self, path: Path, key: str, content_type: str | None) -> None:
        extra = {"ContentType": content_type} if content_type else None
        self.client.upload_file(str(path), self.bucket, key, ExtraArgs=extra, Config=_TRANSFER)


class _BucketErrors:
    """A boto3 S3 client whose calls turn the bucket's own refusals into domain errors.

    A registered object store can name a bucket that does not exist (404) or that refuses the store's
    keys (403); every other error reaches the caller unchanged.
    """

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code")
                if code == "NoSuchBucket":
                    raise NotFound(f"Bucket {self._bucket!r} does not exist.") from None
                if code in _NO_ACCESS:
                    raise Forbidden(f"Bucket {self._bucket!r} refused access ({code}).") from None
                raise

        return call


class DynamoUploadRepository(DynamoTable):
    """Multipart uploads in progress, in ResourcesTable (listed per scope through the ByParent index)."""

    @staticmethod
    def _to_upload(item: dict[str, Any]) -> Upload:
        sizes = item.get(_PART_SIZES)
        return Upload(
            scope=item["scope"],
            key=item["key"],
            upload_id=item["upload_id"],
            content_type=item.get("content_type"),
            created_at=datetime.fromisoformat(item["created_at"]),
            part_sizes=None if sizes is None else {int(number): int(size) for number, size in sizes.items()},
        )

    def find(self, scope: str, key: str) -> Upload | None:
        item = self.table.get_item(
            Key={"pk": keys.upload_pk(scope, key), "sk": keys.SINGLE}, ConsistentRead=True
        ).get("Item")
        return None if item is None else self._to_upload(item)

    def create(self, upload: Upload) -> None:
        item = {
            "pk": keys.upload_pk(upload.scope, upload.key),
            "sk": keys.SINGLE,
            "gsi2pk": keys.uploads_of(upload.scope),
            "gsi2sk": upload.key,
            "scope": upload.scope,
            "key": upload.key,
            "upload_id": upload.upload_id,
            "created_at": upload.created_at.isoformat(),
            # Part number (as text: a map's keys are strings) -> declared size; filled by declare_part.
            _PART_SIZES: {str(number): size for number, size in (upload.part_sizes or {}).items()},
        }
        if upload.content_type:
            item["content_type"] = upload.content_type
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise Conflict(f"{upload.key!r} is already being uploaded.") from None
            raise

    def declare_part(self, scope: str, key: str, part_number: int, size: int) -> None:
        # One map entry per part, set in place: parallel part requests do not overwrite each other. The
        # condition keeps UpdateItem from creating an item for an upload that is gone (completed or
        # aborted meanwhile), and leaves alone an item made before sizes were kept.
        try:
            self.table.update_item(
                Key={"pk": keys.upload_pk(scope, key), "sk": keys.SINGLE},
                UpdateExpression="SET #sizes.#part = :size",
                ConditionExpression="attribute_exists(#sizes)",
                ExpressionAttributeNames={"#sizes": _PART_SIZES, "#part": str(part_number)},
                ExpressionAttributeValues={":size": size},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def delete(self, scope: str, key: str) -> None:
        self.table.delete_item(Key={"pk": keys.upload_pk(scope, key), "sk": keys.SINGLE})

    def list_scope(self, scope: str, prefix: str) -> list[Upload]:
        condition = Key("gsi2pk").eq(keys.uploads_of(scope))
        if prefix:
            condition = condition & Key("gsi2sk").begins_with(prefix)
        kwargs: dict[str, Any] = {"IndexName": keys.BY_PARENT_INDEX, "KeyConditionExpression": condition}
        return [self._to_upload(item) for item in self._query(**kwargs)]


class KmsSecretBox:
    """Object-store secrets sealed with a KMS key, bound to their store by the encryption context."""

    def __init__(self, key_id: str, client_factory: Callable[[], Any] = lambda: boto3.client("kms")) -> None:
        self.key_id = key_id
        self._client_factory = client_factory
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def encrypt(self, plaintext: str, context: dict[str, str]) -> str:
        response = self.client.encrypt(
            KeyId=self.key_id, Plaintext=plaintext.encode(), EncryptionContext=context
        )
        return base64.b64encode(response["CiphertextBlob"]).decode()

    def decrypt(self, ciphertext: str, context: dict[str, str]) -> str:
        response = self.client.decrypt(CiphertextBlob=base64.b64decode(ciphertext), EncryptionContext=context)
        return bytes(response["Plaintext"]).decode()


def object_store_blobs(
    addressing_style: str, upload_url_ttl_s: int, download_url_ttl_s: int
) -> Callable[[ObjectStore, str | None], S3BlobStore]:
    """A factory of ``S3BlobStore``s for registered object stores (their own endpoint and keys)."""

    def build(store: ObjectStore, secret: str | None) -> S3BlobStore:
        def client() -> Any:
            return s3_client(
                addressing_style="path" if store.endpoint_url else addressing_style,
                endpoint_url=store.endpoint_url,
                region_name=store.region_name,
                access_key_id=store.access_key_id,
                secret_access_key=secret,
            )

        return S3BlobStore(
            store.bucket_name,
            client,
            upload_url_ttl_s=upload_url_ttl_s,
            download_url_ttl_s=download_url_ttl_s,
        )

    return build
