"""The command's pure helpers: timestamps people type, and tables."""

from __future__ import annotations

import click
import pytest

from openlqs.cli import format_table, main, parse_timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1396293888056045055", 1396293888056045055),
        ("1396293888.5", 1396293888_500_000_000),
        ("1396293888s", 1396293888_000_000_000),
        ("0.000000001", 1),
        ("2014-03-31T19:24:48.056045Z", 1396293888_056_045_000),
        ("2014-03-31T19:24:48", 1396293888_000_000_000),
        ("2014-03-31T21:24:48+02:00", 1396293888_000_000_000),
    ],
)
def test_parse_timestamp_reads_ns_seconds_and_iso(text: str, expected: int) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "1.2.3", "s", ""])
def test_parse_timestamp_rejects_other_text(text: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_timestamp(text)


def test_format_table_pads_columns_to_the_widest_cell() -> None:
    table = format_table(["NAME", "N"], [["a", "1"], ["longer", "22"]])

    assert table.splitlines() == ["NAME    N", "a       1", "longer  22"]


def test_main_reports_a_usage_error_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["ls", "gadgets"])

    error = capsys.readouterr().err
    assert status == 2
    assert error.startswith("openlqs: error: ")
    assert len(error.strip().splitlines()) == 1
