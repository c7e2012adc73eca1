"""Fixtures shared by every test layer, and the count of tests skipped for want of real files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from openlqs.local.cloudformation import load_template
from tests.support import real_files

PROJECT_DIR = Path(__file__).resolve().parent.parent
#: The browser fixture (``browser_page``) for the tiers that open pages.
pytest_plugins = ["tests.support.browser"]


@pytest.fixture(scope="session")
def fixture_bags() -> Path:
    """Real bags written by ROS's own tools (``$OPENLQS_FIXTURES_DIR/bags``)."""
    return real_files.require("bags")


@pytest.fixture(scope="session")
def fixture_logs() -> Path:
    """Real MCAP files and ROS 2 bags written by other tools (``$OPENLQS_FIXTURES_DIR/logs``)."""
    return real_files.require("logs")


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """The project's ``template.yaml``, parsed (intrinsics in their long form)."""
    return load_template(PROJECT_DIR / "template.yaml")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Say how many tests lacked their real files, and add the count to ``make test``'s summary."""
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller sees every report
    skipped = real_files.count_skipped(terminalreporter.stats.get("skipped", []))
    if skipped:
        terminalreporter.write_line(
            f"{skipped} test(s) skipped: {real_files.missing_message(real_files.fixtures_dir())}",
            yellow=True,
        )
    summary_file = os.environ.get(real_files.SUMMARY_FILE_ENV)
    if summary_file:
        with Path(summary_file).open("a", encoding="utf-8") as stream:
            stream.write(f"{skipped}\n")
