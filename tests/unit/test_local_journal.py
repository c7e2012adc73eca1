"""The local stack's write-ahead journal: segments, rotation, and a line a crash cut off."""

from __future__ import annotations

from pathlib import Path

from openlqs.local.durability import _deleted
from openlqs.local.journal import Journal


def test_journal_entries_come_back_in_order_across_segments(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append([{"n": 1}, {"n": 2}])
    second = journal.rotate()
    journal.append([{"n": 3}])
    journal.close()

    assert [entry["n"] for entry in Journal(tmp_path).entries()] == [1, 2, 3]
    assert [entry["n"] for entry in Journal(tmp_path).entries(second)] == [3]


def test_journal_skips_the_line_a_crash_cut_off(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append([{"n": 1}])
    journal.close()
    (segment,) = (tmp_path / "journal").glob("*.jsonl")
    with segment.open("a", encoding="utf-8") as stream:
        stream.write('{"n": 2, "item": {"pk"')

    assert [entry["n"] for entry in Journal(tmp_path).entries()] == [1]


def test_journal_reopened_appends_to_a_new_segment(tmp_path: Path) -> None:
    Journal(tmp_path).append([{"n": 1}])
    reopened = Journal(tmp_path)
    reopened.append([{"n": 2}])

    assert len(reopened.segment_numbers()) == 2
    assert [entry["n"] for entry in reopened.entries()] == [1, 2]


def test_journal_removes_only_segments_before_a_checkpoint(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append([{"n": 1}])
    kept = journal.rotate()
    journal.append([{"n": 2}])
    journal.remove_before(kept)

    assert [entry["n"] for entry in journal.entries()] == [2]


def test_journal_writes_binary_values_as_base64(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append([{"item": {"blob": {"B": b"\x00\x01"}}}])

    assert next(journal.entries())["item"]["blob"]["B"] == "AAE="


def test_delete_objects_request_names_its_keys() -> None:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Object><Key>drop/a b.bag</Key></Object><Object><Key>x</Key></Object><Quiet>true</Quiet></Delete>"
    )

    assert _deleted(body) == ["drop/a b.bag", "x"]
