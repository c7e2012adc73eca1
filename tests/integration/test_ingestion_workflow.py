"""The whole ingestion workflow in mock_aws: the real ASL in moto's interpreter, the real task functions.

The trigger's stream handler starts the execution (as the DynamoDB stream would), moto's Step Functions
interpreter runs statemachines/ingestion.asl.json as the local stack runs it (its Distributed Map inline
over the plan's manifest in moto's S3), and its Lambda tasks run the deployed function files in-process
(botocore ``before-call`` hook, as in local mode).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto.core.config import default_user_config
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from openlqs.local.cloudformation import resource_references, template_lookup
from openlqs.local.functions import InProcessFunction
from openlqs.local.invoke import LambdaInvokeHook
from openlqs.local.resources import function_specs
from openlqs.local.statemachines import state_machine_specs
from openlqs.services import get_services
from openlqs.settings import get_settings
from tests.support.api import ApiClient
from tests.support.events import load_event
from tests.support.paths import DATASTORE_ID, PROJECT_DIR
from tests.support.resources import create_group, create_log

TASKS = (
    "PlanIngestionFunction",
    "ProcessPartFunction",
    "FailPartFunction",
    "FinalizeIngestionFunction",
    "FailIngestionFunction",
)


@pytest.fixture
def workflow(
    aws: dict[str, str], template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[ApiClient]:
    """The ingestion state machine created in moto, its task functions answering in-process."""
    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": True})
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=lambda _: None))
    monkeypatch.setenv("PART_TARGET_BYTES", "100000")
    specs = function_specs(template, PROJECT_DIR)
    functions = {logical_id: InProcessFunction(specs[logical_id]) for logical_id in TASKS}
    machine = state_machine_specs(template, PROJECT_DIR)["IngestionStateMachine"]
    refs = resource_references(template, function_arns={k: f.arn for k, f in functions.items()})
    client = boto3.client("stepfunctions")
    arn = client.create_state_machine(
        name=machine.name,
        definition=machine.local_definition(template_lookup(template, refs)),
        roleArn=machine.role_arn,
    )["stateMachineArn"]
    monkeypatch.setenv("INGESTION_STATE_MACHINE_ARN", arn)
    get_settings.cache_clear()
    get_services.cache_clear()
    with LambdaInvokeHook({f.function_name: f for f in functions.values()}) as hook:
        yield SimpleNamespace(arn=arn, hook=hook)  # type: ignore[misc]


def _stream_record(item_id: str, attempt: int) -> dict[str, Any]:
    event = load_event("ingestion_trigger/dynamodb_ingestion_queued.json")
    record = event["Records"][0]
    record["dynamodb"]["NewImage"]["id"] = {"S": item_id}
    record["dynamodb"]["NewImage"]["x_attempt"] = {"N": str(attempt)}
    record["dynamodb"]["Keys"]["pk"] = {"S": f"ingestion#{item_id}"}
    return event


def _wait_for(api: ApiClient, ingestion_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ingestion = api.get(f"/ingestions/{ingestion_id}").data
        if ingestion["state"] in ("completed", "failed"):
            return dict(ingestion)
        time.sleep(0.05)
    raise AssertionError(f"ingestion {ingestion_id} is still {ingestion['state']}")


def test_workflow_ingests_a_real_bag_and_a_requeue_leaves_one_copy(
    api: ApiClient, aws: dict[str, str], workflow: Any, fixture_bags: Path, template: dict[str, Any]
) -> None:
    log = create_log(api, create_group(api, "Workflow")["id"], "Turtles")
    key = f"lqs/{DATASTORE_ID}/logs/{log['id']}/turtles.bag"
    s3 = boto3.client("s3")
    s3.put_object(
        Bucket=aws["OBJECTS_BUCKET_NAME"], Key=key, Body=(fixture_bags / "example-lz4.bag").read_bytes()
    )
    trigger = InProcessFunction(function_specs(template, PROJECT_DIR)["IngestionTriggerFunction"])
    ingestion = api.post(
        "/ingestions", {"log_id": log["id"], "object_key": "turtles.bag", "state": "queued"}
    ).data

    # When the stream record of the queued ingestion reaches the trigger (twice: at-least-once delivery)
    trigger.invoke(_stream_record(ingestion["id"], 1))
    trigger.invoke(_stream_record(ingestion["id"], 1))
    done = _wait_for(api, ingestion["id"])

    # Then one execution ran it to completion
    assert done["state"] == "completed", done
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=workflow.arn)["executions"]
    assert [e["name"] for e in executions] == [f"{ingestion['id']}-1"]
    assert api.get(f"/logs/{log['id']}").data["record_count"] == 8647


def test_workflow_failed_ingestion_requeued_ends_with_one_copy(
    api: ApiClient, aws: dict[str, str], workflow: Any, fixture_bags: Path, template: dict[str, Any]
) -> None:
    log = create_log(api, create_group(api, "Workflow")["id"], "Retry")
    key = f"lqs/{DATASTORE_ID}/logs/{log['id']}/run.bag"
    s3 = boto3.client("s3")
    bag = (fixture_bags / "example-bz2.bag").read_bytes()
    s3.put_object(Bucket=aws["OBJECTS_BUCKET_NAME"], Key=key, Body=b"uploaded the wrong file")
    trigger = InProcessFunction(function_specs(template, PROJECT_DIR)["IngestionTriggerFunction"])
    ingestion = api.post(
        "/ingestions", {"log_id": log["id"], "object_key": "run.bag", "state": "queued"}
    ).data
    trigger.invoke(_stream_record(ingestion["id"], 1))
    first = _wait_for(api, ingestion["id"])

    # When the whole file is there and the ingestion is queued again
    s3.put_object(Bucket=aws["OBJECTS_BUCKET_NAME"], Key=key, Body=bag)
    assert api.patch(f"/ingestions/{ingestion['id']}", {"state": "queued"}).status == 200
    trigger.invoke(_stream_record(ingestion["id"], 2))
    second = _wait_for(api, ingestion["id"])

    # Then the second attempt completed and the log holds exactly one copy of every record
    assert (first["state"], first["error_name"]) == ("failed", "BadLogFile")
    assert second["state"] == "completed", second
    topics = api.get("/topics", params={"log_id": log["id"], "limit": 100}).json()["data"]
    counted = [api.get(f"/topics/{t['id']}/records", params={"limit": 0}).json()["count"] for t in topics]
    assert sum(counted) == 8647
    assert api.get(f"/logs/{log['id']}").data["record_count"] == 8647


def test_workflow_fails_a_truncated_header_with_a_clear_error(
    api: ApiClient, aws: dict[str, str], workflow: Any, fixture_bags: Path, template: dict[str, Any]
) -> None:
    log = create_log(api, create_group(api, "Workflow")["id"], "Cut")
    boto3.client("s3").put_object(
        Bucket=aws["OBJECTS_BUCKET_NAME"],
        Key=f"lqs/{DATASTORE_ID}/logs/{log['id']}/cut.bag",
        Body=(fixture_bags / "example.bag").read_bytes()[:40],
    )
    trigger = InProcessFunction(function_specs(template, PROJECT_DIR)["IngestionTriggerFunction"])
    ingestion = api.post(
        "/ingestions", {"log_id": log["id"], "object_key": "cut.bag", "state": "queued"}
    ).data

    trigger.invoke(_stream_record(ingestion["id"], 1))
    done = _wait_for(api, ingestion["id"])

    assert (done["state"], done["error_name"]) == ("failed", "BadLogFile")
    assert "header" in done["error_message"]
    assert done["previous_state"] == "processing"
    assert api.get("/topics", params={"log_id": log["id"]}).json()["count"] == 0


def test_workflow_fails_a_corrupt_part_naming_it_and_a_requeue_completes(
    api: ApiClient, aws: dict[str, str], workflow: Any, template: dict[str, Any], tmp_path: Path
) -> None:
    from openlqs.formats.ros1.bag import read_index, read_record
    from tests.support.bags import FileSource, write_string_bag

    log = create_log(api, create_group(api, "Workflow")["id"], "Corrupt")
    key = f"lqs/{DATASTORE_ID}/logs/{log['id']}/corrupt.bag"
    bag = write_string_bag(
        tmp_path / "ok.bag", [("/c", 10 + i, f"m{i}" * 200) for i in range(2000)], chunk_threshold=16 * 1024
    )
    good = bag.read_bytes()
    data = bytearray(good)
    chunks = read_index(FileSource(bag)).chunks
    record = read_record(data, chunks[len(chunks) // 2].start)
    assert record is not None
    data[record.data_start : record.data_start + 8] = b"\xff" * 8
    s3 = boto3.client("s3")
    s3.put_object(Bucket=aws["OBJECTS_BUCKET_NAME"], Key=key, Body=bytes(data))
    trigger = InProcessFunction(function_specs(template, PROJECT_DIR)["IngestionTriggerFunction"])
    ingestion = api.post(
        "/ingestions", {"log_id": log["id"], "object_key": "corrupt.bag", "state": "queued"}
    ).data

    trigger.invoke(_stream_record(ingestion["id"], 1))
    failed = _wait_for(api, ingestion["id"])

    # The part's own error, with the part named, and nothing of the attempt left
    parts = api.get(f"/ingestions/{ingestion['id']}/parts", params={"limit": 1000}).json()
    (bad,) = [part for part in parts["data"] if part["state"] == "failed"]
    assert parts["count"] > 3
    assert (failed["state"], failed["error_name"]) == ("failed", "BadLogFile")
    assert failed["error_message"].startswith(f"Part {bad['sequence']} failed: ")
    (named,) = failed["error_payload"]["failed_parts"]
    assert (named["sequence"], named["part_id"]) == (bad["sequence"], bad["id"])
    assert named["start"] <= record.data_start < named["end"]
    assert api.get(f"/logs/{log['id']}").data["record_count"] == 0

    # When the file is fixed and the ingestion queued again, the new attempt completes cleanly
    s3.put_object(Bucket=aws["OBJECTS_BUCKET_NAME"], Key=key, Body=good)
    assert api.patch(f"/ingestions/{ingestion['id']}", {"state": "queued"}).status == 200
    trigger.invoke(_stream_record(ingestion["id"], 2))
    done = _wait_for(api, ingestion["id"])

    assert (done["state"], done["progress"], done["error_name"]) == ("completed", 1.0, None)
    assert api.get(f"/logs/{log['id']}").data["record_count"] == 2000
    states = {
        p["state"]
        for p in api.get(f"/ingestions/{ingestion['id']}/parts", params={"limit": 1000}).json()["data"]
    }
    assert states == {"completed"}
