"""Fixtures shared by every test layer."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
#: Real bags written by ROS's own tools (shared/fixtures/bags), beside the project checkout.
FIXTURE_BAGS = PROJECT_DIR.parent / "shared" / "fixtures" / "bags"


@pytest.fixture(scope="session")
def fixture_bags() -> Path:
    if not FIXTURE_BAGS.is_dir():
        pytest.skip(f"real bag fixtures not found at {FIXTURE_BAGS}")
    return FIXTURE_BAGS
