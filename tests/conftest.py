"""Fixtures shared by every test layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from openlqs.local.cloudformation import load_template

PROJECT_DIR = Path(__file__).resolve().parent.parent
#: Real bags written by ROS's own tools (shared/fixtures/bags), beside the project checkout.
FIXTURE_BAGS = PROJECT_DIR.parent / "shared" / "fixtures" / "bags"
#: Real MCAP files and ROS 2 bags written by other tools (shared/fixtures/logs), beside the checkout.
FIXTURE_LOGS = PROJECT_DIR.parent / "shared" / "fixtures" / "logs"


@pytest.fixture(scope="session")
def fixture_bags() -> Path:
    if not FIXTURE_BAGS.is_dir():
        pytest.skip(f"real bag fixtures not found at {FIXTURE_BAGS}")
    return FIXTURE_BAGS


@pytest.fixture(scope="session")
def fixture_logs() -> Path:
    if not FIXTURE_LOGS.is_dir():
        pytest.skip(f"real log fixtures not found at {FIXTURE_LOGS}")
    return FIXTURE_LOGS


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """The project's ``template.yaml``, parsed (intrinsics in their long form)."""
    return load_template(PROJECT_DIR / "template.yaml")
