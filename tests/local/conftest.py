"""Fixtures of the local tier: stacks of small test projects in this process."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh data directory for a stack."""
    return tmp_path / "data"
