"""The LogQS documentation walkthrough, run with the official client (``logqs==1.1.16``) against an API.

This script runs inside ``.venv-compat`` (see ``scripts/compat-venv.sh``), where the official client and
the rosbags version it pins are installed; it never imports openlqs. It follows the documentation's
walkthrough: a group, a log, an uploaded bag, an ingestion run to completion, then topics and records,
whose bytes and deserialized data are compared with what rosbags reads from the same bag. MCAP files
(``--mcap``, ROS 2 messages) go the same way, compared with what the ``mcap`` package reads and what
rosbags deserializes; their records are read with ``fetch_record_bytes``, ``iter_record_data`` (bytes
and deserialized) and ``get_deserialized_record_data``. ROS 2 recordings (``--rosbag2``, a directory
with metadata.yaml) are uploaded file by file and ingested through their metadata.yaml; their records
name their file in ``source`` (a ``.db3`` converted into a derived MCAP), which the client reads. Each
log then gets a digestion of two topics (a window thinned by a frequency, and a whole topic), read back
with ``utils.iter_digestion_records`` (the part blobs the server wrote) and ``utils.iter_digestion_data``
(the source objects), compared with the same readers.

    LQS_API_URL=http://127.0.0.1:8000 LQS_DATASTORE_ID=<uuid> \\
        .venv-compat/bin/python tests/compat/official_walkthrough.py \\
        --topic-counts '{"/rosout": 10, ...}' --every-record-of /rosout example.bag example-lz4.bag \\
        --mcap talker.mcap

Each bag and each MCAP file gets its own log in the same group. Every passed step prints ``ok <step>``;
the first failed step prints its error and the script exits 1, so exit 0 means every step passed. The
datastore must not hold a "Demo Group" yet. ``LQS_API_KEY_ID``/``LQS_API_KEY_SECRET`` are sent when set,
placeholders otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

from lqs import LogQS
from mcap.reader import make_reader
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

GROUP_NAME = "Demo Group"
LOG_NAME = "Demo Log"
INGESTION_NAME = "Demo Ingestion"
GROUP_NOTE = "This is a note for the demo group."
RESOURCE_NOTE = "Updated through the Group resource."
BAG_MAGIC = b"#ROSBAG V2.0"
MCAP_MAGIC = b"\x89MCAP0\r\n"
INGESTION_TIMEOUT_S = 300.0
# Placeholders for when no key is given: the client only sends an Authorization header with both set.
DEFAULT_API_KEY_ID = "00000000-0000-4000-8000-00000000c0de"
DEFAULT_API_KEY_SECRET = "openlqs-compat-walkthrough"

T = TypeVar("T")


@dataclass
class BagContents:
    """What rosbags reads from a bag, per topic: its ROS 1 type, its messages in time order, and the
    deserialized messages at its first timestamp (several when they share it), as plain dicts."""

    types: dict[str, str]
    messages: dict[str, list[tuple[int, bytes]]]
    first_messages: dict[str, list[dict[str, Any]]]


def step(name: str, action: Callable[..., T], *args: Any) -> T:
    """Run one walkthrough step; print ``ok <name>`` when it returns, ``FAILED <name>`` when it raises."""
    started = time.monotonic()
    try:
        result = action(*args)
    except Exception:
        print(f"FAILED {name}", flush=True)
        raise
    print(f"ok {name} ({time.monotonic() - started:.1f} s)", flush=True)
    return result


def connect() -> LogQS:
    return LogQS(
        config=dict(
            api_url=os.environ["LQS_API_URL"],
            datastore_id=os.environ["LQS_DATASTORE_ID"],
            api_key_id=os.environ.get("LQS_API_KEY_ID") or DEFAULT_API_KEY_ID,
            api_key_secret=os.environ.get("LQS_API_KEY_SECRET") or DEFAULT_API_KEY_SECRET,
            retry_count=0,
        )
    )


def as_plain(message: Any, typestore: Any) -> Any:
    """A rosbags message as the official client's ROS 1 deserializer renders it: dicts and lists of the
    type's fields (its constants left out), times and durations as ``{"secs", "nsecs"}``."""
    if hasattr(message, "tolist"):  # numpy arrays of primitives
        return message.tolist()
    if isinstance(message, list | tuple):
        return [as_plain(item, typestore) for item in message]
    if not is_dataclass(message):
        return message
    if message.__msgtype__ in ("builtin_interfaces/msg/Time", "builtin_interfaces/msg/Duration"):
        return {"secs": message.sec, "nsecs": message.nanosec}
    _, field_definitions = typestore.fielddefs[message.__msgtype__]
    return {name: as_plain(getattr(message, name), typestore) for name, _ in field_definitions}


def read_bag(path: Path) -> BagContents:
    """The bag as rosbags (the compat venv's version) sees it; several connections merge into one topic."""
    types: dict[str, str] = {}
    messages: dict[str, list[tuple[int, bytes]]] = {}
    first_messages: dict[str, list[dict[str, Any]]] = {}
    with AnyReader([path]) as reader:
        for connection, timestamp, rawdata in reader.messages():
            topic = connection.topic
            types[topic] = connection.msgtype.replace("/msg/", "/")
            messages.setdefault(topic, []).append((timestamp, bytes(rawdata)))
            if timestamp == messages[topic][0][0]:
                message = reader.deserialize(rawdata, connection.msgtype)
                first_messages.setdefault(topic, []).append(as_plain(message, reader.typestore))
    return BagContents(types, messages, first_messages)


# Groups, through the interface (lqs.list/create/fetch/update).


def create_group(lqs: LogQS) -> Any:
    groups = lqs.list.group(name=GROUP_NAME).data
    assert groups == [], f"a fresh datastore should list no {GROUP_NAME!r}, got {groups}"
    group = lqs.create.group(name=GROUP_NAME).data
    assert group.name == GROUP_NAME, f"created group is named {group.name!r}"
    return group


def fetch_group(lqs: LogQS, group: Any) -> None:
    fetched = lqs.fetch.group(group_id=group.id).data
    assert (fetched.id, fetched.name) == (group.id, GROUP_NAME), f"fetched {fetched!r} for {group!r}"


def update_group_note(lqs: LogQS, group: Any) -> None:
    updated = lqs.update.group(group_id=group.id, data=dict(note=GROUP_NOTE)).data
    assert updated.note == GROUP_NOTE, f"update returned note {updated.note!r}"
    assert lqs.fetch.group(group_id=group.id).data.note == GROUP_NOTE, "the note did not persist"


# Groups, through the resource models (lqs.resource.Group).


def fetch_group_resource(lqs: LogQS, group: Any) -> Any:
    by_name = lqs.resource.Group.fetch(GROUP_NAME)
    by_id = lqs.resource.Group.fetch(group.id)
    assert by_name.id == group.id, f"Group.fetch({GROUP_NAME!r}) returned {by_name!r}, expected {group!r}"
    assert by_id.id == group.id, f"Group.fetch(id) returned {by_id!r}, expected {group!r}"
    assert by_id.note == GROUP_NOTE, f"Group.fetch(id) has note {by_id.note!r}"
    return by_id


def fetch_or_create_existing_group(lqs: LogQS, group: Any) -> None:
    again = lqs.resource.Group.fetch_or_create(name=GROUP_NAME)
    assert again.id == group.id, f"fetch_or_create made {again!r} instead of returning {group!r}"
    count = lqs.list.group(name=GROUP_NAME).count
    assert count == 1, f"{count} groups named {GROUP_NAME!r} after fetch_or_create"


def update_group_resource(lqs: LogQS, group: Any) -> None:
    group.update(note=RESOURCE_NOTE)
    assert group.note == RESOURCE_NOTE, f"group.update left the instance's note at {group.note!r}"
    stored = lqs.fetch.group(group_id=group.id).data.note
    assert stored == RESOURCE_NOTE, f"group.update stored note {stored!r}"


def check_group_repr(group: Any) -> None:
    expected = f"<Group id={group.id}, name={GROUP_NAME}>"
    assert repr(group) == expected, f"repr(group) is {group!r}, expected {expected}"


# Logs.


def fetch_or_create_log(lqs: LogQS, group: Any, name: str) -> Any:
    log = lqs.resource.Log.fetch_or_create(group_id=group.id, name=name)
    assert (log.group_id, log.name) == (group.id, name), f"fetch_or_create made {log!r}"
    assert (log.record_count, log.record_size) == (0, 0), "a new log should hold no records"
    again = lqs.resource.Log.fetch_or_create(group_id=group.id, name=name)
    assert again.id == log.id, f"a second fetch_or_create made {again!r} instead of returning {log!r}"
    return log


def list_group_logs(group: Any, log: Any) -> None:
    logs = group.list_logs()
    assert log.id in {listed.id for listed in logs}, f"group.list_logs() = {logs} misses {log!r}"
    assert all(listed.group_id == group.id for listed in logs), f"foreign logs in {logs}"


# Objects.


def upload_bag(lqs: LogQS, log: Any, bag: Path) -> None:
    uploaded, parts = lqs.utils.upload_log_object(log_id=log.id, file_path=str(bag))
    assert uploaded.upload_state == "complete", f"upload ended in state {uploaded.upload_state!r}"
    size = sum(part.size for part in parts)
    assert size == bag.stat().st_size, f"parts hold {size} bytes, the file {bag.stat().st_size}"


def fetch_object_metadata(lqs: LogQS, log: Any, bag: Path) -> None:
    meta = lqs.fetch.log_object(log_id=log.id, object_key=bag.name).data
    assert meta.size == bag.stat().st_size, f"object size {meta.size}, file size {bag.stat().st_size}"
    assert meta.upload_state == "complete", f"object upload_state is {meta.upload_state!r}"
    assert meta.presigned_url, "object metadata has no presigned_url"


def fetch_object_bytes(lqs: LogQS, log: Any, bag: Path, magic: bytes = BAG_MAGIC) -> None:
    head = lqs.fetch.log_object(
        log_id=log.id, object_key=bag.name, redirect=True, offset=0, length=len(magic)
    )
    assert head == magic, f"first {len(magic)} bytes are {head!r}, expected {magic!r}"


# Ingestions.


def create_ingestion(lqs: LogQS, log: Any, bag: Path) -> Any:
    ingestion = lqs.resource.Ingestion.fetch_or_create(
        log_id=log.id, object_key=bag.name, name=INGESTION_NAME
    )
    assert ingestion.state == "ready", f"a new ingestion should be ready, is {ingestion.state!r}"
    assert (ingestion.log_id, ingestion.group_id) == (log.id, log.group_id), f"wrong parents: {ingestion}"
    assert ingestion.object_key == bag.name, f"ingestion object_key is {ingestion.object_key!r}"
    return ingestion


def queue_ingestion(ingestion: Any) -> None:
    ingestion.update(state="queued")
    assert ingestion.state != "ready", "ingestion.update(state='queued') left the ingestion ready"


def wait_for_ingestion(ingestion: Any) -> None:
    deadline = time.monotonic() + INGESTION_TIMEOUT_S
    while ingestion.state != "completed":
        assert ingestion.state != "failed", (
            f"ingestion failed: error_name={ingestion.error_name!r}, "
            f"error_message={ingestion.error_message!r}, error_payload={ingestion.error_payload!r}"
        )
        assert time.monotonic() < deadline, f"ingestion {ingestion.state!r} after {INGESTION_TIMEOUT_S} s"
        time.sleep(0.5)
        ingestion.refresh()


# Topics and records.


def list_log_topics(log: Any, expected_counts: dict[str, int]) -> dict[str, Any]:
    topics = {topic.name: topic for topic in log.list_topics()}
    counts = {name: topic.record_count for name, topic in topics.items()}
    assert counts == expected_counts, f"log.list_topics() record counts {counts}, expected {expected_counts}"
    return topics


def filter_topics_by_type(log: Any, topics: dict[str, Any], contents: BagContents) -> None:
    for type_name in sorted(set(contents.types.values())):
        names = sorted(topic.name for topic in log.list_topics(type_name=type_name))
        expected = sorted(name for name, typ in contents.types.items() if typ == type_name)
        assert names == expected, f"list_topics(type_name={type_name!r}) gave {names}, expected {expected}"
        assert all(topics[name].type_encoding == "ros1" for name in names), f"{type_name} is not ros1"


def list_topic_records(topics: dict[str, Any], contents: BagContents) -> dict[str, list[Any]]:
    records: dict[str, list[Any]] = {}
    for name, topic in topics.items():
        records[name] = topic.list_records()
        timestamps = [record.timestamp for record in records[name]]
        expected = [timestamp for timestamp, _ in contents.messages[name]]
        assert timestamps == sorted(timestamps), f"{name}: topic.list_records() is not in time order"
        assert sorted(timestamps) == sorted(expected), (
            f"{name}: topic.list_records() gave {len(timestamps)} records, rosbags reads {len(expected)}, "
            "or their timestamps differ"
        )
    return records


def fetch_record_bytes(
    lqs: LogQS, records: dict[str, list[Any]], contents: BagContents, every_record_of: list[str]
) -> None:
    for name, topic_records in records.items():
        # Every record of the chosen topics; the first and last of the others, to keep the run short.
        checked = topic_records if name in every_record_of else [topic_records[0], topic_records[-1]]
        expected = set(contents.messages[name])
        fetched = [(record.timestamp, lqs.utils.fetch_record_bytes(record)) for record in checked]
        missing = [timestamp for timestamp, data in fetched if (timestamp, data) not in expected]
        assert not missing, f"{name}: fetch_record_bytes differs from rosbags at timestamps {missing[:5]}"


def deserialize_records(lqs: LogQS, records: dict[str, list[Any]], contents: BagContents) -> None:
    for name, topic_records in records.items():
        data = lqs.utils.get_deserialized_record_data(topic_records[0])
        # The client adds the type's constants beside the fields; compare the fields only.
        candidates = contents.first_messages[name]
        deserialized = {key: data.get(key) for key in candidates[0]}
        assert deserialized in candidates, f"{name}: deserialized {deserialized}, rosbags reads {candidates}"


GROUP_BY = (
    "SELECT t.name, count(*), min(timestamp), max(timestamp) "
    "FROM records r JOIN topics t ON r.topic_id = t.id GROUP BY 1 ORDER BY 1"
)


def tag_a_time_range(lqs: LogQS, log: Any, topics: dict[str, Any]) -> Any:
    label = lqs.create.label(value="hard braking", note=None, category=f"events of {log.name}").data
    name, topic = sorted(topics.items())[0]
    start = topic.start_time
    tag = lqs.create.tag(
        label_id=label.id, log_id=log.id, topic_id=topic.id, start_time=start, end_time=start + 10**9
    ).data
    assert (tag.log_id, tag.topic_id, tag.start_time) == (log.id, topic.id, start), tag
    assert tag.id in {t.id for t in label.list_tags()}, "label.list_tags() misses the tag"
    logs = lqs.list.log(tag_label_ids_includes=[label.id]).data
    assert [found.id for found in logs] == [log.id], f"logs?tag_label_ids_includes= gave {logs}"
    updated = lqs.update.tag(tag.id, data={"note": f"first second of {name}"}).data
    assert updated.note == f"first second of {name}" and lqs.fetch.tag(tag.id).data.note == updated.note
    return tag


def query_the_log(lqs: LogQS, log: Any, topics: dict[str, Any]) -> None:
    query = lqs.create.query(log_id=log.id, name="per topic", statement=GROUP_BY).data
    expected = sorted(
        [t.name, t.record_count, t.start_time, t.end_time] for t in topics.values() if t.record_count
    )
    assert query.error is None and query.rows == expected, (query.error, query.rows, expected)
    changed = lqs.update.query(query.id, data={"statement": "SELECT count(*) FROM records"}).data
    assert changed.rows == [[sum(t.record_count for t in topics.values())]], changed.rows
    refused = lqs.create.query(log_id=log.id, statement="COPY records TO 'out.csv'").data
    assert refused.error["name"] == "BadQuery", refused.error
    lqs.delete.query(refused.id)


def fetch_me(lqs: LogQS) -> None:
    me = lqs.fetch.me().data
    assert me is not None and me.username == "admin" and me.admin, me
    assert lqs.resource.User.fetch("admin").id == me.id


def walk_bag(lqs: LogQS, group: Any, log_name: str, bag: Path, args: argparse.Namespace) -> None:
    """The walkthrough from "Logs" on, for one bag in a log of its own."""
    print(f"-- {bag.name} as log {log_name!r}", flush=True)
    contents = read_bag(bag)
    log = step("Log.fetch_or_create", fetch_or_create_log, lqs, group, log_name)
    step("group.list_logs", list_group_logs, group, log)
    step("utils.upload_log_object", upload_bag, lqs, log, bag)
    step("fetch.log_object metadata", fetch_object_metadata, lqs, log, bag)
    step("fetch.log_object bytes", fetch_object_bytes, lqs, log, bag)
    ingestion = step("Ingestion.fetch_or_create", create_ingestion, lqs, log, bag)
    step("ingestion.update(state='queued')", queue_ingestion, ingestion)
    step("ingestion.refresh until completed", wait_for_ingestion, ingestion)
    topics = step("log.list_topics", list_log_topics, log, args.topic_counts)
    step("log.list_topics(type_name=...)", filter_topics_by_type, log, topics, contents)
    records = step("topic.list_records", list_topic_records, topics, contents)
    step("utils.fetch_record_bytes", fetch_record_bytes, lqs, records, contents, args.every_record_of)
    step("utils.get_deserialized_record_data", deserialize_records, lqs, records, contents)
    tag = step(
        "create.label, create.tag, label.list_tags, list.log(tag_label_ids_includes)",
        tag_a_time_range,
        lqs,
        log,
        topics,
    )
    step("create.query, update.query (SQL over the log)", query_the_log, lqs, log, topics)
    step("delete.tag", lqs.delete.tag, tag.id)
    step("fetch.me, User.fetch", fetch_me, lqs)
    walk_digestion(lqs, log, topics, contents.messages)


# MCAP files (ROS 2 messages in zstd chunks).


@dataclass
class McapContents:
    """What the ``mcap`` package reads from an MCAP file, per topic: the schema name, the schema text,
    and the messages ``(log_time, data)`` in log-time order."""

    types: dict[str, str]
    definitions: dict[str, str]
    messages: dict[str, list[tuple[int, bytes]]]


def read_mcap(path: Path) -> McapContents:
    types: dict[str, str] = {}
    definitions: dict[str, str] = {}
    messages: dict[str, list[tuple[int, bytes]]] = {}
    with path.open("rb") as stream:
        reader = make_reader(stream)
        summary = reader.get_summary()
        assert summary is not None, f"{path.name} has no summary"
        for channel in summary.channels.values():
            schema = summary.schemas[channel.schema_id]
            types[channel.topic] = schema.name
            definitions[channel.topic] = schema.data.decode()
            messages.setdefault(channel.topic, [])
        for _, channel, message in reader.iter_messages(log_time_order=True):
            messages[channel.topic].append((message.log_time, message.data))
    return McapContents(types, definitions, messages)


def as_dict(message: Any) -> Any:
    """A rosbags ROS 2 message as the official client's CDR deserializer renders it: the dataclass's
    fields as a dict, constants included and ``__msgtype__`` left out (what orjson makes of a
    dataclass), arrays as lists."""
    if hasattr(message, "tolist"):
        return message.tolist()
    if isinstance(message, list | tuple):
        return [as_dict(item) for item in message]
    if is_dataclass(message):
        fields = [name for name in message.__dataclass_fields__ if not name.startswith("__")]
        return {name: as_dict(getattr(message, name)) for name in fields}
    return message


def ros2_decoder(contents: McapContents) -> Callable[[str, bytes], Any]:
    """Deserialize a topic's CDR bytes with rosbags (its latest types, the file's own for others)."""
    typestore = get_typestore(Stores.LATEST)

    def decode(topic: str, data: bytes) -> Any:
        type_name = contents.types[topic]
        if type_name not in typestore.types:
            typestore.register(get_types_from_msg(contents.definitions[topic], type_name))
        return as_dict(typestore.deserialize_cdr(data, type_name))

    return decode


def list_mcap_topics(log: Any, contents: McapContents) -> dict[str, Any]:
    topics = {topic.name: topic for topic in log.list_topics()}
    counts = {name: topic.record_count for name, topic in topics.items()}
    expected = {name: len(messages) for name, messages in contents.messages.items()}
    assert counts == expected, f"log.list_topics() record counts {counts}, the mcap reader's {expected}"
    for name, topic in topics.items():
        typed = (topic.type_encoding, topic.type_name)
        assert typed == ("cdr", contents.types[name]), f"{name} is typed {typed}"
        assert topic.type_data == contents.definitions[name], f"{name}: type_data is not the schema"
    return topics


def list_mcap_records(topics: dict[str, Any], contents: McapContents) -> dict[str, list[Any]]:
    records: dict[str, list[Any]] = {}
    for name, topic in topics.items():
        records[name] = topic.list_records() if topic.record_count else []
        timestamps = [record.timestamp for record in records[name]]
        expected = [log_time for log_time, _ in contents.messages[name]]
        assert timestamps == expected, (
            f"{name}: topic.list_records() timestamps differ from the mcap reader's"
        )
        compressions = {record.chunk_compression for record in records[name]}
        assert compressions <= {"zstd_mcap"}, f"{name}: chunk_compression {compressions}"
    return records


def fetch_mcap_record_bytes(lqs: LogQS, records: dict[str, list[Any]], contents: McapContents) -> None:
    for name, topic_records in records.items():
        fetched = [lqs.utils.fetch_record_bytes(record) for record in topic_records]
        expected = [data for _, data in contents.messages[name]]
        assert fetched == expected, f"{name}: fetch_record_bytes differs from the mcap reader's bytes"


def iter_mcap_record_data(lqs: LogQS, records: dict[str, list[Any]], contents: McapContents) -> None:
    decode = ros2_decoder(contents)
    for name, topic_records in records.items():
        expected = [data for _, data in contents.messages[name]]
        read = [data for _, data in lqs.utils.iter_record_data(topic_records)]
        assert read == expected, f"{name}: iter_record_data differs from the mcap reader's bytes"
        decoded = [data for _, data in lqs.utils.iter_record_data(topic_records, deserialize_results=True)]
        want = [decode(name, data) for data in expected]
        assert decoded == want, (
            f"{name}: iter_record_data(deserialize_results=True) gave {decoded[:1]}, rosbags {want[:1]}"
        )


def deserialize_mcap_records(lqs: LogQS, records: dict[str, list[Any]], contents: McapContents) -> None:
    decode = ros2_decoder(contents)
    for name, topic_records in records.items():
        for record, (_, data) in list(zip(topic_records, contents.messages[name], strict=True))[:3]:
            got = lqs.utils.get_deserialized_record_data(record)
            assert got == decode(name, data), (
                f"{name}: deserialized {got}, rosbags reads {decode(name, data)}"
            )


def walk_mcap(lqs: LogQS, group: Any, log_name: str, path: Path) -> None:
    """The walkthrough from "Logs" on, for one MCAP file of ROS 2 messages in a log of its own."""
    print(f"-- {path.name} as log {log_name!r}", flush=True)
    contents = read_mcap(path)
    log = step("Log.fetch_or_create", fetch_or_create_log, lqs, group, log_name)
    step("utils.upload_log_object", upload_bag, lqs, log, path)
    step("fetch.log_object bytes (MCAP magic)", fetch_object_bytes, lqs, log, path, MCAP_MAGIC)
    ingestion = step("Ingestion.fetch_or_create", create_ingestion, lqs, log, path)
    step("ingestion.update(state='queued')", queue_ingestion, ingestion)
    step("ingestion.refresh until completed", wait_for_ingestion, ingestion)
    topics = step("log.list_topics (cdr, schema names)", list_mcap_topics, log, contents)
    records = step("topic.list_records", list_mcap_records, topics, contents)
    step("utils.fetch_record_bytes (zstd_mcap)", fetch_mcap_record_bytes, lqs, records, contents)
    step("utils.iter_record_data (bytes, deserialized)", iter_mcap_record_data, lqs, records, contents)
    step("utils.get_deserialized_record_data (cdr)", deserialize_mcap_records, lqs, records, contents)
    walk_digestion(lqs, log, topics, contents.messages)


# Digestions (next §1): the server writes the parts; the client's readers read them.


@dataclass
class DigestionAsked:
    """A digestion of two topics: the one made, each topic's window and frequency, what it should hold
    (topic name → (timestamp, bytes), in time order, as rosbags or the mcap package reads the file)."""

    digestion: Any
    names: dict[str, str]
    expected: list[tuple[str, int, bytes]]


def _thinned(messages: list[tuple[int, bytes]], frequency: float | None) -> list[tuple[int, bytes]]:
    """The first message of each 1/frequency period, periods aligned to the epoch (as record lists)."""
    if frequency is None:
        return list(messages)
    period = int(1e9 / frequency)
    kept: list[tuple[int, bytes]] = []
    for message in messages:
        if not kept or kept[-1][0] // period != message[0] // period:
            kept.append(message)
    return kept


def create_digestion(
    lqs: LogQS, log: Any, topics: dict[str, Any], messages: dict[str, list[tuple[int, bytes]]]
) -> DigestionAsked:
    """Two topics with messages: the first in the middle half of its time span thinned to 2 Hz, the
    second whole."""
    first, second = sorted(name for name in topics if messages.get(name))[:2]
    times = [t for t, _ in messages[first]]
    start, end = times[0] + (times[-1] - times[0]) // 4, times[-1] - (times[-1] - times[0]) // 4
    digestion = lqs.create.digestion(log_id=log.id, name=f"{first} and {second}").data
    assert digestion.state == "ready" and digestion.group_id == log.group_id, digestion
    lqs.create.digestion_topic(
        digestion_id=digestion.id, topic_id=topics[first].id, start_time=start, end_time=end, frequency=2.0
    )
    lqs.create.digestion_topic(digestion_id=digestion.id, topic_id=topics[second].id)
    listed = lqs.list.digestion_topic(digestion_id=digestion.id).data
    assert sorted(str(t.topic_id) for t in listed) == sorted(str(topics[n].id) for n in (first, second))
    window = [(t, d) for t, d in messages[first] if start <= t <= end]
    expected = [(first, t, d) for t, d in _thinned(window, 2.0)]
    expected += [(second, t, d) for t, d in messages[second]]
    assert len(expected) < len(messages[first]) + len(messages[second]), "the window selects everything"
    names = {str(topic.id): name for name, topic in topics.items()}
    return DigestionAsked(digestion, names, sorted(expected, key=lambda m: m[1]))


def run_digestion(asked: DigestionAsked) -> None:
    digestion = asked.digestion
    digestion.update(state="queued")
    deadline = time.monotonic() + INGESTION_TIMEOUT_S
    while digestion.state != "completed":
        assert digestion.state != "failed", (
            f"digestion failed: {digestion.error_name!r} {digestion.error_message!r} "
            f"{digestion.error_payload!r}"
        )
        assert time.monotonic() < deadline, f"digestion {digestion.state!r} after {INGESTION_TIMEOUT_S} s"
        time.sleep(0.5)
        digestion.refresh()
    assert digestion.progress == 1.0, digestion.progress


def read_digestion_parts(lqs: LogQS, asked: DigestionAsked) -> None:
    parts = lqs.list.digestion_part(digestion_id=asked.digestion.id, limit=1000).data
    assert parts and [p.sequence for p in parts] == list(range(len(parts))), [p.sequence for p in parts]
    assert all(p.state == "completed" and p.index is None for p in parts), "parts listed with an index"
    for part in parts:
        fetched = lqs.fetch.digestion_part(digestion_part_id=part.id, digestion_id=asked.digestion.id).data
        assert fetched.index, f"part {part.id} fetched without its index"
        part.refresh()  # the resource layer, through the nil-parent or flat route
        assert part.index == fetched.index


def iter_digestion_records(lqs: LogQS, asked: DigestionAsked) -> None:
    got = [
        (asked.names[str(entry.topic_id)], entry.timestamp, data)
        for _, entry, data in lqs.utils.iter_digestion_records(asked.digestion)
    ]
    assert sorted(got) == sorted(asked.expected), (
        f"iter_digestion_records gave {len(got)} records, the file reader {len(asked.expected)}, "
        "or their bytes differ"
    )


def iter_digestion_data(lqs: LogQS, asked: DigestionAsked) -> None:
    got = [
        (asked.names[str(record.topic_id)], record.timestamp, data)
        for record, data in lqs.utils.iter_digestion_data(asked.digestion)
    ]
    assert sorted(got) == sorted(asked.expected), (
        f"iter_digestion_data gave {len(got)} records, the file reader {len(asked.expected)}, "
        "or their bytes differ"
    )


def walk_digestion(
    lqs: LogQS, log: Any, topics: dict[str, Any], messages: dict[str, list[tuple[int, bytes]]]
) -> None:
    asked = step("create.digestion, create.digestion_topic x2", create_digestion, lqs, log, topics, messages)
    step("digestion.update(state='queued'), refresh until completed", run_digestion, asked)
    step("list.digestion_part, fetch.digestion_part, part.refresh", read_digestion_parts, lqs, asked)
    step("utils.iter_digestion_records", iter_digestion_records, lqs, asked)
    step("utils.iter_digestion_data", iter_digestion_data, lqs, asked)


# ROS 2 recordings (rosbag2 directories).


def read_recording(folder: Path) -> McapContents:
    """What the ``mcap`` package (``.mcap`` files) or Python's ``sqlite3`` (``.db3`` files) read from
    every storage file of a rosbag2 directory, per topic, all files together in time order (ties in file
    order); definitions from the MCAP schemas or the ``message_definitions`` table."""
    types: dict[str, str] = {}
    definitions: dict[str, str] = {}
    messages: dict[str, list[tuple[int, bytes]]] = {}
    files = sorted(p for p in folder.iterdir() if p.suffix in (".mcap", ".db3"))
    assert files, f"{folder} holds no .mcap or .db3 file"
    for path in files:
        if path.suffix == ".mcap":
            contents = read_mcap(path)
            types.update(contents.types)
            definitions.update(contents.definitions)
            for topic, found in contents.messages.items():
                messages.setdefault(topic, []).extend(found)
            continue
        connection = sqlite3.connect(path)
        try:
            topics = {
                topic_id: (name, type_name)
                for topic_id, name, type_name in connection.execute("SELECT id, name, type FROM topics")
            }
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
            known = (
                dict(
                    connection.execute(
                        "SELECT topic_type, encoded_message_definition FROM message_definitions"
                    )
                )
                if "message_definitions" in tables
                else {}
            )
            for name, type_name in topics.values():
                types[name] = type_name
                messages.setdefault(name, [])
                if known.get(type_name):
                    definitions[name] = known[type_name]
            rows = connection.execute("SELECT topic_id, timestamp, data FROM messages ORDER BY timestamp, id")
            for topic_id, timestamp, data in rows:
                messages[topics[topic_id][0]].append((timestamp, bytes(data)))
        finally:
            connection.close()
    for topic in messages:
        messages[topic].sort(key=lambda message: message[0])  # stable: ties keep file order
    return McapContents(types, definitions, messages)


def upload_recording(lqs: LogQS, log: Any, folder: Path) -> None:
    for path in sorted(folder.iterdir()):
        uploaded, _ = lqs.utils.upload_log_object(
            log_id=log.id, file_path=str(path), object_key=f"{folder.name}/{path.name}"
        )
        assert uploaded.upload_state == "complete", f"{path.name}: upload ended {uploaded.upload_state!r}"


def create_recording_ingestion(lqs: LogQS, log: Any, folder: Path) -> Any:
    key = f"{folder.name}/metadata.yaml"
    ingestion = lqs.resource.Ingestion.fetch_or_create(log_id=log.id, object_key=key, name=INGESTION_NAME)
    assert ingestion.object_key == key, f"ingestion object_key is {ingestion.object_key!r}"
    return ingestion


def list_recording_topics(log: Any, contents: McapContents) -> dict[str, Any]:
    topics = {topic.name: topic for topic in log.list_topics()}
    counts = {name: topic.record_count for name, topic in topics.items()}
    expected = {name: len(messages) for name, messages in contents.messages.items()}
    assert counts == expected, f"log.list_topics() record counts {counts}, the files' {expected}"
    for name, topic in topics.items():
        typed = (topic.type_encoding, topic.type_name)
        assert typed == ("cdr", contents.types[name]), f"{name} is typed {typed}"
        if name in contents.definitions:
            assert topic.type_data == contents.definitions[name], f"{name}: type_data is not the file's"
    return topics


def list_recording_records(topics: dict[str, Any], contents: McapContents) -> dict[str, list[Any]]:
    records: dict[str, list[Any]] = {}
    for name, topic in topics.items():
        records[name] = topic.list_records() if topic.record_count else []
        timestamps = [record.timestamp for record in records[name]]
        assert timestamps == [t for t, _ in contents.messages[name]], f"{name}: timestamps differ"
        sources = {record.source for record in records[name]}
        assert None not in sources, f"{name}: records without source"
    return records


def walk_recording(lqs: LogQS, group: Any, log_name: str, folder: Path) -> None:
    """The walkthrough for a rosbag2 directory: every file uploaded under the folder's name, one
    ingestion of its metadata.yaml; records' bytes read where their ``source`` says."""
    print(f"-- {folder.name}/ (rosbag2) as log {log_name!r}", flush=True)
    contents = read_recording(folder)
    log = step("Log.fetch_or_create", fetch_or_create_log, lqs, group, log_name)
    step("utils.upload_log_object (every file of the folder)", upload_recording, lqs, log, folder)
    ingestion = step(
        "Ingestion.fetch_or_create (metadata.yaml)", create_recording_ingestion, lqs, log, folder
    )
    step("ingestion.update(state='queued')", queue_ingestion, ingestion)
    step("ingestion.refresh until completed", wait_for_ingestion, ingestion)
    topics = step("log.list_topics (cdr, the files' types)", list_recording_topics, log, contents)
    records = step("topic.list_records (with source)", list_recording_records, topics, contents)
    step("utils.fetch_record_bytes (via source)", fetch_mcap_record_bytes, lqs, records, contents)
    step("utils.get_deserialized_record_data (via source)", deserialize_mcap_records, lqs, records, contents)


def walk(args: argparse.Namespace) -> None:
    """The whole walkthrough: the group once, then each bag."""
    lqs = step("LogQS(config=...)", connect)
    group = step("list.group then create.group", create_group, lqs)
    step("fetch.group", fetch_group, lqs, group)
    step("update.group", update_group_note, lqs, group)
    group = step("resource.Group.fetch by name and id", fetch_group_resource, lqs, group)
    step("resource.Group.fetch_or_create", fetch_or_create_existing_group, lqs, group)
    step("group.update", update_group_resource, lqs, group)
    step("repr(group)", check_group_repr, group)
    for index, bag in enumerate(args.bags):
        walk_bag(lqs, group, LOG_NAME if index == 0 else f"{LOG_NAME} ({bag.name})", bag, args)
    for path in args.mcap:
        walk_mcap(lqs, group, f"{LOG_NAME} ({path.name})", path)
    for folder in args.rosbag2:
        walk_recording(lqs, group, f"{LOG_NAME} ({folder.name}/)", folder)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("bags", nargs="+", type=Path, help="ROS 1 bags to upload and ingest, one log each")
    parser.add_argument(
        "--topic-counts",
        type=json.loads,
        required=True,
        help='JSON object of every topic and its message count, the same for every bag: {"/tf": 2688, ...}',
    )
    parser.add_argument(
        "--every-record-of",
        action="append",
        default=[],
        metavar="TOPIC",
        help="check the bytes of every record of this topic (others: first and last); repeatable",
    )
    parser.add_argument(
        "--mcap",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="an MCAP file of ROS 2 (cdr) messages to upload and ingest in a log of its own; repeatable",
    )
    parser.add_argument(
        "--rosbag2",
        action="append",
        default=[],
        type=Path,
        metavar="FOLDER",
        help="a rosbag2 directory (metadata.yaml and its files) to upload and ingest in a log; repeatable",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    try:
        walk(parse_args(argv))
    except Exception:
        traceback.print_exc()
        return 1
    print("all steps passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
