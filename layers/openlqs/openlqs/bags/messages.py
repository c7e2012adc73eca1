"""Decoding ROS 1 message bytes with rosbags' type system, from a topic's own definitions.

A topic's ``type_data`` is the bag's message definition (with its dependencies, as ROS 1 writes them),
so custom message types decode as well as the standard ones. rosbags is imported lazily: only readers
that decode messages need it.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Any


class MessageDecodeError(ValueError):
    """The bytes do not match the definition (or the definition cannot be parsed)."""


def rosbags_type_name(type_name: str) -> str:
    """rosbags' spelling of a ROS 1 type: ``turtlesim/Pose`` → ``turtlesim/msg/Pose``."""
    package, _, name = type_name.rpartition("/")
    if not package or package.endswith("/msg"):
        return type_name
    return f"{package}/msg/{name}"


@lru_cache(maxsize=256)
def _typestore(type_name: str, type_data: str) -> Any:
    try:
        from rosbags.typesys import Stores, get_types_from_msg, get_typestore
    except ImportError as error:
        raise MessageDecodeError("decoding messages needs rosbags (pip install rosbags)") from error
    store = get_typestore(Stores.EMPTY)
    try:
        store.register(get_types_from_msg(type_data, rosbags_type_name(type_name)))
    except Exception as error:  # rosbags raises several parser errors with no common base
        raise MessageDecodeError(f"the definition of {type_name} cannot be parsed: {error}") from error
    return store


def decode_ros1(type_name: str, type_data: str, data: bytes | memoryview) -> dict[str, Any]:
    """The message as plain Python values (dicts, lists, numbers, str, bytes for uint8 arrays)."""
    store = _typestore(type_name, type_data)
    try:
        message = store.deserialize_ros1(data, rosbags_type_name(type_name))
    except Exception as error:  # a definition mismatch surfaces as struct/index/value errors
        raise MessageDecodeError(f"the bytes do not decode as {type_name}: {error}") from error
    plain = to_plain(message)
    assert isinstance(plain, dict)
    return plain


def to_plain(value: Any) -> Any:
    """rosbags message objects (dataclasses, numpy arrays) as plain Python values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: to_plain(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if not field.name.startswith("__")  # rosbags' __msgtype__
        }
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in value]
    dtype = getattr(value, "dtype", None)
    if dtype is not None:  # numpy array or scalar
        if getattr(value, "ndim", 0) == 0:
            return value.item()
        if dtype.kind == "u" and dtype.itemsize == 1:  # uint8[] (images, point clouds): bytes
            return value.tobytes()
        return value.tolist()
    return value
