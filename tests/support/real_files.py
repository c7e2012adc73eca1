"""Where the real files written by other tools are (bags, MCAP files, ROS 2 bags), and what happens
to the tests that need them when they are missing.

``OPENLQS_FIXTURES_DIR`` names the folder that holds ``bags/`` and ``logs/``; by default it is
``shared/fixtures`` beside the project checkout. A test that needs a missing folder is skipped with a
reason that starts with :data:`MISSING`, and counted: ``make test`` prints one line at its end with
the number skipped (``python -m tests.support.real_files SUMMARY_FILE``). With ``CI=true`` a missing
folder fails the test instead: CI must never pass without the real files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.support.paths import PROJECT_DIR

FIXTURES_ENV = "OPENLQS_FIXTURES_DIR"
#: The file each pytest run adds its count of skipped real-file tests to (set by the Makefile).
SUMMARY_FILE_ENV = "OPENLQS_SKIP_SUMMARY_FILE"
#: How the skip reason of a test without its real files starts.
MISSING = "real-file fixtures not found"


def fixtures_dir() -> Path:
    """The folder holding ``bags/`` and ``logs/``."""
    configured = os.environ.get(FIXTURES_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    return PROJECT_DIR.parent / "shared" / "fixtures"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing_message(path: Path) -> str:
    return (
        f"{MISSING} at {path}: set {FIXTURES_ENV} to the folder that holds bags/ and logs/ "
        "(shared/fixtures of the project)"
    )


def require(subfolder: str, name: str | None = None) -> Path:
    """``fixtures_dir() / subfolder`` (or a file in it), skipping the test when it is missing (failing
    it in CI)."""
    folder = fixtures_dir() / subfolder
    path = folder / name if name else folder
    if not path.exists():
        message = missing_message(path)
        if in_ci():
            pytest.fail(f"{message}; CI=true needs them", pytrace=False)
        pytest.skip(message)
    return path


def count_skipped(reports: list[pytest.TestReport]) -> int:
    """How many of these skipped reports were skipped for want of real files."""
    count = 0
    for report in reports:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        count += MISSING in str(reason)
    return count


def summary(path: Path) -> str:
    """The line ``make test`` ends with: how many real-file tests the runs in ``path`` skipped."""
    lines = path.read_text(encoding="utf-8").split() if path.is_file() else []
    skipped = sum(int(line) for line in lines if line.isdigit())
    where = fixtures_dir()
    if skipped == 0:
        return f"real-file tests: none skipped (fixtures in {where})"
    return (
        f"real-file tests: {skipped} SKIPPED: no fixtures at {where}; set {FIXTURES_ENV} to the folder "
        "holding bags/ and logs/"
    )


if __name__ == "__main__":
    print(summary(Path(sys.argv[1])))
