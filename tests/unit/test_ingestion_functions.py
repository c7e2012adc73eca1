"""The ingestion task entry points (functions/*/app.py) with the payloads the state machine sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from openlqs.ingestion.pipeline import IngestionPipeline
from openlqs.local.functions import InProcessFunction
from tests.support.events import load_event

PROJECT_DIR = Path(__file__).resolve().parents[2]
EVENTS_DIR = PROJECT_DIR / "events" / "ingestion"

#: Function folder → (the ``IngestionPipeline`` method it calls, its event file).
TASKS = {
    "plan_ingestion": ("plan", "plan_ingestion.json"),
    "process_part": ("process_part", "process_part.json"),
    "fail_part": ("fail_part", "fail_part.json"),
    "finalize_ingestion": ("finalize", "finalize_ingestion.json"),
    "fail_ingestion": ("fail", "fail_ingestion.json"),
}


class FakeResult:
    def __init__(self, name: str) -> None:
        self.name = name

    def model_dump(self, mode: str) -> dict[str, Any]:
        return {"task": self.name}


class FakeHandlers:
    """Stands in for every task of ``IngestionPipeline``; records which one got which payload (as the
    JSON its parsed model gives back)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def task(self, name: str) -> Any:
        def call(pipeline: IngestionPipeline, task: BaseModel) -> FakeResult:
            self.calls.append((name, task.model_dump(mode="json", by_alias=True, exclude_unset=True)))
            return FakeResult(name)

        return call


@pytest.fixture
def fake_handlers(monkeypatch: pytest.MonkeyPatch) -> FakeHandlers:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    fake = FakeHandlers()
    for name, _ in TASKS.values():
        monkeypatch.setattr(IngestionPipeline, name, fake.task(name))
    return fake


@pytest.mark.parametrize("folder", sorted(TASKS))
def test_ingestion_task_function_passes_its_payload_to_its_handler(
    fake_handlers: FakeHandlers, folder: str
) -> None:
    handler_name, event_file = TASKS[folder]
    event = load_event(f"ingestion/{event_file}")
    function = InProcessFunction.from_file(PROJECT_DIR / "functions" / folder / "app.py", logical_id=folder)

    result = function.invoke(event)

    assert fake_handlers.calls == [(handler_name, event)]
    assert result == {"task": handler_name}
