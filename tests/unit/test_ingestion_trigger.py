"""IngestionTriggerFunction's entry point (functions/ingestion_trigger/app.py) with real-shaped events."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from openlqs.ingestion.drop_folder import DropFolder
from openlqs.ingestion.trigger import IngestionTrigger
from openlqs.local.functions import InProcessFunction
from tests.support.events import load_event

PROJECT_DIR = Path(__file__).resolve().parents[2]
HANDLER_FILE = PROJECT_DIR / "functions" / "ingestion_trigger" / "app.py"
EVENTS_DIR = PROJECT_DIR / "events"
INGESTION_ID = uuid.UUID("5f0c2b1e-8d3a-4b7e-9c61-2a4d8e0f1b37")
#: The ingestion of events/ingestion_trigger/dynamodb_ingestion_queued.json.
QUEUED_INGESTION_ID = uuid.UUID("438284fc-4d27-42a2-bd5b-929e8fa1ad2d")
STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:IngestionStateMachine-AbC123"


def _event(name: str) -> dict[str, Any]:
    return load_event(name)


class FakeDropFolder:
    """Stands in for ``DropFolder.register``; records its calls."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.answer: uuid.UUID | None = INGESTION_ID

    def register_dropped_object(
        self, *, bucket: str, key: str, etag: str | None, size: int | None
    ) -> uuid.UUID | None:
        self.calls.append({"bucket": bucket, "key": key, "etag": etag, "size": size})
        return self.answer


@pytest.fixture
def drop_folder(monkeypatch: pytest.MonkeyPatch) -> FakeDropFolder:
    fake = FakeDropFolder()
    monkeypatch.setattr(DropFolder, "register", lambda self, **event: fake.register_dropped_object(**event))
    return fake


class FakeIngestionStarter:
    """Stands in for ``IngestionTrigger.start_ingestion``; records its calls.

    Like the real one it answers None for an attempt whose execution was already started.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[uuid.UUID, int]] = []
        self.already_started: set[tuple[uuid.UUID, int]] = set()

    def start_ingestion(self, ingestion_id: uuid.UUID, attempt: int) -> str | None:
        self.calls.append((ingestion_id, attempt))
        if (ingestion_id, attempt) in self.already_started:
            return None
        return f"{STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:{ingestion_id}-{attempt}"


@pytest.fixture
def starter(monkeypatch: pytest.MonkeyPatch) -> FakeIngestionStarter:
    fake = FakeIngestionStarter()
    monkeypatch.setattr(
        IngestionTrigger,
        "start_ingestion",
        lambda self, ingestion_id, attempt: fake.start_ingestion(ingestion_id, attempt),
    )
    return fake


@pytest.fixture
def trigger(
    drop_folder: FakeDropFolder, starter: FakeIngestionStarter, monkeypatch: pytest.MonkeyPatch
) -> InProcessFunction:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    return InProcessFunction.from_file(HANDLER_FILE, logical_id="IngestionTriggerFunction")


def test_ingestion_trigger_registers_the_dropped_file_with_its_key_decoded(
    trigger: InProcessFunction, drop_folder: FakeDropFolder
) -> None:
    event = _event("ingestion_trigger/s3_object_created.json")

    result = trigger.invoke(event)

    assert event["Records"][0]["s3"]["object"]["key"] == "drop/My+Group/log+1/a%2Bb.bag"
    assert drop_folder.calls == [
        {
            "bucket": "openlqs-objects-123456789012-us-east-1-1234567db123",
            "key": "drop/My Group/log 1/a+b.bag",
            "etag": "8bd1f3fc7b4a5bd1e1b0bfd0a0b8a1c4-3",
            "size": 26214400,
        }
    ]
    assert result == {"ingestion_ids": [str(INGESTION_ID)]}


def test_ingestion_trigger_registers_every_record_in_order(
    trigger: InProcessFunction, drop_folder: FakeDropFolder
) -> None:
    event = _event("ingestion_trigger/s3_object_created.json")
    second = copy.deepcopy(event["Records"][0])
    second["s3"]["object"]["key"] = "drop/g/l/b%C3%A9.bag"
    event["Records"].append(second)

    trigger.invoke(event)

    assert [call["key"] for call in drop_folder.calls] == ["drop/My Group/log 1/a+b.bag", "drop/g/l/bé.bag"]


def test_ingestion_trigger_reports_no_ingestion_for_a_key_outside_the_drop_folder(
    trigger: InProcessFunction, drop_folder: FakeDropFolder
) -> None:
    drop_folder.answer = None

    result = trigger.invoke(_event("ingestion_trigger/s3_object_created.json"))

    assert len(drop_folder.calls) == 1
    assert result == {"ingestion_ids": []}


def test_ingestion_trigger_rejects_an_s3_record_without_an_etag(
    trigger: InProcessFunction, drop_folder: FakeDropFolder
) -> None:
    event = _event("ingestion_trigger/s3_object_created.json")
    del event["Records"][0]["s3"]["object"]["eTag"]

    with pytest.raises(ValidationError):
        trigger.invoke(event)

    assert drop_folder.calls == []


@pytest.mark.parametrize(
    "records",
    [
        [],
        [{"eventSource": "aws:sqs"}],
        [{"eventSource": "aws:s3"}, {"eventSource": "aws:dynamodb"}],
    ],
)
def test_ingestion_trigger_rejects_events_from_unknown_or_mixed_sources(
    trigger: InProcessFunction, drop_folder: FakeDropFolder, records: list[dict[str, Any]]
) -> None:
    with pytest.raises(ValueError, match="does not handle events"):
        trigger.invoke({"Records": records})

    assert drop_folder.calls == []


def test_ingestion_trigger_starts_the_execution_of_an_ingestion_moved_to_queued(
    trigger: InProcessFunction, starter: FakeIngestionStarter, drop_folder: FakeDropFolder
) -> None:
    event = _event("ingestion_trigger/dynamodb_ingestion_queued.json")

    result = trigger.invoke(event)

    assert starter.calls == [(QUEUED_INGESTION_ID, 1)]
    assert result == {
        "execution_arns": [
            "arn:aws:states:us-east-1:123456789012:execution:IngestionStateMachine-AbC123:"
            f"{QUEUED_INGESTION_ID}-1"
        ]
    }
    assert drop_folder.calls == []


def test_ingestion_trigger_starts_an_ingestion_created_queued(
    trigger: InProcessFunction, starter: FakeIngestionStarter
) -> None:
    # Given an ingestion created in "queued": an INSERT, which has no old image.
    event = _event("ingestion_trigger/dynamodb_ingestion_queued.json")
    event["Records"][0]["eventName"] = "INSERT"
    del event["Records"][0]["dynamodb"]["OldImage"]

    trigger.invoke(event)

    assert starter.calls == [(QUEUED_INGESTION_ID, 1)]


def test_ingestion_trigger_starts_the_attempt_of_the_new_image(
    trigger: InProcessFunction, starter: FakeIngestionStarter
) -> None:
    # Given a failed ingestion queued again: its third attempt.
    event = _event("ingestion_trigger/dynamodb_ingestion_queued.json")
    change = event["Records"][0]["dynamodb"]
    change["OldImage"]["state"] = {"S": "failed"}
    change["OldImage"]["x_attempt"] = {"N": "2"}
    change["NewImage"]["x_attempt"] = {"N": "3"}

    trigger.invoke(event)

    assert starter.calls == [(QUEUED_INGESTION_ID, 3)]


def test_ingestion_trigger_lists_no_execution_for_an_attempt_already_started(
    trigger: InProcessFunction, starter: FakeIngestionStarter
) -> None:
    starter.already_started.add((QUEUED_INGESTION_ID, 1))

    result = trigger.invoke(_event("ingestion_trigger/dynamodb_ingestion_queued.json"))

    assert starter.calls == [(QUEUED_INGESTION_ID, 1)]
    assert result == {"execution_arns": []}


def test_ingestion_trigger_starts_every_queued_ingestion_of_a_batch_in_order(
    trigger: InProcessFunction, starter: FakeIngestionStarter
) -> None:
    event = _event("ingestion_trigger/dynamodb_ingestion_queued.json")
    second = copy.deepcopy(event["Records"][0])
    second["dynamodb"]["NewImage"]["id"] = {"S": str(INGESTION_ID)}
    event["Records"].append(second)

    trigger.invoke(event)

    assert starter.calls == [(QUEUED_INGESTION_ID, 1), (INGESTION_ID, 1)]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"OldImage": {"state": {"S": "queued"}}}, "updated while already queued"),
        ({"NewImage": {"state": {"S": "processing"}}}, "moved to another state"),
        ({"NewImage": {"kind": {"S": "ingestion_part"}}}, "not an ingestion"),
    ],
)
def test_ingestion_trigger_ignores_changes_that_do_not_enter_queued(
    trigger: InProcessFunction, starter: FakeIngestionStarter, change: dict[str, Any], reason: str
) -> None:
    # The template's FilterCriteria keep these away in AWS; the handler checks again for local mode.
    event = _event("ingestion_trigger/dynamodb_ingestion_queued.json")
    for image, attributes in change.items():
        event["Records"][0]["dynamodb"][image].update(attributes)

    result = trigger.invoke(event)

    assert starter.calls == [], reason
    assert result == {"execution_arns": []}


def test_ingestion_trigger_ignores_a_removed_ingestion(
    trigger: InProcessFunction, starter: FakeIngestionStarter
) -> None:
    event = _event("ingestion_trigger/dynamodb_ingestion_queued.json")
    record = event["Records"][0]
    record["eventName"] = "REMOVE"
    record["dynamodb"]["OldImage"] = record["dynamodb"].pop("NewImage")

    result = trigger.invoke(event)

    assert starter.calls == []
    assert result == {"execution_arns": []}


def test_ingestion_trigger_rejects_a_queued_ingestion_without_an_attempt(
    trigger: InProcessFunction, starter: FakeIngestionStarter
) -> None:
    # Retried, then isolated by BisectBatchOnFunctionError: louder than an ingestion left queued.
    event = _event("ingestion_trigger/dynamodb_ingestion_queued.json")
    del event["Records"][0]["dynamodb"]["NewImage"]["x_attempt"]

    with pytest.raises(ValueError, match="no x_attempt"):
        trigger.invoke(event)

    assert starter.calls == []


def test_ingestion_trigger_rejects_a_stream_record_without_its_source_arn(
    trigger: InProcessFunction, starter: FakeIngestionStarter
) -> None:
    # Lambda always sends eventSourceARN; a local poller that forgets it must fail loudly.
    event = _event("ingestion_trigger/dynamodb_ingestion_queued.json")
    del event["Records"][0]["eventSourceARN"]

    with pytest.raises(ValidationError):
        trigger.invoke(event)

    assert starter.calls == []
