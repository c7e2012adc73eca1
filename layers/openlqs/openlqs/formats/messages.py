"""Decoding message bytes into plain Python values, by a topic's ``type_encoding``.

Decoders are registered by the contract's ``type_encoding`` (:data:`DECODERS`), not switched on in
callers: ``ros1`` (ROS 1 serialisation), ``cdr`` (ROS 2 CDR, with its 4-byte encapsulation header) and
``json``. Any other encoding (protobuf, flatbuffer, or None) has no decoder: :func:`decode_message`
raises :class:`NoDecoder` and callers return the raw bytes only (``query_data`` null).

ROS messages decode from the topic's own ``type_data`` (the definitions the log carries, with their
dependencies), so custom message types decode as well as the standard ones. rosbags is imported lazily:
only readers that decode messages need it, and typestores are cached per type.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import re
from collections.abc import Callable
from functools import lru_cache
from types import MappingProxyType
from typing import Any

#: Byte arrays up to this size are inlined in JSON as base64; larger ones are summarised. A default for
#: settings to override: 4 KiB keeps small blobs whole while a point cloud or image stays a few lines.
DEFAULT_MAX_INLINE_BYTES = 4096

#: How many leading bytes a summary of a large byte array keeps (enough to recognise a header or magic).
SUMMARY_HEAD_BYTES = 64

Data = bytes | memoryview
#: A decoder: ``(type_name, type_data, data)`` to the message as a dict of plain values.
Decoder = Callable[[str, str, Data], dict[str, Any]]


class MessageDecodeError(ValueError):
    """The bytes do not match the definition (or the definition cannot be parsed)."""


class NoDecoder(MessageDecodeError):
    """Messages of this ``type_encoding`` are kept as bytes only: openlqs has no decoder for them."""


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
    return _deserialized(store.deserialize_ros1, type_name, data)


def ros1_md5sum(type_name: str, type_data: str) -> str:
    """The ROS 1 md5sum of a type from its full definition (what a bag's connection header carries)."""
    store = _typestore(type_name, type_data)
    try:
        return str(store.generate_msgdef(rosbags_type_name(type_name))[1])
    except Exception as error:  # rosbags raises several errors with no common base
        raise MessageDecodeError(f"the definition of {type_name} is incomplete: {error}") from error


def _deserialized(deserialize: Callable[[Data, str], Any], type_name: str, data: Data) -> dict[str, Any]:
    """The message ``deserialize`` (a typestore's ROS 1 or CDR deserializer) makes, as plain values."""
    try:
        message = deserialize(data, rosbags_type_name(type_name))
    except Exception as error:  # a definition mismatch surfaces as struct/index/value errors
        raise MessageDecodeError(f"the bytes do not decode as {type_name}: {error}") from error
    plain = to_plain(message)
    assert isinstance(plain, dict)
    return plain


#: The line that separates concatenated definitions (rosbag2 and MCAP write 80 ``=``), and the line that
#: names the next IDL file in a ``ros2idl`` schema.
_SEPARATOR = re.compile(r"^=+\s*$", re.MULTILINE)
_IDL_HEADER = re.compile(r"^\s*IDL:\s*\S+\s*\n", re.MULTILINE)


def _types_from_idl(type_data: str) -> dict[str, Any]:
    """The types of a ``ros2idl`` schema: one IDL file, or several separated by ``====`` and ``IDL:``
    lines."""
    from rosbags.typesys import get_types_from_idl

    types: dict[str, Any] = {}
    for section in _SEPARATOR.split(type_data):
        text = _IDL_HEADER.sub("", section, count=1).strip()
        if text:
            types.update(get_types_from_idl(text))
    return types


def _defines(store: Any, name: str) -> bool:
    """Whether ``store`` has ``name`` and every type it depends on (rosbags registers a type whose
    dependencies are missing and fails only when a message is decoded)."""
    from rosbags.typesys import TypesysError

    if name not in store.types:
        return False
    try:
        store.generate_msgdef(name)
    except (TypesysError, KeyError):
        return False
    return True


@lru_cache(maxsize=256)
def _cdr_typestore_or_error(type_name: str, type_data: str) -> Any:
    """:func:`_cdr_typestore`'s answer, an error included: a topic whose definition does not build
    fails each of its messages without parsing the definition again."""
    try:
        return _cdr_typestore(type_name, type_data)
    except MessageDecodeError as error:
        return str(error)  # the text, not the exception: raising one object again grows its traceback


def _cdr_typestore(type_name: str, type_data: str) -> Any:
    """A typestore that decodes ``type_name``: built from ``type_data`` alone (the definitions the
    log was recorded with), else from rosbags' latest distribution with ``type_data``'s types it lacks
    added, else the latest distribution as it is (a known type logged without definitions)."""
    try:
        from rosbags.typesys import Stores, get_types_from_msg, get_typestore
    except ImportError as error:
        raise MessageDecodeError("decoding messages needs rosbags (pip install rosbags)") from error
    name = rosbags_type_name(type_name)
    problems: list[str] = []
    if type_data.strip():
        parsed: dict[str, Any] | None = None
        for parse in (lambda: get_types_from_msg(type_data, name), lambda: _types_from_idl(type_data)):
            try:
                parsed = parse()
            except Exception as error:  # rosbags raises several parser errors with no common base
                problems.append(str(error))
                continue
            if name in parsed:
                break
        if parsed:
            store = get_typestore(Stores.EMPTY)
            try:
                store.register(parsed)
            except Exception as error:
                problems.append(str(error))
            else:
                if _defines(store, name):
                    return store
            store = get_typestore(Stores.LATEST)
            try:
                store.register({key: value for key, value in parsed.items() if key not in store.types})
            except Exception as error:
                problems.append(str(error))
            else:
                if _defines(store, name):
                    return store
    store = get_typestore(Stores.LATEST)
    if _defines(store, name):
        return store
    detail = f": {'; '.join(problems)}" if problems else ""
    raise MessageDecodeError(f"the definition of {type_name} cannot be built{detail}")


def decode_cdr(type_name: str, type_data: str, data: Data) -> dict[str, Any]:
    """A ROS 2 message (CDR, with its 4-byte encapsulation header) as plain Python values."""
    store = _cdr_typestore_or_error(type_name, type_data)
    if isinstance(store, str):
        raise MessageDecodeError(store)
    return _deserialized(store.deserialize_cdr, type_name, data)


def decode_json(type_name: str, type_data: str, data: Data) -> dict[str, Any]:
    """A JSON message (UTF-8 text of one JSON object); the schema is not needed to decode it."""
    try:
        value = json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise MessageDecodeError(f"the bytes are not JSON: {error}") from error
    if not isinstance(value, dict):
        raise MessageDecodeError(f"the JSON message is a {type(value).__name__}, not an object")
    return value


#: The decoders, by the ``type_encoding`` of the contract's topics.
DECODERS: MappingProxyType[str, Decoder] = MappingProxyType(
    {"ros1": decode_ros1, "cdr": decode_cdr, "json": decode_json}
)


def is_decodable(type_encoding: str | None) -> bool:
    """Whether messages of ``type_encoding`` have a decoder (others are served as bytes only)."""
    return type_encoding is not None and type_encoding in DECODERS


def encoding_of(type_encoding: str | None, type_name: str | None, type_data: str | None) -> str | None:
    """The decoder a topic's messages need, None when they are bytes only.

    A topic without ``type_encoding`` but with a name and a definition is ROS 1 (topics made through
    the API before there were other encodings); one without a definition has no decoder (an MCAP
    channel of protobuf, flatbuffer… messages). ``ros1`` needs a definition, ``cdr`` a type name (rosbags
    knows the standard types without one), ``json`` nothing.
    """
    encoding = str(type_encoding) if type_encoding is not None else None
    if encoding is None:
        return "ros1" if type_name and type_data else None
    if not is_decodable(encoding):
        return None
    if encoding == "ros1" and not (type_name and type_data):
        return None
    if encoding == "cdr" and not type_name:
        return None
    return encoding


def decode_message(
    type_encoding: str | None, type_name: str | None, type_data: str | None, data: Data
) -> dict[str, Any]:
    """The message as plain Python values, decoded by its topic's ``type_encoding``.

    :class:`NoDecoder` when the encoding has none (callers then return raw bytes only);
    :class:`MessageDecodeError` when the bytes or the definition are wrong.
    """
    decoder = DECODERS.get(type_encoding or "")
    if decoder is None:
        raise NoDecoder(f"no decoder for type_encoding {type_encoding!r}: the message is kept as bytes")
    return decoder(type_name or "", type_data or "", data)


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
