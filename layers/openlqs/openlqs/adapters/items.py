"""Conversion between wire models and DynamoDB attribute values (used only by repositories)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

#: Prefix of attributes holding JSON text (dicts and lists keep their exact shape and numbers).
_JSON = "j_"
#: DynamoDB's limit on one item: attribute names plus values, in bytes.
MAX_ITEM_BYTES = 400 * 1024


def item_size(item: dict[str, Any]) -> int:
    """An upper estimate of an item's size as DynamoDB counts it (names and values, UTF-8)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8", errors="surrogatepass"))
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float | Decimal):
        return 21  # DynamoDB numbers: up to 38 digits in at most 21 bytes
    if isinstance(value, dict):
        return 3 + sum(1 + len(str(k).encode()) + _value_size(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return 3 + sum(1 + _value_size(v) for v in value)
    return len(str(value).encode())


def to_attributes(model: BaseModel) -> dict[str, Any]:
    """Model → attribute dict for the boto3 resource layer. Nulls are left out; floats become Decimal."""
    attributes: dict[str, Any] = {}
    for name, value in model.model_dump(mode="json").items():
        if value is None:
            continue
        if isinstance(value, dict | list):
            attributes[_JSON + name] = json.dumps(value, separators=(",", ":"))
        elif isinstance(value, float):
            attributes[name] = Decimal(repr(value))
        else:
            attributes[name] = value
    return attributes


def from_attributes(item: dict[str, Any]) -> dict[str, Any]:
    """Attribute dict → plain values ready for ``model_validate`` (keys and bookkeeping included)."""
    values: dict[str, Any] = {}
    for name, value in item.items():
        if name.startswith(_JSON):
            values[name[len(_JSON) :]] = json.loads(value)
        elif isinstance(value, Decimal):
            values[name] = (
                int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
            )
        else:
            values[name] = value
    return values
