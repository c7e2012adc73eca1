"""Conversion between wire models and DynamoDB attribute values (used only by repositories)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

#: Prefix of attributes holding JSON text (dicts and lists keep their exact shape and numbers).
_JSON = "j_"


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
