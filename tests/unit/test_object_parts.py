"""Completing a multipart upload: the uploaded parts against the sizes declared for them."""

from __future__ import annotations

from datetime import UTC, datetime

from openlqs.domain.objects import part_problems
from openlqs.domain.ports import BlobPart

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def parts(**sizes: int) -> list[BlobPart]:
    """Uploaded parts by number: ``parts(p1=5, p3=7)``."""
    return [BlobPart(int(name[1:]), f"etag{name}", size, WHEN) for name, size in sizes.items()]


def test_part_problems_none_when_every_declared_part_is_there_with_its_size() -> None:
    assert part_problems({1: 5, 2: 7}, parts(p1=5, p2=7)) is None


def test_part_problems_an_empty_declared_part_may_be_left_out() -> None:
    # The official client declares a final 0-byte part when the size is a multiple of the part size.
    assert part_problems({1: 5, 2: 0}, parts(p1=5)) is None
    assert part_problems({1: 5, 2: 0}, parts(p1=5, p2=0)) is None


def test_part_problems_names_missing_parts_as_runs() -> None:
    declared = {n: 5 for n in range(1, 9)}

    assert part_problems(declared, parts(p1=5, p5=5, p6=5, p8=5)) == "parts 2-4, 7 are missing"
    assert part_problems({1: 5, 2: 5, 3: 5}, parts(p1=5, p3=5)) == "part 2 is missing"


def test_part_problems_a_declared_part_never_uploaded_is_missing() -> None:
    assert part_problems({1: 5, 2: 5}, parts(p1=5)) == "part 2 is missing"


def test_part_problems_names_parts_of_another_size_and_counts_the_rest() -> None:
    declared = {n: 10 for n in range(1, 13)}
    uploaded = parts(**{f"p{n}": 9 for n in range(1, 13)})

    problems = part_problems(declared, uploaded)

    assert problems is not None
    assert problems.startswith("part 1 has 9 bytes, 10 were declared; part 2 has 9 bytes")
    assert problems.endswith("part 10 has 9 bytes, 10 were declared; and 2 more")


def test_part_problems_without_declared_sizes_needs_parts_one_to_n() -> None:
    assert part_problems(None, parts(p1=5, p2=3)) is None
    assert part_problems(None, parts(p1=5, p3=3)) == "part 2 is missing"
