"""The whole digestion workflow in mock_aws: the real ASL in moto's interpreter, the real task functions.

IngestionTriggerFunction's stream handler starts the execution (as the ResourcesTable stream would when
a digestion enters ``queued``), moto's Step Functions interpreter runs statemachines/digestion.asl.json,
and its Lambda tasks run the deployed function files in-process (botocore ``before-call`` hook, as in
local mode).
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from mcap.reader import make_reader
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
from tests.support.ingestion import ingest, put_log_object
from tests.support.paths import DATASTORE_ID, PROJECT_DIR
from tests.support.resources import create_group, create_log

TASKS = (
    "PlanDigestionFunction",
    "WriteDigestionPartFunction",
    "FinalizeDigestionFunction",
    "FailDigestionFunction",
)


@pytest.fixture
def workflow(
    aws: dict[str, str], template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[SimpleNamespace]:
    """The digestion state machine created in moto, its task functions answering in-process; parts of
    at most 500 records, so that a digestion of the turtles makes several."""
    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": True})
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=lambda _: None))
    monkeypatch.setenv("DIGESTION_PART_MAX_RECORDS", "500")
    specs = function_specs(template, PROJECT_DIR)
    functions = {logical_id: InProcessFunction(specs[logical_id]) for logical_id in TASKS}
    machine = state_machine_specs(template, PROJECT_DIR)["DigestionStateMachine"]
    refs = resource_references(template, function_arns={k: f.arn for k, f in functions.items()})
    client = boto3.client("stepfunctions")
    arn = client.create_state_machine(
        name=machine.name,
        definition=machine.render(template_lookup(template, refs)),
        roleArn=machine.role_arn,
    )["stateMachineArn"]
    monkeypatch.setenv("DIGESTION_STATE_MACHINE_ARN", arn)
    get_settings.cache_clear()
    get_services.cache_clear()
    trigger = InProcessFunction(specs["IngestionTriggerFunction"])
    with LambdaInvokeHook({f.function_name: f for f in functions.values()}) as hook:
        yield SimpleNamespace(arn=arn, hook=hook, trigger=trigger)


def _stream_record(digestion_id: str, attempt: int) -> dict[str, Any]:
    event = load_event("ingestion_trigger/dynamodb_digestion_queued.json")
    record = event["Records"][0]
    record["dynamodb"]["NewImage"]["id"] = {"S": digestion_id}
    record["dynamodb"]["NewImage"]["x_attempt"] = {"N": str(attempt)}
    record["dynamodb"]["Keys"]["pk"] = {"S": f"digestion#{digestion_id}"}
    return event


def _wait_for(api: ApiClient, digestion_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        digestion = api.get(f"/digestions/{digestion_id}").data
        if digestion["state"] in ("completed", "failed"):
            return dict(digestion)
        time.sleep(0.05)
    raise AssertionError(f"digestion {digestion_id} is still {digestion['state']}")


def _digestion(api: ApiClient, aws: dict[str, str], bag: Path, topics: list[str], **fields: Any) -> Any:
    log = create_log(api, create_group(api, "Digestions")["id"], "Turtles")
    put_log_object(aws, DATASTORE_ID, log["id"], "run.bag", bag.read_bytes())
    ingest(api, log["id"], "run.bag")
    by_name = {
        t["name"]: t for t in api.get("/topics", params={"log_id": log["id"], "limit": 100}).json()["data"]
    }
    digestion = api.post("/digestions", {"log_id": log["id"], **fields}).data
    for name in topics:
        assert (
            api.post(f"/digestions/{digestion['id']}/topics", {"topic_id": by_name[name]["id"]}).status == 200
        )
    return log, digestion


def test_workflow_digests_a_real_bag_into_parts_and_an_mcap_export(
    api: ApiClient, aws: dict[str, str], workflow: Any, fixture_bags: Path
) -> None:
    log, digestion = _digestion(
        api,
        aws,
        fixture_bags / "example-lz4.bag",
        ["/tf", "/turtle1/pose"],
        context={"export": {"format": "mcap"}},
    )
    assert api.patch(f"/digestions/{digestion['id']}", {"state": "queued"}).status == 200

    # When the stream record of the queued digestion reaches the trigger (twice: at-least-once delivery)
    workflow.trigger.invoke(_stream_record(digestion["id"], 1))
    workflow.trigger.invoke(_stream_record(digestion["id"], 1))
    done = _wait_for(api, digestion["id"])

    # Then one execution wrote 9 parts of at most 500 records, in sequence order, and the export
    assert done["state"] == "completed", done
    assert done["progress"] == 1.0
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=workflow.arn)["executions"]
    assert [e["name"] for e in executions] == [f"{digestion['id']}-1"]
    parts = api.get(
        f"/digestions/{digestion['id']}/parts", params={"limit": 1000, "order": "created_at"}
    ).json()
    assert parts["count"] == 9  # 2,688 + 1,344 records
    assert [p["sequence"] for p in parts["data"]] == list(range(9))
    assert {p["state"] for p in parts["data"]} == {"completed"}
    export = done["context"]["export"]
    key = f"lqs/{DATASTORE_ID}/logs/{log['id']}/{export['key']}"
    body = boto3.client("s3").get_object(Bucket=aws["OBJECTS_BUCKET_NAME"], Key=key)["Body"].read()
    summary = make_reader(io.BytesIO(body)).get_summary()
    assert summary is not None and summary.statistics is not None
    assert summary.statistics.message_count == export["message_count"] == 2688 + 1344
    # Each channel's messages are numbered 0, 1, 2... across the 9 parts' fragments.
    sequences: dict[str, list[int]] = {}
    for _, channel, message in make_reader(io.BytesIO(body)).iter_messages(log_time_order=True):
        sequences.setdefault(channel.topic, []).append(message.sequence)
    assert {topic: numbers == list(range(len(numbers))) for topic, numbers in sequences.items()} == {
        "/tf": True,
        "/turtle1/pose": True,
    }
    # The fragments were deleted once assembled.
    listed = boto3.client("s3").list_objects_v2(
        Bucket=aws["OBJECTS_BUCKET_NAME"], Prefix=f"lqs/{DATASTORE_ID}/logs/{log['id']}/digestions/"
    )
    assert not [o["Key"] for o in listed["Contents"] if "/fragments/" in o["Key"]]


def test_workflow_fails_a_digestion_whose_source_object_was_deleted_naming_it(
    api: ApiClient, aws: dict[str, str], workflow: Any, fixture_bags: Path
) -> None:
    log, digestion = _digestion(api, aws, fixture_bags / "example.bag", ["/rosout"])
    key = f"lqs/{DATASTORE_ID}/logs/{log['id']}/run.bag"
    boto3.client("s3").delete_object(Bucket=aws["OBJECTS_BUCKET_NAME"], Key=key)
    api.patch(f"/digestions/{digestion['id']}", {"state": "queued"})

    workflow.trigger.invoke(_stream_record(digestion["id"], 1))
    done = _wait_for(api, digestion["id"])

    assert (done["state"], done["error_name"]) == ("failed", "NotFound")
    assert key in done["error_message"] and "/rosout" in done["error_message"]
    assert done["error_payload"] == {"attempt": 1}


def test_workflow_requeued_after_a_failure_runs_cleanly_on_a_real_mcap_file(
    api: ApiClient, aws: dict[str, str], workflow: Any, fixture_logs: Path
) -> None:
    source = (fixture_logs / "rosbag2-talker-mcap" / "talker.mcap").read_bytes()
    log = create_log(api, create_group(api, "Digest talker")["id"], "Talker")
    put_log_object(aws, DATASTORE_ID, log["id"], "talker.mcap", source)
    ingest(api, log["id"], "talker.mcap")
    topics = {t["name"]: t for t in api.get("/topics", params={"log_id": log["id"]}).json()["data"]}
    start = 1585866237_000_000_000
    digestion = api.post(
        "/digestions", {"log_id": log["id"], "context": {"export": {"format": "mcap", "latched": True}}}
    ).data
    for name in ("/rosout", "/topic"):
        body = {"topic_id": topics[name]["id"], "start_time": start}
        assert api.post(f"/digestions/{digestion['id']}/topics", body).status == 200
    s3 = boto3.client("s3")
    key = f"lqs/{DATASTORE_ID}/logs/{log['id']}/talker.mcap"
    s3.delete_object(Bucket=aws["OBJECTS_BUCKET_NAME"], Key=key)
    api.patch(f"/digestions/{digestion['id']}", {"state": "queued"})
    workflow.trigger.invoke(_stream_record(digestion["id"], 1))
    failed = _wait_for(api, digestion["id"])
    assert (failed["state"], failed["error_name"]) == ("failed", "NotFound")
    assert key in failed["error_message"]

    # When the object is back and the digestion is queued again (attempt 2)
    s3.put_object(Bucket=aws["OBJECTS_BUCKET_NAME"], Key=key, Body=source)
    assert api.patch(f"/digestions/{digestion['id']}", {"state": "queued"}).status == 200
    workflow.trigger.invoke(_stream_record(digestion["id"], 2))
    done = _wait_for(api, digestion["id"])

    # Then it completes, its error cleared, with the window and each topic's last earlier message
    assert done["state"] == "completed", done
    assert (done["error_name"], done["error_message"], done["progress"]) == (None, None, 1.0)
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=workflow.arn)["executions"]
    mine = sorted(e["name"] for e in executions if e["name"].startswith(digestion["id"]))
    assert mine == [f"{digestion['id']}-1", f"{digestion['id']}-2"]
    everything = [
        (c.topic, m.log_time, m.data)
        for _, c, m in make_reader(io.BytesIO(source)).iter_messages(log_time_order=True)
        if c.topic in ("/rosout", "/topic")
    ]
    window = [m for m in everything if m[1] >= start]
    latched = [
        max((m for m in everything if m[0] == topic and m[1] < start), key=lambda m: m[1])
        for topic in ("/rosout", "/topic")
    ]
    export = done["context"]["export"]
    export_key = f"lqs/{DATASTORE_ID}/logs/{log['id']}/{export['key']}"
    body = s3.get_object(Bucket=aws["OBJECTS_BUCKET_NAME"], Key=export_key)["Body"].read()
    reader = make_reader(io.BytesIO(body))
    exported = [(c.topic, m.log_time, m.data) for _, c, m in reader.iter_messages(log_time_order=True)]
    assert exported == sorted(window + latched, key=lambda m: m[1])
    assert export["message_count"] == len(window) + 2 and export["size"] == len(body)
    parts = api.get(f"/digestions/{digestion['id']}/parts", params={"limit": 1000}).json()["data"]
    assert sum(p["context"]["record_count"] for p in parts) == len(window)
