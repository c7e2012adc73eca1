"""RecordReader through the client: ranged reads, coalescing, the chunk cache and decoding.

The fake API answers the routes the reader uses (ingestion, topic, the object's redirect) and a fake
storage answers ``Range`` reads of in-memory objects, recording each one.
"""

from __future__ import annotations

import bz2
import json
import os
import re
import struct
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote
from uuid import UUID

import httpx
import lz4.frame
import pytest

from openlqs.client import LogQS
from openlqs.client.models import Record
from openlqs.client.records import RecordReader
from openlqs.records.reading import MAX_COALESCED_READ
from tests.support.bags import string_message
from tests.support.client import BASE, CREATED_AT, data
from tests.support.client import offline_client as client_over
from tests.support.mcap import indexed_messages, ros2_string, write_mcap

STORAGE = "http://storage.test"
LOG_ID = UUID("1a1a1a1a-1111-2222-3333-444444444444")
GROUP_ID = UUID("6a7c0d2e-1b3f-4c5d-8e9f-0a1b2c3d4e5f")
TOPIC_ID = UUID("0c0c0c0c-1111-2222-3333-444444444444")
INGESTION_ID = UUID("2b2b2b2b-1111-2222-3333-444444444444")
KEY = "runs/day 1/demo.bag"
MIB = 1024 * 1024


class FakeObjectApi:
    """The API routes a ``RecordReader`` calls, over ``objects``; storage reads land in ``reads``."""

    def __init__(self, objects: dict[str, bytes], topic: dict[str, Any] | None = None) -> None:
        self.objects = objects
        self.topic = topic
        self.reads: list[tuple[str, int, int]] = []
        self.api_paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url.copy_with(query=None))
        if url.startswith(STORAGE):
            assert "Authorization" not in request.headers  # the API's credentials stay with the API
            key = unquote(request.url.path.removeprefix("/"))
            match = re.fullmatch(r"bytes=(\d+)-(\d+)", request.headers["Range"])
            assert match, request.headers["Range"]
            start, end = int(match.group(1)), int(match.group(2)) + 1
            self.reads.append((key, start, end))
            return httpx.Response(206, content=self.objects[key][start:end])
        path = url.removeprefix(BASE)
        self.api_paths.append(path)
        if path == f"/ingestions/{INGESTION_ID}":
            return data(_ingestion_json())
        if path == f"/topics/{TOPIC_ID}" and self.topic is not None:
            return data(self.topic)
        prefix = f"/logs/{LOG_ID}/objects/"
        if path.startswith(prefix) and request.url.params.get("redirect") == "true":
            key = unquote(path.removeprefix(prefix))
            return httpx.Response(302, headers={"Location": f"{STORAGE}/{quote(key)}"})
        return httpx.Response(404, json={"message": f"[NotFound] {path}"})

    @property
    def read_spans(self) -> list[tuple[int, int]]:
        return [(start, end) for _, start, end in self.reads]


def _ingestion_json() -> dict[str, Any]:
    return {
        "id": str(INGESTION_ID),
        "created_at": CREATED_AT.isoformat(),
        "log_id": str(LOG_ID),
        "group_id": str(GROUP_ID),
        "object_key": KEY,
        "state": "completed",
    }


def _topic_json(
    type_name: str | None, type_data: str | None, type_encoding: str | None = "ros1", **fields: Any
) -> dict[str, Any]:
    return {
        "id": str(TOPIC_ID),
        "created_at": CREATED_AT.isoformat(),
        "log_id": str(LOG_ID),
        "name": "/chatter",
        "type_name": type_name,
        "type_encoding": type_encoding,
        "type_data": type_data,
        **fields,
    }


def _records(lqs: LogQS, *spans: tuple[int, int], **fields: Any) -> list[Record]:
    """Records of TOPIC_ID pointing at ``(offset, length)`` spans of KEY, one nanosecond apart."""
    return [
        lqs.resource.Record.model_validate(
            {
                "timestamp": index,
                "log_id": str(LOG_ID),
                "topic_id": str(TOPIC_ID),
                "created_at": CREATED_AT.isoformat(),
                "ingestion_id": str(INGESTION_ID),
                "data_offset": offset,
                "data_length": length,
                **fields,
            }
        )
        for index, (offset, length) in enumerate(spans)
    ]


def _chunked_records(
    lqs: LogQS, messages: list[bytes], compression: str, compress: Callable[[bytes], bytes], at: int
) -> tuple[list[Record], bytes]:
    """Records of ``messages`` stored in one compressed chunk at offset ``at``; returns the chunk too."""
    chunk = compress(b"".join(messages))
    records, position = [], 0
    for index, message in enumerate(messages):
        (record,) = _records(
            lqs,
            (at, len(chunk)),
            chunk_compression=compression,
            chunk_offset=position,
            chunk_length=len(message),
        )
        records.append(record.model_copy(update={"timestamp": index}))
        position += len(message)
    return records, chunk


def test_iter_record_data_reads_dense_neighbours_in_one_read() -> None:
    content = os.urandom(1000)
    api = FakeObjectApi({KEY: content})
    lqs = client_over(api)
    records = _records(lqs, (100, 10), (110, 20), (135, 5))

    found = [(record.timestamp, raw) for record, raw in lqs.utils.iter_record_data(records)]

    assert found == [(0, content[100:110]), (1, content[110:130]), (2, content[135:140])]
    assert api.reads == [(KEY, 100, 140)]


def test_iter_record_data_reads_sparse_records_one_by_one() -> None:
    content = os.urandom(3 * MIB)
    api = FakeObjectApi({KEY: content})
    lqs = client_over(api)
    records = _records(lqs, (0, 100), (MIB, 100), (2 * MIB, 100))

    found = [raw for _, raw in lqs.utils.iter_record_data(records)]

    assert found == [content[0:100], content[MIB : MIB + 100], content[2 * MIB : 2 * MIB + 100]]
    assert api.read_spans == [(0, 100), (MIB, MIB + 100), (2 * MIB, 2 * MIB + 100)]


def test_iter_record_data_splits_reads_larger_than_the_maximum() -> None:
    content = os.urandom(10 * MIB)
    api = FakeObjectApi({KEY: content})
    lqs = client_over(api)
    records = _records(lqs, *[(i * MIB, MIB) for i in range(10)])

    found = [raw for _, raw in lqs.utils.iter_record_data(records)]

    assert found == [content[i * MIB : (i + 1) * MIB] for i in range(10)]
    assert len(api.reads) == 2
    assert all(end - start <= MAX_COALESCED_READ for start, end in api.read_spans)


@pytest.mark.parametrize(("compression", "compress"), [("bz2", bz2.compress), ("lz4", lz4.frame.compress)])
def test_iter_record_data_reads_a_compressed_chunk_once(
    compression: str, compress: Callable[[bytes], bytes]
) -> None:
    messages = [b"alpha", b"bravo-bravo", b"c" * 300]
    api = FakeObjectApi({})
    lqs = client_over(api)
    records, chunk = _chunked_records(lqs, messages, compression, compress, at=64)
    api.objects[KEY] = b"H" * 64 + chunk + b"T" * 64

    found = [raw for _, raw in lqs.utils.iter_record_data(records)]

    assert found == messages
    assert api.read_spans == [(64, 64 + len(chunk))]


def test_get_raw_data_of_records_in_one_chunk_reads_it_once() -> None:
    messages = [b"one", b"two", b"three"]
    api = FakeObjectApi({})
    lqs = client_over(api)
    records, chunk = _chunked_records(lqs, messages, "bz2", bz2.compress, at=0)
    api.objects[KEY] = chunk

    found = [record.get_raw_data() for record in records]

    assert found == messages
    assert len(api.reads) == 1
    assert api.api_paths.count(f"/ingestions/{INGESTION_ID}") == 1  # the ingestion is cached too


def test_record_reader_evicts_chunks_beyond_its_cache_size() -> None:
    messages = [b"x" * 1000, b"y" * 1000]
    api = FakeObjectApi({})
    lqs = client_over(api)
    first, chunk = _chunked_records(lqs, messages[:1], "bz2", bz2.compress, at=0)
    second, other = _chunked_records(lqs, messages[1:], "bz2", bz2.compress, at=len(chunk))
    api.objects[KEY] = chunk + other
    reader = RecordReader(lqs, chunk_cache_bytes=1500)

    reader.record_bytes(first[0])
    reader.record_bytes(second[0])
    reader.record_bytes(first[0])

    assert api.read_spans == [(0, len(chunk)), (len(chunk), len(chunk) + len(other)), (0, len(chunk))]


def test_iter_record_data_keeps_the_order_of_mixed_records() -> None:
    api = FakeObjectApi({})
    lqs = client_over(api)
    chunked, chunk = _chunked_records(lqs, [b"in-chunk"], "bz2", bz2.compress, at=0)
    plain = b"plain-one" + b"plain-two"
    before, after = _records(lqs, (len(chunk), 9), (len(chunk) + 9, 9))
    api.objects[KEY] = chunk + plain

    found = [raw for _, raw in lqs.utils.iter_record_data([before, chunked[0], after])]

    assert found == [b"plain-one", b"in-chunk", b"plain-two"]


def test_get_raw_data_sends_the_exact_range() -> None:
    content = os.urandom(500)
    api = FakeObjectApi({KEY: content})
    (record,) = _records(client_over(api), (100, 10))

    assert record.get_raw_data() == content[100:110]
    assert api.read_spans == [(100, 110)]


def test_record_with_a_source_reads_the_file_next_to_the_ingested_object() -> None:
    api = FakeObjectApi({"runs/day 1/second.bag": b"0123456789"})
    (record,) = _records(client_over(api), (2, 3), source="second.bag")

    assert record.get_raw_data() == b"234"


def test_record_without_an_ingestion_has_no_bytes() -> None:
    api = FakeObjectApi({KEY: b"0123"})
    (record,) = _records(client_over(api), (0, 2), ingestion_id=None)

    with pytest.raises(ValueError, match="no ingestion"):
        record.get_raw_data()


def test_short_read_is_an_error() -> None:
    api = FakeObjectApi({KEY: b"0123"})
    (record,) = _records(client_over(api), (2, 10))

    with pytest.raises(ValueError, match="expected 10"):
        record.get_raw_data()


def test_iter_record_data_deserializes_with_the_topic_definition() -> None:
    messages = [string_message("hello"), string_message("world")]
    api = FakeObjectApi({KEY: b"".join(messages)}, topic=_topic_json("std_msgs/String", "string data\n"))
    lqs = client_over(api)
    records = _records(lqs, (0, len(messages[0])), (len(messages[0]), len(messages[1])))

    decoded = [message for _, message in lqs.utils.iter_record_data(records, deserialize_results=True)]

    assert decoded == [{"data": "hello"}, {"data": "world"}]
    assert lqs.utils.get_deserialized_record_data(records[1]) == {"data": "world"}
    assert api.api_paths.count(f"/topics/{TOPIC_ID}") == 1


def test_deserialize_refuses_a_topic_without_a_definition() -> None:
    api = FakeObjectApi({KEY: string_message("hi")}, topic=_topic_json("std_msgs/String", ""))
    lqs = client_over(api)
    (record,) = _records(lqs, (0, 6))

    with pytest.raises(ValueError, match="no message definition"):
        lqs.utils.get_deserialized_record_data(record)


def _mcap_records(lqs: LogQS, data: bytes) -> list[Record]:
    """Records of every message of the MCAP file ``data`` (stored as KEY), as openlqs indexes them."""
    return [
        lqs.resource.Record.model_validate(
            {
                "timestamp": message.log_time,
                "log_id": str(LOG_ID),
                "topic_id": str(TOPIC_ID),
                "created_at": CREATED_AT.isoformat(),
                "ingestion_id": str(INGESTION_ID),
                "data_offset": message.position.data_offset,
                "data_length": message.position.data_length,
                "chunk_compression": message.position.chunk_compression,
                "chunk_offset": message.position.chunk_offset,
                "chunk_length": message.position.chunk_length,
            }
        )
        for message in indexed_messages(data)
    ]


@pytest.mark.parametrize(("compression", "stored"), [("zstd", "zstd_mcap"), ("lz4", "lz4"), ("none", None)])
def test_iter_record_data_decodes_ros2_cdr_records_of_an_mcap_file(
    compression: str, stored: str | None
) -> None:
    texts = [f"message {i}" for i in range(40)]
    data = write_mcap(
        [("/chatter", 1_000 + i, ros2_string(text)) for i, text in enumerate(texts)],
        compression=compression,
        chunk_size=512,
    )
    api = FakeObjectApi({KEY: data}, topic=_topic_json("std_msgs/msg/String", "string data\n", "cdr"))
    lqs = client_over(api)
    records = _mcap_records(lqs, data)
    assert {record.chunk_compression for record in records} == {stored}

    decoded = [message for _, message in lqs.utils.iter_record_data(records, deserialize_results=True)]
    raw = [lqs.utils.fetch_record_bytes(record) for record in records[:3]]

    assert decoded == [{"data": text} for text in texts]
    assert raw == [ros2_string(text) for text in texts[:3]]  # with the 4-byte CDR header
    if stored is not None:  # each chunk read once, however many records it holds
        assert len(api.reads) == len({record.data_offset for record in records})


def test_get_deserialized_record_data_decodes_a_custom_cdr_type_from_the_topics_definition() -> None:
    definition = "int32 x\nstring label\nGrid grid\n" + "=" * 80 + "\nMSG: demo_msgs/Grid\nuint8[] cells\n"
    cells = bytes([1, 2, 3])
    message = (
        b"\x00\x01\x00\x00"  # CDR little endian
        + struct.pack("<i", -7)
        + struct.pack("<I", 3)
        + b"ab\x00"
        + b"\x00"  # "ab" + NUL, padded to 4
        + struct.pack("<I", len(cells))
        + cells
    )
    data = write_mcap([("/chatter", 5, message)], compression="zstd")
    api = FakeObjectApi({KEY: data}, topic=_topic_json("demo_msgs/msg/Point", definition, "cdr"))
    lqs = client_over(api)
    (record,) = _mcap_records(lqs, data)

    assert lqs.utils.get_deserialized_record_data(record) == {
        "x": -7,
        "label": "ab",
        "grid": {"cells": cells},
    }


def test_get_deserialized_record_data_of_a_json_topic_is_the_json_object() -> None:
    events = [json.dumps({"x": i, "button": "left"}).encode() for i in range(3)]
    data = write_mcap([("/chatter", 10 + i, event) for i, event in enumerate(events)])
    api = FakeObjectApi({KEY: data}, topic=_topic_json("MouseEvent", '{"type": "object"}', "json"))
    lqs = client_over(api)

    decoded = [lqs.utils.get_deserialized_record_data(record) for record in _mcap_records(lqs, data)]

    assert decoded == [{"x": i, "button": "left"} for i in range(3)]


def test_deserialize_of_an_untyped_mcap_topic_says_its_records_are_bytes_only() -> None:
    data = write_mcap([("/chatter", 10, b"\x08\x96\x01")])
    topic = _topic_json("foxglove.LaserScan", None, None, context={"message_encoding": "protobuf"})
    api = FakeObjectApi({KEY: data}, topic=topic)
    lqs = client_over(api)
    (record,) = _mcap_records(lqs, data)

    assert lqs.utils.fetch_record_bytes(record) == b"\x08\x96\x01"
    with pytest.raises(ValueError, match=r"protobuf messages.*bytes only"):
        lqs.utils.get_deserialized_record_data(record)
