"""Tests that need the real files cannot pass unnoticed without them (tests/support/real_files.py).

Each case runs one real-file test in a pytest subprocess, with the fixtures folder moved by
``OPENLQS_FIXTURES_DIR``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import real_files
from tests.support.paths import PROJECT_DIR

#: A test that reads a real MCAP file through the ``fixture_logs`` fixture.
REAL_FILE_TEST = "tests/unit/test_mcap_fixtures.py::test_fixture_index_is_read_with_at_most_two_reads"


def _run(tmp_path: Path, **environment: str) -> tuple[subprocess.CompletedProcess[str], str]:
    summary = tmp_path / "skips"
    env = {key: value for key, value in os.environ.items() if key not in ("CI", real_files.FIXTURES_ENV)}
    env.update(environment, **{real_files.SUMMARY_FILE_ENV: str(summary)})
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", REAL_FILE_TEST],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result, real_files.summary(summary)


def test_fixtures_folder_can_be_named_by_an_environment_variable(tmp_path: Path) -> None:
    if not (real_files.fixtures_dir() / "logs").is_dir():
        pytest.skip(real_files.missing_message(real_files.fixtures_dir()))
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "logs").symlink_to(real_files.fixtures_dir() / "logs")

    result, summary = _run(tmp_path, **{real_files.FIXTURES_ENV: str(moved)})

    assert result.returncode == 0, result.stdout
    assert "1 passed" in result.stdout
    assert summary.startswith("real-file tests: none skipped")


def test_missing_fixtures_skip_with_the_reason_and_are_counted_for_the_summary(tmp_path: Path) -> None:
    result, summary = _run(tmp_path, **{real_files.FIXTURES_ENV: str(tmp_path / "nowhere")})

    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout
    assert f"set {real_files.FIXTURES_ENV}" in result.stdout
    assert summary.startswith("real-file tests: 1 SKIPPED")


def test_missing_fixtures_fail_in_ci(tmp_path: Path) -> None:
    result, _ = _run(tmp_path, CI="true", **{real_files.FIXTURES_ENV: str(tmp_path / "nowhere")})

    assert result.returncode != 0
    assert "CI=true needs them" in result.stdout
