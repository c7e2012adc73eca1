"""MCAP schemas and channels as neutral channels, typed as the LogQS contract's topics are.

The contract (``logqs-next.md`` §5.1) allows ``type_encoding`` ``ros1``, ``cdr``, ``json`` or null: the
official client fails to parse a topic with any other value. So a channel is typed only when its
message encoding and schema encoding are a pair openlqs (and the client) can decode:

=====================  =================  ============  ===============================================
message / schema       ``type_encoding``  ``type_name``  ``type_data``
=====================  =================  ============  ===============================================
cdr / ros2msg          ``cdr``            schema name   schema text (``====``/``MSG:`` sections)
cdr / ros2idl          ``cdr``            schema name   schema text (IDL)
ros1 / ros1msg         ``ros1``           ``pkg/Type``  schema text (the full definition)
json / jsonschema      ``json``           schema name   schema text; the parsed schema in type_schema
anything else          None               schema name   None (encodings in ``context``)
=====================  =================  ============  ===============================================

A channel without a schema (schema id 0) is untyped too. The message and schema encodings, and the
channel's metadata (rosbag2's ``offered_qos_profiles``…, up to :data:`MAX_CONTEXT_METADATA_BYTES`), go
to the channel's ``context``. A JSON schema becomes ``type_schema`` only when it is a JSON object a
topic can hold (:func:`openlqs.models.common.check_json`).

One topic name is one topic: several channels on it are fine (like ROS 1 connections) as long as they
carry the same type; channels of different types on one name are refused (:func:`check_topics`).
"""

from __future__ import annotations

import json
from typing import Any

from openlqs.errors import BadLogFile
from openlqs.formats.base import Channel
from openlqs.formats.mcap.records import ChannelRecord, Schema
from openlqs.models.common import check_json

#: ``(message encoding, schema encoding)`` → the contract's ``type_encoding``.
TYPE_ENCODINGS = {
    ("cdr", "ros2msg"): "cdr",
    ("cdr", "ros2idl"): "cdr",
    ("ros1", "ros1msg"): "ros1",
    ("json", "jsonschema"): "json",
}


def ros1_type_name(name: str) -> str:
    """``pkg/msg/Type`` → ``pkg/Type``: the contract's ROS 1 deserializer splits the name in two."""
    parts = name.split("/")
    if len(parts) == 3 and parts[1] == "msg":
        return f"{parts[0]}/{parts[2]}"
    return name


#: A channel's metadata larger than this (as JSON) is left out of the topic's context, its size kept.
MAX_CONTEXT_METADATA_BYTES = 8 * 1024


def _json_object(text: str) -> dict[str, Any] | None:
    """The schema as a JSON object a topic's ``type_schema`` can hold; None for anything else."""
    try:
        value = json.loads(text)
        if not isinstance(value, dict):
            return None
        return dict(check_json(value))
    except ValueError:  # not JSON, NaN in it, too deep or too large for a topic
        return None


def channel_of(record: ChannelRecord, schema: Schema | None) -> Channel:
    """One MCAP channel (with its schema, None for schema id 0) as a neutral, contract-typed channel."""
    context: dict[str, Any] = {
        "message_encoding": record.message_encoding,
        "schema_encoding": schema.encoding if schema is not None else None,
    }
    if record.metadata:
        size = len(json.dumps(record.metadata, separators=(",", ":")))
        if size <= MAX_CONTEXT_METADATA_BYTES:
            context["metadata"] = dict(record.metadata)
        else:
            context["metadata_bytes"] = size
    encoding = None if schema is None else TYPE_ENCODINGS.get((record.message_encoding, schema.encoding))
    text: str | None = None
    if encoding is not None and schema is not None:
        try:
            text = schema.data.decode("utf-8")
        except UnicodeDecodeError:
            context["schema_error"] = "the schema data is not UTF-8 text"
            encoding = None
    if encoding is None or schema is None or text is None:
        context["schema_name"] = schema.name if schema is not None else None
        return Channel(
            id=record.id,
            topic=record.topic,
            type_name=schema.name if schema is not None and schema.name else None,
            type_encoding=None,
            type_data=None,
            context=context,
        )
    return Channel(
        id=record.id,
        topic=record.topic,
        type_name=ros1_type_name(schema.name) if encoding == "ros1" else schema.name,
        type_encoding=encoding,
        type_data=text,
        type_schema=_json_object(text) if encoding == "json" else None,
        context=context,
    )


def _type_key(record: ChannelRecord, schema: Schema | None) -> tuple[str, str, str, bytes]:
    """What makes two channels' messages the same type: message encoding and the schema's content
    (schema ids are only a file's handles: two ids of one schema are one type)."""
    if schema is None:
        return (record.message_encoding, "", "", b"")
    return (record.message_encoding, schema.encoding, schema.name, schema.data)


def _describe(record: ChannelRecord, schema: Schema | None) -> str:
    if schema is None:
        return f"channel {record.id}: {record.message_encoding or 'unnamed'} messages with no schema"
    return (
        f"channel {record.id}: {schema.name or 'an unnamed type'} "
        f"({schema.encoding or 'no'} schema, {record.message_encoding or 'unnamed'} messages)"
    )


class Declarations:
    """The schemas and channels of a file, as they are declared (each id once, or identically again)."""

    def __init__(self) -> None:
        self.schemas: dict[int, Schema] = {}
        self.records: dict[int, ChannelRecord] = {}

    def add_schema(self, schema: Schema, offset: int) -> None:
        if schema.id == 0:  # invalid by the format's rules, and ignored by readers
            return
        known = self.schemas.get(schema.id)
        if known is not None and known != schema:
            raise BadLogFile(
                f"Schema {schema.id} is declared again at byte {offset} with another content "
                f"({known.name!r} and {schema.name!r})."
            )
        self.schemas[schema.id] = schema

    def add_channel(self, record: ChannelRecord, offset: int) -> None:
        if record.schema_id and record.schema_id not in self.schemas:
            raise BadLogFile(
                f"Channel {record.id} ({record.topic!r}) at byte {offset} uses schema {record.schema_id}, "
                "which is not declared before it."
            )
        known = self.records.get(record.id)
        if known is not None and known != record:
            raise BadLogFile(
                f"Channel {record.id} is declared again at byte {offset} with another content "
                f"({known.topic!r} and {record.topic!r})."
            )
        self.records[record.id] = record

    def schema_of(self, record: ChannelRecord) -> Schema | None:
        return self.schemas.get(record.schema_id) if record.schema_id else None

    def channels(self) -> dict[int, Channel]:
        """The declared channels, typed, after checking that each topic has one type."""
        check_topics(self)
        return {
            channel_id: channel_of(record, self.schema_of(record))
            for channel_id, record in sorted(self.records.items())
        }


def check_topics(declarations: Declarations) -> None:
    """Refuse channels of different types on one topic name.

    openlqs stores one ``type_name``/``type_encoding``/``type_data`` per topic and decodes every record
    of a topic with it: mixing two types would silently decode one channel's messages with the other's
    definition. So the file is refused, naming the topic and both types.
    """
    first: dict[str, ChannelRecord] = {}
    for record in sorted(declarations.records.values(), key=lambda r: r.id):
        other = first.setdefault(record.topic, record)
        if other is record:
            continue
        schema, other_schema = declarations.schema_of(record), declarations.schema_of(other)
        if _type_key(record, schema) != _type_key(other, other_schema):
            same_name = schema is not None and other_schema is not None and schema.name == other_schema.name
            detail = " (two different definitions of one name)" if same_name else ""
            raise BadLogFile(
                f"Topic {record.topic!r} has channels of different types{detail}: "
                f"{_describe(other, other_schema)} and {_describe(record, schema)}. "
                "openlqs keeps one type per topic."
            )
