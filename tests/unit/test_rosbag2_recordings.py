"""How an ingestion takes a ROS 2 recording apart (``openlqs.ingestion.recordings``): which files are
converted and where their derived objects go, what ``metadata.yaml`` says of topics, and the rewrite of
a message-compressed MCAP file, and the conversions' MCAP writer (checked with the ``mcap`` package's
reader and openlqs's own index)."""

from __future__ import annotations

import io
from pathlib import Path
from uuid import UUID

import pytest
from mcap.reader import make_reader

from openlqs.domain.object_keys import derived_prefix
from openlqs.errors import BadLogFile
from openlqs.formats.mcap import McapFormat
from openlqs.formats.rosbag2 import decompress_mcap_messages, parse_metadata, storage_files
from openlqs.formats.rosbag2.mcap_writer import FastMcapWriter
from openlqs.ingestion.recordings import (
    is_metadata_yaml,
    is_sqlite,
    lone_db3_file,
    metadata_channels,
    missing_files_error,
    planned_file,
)
from tests.support.mcap import BytesSource
from tests.support.rosbag2 import (
    in_replay_order,
    mixed_messages,
    read_mcap,
    write_rosbags_recording,
    write_split_recording,
)

START = 1_650_000_000_000_000_000
INGESTION = UUID("11111111-2222-4333-8444-555555555555")


def test_derived_objects_live_next_to_the_ingested_object_under_its_ingestion_id() -> None:
    assert derived_prefix("fleet/run/metadata.yaml", INGESTION) == f"fleet/run/derived/{INGESTION}/"
    assert derived_prefix("run_0.db3", INGESTION) == f"derived/{INGESTION}/"


@pytest.mark.parametrize(
    ("storage", "compression", "steps", "source"),
    [
        ("mcap", "none", [], "run_0.mcap"),
        ("mcap", "file", ["zstd_file"], f"derived/{INGESTION}/run_0.mcap"),
        ("mcap", "message", ["zstd_messages"], f"derived/{INGESTION}/run_0.mcap"),
        ("sqlite3", "none", ["db3_to_mcap"], f"derived/{INGESTION}/run_0.mcap"),
        ("sqlite3", "file", ["zstd_file", "db3_to_mcap"], f"derived/{INGESTION}/run_0.mcap"),
        ("sqlite3", "message", ["db3_to_mcap"], f"derived/{INGESTION}/run_0.mcap"),
    ],
)
def test_a_file_is_converted_when_records_cannot_point_into_it_and_its_source_names_what_they_do(
    tmp_path: Path, storage: str, compression: str, steps: list[str], source: str
) -> None:
    recording = write_split_recording(
        tmp_path / "run",
        [mixed_messages(START, 6)],
        storage=storage,  # type: ignore[arg-type]
        compression=compression,  # type: ignore[arg-type]
    )
    (storage_file,) = storage_files(parse_metadata((recording.path / "metadata.yaml").read_text()))

    planned = planned_file("robots/run/metadata.yaml", INGESTION, storage_file)

    assert (planned.conversion, planned.source) == (steps, source)
    assert planned.key == f"robots/run/{recording.files[0]}"
    assert planned.derived_key == (f"robots/run/{source}" if steps else None)


def test_a_lone_db3_is_converted_next_to_itself() -> None:
    planned = lone_db3_file("logs/old.db3", INGESTION)
    assert (planned.key, planned.derived_key, planned.source) == (
        "logs/old.db3",
        f"logs/derived/{INGESTION}/old.mcap",
        f"derived/{INGESTION}/old.mcap",
    )


def test_what_an_ingestion_object_is_is_told_by_its_name_or_first_bytes() -> None:
    assert is_metadata_yaml("run/metadata.yaml", b"anything")
    assert is_metadata_yaml("run/renamed.yaml", b"rosbag2_bagfile_information:\n")
    assert not is_metadata_yaml("run/run_0.mcap", b"\x89MCAP0\r\n")
    assert is_sqlite(b"SQLite format 3\x00rest")
    assert not is_sqlite(b"#ROSBAG V2.0\n")


def test_metadata_topics_carry_the_qos_and_only_cdr_is_typed(fixture_logs: Path) -> None:
    text = (fixture_logs / "rosbag2-talker-mcap" / "metadata.yaml").read_text()
    text = text.replace(
        "serialization_format: cdr\n      type: std_msgs", "serialization_format: json\n      type: std_msgs"
    )
    channels = {c.topic: c for c in metadata_channels(parse_metadata(text))}

    assert channels["/rosout"].type_encoding == "cdr" and channels["/rosout"].type_data is None
    assert "lifespan" in channels["/rosout"].context["metadata"]["offered_qos_profiles"]
    assert (channels["/topic"].type_encoding, channels["/topic"].context["message_encoding"]) == (
        None,
        "json",
    )


def test_missing_files_are_named_and_listed_in_the_payload() -> None:
    error = missing_files_error(["run_2.db3", "run_3.db3"])
    assert "2 files that are not uploaded" in error.detail and "run_2.db3, run_3.db3" in error.detail
    assert error.payload == {"missing_files": ["run_2.db3", "run_3.db3"]}


def test_a_message_compressed_mcap_is_rewritten_with_its_cdr_bytes(tmp_path: Path) -> None:
    written = mixed_messages(START, 40)
    recording = write_rosbags_recording(tmp_path / "run", written, storage="mcap", compression="message")
    original = read_mcap(recording.path / recording.files[0])
    out = io.BytesIO()

    with (recording.path / recording.files[0]).open("rb") as source:
        summary = decompress_mcap_messages(source, out)

    rewritten = read_mcap(out.getvalue())
    assert [(m.topic, m.log_time, m.data) for m in rewritten] == [
        (m.topic, m.timestamp, m.data) for m in in_replay_order(written)
    ]
    assert [(m.schema_name, m.schema_data, m.channel_metadata) for m in rewritten] == [
        (m.schema_name, m.schema_data, m.channel_metadata) for m in original
    ]
    assert summary.message_count == 40 and summary.output_bytes == len(out.getvalue())


def test_a_message_that_does_not_decompress_fails_naming_its_topic(tmp_path: Path) -> None:
    recording = write_rosbags_recording(tmp_path / "run", mixed_messages(START, 4), storage="mcap")

    with (recording.path / recording.files[0]).open("rb") as source, pytest.raises(BadLogFile) as caught:
        decompress_mcap_messages(source, io.BytesIO())

    assert "/chatter" in caught.value.detail and "does not decompress" in caught.value.detail


def test_the_fast_writer_indexes_as_the_mcap_package_and_openlqs_read_it() -> None:
    out = io.BytesIO()
    writer = FastMcapWriter(out, chunk_size=2048)
    writer.start(profile="ros2", library="test")
    schema = writer.register_schema(name="std_msgs/msg/String", encoding="ros2msg", data=b"string data\n")
    channels = [
        writer.register_channel(topic=t, message_encoding="cdr", schema_id=schema, metadata={"k": t})
        for t in ("/a", "/b")
    ]
    written = [(channels[i % 2], START + i * 10, f"message {i}".encode() * (i % 7 + 1)) for i in range(500)]
    for channel, time_ns, data in written:
        writer.add_message(
            channel, log_time=time_ns, data=data, publish_time=time_ns + 1, sequence=i_of(time_ns)
        )
    writer.finish()
    data = out.getvalue()

    reader = make_reader(io.BytesIO(data))
    summary = reader.get_summary()
    assert summary is not None and summary.statistics is not None
    assert (summary.statistics.message_count, dict(summary.statistics.channel_message_counts)) == (
        500,
        {channels[0]: 250, channels[1]: 250},
    )
    assert len(summary.chunk_indexes) > 5
    read = [(c.id, m.log_time, m.data, m.publish_time, m.sequence) for _, c, m in reader.iter_messages()]
    assert read == [(c, t, d, t + 1, i_of(t)) for c, t, d in written]
    assert {c.topic: dict(c.metadata) for c in summary.channels.values()} == {
        "/a": {"k": "/a"},
        "/b": {"k": "/b"},
    }
    index = McapFormat().read_index(BytesSource(data))
    assert sum(span.message_count for span in index.spans) == 500 and all(
        span.counted for span in index.spans
    )
    positions = [
        p
        for span in index.spans
        for c in McapFormat().index_columns(data[span.start : span.end], span.start)
        for p in c.positions()
    ]
    assert [p.timestamp for p in positions] == [t for _, t, _ in written]


def i_of(time_ns: int) -> int:
    return (time_ns - START) // 10
