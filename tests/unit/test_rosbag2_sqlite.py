"""rosbag2 sqlite3 storage (.db3) converted to MCAP: the real fixture, rosbags-written recordings (plain,
message- and file-compressed, split), every sqlite schema version, where definitions come from, order,
chunking, memory, and every bad input. The MCAP is always read back with the ``mcap`` package and the
``.db3`` with Python's ``sqlite3``, independently of openlqs.
"""

from __future__ import annotations

import io
import random
import shutil
import sqlite3
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import yaml
import zstandard
from mcap.reader import make_reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from openlqs.errors import BadLogFile
from openlqs.formats.rosbag2 import convert_db3_to_mcap, decompress_zstd_stream, parse_metadata, storage_files
from openlqs.formats.rosbag2.convert import CHUNK_SIZE
from openlqs.formats.rosbag2.definitions import ROS2_STORES
from openlqs.formats.rosbag2.sqlite import Db3Reader, _integers
from tests.support.rosbag2 import (
    CUSTOM_DEFINITION,
    CUSTOM_TYPE,
    TYPESTORE,
    Db3Topic,
    Message,
    in_replay_order,
    mixed_messages,
    read_db3,
    read_mcap,
    string_message,
    topic_digests,
    write_db3,
    write_rosbags_recording,
    write_split_recording,
)

#: The fixtures README's table for rosbag2-cdr-test-sqlite3/cdr_test_0.db3.
CDR_TEST_EXPECTED = {
    "/array_topic": (
        4,
        1586406456782683500,
        1586406456914169506,
        "4c483981fc4fc2fac0297665067bcf71d3022ccf1abace4b8468a0e511241919",
    ),
    "/test_topic": (
        3,
        1586406456763032325,
        1586406456863382628,
        "1ebaf543d1b35e4305c0580f9dae5bcc9fbe8726820ac7e5c51f3181acb1a14e",
    ),
}
CDR_TEST_TYPES = {"/array_topic": "test_msgs/msg/Arrays", "/test_topic": "test_msgs/msg/BasicTypes"}
START = 1_700_000_000_000_000_000


def _convert(db3: Path, **options: object) -> tuple[bytes, object]:
    out = io.BytesIO()
    summary = convert_db3_to_mcap(db3, out, **{"compression_mode": "none", **options})  # type: ignore[arg-type]
    return out.getvalue(), summary


def _as_messages(mcap: bytes) -> list[Message]:
    return [Message(m.topic, m.schema_name, m.log_time, m.data) for m in read_mcap(mcap)]


def _definitions_table(db3: Path) -> dict[str, str]:
    connection = sqlite3.connect(db3)
    try:
        rows = connection.execute("SELECT topic_type, encoded_message_definition FROM message_definitions")
        return dict(rows.fetchall())
    finally:
        connection.close()


# The real recording.


def test_convert_real_db3_gives_the_readme_topics_counts_times_and_bytes(fixture_logs: Path) -> None:
    db3 = fixture_logs / "rosbag2-cdr-test-sqlite3" / "cdr_test_0.db3"

    mcap, summary = _convert(db3)

    assert topic_digests(read_mcap(mcap)) == CDR_TEST_EXPECTED
    assert topic_digests(read_db3(db3)) == CDR_TEST_EXPECTED
    assert {m.topic: m.schema_name for m in read_mcap(mcap)} == CDR_TEST_TYPES
    assert summary.message_count == 7 and summary.output_bytes == len(mcap)  # type: ignore[attr-defined]
    assert {
        (t.name, t.type, t.message_count, t.first_timestamp, t.last_timestamp) for t in summary.topics
    } == {  # type: ignore[attr-defined]
        (name, CDR_TEST_TYPES[name], count, first, last)
        for name, (count, first, last, _) in CDR_TEST_EXPECTED.items()
    }


def test_convert_real_db3_takes_test_msgs_definitions_from_its_own_table(fixture_logs: Path) -> None:
    db3 = fixture_logs / "rosbag2-cdr-test-sqlite3" / "cdr_test_0.db3"
    metadata = parse_metadata((db3.parent / "metadata.yaml").read_text())

    mcap, summary = _convert(db3, metadata=metadata)

    # The file (schema version 4) stores definitions, although the fixtures README calls it an older schema.
    table = _definitions_table(db3)
    schemas = {m.schema_name: (m.schema_encoding, m.schema_data.decode()) for m in read_mcap(mcap)}
    assert schemas == {type_name: ("ros2msg", table[type_name]) for type_name in CDR_TEST_TYPES.values()}
    assert {t.definition_source for t in summary.topics} == {"file"}  # type: ignore[attr-defined]
    assert summary.schema_version == 4 and summary.ros_distro == "rolling"  # type: ignore[attr-defined]


def test_convert_real_db3_schemas_alone_decode_its_test_msgs(fixture_logs: Path) -> None:
    mcap, _ = _convert(fixture_logs / "rosbag2-cdr-test-sqlite3" / "cdr_test_0.db3")

    decoded = []
    for message in read_mcap(mcap):
        typestore = get_typestore(Stores.EMPTY)
        typestore.register(get_types_from_msg(message.schema_data.decode(), message.schema_name))
        value = typestore.deserialize_cdr(message.data, message.schema_name)
        # Decoding with the wrong layout could not serialize back to the very same bytes.
        assert bytes(typestore.serialize_cdr(value, message.schema_name)) == message.data
        decoded.append(value)

    assert len(decoded) == 7
    arrays = [d for d in decoded if d.__msgtype__ == "test_msgs/msg/Arrays"]
    assert len(arrays) == 4 and all(len(a.basic_types_values) == 3 for a in arrays)


def test_convert_real_db3_without_its_table_has_no_test_msgs_definitions_as_rosbags_knows_none(
    fixture_logs: Path, tmp_path: Path
) -> None:
    db3 = tmp_path / "cdr_test_0.db3"
    shutil.copyfile(fixture_logs / "rosbag2-cdr-test-sqlite3" / "cdr_test_0.db3", db3)
    with sqlite3.connect(db3) as connection:
        connection.execute("DROP TABLE message_definitions")
    connection.close()

    mcap, summary = _convert(db3)

    for store in ("latest", *ROS2_STORES):
        assert not set(CDR_TEST_TYPES.values()) & set(get_typestore(Stores(store)).types)
    assert {(m.schema_name, m.schema_encoding, m.schema_data) for m in read_mcap(mcap)} == {
        (type_name, "", b"") for type_name in CDR_TEST_TYPES.values()
    }
    assert [t.definition_source for t in summary.topics] == [None, None]  # type: ignore[attr-defined]
    assert all("do not know test_msgs/msg/" in t.definition_note for t in summary.topics)  # type: ignore[attr-defined]
    assert topic_digests(read_mcap(mcap)) == CDR_TEST_EXPECTED


def test_convert_writes_an_indexed_ros2_mcap_with_zstd_chunks(fixture_logs: Path) -> None:
    mcap, _ = _convert(fixture_logs / "rosbag2-cdr-test-sqlite3" / "cdr_test_0.db3")

    reader = make_reader(io.BytesIO(mcap))
    header, summary = reader.get_header(), reader.get_summary()
    assert header.profile == "ros2"
    assert summary is not None and summary.statistics is not None
    assert summary.statistics.message_count == 7 and summary.statistics.channel_count == 2
    assert summary.chunk_indexes and {c.compression for c in summary.chunk_indexes} == {"zstd"}
    assert all(c.message_index_offsets for c in summary.chunk_indexes)
    assert {c.message_encoding for c in summary.channels.values()} == {"cdr"}
    assert {c.metadata["offered_qos_profiles"].split("\n")[0] for c in summary.channels.values()} == {
        "- history: 3"
    }


# Recordings written by rosbags' rosbag2 writer.


@pytest.mark.parametrize("compression", ["none", "message"])
def test_convert_rosbags_recording_keeps_every_message_in_replay_order(
    tmp_path: Path, compression: str
) -> None:
    written = mixed_messages(START, 90)
    recording = write_rosbags_recording(tmp_path / "run", written, storage="sqlite3", compression=compression)  # type: ignore[arg-type]
    metadata = parse_metadata((recording.path / "metadata.yaml").read_text())
    (storage_file,) = storage_files(metadata)

    mcap, summary = _convert(
        recording.path / storage_file.path, compression_mode=metadata.compression_mode, metadata=metadata
    )

    converted = _as_messages(mcap)
    assert converted == in_replay_order(written)
    stored = read_db3(recording.path / storage_file.path)
    if compression == "message":
        assert all(s.data != m.data for s, m in zip(stored, converted, strict=True))
        stored = [Message(s.topic, s.type, s.timestamp, zstandard.decompress(s.data)) for s in stored]
    assert [(m.topic, m.timestamp, m.data) for m in converted] == [
        (s.topic, s.timestamp, s.data) for s in stored
    ]
    assert all(m.log_time == m.publish_time for m in read_mcap(mcap))
    assert {t.name: t.message_count for t in summary.topics} == {  # type: ignore[attr-defined]
        t.topic_metadata.name: t.message_count for t in metadata.topics_with_message_count
    }


def test_convert_rosbags_recording_writes_one_schema_per_type_from_the_file(tmp_path: Path) -> None:
    written = [*mixed_messages(START, 30), string_message("/other_chatter", START + 5, "same type")]
    recording = write_rosbags_recording(tmp_path / "run", written, storage="sqlite3")
    db3 = recording.path / recording.files[0]

    mcap, summary = _convert(db3)

    reader = make_reader(io.BytesIO(mcap))
    mcap_summary = reader.get_summary()
    assert mcap_summary is not None
    schemas = {s.name: (s.encoding, s.data.decode()) for s in mcap_summary.schemas.values()}
    assert schemas == {type_name: ("ros2msg", text) for type_name, text in _definitions_table(db3).items()}
    assert schemas[CUSTOM_TYPE][1].startswith(CUSTOM_DEFINITION)
    assert "MSG: std_msgs/Header" in schemas[CUSTOM_TYPE][1]
    assert (
        schemas["std_msgs/msg/String"][1]
        == TYPESTORE.generate_msgdef("std_msgs/msg/String", ros_version=2)[0]
    )
    assert len(mcap_summary.channels) == 4
    assert {t.definition_source for t in summary.topics} == {"file"}  # type: ignore[attr-defined]


@pytest.mark.parametrize("source", ["file", "rosbags store"])
def test_convert_writes_schemas_that_alone_decode_every_message(tmp_path: Path, source: str) -> None:
    written = mixed_messages(START, 12)
    if source == "file":
        db3 = write_rosbags_recording(tmp_path / "run", written, storage="sqlite3").path / "run.db3"
    else:
        written = [m for m in written if m.type != CUSTOM_TYPE]
        db3 = tmp_path / "old.db3"
        types = list(dict.fromkeys((m.topic, m.type) for m in written))
        ids = {topic: index + 1 for index, (topic, _) in enumerate(types)}
        write_db3(
            db3,
            3,
            [Db3Topic(t, ty) for t, ty in types],
            [(ids[m.topic], m.timestamp, m.data) for m in written],
        )

    mcap, _ = _convert(db3)

    for message in read_mcap(mcap):
        typestore = get_typestore(Stores.EMPTY)
        typestore.register(get_types_from_msg(message.schema_data.decode(), message.schema_name))
        decoded = typestore.deserialize_cdr(message.data, message.schema_name)
        expected = TYPESTORE.deserialize_cdr(message.data, message.schema_name)
        assert repr(decoded) == repr(expected)


def test_convert_rosbags_recording_puts_the_topics_qos_text_and_hash_in_channel_metadata(
    tmp_path: Path,
) -> None:
    recording = write_rosbags_recording(tmp_path / "run", mixed_messages(START, 6), storage="sqlite3")
    db3 = recording.path / recording.files[0]
    connection = sqlite3.connect(db3)
    stored = {
        name: (qos, digest)
        for name, qos, digest in connection.execute(
            "SELECT name, offered_qos_profiles, type_description_hash FROM topics"
        )
    }
    connection.close()

    mcap, summary = _convert(db3)

    channels = make_reader(io.BytesIO(mcap)).get_summary().channels.values()  # type: ignore[union-attr]
    assert {
        c.topic: (c.metadata["offered_qos_profiles"], c.metadata["topic_type_hash"]) for c in channels
    } == stored
    assert all(yaml.safe_load(qos)[0]["depth"] == 10 for qos, _ in stored.values())
    assert {t.name: t.offered_qos_profiles for t in summary.topics} == {n: q for n, (q, _) in stored.items()}  # type: ignore[attr-defined]


def test_convert_file_compressed_db3_after_decompressing_it(tmp_path: Path) -> None:
    written = mixed_messages(START, 45)
    recording = write_rosbags_recording(tmp_path / "run", written, storage="sqlite3", compression="file")
    metadata = parse_metadata((recording.path / "metadata.yaml").read_text())
    (storage_file,) = storage_files(metadata)
    assert storage_file.zstd_file_compressed
    db3 = tmp_path / storage_file.decompressed_path
    with (recording.path / storage_file.path).open("rb") as source, db3.open("wb") as target:
        decompress_zstd_stream(source, target, max_output_bytes=None)

    mcap, _ = _convert(db3, compression_mode=metadata.compression_mode, metadata=metadata)

    assert _as_messages(mcap) == in_replay_order(written)


def test_convert_each_file_of_a_split_recording(tmp_path: Path) -> None:
    parts = [
        mixed_messages(START, 40),
        mixed_messages(START + 10**9, 35),
        mixed_messages(START + 2 * 10**9, 20),
    ]
    recording = write_split_recording(tmp_path / "run", parts, storage="sqlite3", compression="message")
    metadata = parse_metadata((recording.path / "metadata.yaml").read_bytes())

    converted: list[Message] = []
    counts: dict[str, int] = {}
    for storage_file in storage_files(metadata):
        mcap, summary = _convert(
            recording.path / storage_file.path, compression_mode=metadata.compression_mode, metadata=metadata
        )
        converted += _as_messages(mcap)
        for topic in summary.topics:  # type: ignore[attr-defined]
            counts[topic.name] = counts.get(topic.name, 0) + topic.message_count

    assert [f.path for f in storage_files(metadata)] == ["run_0.db3", "run_1.db3", "run_2.db3"]
    assert converted == [m for part in parts for m in in_replay_order(part)]
    assert counts == {t.topic_metadata.name: t.message_count for t in metadata.topics_with_message_count}
    assert sum(counts.values()) == metadata.message_count == 95


# sqlite schema versions, and where definitions come from.


@pytest.mark.parametrize("schema_version", [1, 2, 3, 4])
def test_convert_reads_every_sqlite_schema_version(tmp_path: Path, schema_version: int) -> None:
    written = [string_message("/chatter", START + i, f"m{i}") for i in range(5)]
    db3 = tmp_path / "old.db3"
    write_db3(
        db3,
        schema_version,
        [Db3Topic("/chatter", "std_msgs/msg/String", qos="- depth: 7")],
        [(1, m.timestamp, m.data) for m in written],
    )  # type: ignore[arg-type]

    mcap, summary = _convert(db3)

    assert _as_messages(mcap) == written
    assert summary.schema_version == schema_version  # type: ignore[attr-defined]
    (topic,) = summary.topics  # type: ignore[attr-defined]
    assert topic.offered_qos_profiles == ("" if schema_version == 1 else "- depth: 7")
    assert summary.ros_distro == ("humble" if schema_version >= 3 else "")  # type: ignore[attr-defined]


def test_convert_old_db3_takes_a_known_types_definition_from_the_distros_rosbags_store(
    tmp_path: Path,
) -> None:
    db3 = tmp_path / "humble.db3"
    write_db3(
        db3,
        3,
        [Db3Topic("/chatter", "std_msgs/msg/String")],
        [(1, START, string_message("/c", START, "x").data)],
    )

    mcap, summary = _convert(db3)

    (message,) = read_mcap(mcap)
    expected = get_typestore(Stores.ROS2_HUMBLE).generate_msgdef("std_msgs/msg/String", ros_version=2)[0]
    assert (message.schema_encoding, message.schema_data.decode()) == ("ros2msg", expected)
    assert summary.topics[0].definition_source == "rosbags:ros2_humble"  # type: ignore[attr-defined]


def test_convert_old_db3_with_dependencies_gets_the_concatenated_definition(tmp_path: Path) -> None:
    db3 = tmp_path / "pose.db3"
    write_db3(db3, 2, [Db3Topic("/pose", "geometry_msgs/msg/PoseStamped")], [])

    mcap, summary = _convert(db3)

    schema = make_reader(io.BytesIO(mcap)).get_summary().schemas[1]  # type: ignore[union-attr]
    text = schema.data.decode()
    assert text.startswith("std_msgs/Header header\ngeometry_msgs/Pose pose\n")
    assert "=" * 80 + "\nMSG: geometry_msgs/Quaternion\n" in text
    assert summary.topics[0].definition_source == "rosbags:latest"  # type: ignore[attr-defined]
    assert summary.topics[0].first_timestamp is None and summary.topics[0].message_count == 0  # type: ignore[attr-defined]


def test_convert_old_db3_of_an_unknown_type_keeps_bytes_with_an_empty_schema(tmp_path: Path) -> None:
    reading = mixed_messages(START, 3)[2]
    db3 = tmp_path / "custom.db3"
    write_db3(db3, 3, [Db3Topic("/reading", CUSTOM_TYPE)], [(1, reading.timestamp, reading.data)])

    mcap, summary = _convert(db3)

    (message,) = read_mcap(mcap)
    assert (message.schema_name, message.schema_encoding, message.schema_data, message.data) == (
        CUSTOM_TYPE,
        "",
        b"",
        reading.data,
    )
    (topic,) = summary.topics  # type: ignore[attr-defined]
    assert (topic.definition_source, topic.definition_encoding) == (None, None)
    assert CUSTOM_TYPE in topic.definition_note


def test_convert_picks_the_store_whose_type_hash_matches_and_refuses_a_mismatch(tmp_path: Path) -> None:
    data = string_message("/c", START, "x").data
    right = TYPESTORE.hash_rihs01("std_msgs/msg/String")
    wrong = "RIHS01_" + "0" * 64
    db3 = tmp_path / "hashed.db3"
    write_db3(
        db3,
        4,
        [
            Db3Topic("/right", "std_msgs/msg/String", type_hash=right),
            Db3Topic("/wrong", "std_msgs/msg/Header", type_hash=wrong),
        ],
        [(1, START, data)],
    )

    _, summary = _convert(db3)

    right_topic, wrong_topic = summary.topics  # type: ignore[attr-defined]
    assert right_topic.definition_source is not None and "hash matches" in right_topic.definition_note
    assert wrong_topic.definition_source is None and wrong in wrong_topic.definition_note


def test_convert_fills_qos_and_hash_of_an_old_db3_from_the_metadata(tmp_path: Path) -> None:
    db3 = tmp_path / "run_0.db3"
    write_db3(
        db3,
        1,
        [Db3Topic("/chatter", "std_msgs/msg/String")],
        [(1, START, string_message("/c", START, "x").data)],
    )
    metadata = parse_metadata(
        yaml.safe_dump(
            {
                "rosbag2_bagfile_information": {
                    "version": 9,
                    "storage_identifier": "sqlite3",
                    "relative_file_paths": ["run_0.db3"],
                    "duration": {"nanoseconds": 0},
                    "starting_time": {"nanoseconds_since_epoch": START},
                    "message_count": 1,
                    "topics_with_message_count": [
                        {
                            "message_count": 1,
                            "topic_metadata": {
                                "name": "/chatter",
                                "type": "std_msgs/msg/String",
                                "serialization_format": "cdr",
                                "offered_qos_profiles": [{"history": "keep_last", "depth": 3}],
                                "type_description_hash": TYPESTORE.hash_rihs01("std_msgs/msg/String"),
                            },
                        }
                    ],
                    "compression_format": "",
                    "compression_mode": "",
                    "ros_distro": "iron",
                }
            }
        )
    )

    mcap, summary = _convert(db3, metadata=metadata)

    (topic,) = summary.topics  # type: ignore[attr-defined]
    assert yaml.safe_load(topic.offered_qos_profiles) == [{"history": "keep_last", "depth": 3}]
    assert topic.type_description_hash.startswith("RIHS01_")
    assert topic.definition_source == "rosbags:ros2_iron" and summary.ros_distro == "iron"  # type: ignore[attr-defined]
    (message,) = read_mcap(mcap)
    assert message.channel_metadata["offered_qos_profiles"] == topic.offered_qos_profiles


def test_convert_keeps_an_idl_definition_and_skips_an_unusable_row(tmp_path: Path) -> None:
    idl = "module pkg { module msg { struct Thing { int32 value; }; }; };\n"
    db3 = tmp_path / "defs.db3"
    write_db3(
        db3,
        4,
        [Db3Topic("/thing", "pkg/msg/Thing"), Db3Topic("/chatter", "std_msgs/msg/String")],
        [],
        definitions=[("pkg/msg/Thing", "ros2idl", idl), ("std_msgs/msg/String", "unknown", "")],
    )

    mcap, summary = _convert(db3)

    schemas = {
        s.name: (s.encoding, s.data.decode())
        for s in make_reader(io.BytesIO(mcap)).get_summary().schemas.values()
    }  # type: ignore[union-attr]
    assert schemas["pkg/msg/Thing"] == ("ros2idl", idl)
    assert schemas["std_msgs/msg/String"] == ("ros2msg", "string data\n")
    thing, chatter = summary.topics  # type: ignore[attr-defined]
    assert (thing.definition_source, thing.definition_encoding) == ("file", "ros2idl")
    assert chatter.definition_source == "rosbags:ros2_humble" and "'unknown'" in chatter.definition_note


def test_convert_keeps_the_bytes_of_a_topic_that_is_not_cdr(tmp_path: Path) -> None:
    db3 = tmp_path / "json.db3"
    payload = b'{"x": 1}'
    write_db3(
        db3, 3, [Db3Topic("/events", "pkg/msg/Event", serialization_format="json")], [(1, START, payload)]
    )

    mcap, summary = _convert(db3)

    (message,) = read_mcap(mcap)
    assert (message.message_encoding, message.schema_name, message.data) == ("json", "pkg/msg/Event", payload)
    assert summary.topics[0].serialization_format == "json"  # type: ignore[attr-defined]


# Order, chunking, output stream, memory.


@pytest.mark.parametrize("with_index", [True, False])
def test_convert_orders_by_timestamp_then_insertion(tmp_path: Path, with_index: bool) -> None:
    rows = [
        (1, START + 30, b"c"),
        (1, START + 10, b"a1"),
        (2, START + 10, b"a2"),
        (1, START + 20, b"b"),
        (2, START + 10, b"a3"),
    ]
    db3 = tmp_path / "unordered.db3"
    write_db3(
        db3,
        3,
        [Db3Topic("/one", "pkg/msg/One"), Db3Topic("/two", "pkg/msg/Two")],
        rows,
        with_index=with_index,
    )

    mcap, summary = _convert(db3)

    assert [(m.topic, m.log_time, m.data) for m in read_mcap(mcap)] == [
        ("/one", START + 10, b"a1"),
        ("/two", START + 10, b"a2"),
        ("/two", START + 10, b"a3"),
        ("/one", START + 20, b"b"),
        ("/one", START + 30, b"c"),
    ]
    assert [(t.first_timestamp, t.last_timestamp) for t in summary.topics] == [
        (START + 10, START + 30),
        (START + 10, START + 10),
    ]  # type: ignore[attr-defined]


def test_convert_bounds_chunks_by_the_chunk_size(tmp_path: Path) -> None:
    rows = [(1, START + i, bytes([i % 256]) * 1000) for i in range(300)]
    db3 = tmp_path / "many.db3"
    write_db3(db3, 3, [Db3Topic("/blob", "pkg/msg/Blob")], rows)

    mcap, _ = _convert(db3, chunk_size=20_000)

    chunks = make_reader(io.BytesIO(mcap)).get_summary().chunk_indexes  # type: ignore[union-attr]
    assert len(chunks) >= 14
    assert all(c.uncompressed_size <= 20_000 + 1000 + 64 for c in chunks)
    assert [m.data for m in read_mcap(mcap)] == [data for _, _, data in rows]


def test_convert_offsets_count_from_the_mcaps_first_byte_whatever_the_stream_position(
    fixture_logs: Path,
) -> None:
    out = io.BytesIO()
    out.write(b"bytes already in the stream")

    summary = convert_db3_to_mcap(
        fixture_logs / "rosbag2-cdr-test-sqlite3" / "cdr_test_0.db3", out, compression_mode="none"
    )

    mcap = out.getvalue()[len(b"bytes already in the stream") :]
    assert len(mcap) == summary.output_bytes
    assert topic_digests(read_mcap(mcap)) == CDR_TEST_EXPECTED


class _NullSink:
    """An output that keeps nothing: what a multipart upload stream looks like to the converter."""

    def __init__(self) -> None:
        self.total = 0

    def write(self, data: bytes) -> int:
        self.total += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def _mixed_rows(count: int, seed: int) -> list[tuple[int, int, bytes]]:
    """Rows of three topics, out of order, many sharing a timestamp, of 0 to 3,000 bytes (a few of
    them with NUL bytes and with every byte value)."""
    rng = random.Random(seed)
    return [
        (
            rng.randrange(1, 4),
            START + rng.randrange(count // 3),
            rng.randbytes(rng.choice((0, 1, 40, 900, 3000))),
        )
        for _ in range(count)
    ]


@pytest.mark.parametrize(("rows", "size"), [(7, 2**30), (500, 5_000), (8192, 2 * 2**20)])
def test_db3_reader_batches_hold_the_rows_messages_gives_in_order(
    tmp_path: Path, rows: int, size: int
) -> None:
    db3 = tmp_path / "mixed.db3"
    write_db3(db3, 3, [Db3Topic(f"/t{i}", "pkg/msg/T") for i in range(3)], _mixed_rows(3_000, 5))

    with Db3Reader(db3) as reader:
        expected = [(t, ts, bytes(d)) for t, ts, d in reader.messages()]
        batches = list(reader.message_batches(rows, size))
        assert reader.batches_walk_the_index()

    got = []
    for batch in batches:
        assert not batch.irregular and 1 <= len(batch) <= rows
        assert len(batch.data) - int(batch.lengths[-1]) < size  # the size, and at most one message more
        ends = np.cumsum(batch.lengths)
        for topic_id, timestamp, end, length in zip(
            batch.topic_ids.tolist(),
            batch.timestamps.tolist(),
            ends.tolist(),
            batch.lengths.tolist(),
            strict=True,
        ):
            got.append((topic_id, timestamp, batch.data[end - length : end]))
    assert got == expected


def test_db3_batch_integers_read_sqlites_text_exactly() -> None:
    values = [0, 1, -1, 42, 2**63 - 1, -(2**63), START, START + 999_999_999]
    text = ",".join(str(value) for value in values)  # what group_concat gives

    assert _integers(text).tolist() == values
    assert _integers(None).tolist() == _integers("").tolist() == []
    with pytest.raises(BadLogFile, match="numpy cannot read"):
        _integers("1,2.5,3")


def test_db3_reader_batches_only_where_id_is_the_rowid_and_timestamp_indexed(tmp_path: Path) -> None:
    db3 = tmp_path / "keys.db3"
    write_db3(db3, 3, [Db3Topic("/a", "pkg/msg/A")], [(1, START, b"x")])
    odd = tmp_path / "odd.db3"
    with sqlite3.connect(odd) as connection:
        connection.execute(
            "CREATE TABLE topics(id INTEGER PRIMARY KEY, name TEXT, type TEXT, serialization_format TEXT)"
        )
        connection.execute("CREATE TABLE messages(id INT, topic_id INTEGER, timestamp INTEGER, data BLOB)")
        connection.execute("CREATE INDEX timestamp_idx ON messages (timestamp ASC)")
    connection.close()
    unindexed = tmp_path / "unindexed.db3"
    write_db3(unindexed, 3, [Db3Topic("/a", "pkg/msg/A")], [(1, START, b"x")], with_index=False)

    walks = []
    for path in (db3, odd, unindexed):
        with Db3Reader(path) as reader:
            walks.append(reader.batches_walk_the_index())

    assert walks == [True, False, False]


@pytest.mark.parametrize("chunk_size", [CHUNK_SIZE, 20_000])
def test_convert_in_batches_writes_the_bytes_row_by_row_writes(
    tmp_path: Path, fixture_logs: Path, monkeypatch: pytest.MonkeyPatch, chunk_size: int
) -> None:
    db3 = tmp_path / "mixed.db3"
    write_db3(db3, 3, [Db3Topic(f"/t{i}", "pkg/msg/T") for i in range(3)], _mixed_rows(3_000, 9))
    real = fixture_logs / "rosbag2-cdr-test-sqlite3" / "cdr_test_0.db3"

    batched = [_convert(path, chunk_size=chunk_size) for path in (db3, real)]
    monkeypatch.setattr(Db3Reader, "batches_walk_the_index", lambda self: False)
    by_row = [_convert(path, chunk_size=chunk_size) for path in (db3, real)]

    assert [mcap for mcap, _ in batched] == [mcap for mcap, _ in by_row]
    assert [summary for _, summary in batched] == [summary for _, summary in by_row]
    assert len(_as_messages(batched[0][0])) == 3_000


def test_convert_memory_stays_bounded_whatever_the_recording_size(tmp_path: Path) -> None:
    db3 = tmp_path / "big.db3"
    block = bytes(range(256)) * 4
    write_db3(
        db3,
        3,
        [Db3Topic("/a", "pkg/msg/A"), Db3Topic("/b", "pkg/msg/B")],
        ((1 + i % 2, START + i, block[i % 256 :] + i.to_bytes(4, "little")) for i in range(48_000)),
    )
    sink = _NullSink()

    tracemalloc.start()
    try:
        summary = convert_db3_to_mcap(db3, sink, compression_mode="none")  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert summary.message_count == 48_000
    assert db3.stat().st_size > 40 * 1024 * 1024
    assert peak < 16 * 1024 * 1024


# Bad input.


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not a database, just text " * 200, "not a readable sqlite3 database|cannot be read"),
        (b"\x89MCAP0\r\n" + bytes(4096), "not a readable sqlite3 database|cannot be read"),
        (b"", "has no messages and no topics table"),
    ],
)
def test_convert_refuses_a_file_that_is_not_a_rosbag2_database(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.db3"
    path.write_bytes(content)

    with pytest.raises(BadLogFile, match=message):
        _convert(path)


def test_convert_refuses_a_sqlite_database_without_rosbag2s_tables(tmp_path: Path) -> None:
    path = tmp_path / "other.db3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE topics(id INTEGER PRIMARY KEY, name TEXT)")
    connection.close()

    with pytest.raises(BadLogFile, match="not rosbag2's: it has no messages table"):
        _convert(path)


def test_convert_refuses_tables_without_rosbag2s_columns(tmp_path: Path) -> None:
    path = tmp_path / "columns.db3"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE topics(id INTEGER PRIMARY KEY, name TEXT, type TEXT, serialization_format TEXT)"
        )
        connection.execute("CREATE TABLE messages(id INTEGER PRIMARY KEY, topic_id INTEGER, payload BLOB)")
    connection.close()

    with pytest.raises(BadLogFile, match="messages table has no column timestamp, data"):
        _convert(path)


@pytest.mark.parametrize("with_index", [False, True], ids=["row by row", "in batches"])
def test_convert_refuses_a_message_on_a_topic_id_the_topics_table_lacks(
    tmp_path: Path, with_index: bool
) -> None:
    db3 = tmp_path / "orphan.db3"
    rows = [(1, START - 20_000 + i, b"ok") for i in range(20_000)] + [(7, START + 5, b"orphan")]
    write_db3(db3, 3, [Db3Topic("/a", "pkg/msg/A")], rows, with_index=with_index)

    with pytest.raises(BadLogFile, match=f"message at {START + 5} ns names topic id 7"):
        _convert(db3)


def test_convert_refuses_a_message_that_does_not_decompress_naming_topic_and_time(tmp_path: Path) -> None:
    db3 = tmp_path / "packed.db3"
    good = zstandard.compress(b"\x00\x01\x00\x00abc")
    write_db3(db3, 3, [Db3Topic("/a", "pkg/msg/A")], [(1, START, good), (1, START + 9, b"not zstd at all")])

    with pytest.raises(BadLogFile, match=f"message on /a at {START + 9} ns does not decompress"):
        _convert(db3, compression_mode="message")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ((1, -5, b"x"), "negative timestamp"),
        ((1, START, "text, not a blob"), "not a blob"),
        ((1, "soon", b"x"), "not an integer"),
        ((1, None, b"x"), "not an integer"),  # no key reaches it: read row by row from the first
    ],
)
@pytest.mark.parametrize("with_index", [False, True], ids=["row by row", "in batches"])
def test_convert_refuses_malformed_message_rows(
    tmp_path: Path, row: tuple[object, object, object], message: str, with_index: bool
) -> None:
    db3 = tmp_path / "rows.db3"
    with sqlite3.connect(db3) as connection:
        connection.execute(
            "CREATE TABLE topics(id INTEGER PRIMARY KEY, name TEXT, type TEXT, serialization_format TEXT)"
        )
        connection.execute(
            "CREATE TABLE messages(id INTEGER PRIMARY KEY, topic_id INTEGER, timestamp INTEGER, data BLOB)"
        )
        if with_index:
            connection.execute("CREATE INDEX timestamp_idx ON messages (timestamp ASC)")
        connection.execute("INSERT INTO topics VALUES (1, '/a', 'pkg/msg/A', 'cdr')")
        good = [(1, START + i, b"fine") for i in range(20_000)]  # batches before and after the bad row
        connection.executemany("INSERT INTO messages (topic_id, timestamp, data) VALUES (?, ?, ?)", good)
        connection.execute("INSERT INTO messages (topic_id, timestamp, data) VALUES (?, ?, ?)", row)
    connection.close()

    with pytest.raises(BadLogFile, match=message):
        _convert(db3)


def test_convert_refuses_a_truncated_database(fixture_logs: Path, tmp_path: Path) -> None:
    db3 = tmp_path / "cut.db3"
    db3.write_bytes((fixture_logs / "rosbag2-cdr-test-sqlite3" / "cdr_test_0.db3").read_bytes()[:6000])

    with pytest.raises(BadLogFile):
        _convert(db3)


def test_convert_refuses_an_unknown_compression_mode_as_a_callers_mistake(fixture_logs: Path) -> None:
    with pytest.raises(ValueError, match="'zstd'"):
        _convert(fixture_logs / "rosbag2-cdr-test-sqlite3" / "cdr_test_0.db3", compression_mode="zstd")


def test_db3_reader_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadLogFile, match="does not exist"), Db3Reader(tmp_path / "absent.db3"):
        pass
