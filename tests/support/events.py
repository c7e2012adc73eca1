"""The real-shaped events of ``events/``, the files ``sam local invoke --event`` takes, for tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.paths import PROJECT_DIR

EVENTS_DIR = PROJECT_DIR / "events"


def load_event(name: str | Path) -> dict[str, Any]:
    """A fresh copy of ``events/<name>`` (e.g. ``"ingestion_trigger/s3_object_created.json"``)."""
    loaded: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return loaded
