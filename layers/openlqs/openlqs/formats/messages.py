"""Decoding ROS 1 message bytes with rosbags' type system, from a topic's own definitions.

A topic's ``type_data`` is the bag's message definition (with its dependencies, as ROS 1 writes them),
so custom message types decode as well as the standard ones. rosbags is imported lazily: only readers
that decode messages need it.
"""

from __future__ import annotations

import base64
import dataclasses
import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

#: Byte arrays up to this size are inlined in JSON as base64; larger ones are summarised. A default for
#: settings to override: 4 KiB keeps small blobs whole while a point cloud or image stays a few lines.
DEFAULT_MAX_INLINE_BYTES = 4096

#: How many leading bytes a summary of a large byte array keeps (enough to recognise a header or magic).
SUMMARY_HEAD_BYTES = 64


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


#: Decoders by ``type_encoding``: the message's bytes as plain Python values, from the topic's type.
Decoder = Callable[[str, str, bytes | memoryview], dict[str, Any]]
DECODERS: dict[str, Decoder] = {"ros1": decode_ros1}


def decode_message(
    type_encoding: str | None, type_name: str, type_data: str, data: bytes | memoryview
) -> dict[str, Any]:
    """The message decoded by its topic's ``type_encoding``; ``MessageDecodeError`` when there is no
    decoder for it (its records keep their bytes only) or the bytes do not decode."""
    decoder = DECODERS.get(str(type_encoding)) if type_encoding is not None else None
    if decoder is None:
        raise MessageDecodeError(f"no decoder for type_encoding {type_encoding!r}")
    return decoder(type_name, type_data, data)


def _is_constant(field: dataclasses.Field[Any]) -> bool:
    """A message constant (``uint8 INT8=1``): rosbags declares it ``ClassVar`` in a string annotation,
    which ``dataclasses`` does not recognise, so it is listed among the fields."""
    return isinstance(field.type, str) and field.type.startswith(("ClassVar", "typing.ClassVar"))


def to_plain(value: Any) -> Any:
    """rosbags message objects (dataclasses, numpy arrays) as plain Python values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: to_plain(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if not field.name.startswith("__") and not _is_constant(field)  # rosbags' __msgtype__
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


def to_json_value(plain: Any, max_inline_bytes: int = DEFAULT_MAX_INLINE_BYTES) -> Any:
    """A plain value from :func:`decode_ros1` as strict JSON values, for ``query_data``.

    * bytes (uint8 arrays) of at most ``max_inline_bytes`` become a base64 string; larger ones become
      ``{"size": n, "head": <base64 of the first SUMMARY_HEAD_BYTES bytes>, "truncated": true}``, so a
      point cloud does not turn into megabytes of JSON;
    * NaN and ±infinity become ``null``, as JavaScript's ``JSON.stringify`` does: strict JSON has no
      such numbers, and a string in a numeric field would make ``query_data_filter`` comparisons
      fail on type rather than simply not match;
    * dicts and lists (and tuples) are converted item by item; ints, finite floats, str, bool and
      None are kept as they are.

    The result passes ``json.dumps(..., allow_nan=False)``. ``TypeError`` for a value that
    :func:`to_plain` never produces; ``ValueError`` for a negative ``max_inline_bytes``.
    """
    if max_inline_bytes < 0:
        raise ValueError(f"max_inline_bytes must not be negative, not {max_inline_bytes}")
    return _to_json_value(plain, max_inline_bytes)


def _to_json_value(value: Any, limit: int) -> Any:
    # bool and int are exact JSON already; checked before float since bool is an int.
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _to_json_value(item, limit) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json_value(item, limit) for item in value]
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        if len(data) <= limit:
            return base64.b64encode(data).decode("ascii")
        return {
            "size": len(data),
            "head": base64.b64encode(data[:SUMMARY_HEAD_BYTES]).decode("ascii"),
            "truncated": True,
        }
    raise TypeError(f"{type(value).__name__} is not a plain message value")
