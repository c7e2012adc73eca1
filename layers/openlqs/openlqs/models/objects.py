"""Objects (log objects and object-store objects), their multipart parts, and object stores (§3.3 to 3.5)."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from openlqs.models.common import (
    CommonListParams,
    CommonModel,
    JsonObject,
    Name,
    RequestModel,
    Text,
    WireModel,
)

#: S3 multipart bounds.
MAX_PART_NUMBER = 10_000
MAX_PART_SIZE = 5 * 1024**3


class UploadState(StrEnum):
    complete = "complete"
    processing = "processing"
    aborted = "aborted"


class StoredObject(WireModel):
    """The LogQS ``Object``: not a CommonModel (no id); ``key`` is the full storage key."""

    key: str
    etag: str | None = None
    size: int | None = None
    last_modified: datetime | None = None
    presigned_url: str | None = None
    upload_state: UploadState


class ObjectCreateRequest(RequestModel):
    key: Annotated[str, Field(min_length=1, max_length=1024)]
    content_type: Annotated[str, Field(max_length=256)] | None = None


class ObjectUpdateRequest(RequestModel):
    upload_state: UploadState


class ObjectListParams(BaseModel):
    """S3 ListObjectsV2 parameters (no offset/limit on object lists)."""

    model_config = ConfigDict(extra="ignore")

    processing: bool = False
    max_keys: int = Field(1000, ge=1, le=1000)
    prefix: str | None = None
    start_after: str | None = None
    delimiter: Annotated[str, Field(max_length=16)] | None = None
    continuation_token: str | None = None


class ObjectFetchParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    redirect: bool = False
    offset: int | None = None
    length: int | None = Field(None, ge=0)


class ObjectListResponse(WireModel):
    data: list[StoredObject]
    is_truncated: bool | None
    key_count: int | None
    max_keys: int
    continuation_token: str | None
    next_continuation_token: str | None
    prefix: str | None
    start_after: str | None
    delimiter: str | None
    common_prefixes: list[str] | None


class ObjectPart(WireModel):
    part_number: int
    etag: str
    size: int
    last_modified: datetime | None
    presigned_url: str | None


class ObjectPartCreateRequest(RequestModel):
    part_number: Annotated[int, Field(ge=1, le=MAX_PART_NUMBER)] | None = None
    size: Annotated[int, Field(ge=0, le=MAX_PART_SIZE)]


class ObjectPartListParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    max_parts: int = Field(1000, ge=1, le=1000)
    part_number_marker: int | None = Field(None, ge=0, le=MAX_PART_NUMBER)


class ObjectPartListResponse(WireModel):
    data: list[ObjectPart]
    part_number_marker: int | None
    next_part_number_marker: int | None
    max_parts: int | None
    is_truncated: bool | None


class ObjectStore(CommonModel):
    """A registered external S3-compatible bucket. Its secret is stored encrypted and never returned."""

    name: str | None = None
    bucket_name: str
    access_key_id: str | None = None
    region_name: str | None = None
    endpoint_url: str | None = None
    note: str | None = None
    context: dict | None = None
    disabled: bool = False
    default: bool = False
    read_only: bool = False
    managed: bool = False
    key_prefix: str | None = None


#: An AWS region name as botocore accepts it (empty: the default region).
RegionName = Annotated[
    str, Field(max_length=64, pattern=r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)?$")
]
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _check_endpoint_url(value: str) -> str:
    """An http(s) URL with a host botocore can use (it refuses anything else with a ValueError)."""
    parts = urlsplit(value)
    host = parts.hostname or ""
    ipv6 = host.count(":") >= 2
    labels = host.rstrip(".").split(".")
    if (
        parts.scheme not in ("http", "https")
        or not host
        or any(char.isspace() or not char.isprintable() for char in value)
        or not (ipv6 or (len(host) <= 255 and all(_HOST_LABEL.match(label) for label in labels)))
    ):
        raise ValueError("must be an http:// or https:// URL with a valid host name")
    return value


EndpointUrl = Annotated[
    str, Field(max_length=1024, pattern=r"^https?://"), AfterValidator(_check_endpoint_url)
]
#: A secret access key (KMS seals 1 to 4096 bytes; an empty secret is no secret).
Secret = Annotated[str, Field(min_length=1, max_length=1024)]
BucketName = Annotated[str, Field(min_length=3, max_length=255, pattern=r"^[A-Za-z0-9._-]+$")]


class ObjectStoreCreateRequest(RequestModel):
    name: Name
    bucket_name: BucketName
    access_key_id: Annotated[str, Field(max_length=256)] | None = None
    secret_access_key: Secret | None = None
    region_name: RegionName | None = None
    endpoint_url: EndpointUrl | None = None
    note: Text | None = None
    context: JsonObject | None = None
    disabled: bool = False
    default: bool = False
    read_only: bool = False
    managed: bool = False
    key_prefix: Annotated[str, Field(max_length=1024)] | None = None


class ObjectStoreUpdateRequest(RequestModel):
    name: Name | None = None
    bucket_name: BucketName | None = None
    access_key_id: Annotated[str, Field(max_length=256)] | None = None
    secret_access_key: Secret | None = None
    region_name: RegionName | None = None
    endpoint_url: EndpointUrl | None = None
    note: Text | None = None
    context: JsonObject | None = None
    disabled: bool | None = None
    default: bool | None = None
    read_only: bool | None = None
    managed: bool | None = None
    key_prefix: Annotated[str, Field(max_length=1024)] | None = None


class ObjectStoreListParams(CommonListParams):
    id: UUID | None = None
    name: str | None = None
    name_like: str | None = None
    bucket_name: str | None = None
    bucket_name_like: str | None = None
    access_key_id: str | None = None
    region_name: str | None = None
    endpoint_url: str | None = None
    note: str | None = None
    note_like: str | None = None
    disabled: bool | None = None
    default: bool | None = None
    key_prefix: str | None = None
    key_prefix_like: str | None = None
    key_prefix_null: bool | None = None
    managed: bool | None = None
