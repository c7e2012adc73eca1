"""rosbag2 metadata.yaml: versions 1 to 9, the real fixtures, storage files, and every bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from openlqs.errors import BadLogFile
from openlqs.formats.rosbag2.metadata import parse_metadata, storage_files

QOS_TEXT = "- history: 3\n  depth: 0\n  reliability: 1\n  durability: 2"
QOS_LIST = [{"history": "keep_last", "depth": 10, "reliability": "reliable", "durability": "volatile"}]


def _sample(version: int, **overrides: Any) -> dict[str, Any]:
    """A metadata.yaml of ``version`` with exactly the fields rosbag2 writes in that version."""
    folder_prefix = "run/" if version < 4 else ""
    topic: dict[str, Any] = {"name": "/chatter", "type": "std_msgs/msg/String", "serialization_format": "cdr"}
    if version >= 4:
        topic["offered_qos_profiles"] = QOS_LIST if version >= 9 else QOS_TEXT
    if version >= 7:
        topic["type_description_hash"] = "RIHS01_abc"
    info: dict[str, Any] = {
        "version": version,
        "storage_identifier": "sqlite3",
        "relative_file_paths": [f"{folder_prefix}run_0.db3", f"{folder_prefix}run_1.db3"],
        "duration": {"nanoseconds": 2_000},
        "starting_time": {"nanoseconds_since_epoch": 1_000},
        "message_count": 3,
        "topics_with_message_count": [{"topic_metadata": topic, "message_count": 3}],
    }
    if version >= 3:
        info["compression_format"] = ""
        info["compression_mode"] = ""
    if version >= 5:
        info["files"] = [
            {
                "path": "run_0.db3",
                "starting_time": {"nanoseconds_since_epoch": 1_000},
                "duration": {"nanoseconds": 500},
                "message_count": 2,
            },
            {
                "path": "run_1.db3",
                "starting_time": {"nanoseconds_since_epoch": 2_500},
                "duration": {"nanoseconds": 500},
                "message_count": 1,
            },
        ]
    if version >= 6:
        info["custom_data"] = {"robot": "r2", "run": 7}
    if version >= 8:
        info["ros_distro"] = "jazzy"
    info.update(overrides)
    return {"rosbag2_bagfile_information": info}


def _text(document: Any) -> str:
    return yaml.safe_dump(document)


@pytest.mark.parametrize("version", range(1, 10))
def test_parse_metadata_reads_every_version_with_its_fields(version: int) -> None:
    metadata = parse_metadata(_text(_sample(version)))

    assert metadata.version == version
    assert metadata.storage_identifier == "sqlite3"
    assert (metadata.duration, metadata.starting_time, metadata.message_count) == (2_000, 1_000, 3)
    (topic,) = metadata.topics_with_message_count
    assert (topic.topic_metadata.name, topic.topic_metadata.type, topic.message_count) == (
        "/chatter",
        "std_msgs/msg/String",
        3,
    )
    assert [f.path for f in storage_files(metadata)] == ["run_0.db3", "run_1.db3"]
    assert metadata.compression_mode == "none" and metadata.compression_format == ""
    qos = topic.topic_metadata.offered_qos_text
    assert (yaml.safe_load(qos) if version >= 9 else qos) == (
        "" if version < 4 else QOS_LIST if version >= 9 else QOS_TEXT
    )
    assert topic.topic_metadata.type_description_hash == ("RIHS01_abc" if version >= 7 else "")
    assert [(f.path, f.starting_time, f.duration, f.message_count) for f in metadata.files] == (
        [("run_0.db3", 1_000, 500, 2), ("run_1.db3", 2_500, 500, 1)] if version >= 5 else []
    )
    assert metadata.custom_data == ({"robot": "r2", "run": "7"} if version >= 6 else {})
    assert metadata.ros_distro == ("jazzy" if version >= 8 else "")


def test_parse_metadata_reads_a_field_only_from_the_version_that_brought_it() -> None:
    document = _sample(5, ros_distro="jazzy", custom_data={"a": "b"})

    metadata = parse_metadata(_text(document))

    assert metadata.ros_distro == "" and metadata.custom_data == {}


def test_parse_metadata_keeps_version_9_qos_as_a_list_and_gives_its_text() -> None:
    metadata = parse_metadata(_text(_sample(9)))

    topic = metadata.topics_with_message_count[0].topic_metadata
    assert topic.offered_qos_profiles == QOS_LIST
    assert yaml.safe_load(topic.offered_qos_text) == QOS_LIST


def test_parse_metadata_of_the_real_talker_recording(fixture_logs: Path) -> None:
    metadata = parse_metadata((fixture_logs / "rosbag2-talker-mcap" / "metadata.yaml").read_bytes())

    assert (metadata.version, metadata.storage_identifier, metadata.message_count) == (4, "mcap", 20)
    assert metadata.starting_time == 1585866235112411371 and metadata.duration == 4531096768
    counts = {
        t.topic_metadata.name: (t.topic_metadata.type, t.message_count)
        for t in metadata.topics_with_message_count
    }
    assert counts == {
        "/topic": ("std_msgs/msg/String", 10),
        "/rosout": ("rcl_interfaces/msg/Log", 10),
        "/parameter_events": ("rcl_interfaces/msg/ParameterEvent", 0),
    }
    rosout = metadata.topic("/rosout")
    assert rosout is not None
    assert yaml.safe_load(rosout.topic_metadata.offered_qos_text)[0]["lifespan"] == {"sec": 10, "nsec": 0}
    (storage_file,) = storage_files(metadata)
    assert (storage_file.path, storage_file.storage, storage_file.zstd_file_compressed) == (
        "talker.mcap",
        "mcap",
        False,
    )


def test_parse_metadata_of_the_real_sqlite3_recording(fixture_logs: Path) -> None:
    metadata = parse_metadata((fixture_logs / "rosbag2-cdr-test-sqlite3" / "metadata.yaml").read_text())

    assert (metadata.version, metadata.storage_identifier, metadata.message_count) == (7, "sqlite3", 7)
    assert [(f.path, f.message_count) for f in metadata.files] == [("cdr_test_0.db3", 7)]
    assert {t.topic_metadata.name: t.message_count for t in metadata.topics_with_message_count} == {
        "/array_topic": 4,
        "/test_topic": 3,
    }
    # Its custom_data is a stray scalar, not a mapping: rosbag2 reads no pairs from it, and neither do we.
    assert metadata.custom_data == {}
    assert [f.storage for f in storage_files(metadata)] == ["sqlite3"]


@pytest.mark.parametrize(
    ("mode", "format_", "expected"),
    [
        ("", "", "none"),
        ("NONE", "", "none"),
        ("FILE", "zstd", "file"),
        ("message", "zstd", "message"),
        ("File", "zstd", "file"),
    ],
)
def test_parse_metadata_normalises_compression_mode_in_any_case(
    mode: str, format_: str, expected: str
) -> None:
    metadata = parse_metadata(_text(_sample(8, compression_mode=mode, compression_format=format_)))

    assert metadata.compression_mode == expected
    assert metadata.compression_format == format_


def test_storage_files_flag_zstd_file_compression_by_mode_and_suffix() -> None:
    document = _sample(
        9,
        compression_mode="FILE",
        compression_format="zstd",
        relative_file_paths=["run_0.mcap.zstd", "run_1.mcap"],
        storage_identifier="mcap",
    )

    files = storage_files(parse_metadata(_text(document)))

    assert [
        (f.path, f.storage, f.zstd_file_compressed, f.decompressed_path, f.message_compressed) for f in files
    ] == [
        ("run_0.mcap.zstd", "mcap", True, "run_0.mcap", False),
        ("run_1.mcap", "mcap", False, "run_1.mcap", False),
    ]


def test_storage_files_mark_message_compression_and_keep_zstd_names_as_they_are() -> None:
    document = _sample(
        9, compression_mode="message", compression_format="zstd", relative_file_paths=["a.db3.zstd"]
    )

    (storage_file,) = storage_files(parse_metadata(_text(document)))

    assert storage_file.message_compressed and not storage_file.zstd_file_compressed
    assert storage_file.decompressed_path == "a.db3.zstd"


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        ("sub/run_0.db3", "sub/run_0.db3"),
        ("./run_0.db3", "run_0.db3"),
        ("sub\\run_0.db3", "sub/run_0.db3"),
        ("sub/../run_0.db3", "run_0.db3"),
    ],
)
def test_storage_files_normalise_paths_inside_the_folder(listed: str, expected: str) -> None:
    (storage_file,) = storage_files(parse_metadata(_text(_sample(9, relative_file_paths=[listed]))))

    assert storage_file.path == expected and storage_file.listed_path == listed


def test_storage_files_of_old_versions_drop_the_folder_name_their_paths_start_with() -> None:
    metadata = parse_metadata(_text(_sample(3, relative_file_paths=["my_run/my_run_0.db3", "lone.db3"])))

    assert [f.path for f in storage_files(metadata)] == ["my_run_0.db3", "lone.db3"]


@pytest.mark.parametrize(
    "listed",
    [
        "../x.db3",
        "/abs/run_0.db3",
        "",
        "   ",
        "..\\x.db3",
        "sub\\..\\..\\x.db3",
        "C:\\run\\run_0.db3",
        "a/../../x",
        ".",
        "\\\\server\\share\\x",
    ],
)
def test_parse_metadata_refuses_a_file_outside_the_folder_naming_it(listed: str) -> None:
    document = _sample(9, relative_file_paths=["run_0.db3", listed])

    with pytest.raises(BadLogFile) as error:
        parse_metadata(_text(document))

    assert repr(listed) in error.value.detail
    assert "relative_file_paths[1]" in error.value.detail


def test_parse_metadata_refuses_an_old_version_path_that_escapes_after_its_folder_name() -> None:
    with pytest.raises(BadLogFile, match=r"outside the recording's folder: '../x.db3'"):
        parse_metadata(_text(_sample(2, relative_file_paths=["../x.db3"])))


def test_parse_metadata_refuses_a_files_entry_outside_the_folder() -> None:
    document = _sample(9)
    document["rosbag2_bagfile_information"]["files"][1]["path"] = "../../etc/passwd"

    with pytest.raises(BadLogFile, match=r"'../../etc/passwd' \(files\[1\].path\)"):
        parse_metadata(_text(document))


def test_parse_metadata_refuses_a_file_listed_twice() -> None:
    with pytest.raises(BadLogFile, match="twice"):
        parse_metadata(_text(_sample(9, relative_file_paths=["run_0.db3", "./run_0.db3"])))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rosbag2_bagfile_information: [unclosed", "not YAML"),
        ("key: 'unterminated", "not YAML"),
        (b"\xff\xfe\x00bad", "not UTF-8"),
        ("just a string", "not a rosbag2 recording's"),
        ("some_other_tool: {version: 1}", "not a rosbag2 recording's"),
        ("rosbag2_bagfile_information: 5", "not a rosbag2 recording's"),
        ("", "not a rosbag2 recording's"),
    ],
)
def test_parse_metadata_refuses_what_is_not_rosbag2_metadata(text: str | bytes, message: str) -> None:
    with pytest.raises(BadLogFile, match=message):
        parse_metadata(text)


@pytest.mark.parametrize("version", [0, 10, 42, "9", True, None])
def test_parse_metadata_refuses_an_unknown_version(version: Any) -> None:
    with pytest.raises(BadLogFile, match="version"):
        document = _sample(9)
        document["rosbag2_bagfile_information"]["version"] = version
        parse_metadata(_text(document))


@pytest.mark.parametrize("storage", ["rosbag_v2", "MCAP", "", None])
def test_parse_metadata_refuses_an_unknown_storage_identifier(storage: Any) -> None:
    with pytest.raises(BadLogFile, match=f"unknown storage_identifier {storage!r}"):
        parse_metadata(_text(_sample(9, storage_identifier=storage)))


def test_parse_metadata_refuses_an_unknown_compression_format() -> None:
    with pytest.raises(BadLogFile, match="unknown compression_format 'lz4'"):
        parse_metadata(_text(_sample(9, compression_format="lz4", compression_mode="file")))


@pytest.mark.parametrize("mode", ["STORAGE", "chunk", 3])
def test_parse_metadata_refuses_an_unknown_compression_mode(mode: Any) -> None:
    with pytest.raises(BadLogFile, match=f"unknown compression_mode {mode!r}"):
        parse_metadata(_text(_sample(9, compression_mode=mode, compression_format="zstd")))


def test_parse_metadata_refuses_a_compression_mode_without_a_format() -> None:
    with pytest.raises(BadLogFile, match="no compression_format"):
        parse_metadata(_text(_sample(9, compression_mode="message", compression_format="")))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"relative_file_paths": None}, "no 'relative_file_paths'"),
        ({"relative_file_paths": [3]}, "relative_file_paths.0"),
        ({"topics_with_message_count": "none"}, "'topics_with_message_count' is not a list"),
        ({"topics_with_message_count": [{"message_count": 1}]}, "no 'topic_metadata'"),
        ({"duration": 5}, "'duration' has no 'nanoseconds'"),
        ({"message_count": "many"}, "message_count"),
        ({"message_count": -1}, "message_count"),
        ({"relative_file_paths": []}, "lists no storage files"),
    ],
)
def test_parse_metadata_refuses_missing_or_mistyped_fields(change: dict[str, Any], message: str) -> None:
    with pytest.raises(BadLogFile, match=message):
        parse_metadata(_text(_sample(9, **change)))


def test_parse_metadata_refuses_qos_text_that_is_not_a_list_of_profiles() -> None:
    document = _sample(8)
    document["rosbag2_bagfile_information"]["topics_with_message_count"][0]["topic_metadata"][
        "offered_qos_profiles"
    ] = "history: [3"

    with pytest.raises(BadLogFile, match=r"offered_qos_profiles of .*'/chatter'.* is not YAML"):
        parse_metadata(_text(document))
