"""The format registry: a log's format is chosen by its first bytes, never by its name."""

from __future__ import annotations

from pathlib import Path

import pytest

from openlqs.errors import BadLogFile
from openlqs.formats.registry import FORMATS, format_for, format_named
from tests.support.mcap import write_mcap


def test_registry_recognises_mcap_by_its_magic_and_names_both_formats_otherwise() -> None:
    assert format_for(write_mcap([])[:16]).name == "mcap"
    assert format_for(b"#ROSBAG V2.0\nxyz").name == "ros1"

    with pytest.raises(BadLogFile, match=r"not a ROS 1 bag .* or MCAP file .*: it starts with b'PK"):
        format_for(b"PK\x03\x04 not a log")
    with pytest.raises(BadLogFile, match=r"not a ROS 1 bag .*, MCAP file .* or a recording: it starts"):
        format_for(b"PK\x03\x04 not a log", also=("a recording",))


def test_registry_lists_ros1_then_mcap_by_name() -> None:
    assert [log_format.name for log_format in FORMATS] == ["ros1", "mcap"]
    assert format_named("mcap").description == "MCAP file ('\\x89MCAP0\\r\\n')"


def test_registry_recognises_a_real_mcap_file_by_its_magic(fixture_logs: Path) -> None:
    head = (fixture_logs / "json-mouse-events.mcap").read_bytes()[:16]

    assert format_for(head).name == "mcap"
