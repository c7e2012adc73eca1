"""An ingestion always ends: the reconciler fails what an ended execution left unfinished and starts
what was left queued without an execution. Idempotent; what it cannot classify it leaves alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import boto3
import pytest

from openlqs.domain.common import Environment
from openlqs.ingestion.reconciler import IngestionReconciler
from openlqs.local.functions import InProcessFunction
from openlqs.models.common import ProcessState
from openlqs.services import get_services
from tests.support import tasks
from tests.support.api import ApiClient
from tests.support.bags import write_string_bag
from tests.support.events import load_event
from tests.support.executions import execution_status, ingestion_state_machine, start_execution
from tests.support.ingestion import put_log_object
from tests.support.paths import DATASTORE_ID, PROJECT_DIR
from tests.support.resources import create_group, create_log, stored_items


@pytest.fixture
def state_machine(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    return ingestion_state_machine(monkeypatch)


@pytest.fixture
def log(api: ApiClient, aws: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    created = create_log(api, create_group(api, "Fleet")["id"], "run")
    bag = write_string_bag(tmp_path / "run.bag", [("/a", i * 10**6, f"a{i}") for i in range(500)])
    put_log_object(aws, DATASTORE_ID, created["id"], "run.bag", bag.read_bytes())
    return created


def _queued(api: ApiClient, log: dict[str, Any]) -> dict[str, Any]:
    request = {"log_id": log["id"], "object_key": "run.bag", "state": "queued"}
    return dict(api.post("/ingestions", request).data)


def _planned(api: ApiClient, log: dict[str, Any]) -> dict[str, Any]:
    ingestion = _queued(api, log)
    return {**ingestion, "plan": tasks.plan({"ingestion_id": ingestion["id"], "attempt": 1})}


def _reconciler(later: timedelta = timedelta()) -> IngestionReconciler:
    services = get_services()
    clock = Environment(now=lambda: datetime.now(UTC) + later)
    return IngestionReconciler(
        services.ingestions, services.pipeline.attempts, services.trigger.starter, clock
    )


def _records(aws: dict[str, str]) -> int:
    return int(boto3.client("dynamodb").scan(TableName=aws["RECORDS_TABLE_NAME"], Select="COUNT")["Count"])


def test_reconciler_fails_the_ingestion_of_an_aborted_execution_and_takes_its_attempt_back(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], state_machine: str
) -> None:
    ingestion = _planned(api, log)
    tasks.process_part(tasks.parts_of(ingestion["plan"])[0])
    assert _records(aws) > 0

    report = _reconciler().execution_ended(f"{ingestion['id']}-1", "ABORTED")

    failed = api.get(f"/ingestions/{ingestion['id']}").data
    assert report.failed == [UUID(ingestion["id"])]
    assert (failed["state"], failed["error_name"]) == ("failed", "ExecutionAborted")
    assert failed["error_payload"]["execution"] == f"{ingestion['id']}-1"
    assert _records(aws) == 0
    assert api.get("/topics", params={"log_id": log["id"]}).json()["count"] == 0


def test_reconciler_run_twice_changes_nothing_the_second_time(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], state_machine: str
) -> None:
    ingestion = _planned(api, log)
    _reconciler().execution_ended(f"{ingestion['id']}-1", "TIMED_OUT")
    before = stored_items(aws)

    again = _reconciler().execution_ended(f"{ingestion['id']}-1", "TIMED_OUT")
    swept = _reconciler(timedelta(hours=1)).sweep()

    assert again.failed == [] and swept.failed == [] and swept.started == []
    assert stored_items(aws) == before


def test_reconciler_leaves_a_newer_attempt_alone(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], state_machine: str
) -> None:
    ingestion = _planned(api, log)
    before = stored_items(aws)

    report = _reconciler().execution_ended(f"{ingestion['id']}-0", "FAILED")

    assert report.failed == []
    assert stored_items(aws) == before


def test_reconciler_sweep_fails_a_running_ingestion_without_an_execution(
    api: ApiClient, log: dict[str, Any], state_machine: str
) -> None:
    ingestion = _planned(api, log)

    report = _reconciler().sweep()

    failed = api.get(f"/ingestions/{ingestion['id']}").data
    assert report.failed == [UUID(ingestion["id"])]
    assert (failed["state"], failed["error_name"]) == ("failed", "ExecutionMissing")


def test_reconciler_sweep_keeps_a_running_ingestion_whose_execution_runs(
    api: ApiClient, log: dict[str, Any], state_machine: str
) -> None:
    ingestion = _planned(api, log)
    start_execution(state_machine, f"{ingestion['id']}-1")

    report = _reconciler().sweep()

    assert report.failed == []
    assert api.get(f"/ingestions/{ingestion['id']}").data["state"] == "processing"


def test_reconciler_sweep_starts_an_ingestion_left_queued_without_an_execution(
    api: ApiClient, log: dict[str, Any], state_machine: str
) -> None:
    ingestion = _queued(api, log)
    execution = f"{state_machine.replace(':stateMachine:', ':execution:')}:{ingestion['id']}-1"

    soon = _reconciler().sweep()
    later = _reconciler(timedelta(minutes=5)).sweep()

    assert soon.started == []
    assert later.started == [UUID(ingestion["id"])]
    assert execution_status(execution) == "RUNNING"


def test_reconciler_leaves_an_ingestion_without_an_attempt_alone(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], state_machine: str
) -> None:
    ingestion = _queued(api, log)
    services = get_services()

    def forget_attempt(stored: Any) -> None:
        stored._internal["attempt"] = 0

    services.ingestions.repository.update(services.ingestions.kind, UUID(ingestion["id"]), forget_attempt)
    before = stored_items(aws)

    report = _reconciler(timedelta(hours=1)).sweep()

    assert report.left_alone and report.failed == [] and report.started == []
    assert stored_items(aws) == before


def test_reconcile_function_reads_eventbridge_events(
    api: ApiClient, log: dict[str, Any], state_machine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingestion = _planned(api, log)
    event = load_event("reconcile_ingestions/execution_aborted.json")
    event["detail"]["name"] = f"{ingestion['id']}-1"
    function = InProcessFunction.from_file(
        PROJECT_DIR / "functions" / "reconcile_ingestions" / "app.py",
        logical_id="ReconcileIngestionsFunction",
    )

    answer = function.invoke(event)
    swept = function.invoke(load_event("reconcile_ingestions/scheduled_sweep.json"))

    assert answer == {"failed": [ingestion["id"]], "started": [], "left_alone": []}
    assert swept["failed"] == []
    assert get_services().ingestions.get(UUID(ingestion["id"])).state == ProcessState.failed
