"""MCAP recordings (storage ``mcap``) as an ingestion will take them apart: metadata.yaml, its storage
files, zstd file and message compression; each file read back with the ``mcap`` package and compared
with the messages written by rosbags' rosbag2 writer."""

from __future__ import annotations

import io
from pathlib import Path

import yaml

from openlqs.formats.rosbag2 import (
    ZstdMessageDecompressor,
    decompress_zstd_stream,
    parse_metadata,
    storage_files,
)
from tests.support.rosbag2 import (
    CUSTOM_DEFINITION,
    CUSTOM_TYPE,
    Message,
    in_replay_order,
    mixed_messages,
    read_mcap,
    topic_digests,
    write_rosbags_recording,
    write_split_recording,
)

START = 1_650_000_000_000_000_000
#: The fixtures README's table for rosbag2-talker-mcap/talker.mcap (topics with messages).
TALKER_EXPECTED = {
    "/rosout": (
        10,
        1585866235112411371,
        1585866239612761798,
        "bd52a8860b07faee1b17e7b416e2b79af65efd9027fbce87c8be1ba02fa8fcd4",
    ),
    "/topic": (
        10,
        1585866235112609068,
        1585866239643508139,
        "e38fe52fdc1694310223777c42fbb1859f70095720bb1e1e51f46b716712fba1",
    ),
}


def test_storage_files_of_the_real_talker_recording_name_its_mcap(fixture_logs: Path) -> None:
    folder = fixture_logs / "rosbag2-talker-mcap"
    metadata = parse_metadata((folder / "metadata.yaml").read_bytes())

    (storage_file,) = storage_files(metadata)

    messages = read_mcap(folder / storage_file.path)
    assert topic_digests(messages) == TALKER_EXPECTED
    assert {name: count for name, (count, *_) in TALKER_EXPECTED.items()} == {
        t.topic_metadata.name: t.message_count for t in metadata.topics_with_message_count if t.message_count
    }


def test_split_file_compressed_mcap_recording_restores_every_message_file_by_file(tmp_path: Path) -> None:
    parts = [
        mixed_messages(START, 33),
        mixed_messages(START + 10**9, 21),
        mixed_messages(START + 3 * 10**9, 12),
    ]
    recording = write_split_recording(tmp_path / "run", parts, storage="mcap", compression="file")
    metadata = parse_metadata((recording.path / "metadata.yaml").read_text())
    files = storage_files(metadata)

    read_back: list[list[Message]] = []
    schemas: dict[str, bytes] = {}
    for storage_file in files:
        restored = io.BytesIO()
        with (recording.path / storage_file.path).open("rb") as source:
            decompress_zstd_stream(source, restored, max_output_bytes=None)
        messages = read_mcap(restored.getvalue())
        schemas.update({m.schema_name: m.schema_data for m in messages})
        read_back.append([Message(m.topic, m.schema_name, m.log_time, m.data) for m in messages])

    assert [(f.path, f.storage, f.zstd_file_compressed, f.decompressed_path) for f in files] == [
        (f"run_{i}.mcap.zstd", "mcap", True, f"run_{i}.mcap") for i in range(3)
    ]
    assert read_back == [in_replay_order(part) for part in parts]
    assert [(f.message_count, f.starting_time) for f in metadata.files] == [
        (len(part), min(m.timestamp for m in part)) for part in parts
    ]
    all_read = [m for part in read_back for m in part]
    assert {topic: count for topic, (count, *_) in topic_digests(all_read).items()} == {
        t.topic_metadata.name: t.message_count for t in metadata.topics_with_message_count
    }
    assert topic_digests(all_read) == topic_digests(in_replay_order(m for part in parts for m in part))
    assert schemas[CUSTOM_TYPE].decode().startswith(CUSTOM_DEFINITION)


def test_message_compressed_mcap_recording_restores_cdr_bytes_message_by_message(tmp_path: Path) -> None:
    written = mixed_messages(START, 27)
    recording = write_rosbags_recording(tmp_path / "run", written, storage="mcap", compression="message")
    metadata = parse_metadata((recording.path / "metadata.yaml").read_text())
    (storage_file,) = storage_files(metadata)
    decompress = ZstdMessageDecompressor(max_output_bytes=1 << 20)

    stored = read_mcap(recording.path / storage_file.path)

    assert storage_file.message_compressed and not storage_file.zstd_file_compressed
    assert all(m.data[:4] == b"\x28\xb5\x2f\xfd" for m in stored)
    restored = [Message(m.topic, m.schema_name, m.log_time, decompress(m.data)) for m in stored]
    assert restored == in_replay_order(written)


def test_mcap_recording_channels_carry_the_qos_text_that_metadata_yaml_lists(tmp_path: Path) -> None:
    recording = write_rosbags_recording(tmp_path / "run", mixed_messages(START, 9), storage="mcap", version=8)
    metadata = parse_metadata((recording.path / "metadata.yaml").read_text())
    (storage_file,) = storage_files(metadata)

    channels = {
        m.topic: m.channel_metadata["offered_qos_profiles"]
        for m in read_mcap(recording.path / storage_file.path)
    }

    listed = {
        t.topic_metadata.name: t.topic_metadata.offered_qos_text for t in metadata.topics_with_message_count
    }
    assert metadata.version == 8 and all(listed.values())
    assert {topic: yaml.safe_load(text) for topic, text in channels.items()} == {
        topic: yaml.safe_load(text) for topic, text in listed.items()
    }
