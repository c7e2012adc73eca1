"""Wire models shared by every resource: envelopes, common fields, list parameters.

These models are the LogQS contract (``shared/contract/logqs-wire.md`` §2). They depend on pydantic
only, so the Python client can use them without the server's dependencies.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Generic, TypeVar
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)

#: Nanosecond timestamps. Plain ints (JSON numbers are exact in Python); digit strings are accepted.
Int64 = int
#: Bounds of an Int64 field (record columns are stored as signed 64-bit integers; DynamoDB numbers
#: hold 38 digits, so an unbounded int could not be stored at all).
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

T = TypeVar("T")

#: What a timestamp is, for the OpenAPI document and for errors.
TIMESTAMP_DESCRIPTION = "Integer nanoseconds since the Unix epoch (UTC), e.g. 1700000000000000000."
_NOT_AN_INTEGER = frozenset({"int_parsing", "int_type", "int_from_float", "int_parsing_size"})


def nanoseconds(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """An integer as pydantic reads one; anything else is refused saying what a timestamp is."""
    try:
        return handler(value)
    except ValidationError as error:
        if not any(detail["type"] in _NOT_AN_INTEGER for detail in error.errors()):
            raise
        shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "…"
        raise ValueError(
            f"timestamps are integer nanoseconds since the Unix epoch (e.g. 1700000000000000000), "
            f"not {shown!r}; the openlqs command also takes seconds (1700000000.5 or 1700000000s) "
            "and ISO 8601 times"
        ) from None


#: What a ``*_filter`` parameter is (``{field}`` names the JSON field it filters).
JSON_FILTER_DESCRIPTION = (
    "A JSON filter on {field}: a condition such as "
    '{{"var": "linear.x", "op": "gte", "val": 1}} (var: a dotted path into {field}; op: eq, neq, gt, '
    "gte, lt, lte, like, in, contains, null, notnull), or a list of conditions that must all hold."
)

#: A timestamp in a request: integer nanoseconds, and a clear error for anything else.
Timestamp = Annotated[int, WrapValidator(nanoseconds), Field(description=TIMESTAMP_DESCRIPTION)]
#: A timestamp bound of a filter: stored timestamps are Int64s, so one outside that range is a 400 naming
#: the field, not a window that wraps around (``timestamp_gte=2**63``).
BoundedTimestamp = Annotated[
    int, WrapValidator(nanoseconds), Field(ge=INT64_MIN, le=INT64_MAX, description=TIMESTAMP_DESCRIPTION)
]

# -- input caps (decision 29) -------------------------------------------------------------------------
#: Longest name, key or other short string accepted in a request (characters).
MAX_NAME_LENGTH = 1024
#: Longest note or other free text, such as an error message (characters).
MAX_TEXT_LENGTH = 64 * 1024
#: Largest JSON field (``context``, ``query_data``, ``workflow_context``...): its compact JSON text, in
#: bytes, as it is stored; and its deepest nesting.
MAX_JSON_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32


def check_json(value: Any, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Refuse a JSON field that is too deep, too large, or holds NaN/Infinity (not JSON)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"is nested more than {MAX_JSON_DEPTH} levels deep")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError("holds NaN or Infinity, which JSON cannot represent")
    size = len(json.dumps(value, separators=(",", ":")))
    if size > max_bytes:
        raise ValueError(f"is {size} bytes of JSON; at most {max_bytes} are accepted")
    return value


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_unicode(value: Any) -> Any:
    """Refuse strings (also inside JSON fields) holding lone UTF-16 surrogates: they are not Unicode text
    and cannot be stored."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _has_lone_surrogate(item):
                raise ValueError("must be Unicode text (it holds a lone surrogate such as \\ud800)")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return value


#: Request field types with their caps.
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]
ShortText = Annotated[str, Field(max_length=MAX_NAME_LENGTH)]
Text = Annotated[str, Field(max_length=MAX_TEXT_LENGTH)]
BoundedInt64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
JsonObject = Annotated[
    dict[str, Any],
    AfterValidator(check_json),
    Field(description=f"JSON object; at most {MAX_JSON_BYTES} bytes and {MAX_JSON_DEPTH} levels deep"),
]
JsonDocument = Annotated[
    dict[str, Any] | list[Any],
    AfterValidator(check_json),
    Field(description=f"JSON object or array; at most {MAX_JSON_BYTES} bytes and {MAX_JSON_DEPTH} levels"),
]


def _strip_enum_prefix(value: Any) -> Any:
    """Accept ``TypeEncoding.ros1`` as ``ros1``: the official client sends str(enum) on Python 3.11."""
    if isinstance(value, str) and "." in value:
        return value.rsplit(".", 1)[1]
    return value


class ProcessState(StrEnum):
    ready = "ready"
    queued = "queued"
    processing = "processing"
    finalizing = "finalizing"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"
    archived = "archived"


class TypeEncoding(StrEnum):
    ros1 = "ros1"
    rbuf = "rbuf"
    json = "json"
    cdr = "cdr"


TypeEncodingParam = Annotated[TypeEncoding, BeforeValidator(_strip_enum_prefix)]
ProcessStateParam = Annotated[ProcessState, BeforeValidator(_strip_enum_prefix)]


class WireModel(BaseModel):
    """Base of response models: every declared key is always emitted, possibly as null."""

    model_config = ConfigDict(use_enum_values=True)


class CommonModel(WireModel):
    """Fields of every id-keyed resource.

    Two private attributes travel with a stored resource but never on the wire: ``_version``, the
    optimistic-concurrency version of its item, and ``_internal``, server-only attributes (such as a
    topic's record bucket width).
    """

    _version: int = PrivateAttr(0)
    _internal: dict[str, Any] = PrivateAttr(default_factory=dict)

    id: UUID
    created_at: datetime
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    created_by: UUID | None = None
    updated_by: UUID | None = None
    deleted_by: UUID | None = None


class LockModel(WireModel):
    locked: bool = False
    locked_by: UUID | None = None
    locked_at: datetime | None = None
    lock_token: str | None = None


class DataResponse(BaseModel, Generic[T]):
    """``{"data": <resource>}``."""

    data: T


class PaginatedResponse(BaseModel, Generic[T]):
    """The LogQS PaginationModel: exactly these keys."""

    offset: int
    limit: int
    order: str
    sort: str
    count: int | None
    data: list[T]


class RequestModel(BaseModel):
    """Base of request bodies: unknown keys are ignored, as the official service does.

    Every string, also inside JSON fields, must be Unicode text (``check_unicode``).
    """

    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="after")
    @classmethod
    def _unicode_text(cls, value: Any) -> Any:
        return check_unicode(value)


class LockCreateFields(RequestModel):
    locked: bool = False


class CommonListParams(BaseModel):
    """Query parameters of every list route (the LogQS "common filters")."""

    model_config = ConfigDict(extra="ignore")

    include_count: bool = True
    offset: int = Field(0, ge=0)
    limit: int = Field(100, ge=0, le=1000)
    order: str = "created_at"
    sort: str = "ASC"
    created_by: UUID | None = None
    updated_by: UUID | None = None
    deleted_by: UUID | None = None
    updated_by_null: bool | None = None
    deleted_by_null: bool | None = None
    updated_at_null: bool | None = None
    deleted_at_null: bool | None = None
    created_at_lte: datetime | None = None
    updated_at_lte: datetime | None = None
    deleted_at_lte: datetime | None = None
    created_at_gte: datetime | None = None
    updated_at_gte: datetime | None = None
    deleted_at_gte: datetime | None = None

    @field_validator("sort")
    @classmethod
    def _sort_any_case(cls, value: str) -> str:
        if value.upper() not in ("ASC", "DESC"):
            raise ValueError("sort must be ASC or DESC (any case)")
        return value

    @field_validator("order")
    @classmethod
    def _order_is_a_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", value):
            raise ValueError("order must be a field name")
        return value

    @property
    def descending(self) -> bool:
        return self.sort.upper() == "DESC"

    #: Names of the parameters that control paging rather than filter rows.
    PAGING: ClassVar[frozenset[str]] = frozenset({"include_count", "offset", "limit", "order", "sort"})

    def filters(self) -> dict[str, Any]:
        """The filter parameters that were given (paging parameters excluded)."""
        return {
            name: value
            for name, value in self.model_dump(exclude_none=True).items()
            if name not in self.PAGING
        }
