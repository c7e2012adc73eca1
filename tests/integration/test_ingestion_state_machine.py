"""statemachines/ingestion.asl.json run by moto's Step Functions interpreter, with fake task functions.

The real ASL, with its DefinitionSubstitutions resolved from template.yaml, runs end to end as the local
stack runs it (its Distributed Map as an inline Map over the same manifest:
``openlqs.local.statemachines.inline_distributed_maps``); its Lambda invocations are answered in-process
by a botocore ``before-call`` handler (as in local mode), here by fakes that record the payloads they
get. The fake plan writes a real manifest to moto's S3. What is checked is the machine's flow and its
payload contracts: which task runs with which input, retries, and that every failure ends in "Fail
ingestion". The last tests run the deployed file unchanged, to show what moto does with it.
"""

from __future__ import annotations

import io
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from openlqs.local.cloudformation import LOCAL_ACCOUNT_ID, LOCAL_REGION
from openlqs.local.statemachines import inline_distributed_maps

PROJECT_DIR = Path(__file__).resolve().parents[2]
INGESTION_ASL = PROJECT_DIR / "statemachines" / "ingestion.asl.json"
INGESTION_ID = "438284fc-4d27-42a2-bd5b-929e8fa1ad2d"
MANIFEST_BUCKET = "openlqs-objects"

Task = Callable[[dict[str, Any]], dict[str, Any]]


class BadLogFile(Exception):
    """Stands in for openlqs.errors.BadLogFile: the Lambda error's errorType is the class name."""


def _function_arn(logical_id: str) -> str:
    return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{logical_id}"


def _definition(template: dict[str, Any], *, deployed: bool = False, **parameters: str) -> str:
    """The ASL as SAM would deploy it (every ${Name} replaced by its DefinitionSubstitutions value) and,
    unless ``deployed``, as the local stack runs it."""
    substitutions = template["Resources"]["IngestionStateMachine"]["Properties"]["DefinitionSubstitutions"]
    defaults = {name: str(p["Default"]) for name, p in template["Parameters"].items() if "Default" in p}
    definition = INGESTION_ASL.read_text()
    for name, value in substitutions.items():
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            assert attribute == "Arn"
            resolved = _function_arn(logical_id)
        else:
            resolved = {**defaults, **parameters}[value["Ref"]]
        definition = definition.replace("${" + name + "}", resolved)
    assert "${" not in definition
    return definition if deployed else json.dumps(inline_distributed_maps(json.loads(definition)))


class _Http:
    status_code = 200


def _invoke_response(payload: Any, function_error: str | None = None) -> tuple[_Http, dict[str, Any]]:
    body = json.dumps(payload).encode()
    parsed: dict[str, Any] = {
        "StatusCode": 200,
        "ExecutedVersion": "$LATEST",
        "Payload": StreamingBody(io.BytesIO(body), len(body)),
    }
    if function_error:
        parsed["FunctionError"] = function_error
    return _Http(), parsed


@dataclass
class FakeTasks:
    """The four task functions by logical id, answering Lambda Invoke calls in-process.

    A task that raises answers as the Lambda runtime does (``FunctionError`` with errorType and
    errorMessage), except a ``ClientError``, which is raised as the Lambda service's own error.
    """

    tasks: dict[str, Task]
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def payloads(self, name: str) -> list[dict[str, Any]]:
        return [payload for called, payload in self.calls if called == name]

    def before_call(self, params: dict[str, Any], **_: Any) -> tuple[_Http, dict[str, Any]]:
        # url_path: /2015-03-31/functions/{FunctionName, URL-encoded}/invocations
        name = unquote(params["url_path"].split("/")[3]).rsplit(":", 1)[-1]
        payload = json.loads(params["body"])
        with self.lock:
            self.calls.append((name, payload))
        try:
            return _invoke_response(self.tasks[name](payload))
        except ClientError:
            raise
        except Exception as error:
            return _invoke_response(
                {
                    "errorMessage": str(error),
                    "errorType": type(error).__name__,
                    "requestId": str(uuid.uuid4()),
                    "stackTrace": traceback.format_tb(error.__traceback__),
                },
                function_error="Unhandled",
            )


def manifest_items(part_count: int) -> list[dict[str, Any]]:
    return [
        {"part_id": str(uuid.UUID(int=sequence + 1)), "sequence": sequence} for sequence in range(part_count)
    ]


def part_tasks(part_count: int) -> list[dict[str, Any]]:
    """What "Process part" should get for each manifest item."""
    return [{"ingestion_id": INGESTION_ID, "attempt": 1, **item} for item in manifest_items(part_count)]


def plan(part_count: int) -> Task:
    """Writes a manifest of ``part_count`` parts to S3, as the plan does, and returns its location."""

    def task(payload: dict[str, Any]) -> dict[str, Any]:
        key = f"ingestions/{payload['ingestion_id']}/{payload['attempt']}/parts.json"
        boto3.client("s3").put_object(
            Bucket=MANIFEST_BUCKET, Key=key, Body=json.dumps(manifest_items(part_count)).encode()
        )
        return {
            "ingestion_id": payload["ingestion_id"],
            "attempt": payload["attempt"],
            "manifest": {"bucket": MANIFEST_BUCKET, "key": key},
            "part_count": part_count,
        }

    return task


def process_part(payload: dict[str, Any]) -> dict[str, Any]:
    return {"part_id": payload["part_id"], "record_count": 100}


def finalize(payload: dict[str, Any]) -> dict[str, Any]:
    return {"ingestion_id": payload["ingestion_id"], "state": "completed"}


def fail(payload: dict[str, Any]) -> dict[str, Any]:
    return {"ingestion_id": payload["ingestion_id"], "state": "failed"}


def fail_part(payload: dict[str, Any]) -> dict[str, Any]:
    return {"part_id": payload["part_id"], "state": "failed"}


def tasks(**overrides: Task) -> FakeTasks:
    """The five task functions, ``overrides`` in place of the plain fakes."""
    return FakeTasks(
        {
            "PlanIngestionFunction": plan(3),
            "ProcessPartFunction": process_part,
            "FailPartFunction": fail_part,
            "FinalizeIngestionFunction": finalize,
            "FailIngestionFunction": fail,
            **overrides,
        }
    )


def raises(error: Exception) -> Task:
    def task(payload: dict[str, Any]) -> dict[str, Any]:
        raise error

    return task


def lambda_service_error(code: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "Rate exceeded"},
            "ResponseMetadata": {"HTTPStatusCode": 429, "RequestId": str(uuid.uuid4())},
        },
        "Invoke",
    )


@dataclass
class Execution:
    status: str
    output: Any
    error: str | None
    cause: str | None


@pytest.fixture
def retry_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The interpreter's retry waits, recorded instead of slept."""
    sleeps: list[float] = []
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=sleeps.append))
    return sleeps


@pytest.fixture
def run_ingestion(
    monkeypatch: pytest.MonkeyPatch, template: dict[str, Any], retry_sleeps: list[float]
) -> Iterator[Callable[..., Execution]]:
    """Runs one execution of the ingestion state machine with the given fake tasks."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", LOCAL_REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    registered: list[tuple[Any, Callable[..., Any]]] = []

    def run(fakes: FakeTasks, *, deployed: bool = False, **parameters: str) -> Execution:
        # The interpreter calls Lambda with boto3.client(...), that is through the default session,
        # which mock_aws replaces when it starts.
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        session = boto3.DEFAULT_SESSION
        session.events.register("before-call.lambda.Invoke", fakes.before_call)
        registered.append((session, fakes.before_call))
        client = boto3.client("stepfunctions")
        machine = client.create_state_machine(
            name="ingestion",
            definition=_definition(template, deployed=deployed, **parameters),
            roleArn=f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/ingestion-state-machine",
        )
        execution_arn = client.start_execution(
            stateMachineArn=machine["stateMachineArn"],
            name=f"{INGESTION_ID}-1",
            input=json.dumps({"ingestion_id": INGESTION_ID, "attempt": 1}),
        )["executionArn"]
        deadline = time.monotonic() + 20
        while (described := client.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the execution did not end"
            time.sleep(0.02)
        output = described.get("output")
        return Execution(
            status=described["status"],
            output=None if output is None else json.loads(output),
            error=described.get("error"),
            cause=described.get("cause"),
        )

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        boto3.client("s3").create_bucket(Bucket=MANIFEST_BUCKET)
        yield run
    for session, handler in registered:
        session.events.unregister("before-call.lambda.Invoke", handler)


def test_ingestion_state_machine_plans_processes_every_part_and_finalizes(
    run_ingestion: Callable[..., Execution],
) -> None:
    fakes = tasks()

    execution = run_ingestion(fakes)

    assert (execution.status, execution.output) == (
        "SUCCEEDED",
        {"ingestion_id": INGESTION_ID, "state": "completed"},
    )
    assert fakes.payloads("PlanIngestionFunction") == [{"ingestion_id": INGESTION_ID, "attempt": 1}]
    # Every item of the manifest, with the execution's ids added by the ItemSelector.
    processed = fakes.payloads("ProcessPartFunction")
    assert sorted(processed, key=lambda part: part["sequence"]) == part_tasks(3)
    assert fakes.payloads("FinalizeIngestionFunction") == [{"ingestion_id": INGESTION_ID, "attempt": 1}]
    assert fakes.names()[-1] == "FinalizeIngestionFunction"
    assert fakes.payloads("FailIngestionFunction") == fakes.payloads("FailPartFunction") == []


def test_ingestion_state_machine_finalizes_a_plan_without_parts(
    run_ingestion: Callable[..., Execution],
) -> None:
    # A valid bag with no messages has no chunks, hence no parts: the manifest is not even read.
    fakes = tasks(PlanIngestionFunction=plan(0))

    execution = run_ingestion(fakes)

    assert execution.status == "SUCCEEDED"
    assert fakes.names() == ["PlanIngestionFunction", "FinalizeIngestionFunction"]


def test_ingestion_state_machine_runs_at_most_max_concurrency_parts_at_once(
    run_ingestion: Callable[..., Execution],
) -> None:
    running = {"now": 0, "most": 0}
    lock = threading.Lock()

    def slow_part(payload: dict[str, Any]) -> dict[str, Any]:
        with lock:
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
        time.sleep(0.05)
        with lock:
            running["now"] -= 1
        return process_part(payload)

    fakes = tasks(PlanIngestionFunction=plan(6), ProcessPartFunction=slow_part)

    execution = run_ingestion(fakes, PartMaxConcurrency="2")

    assert execution.status == "SUCCEEDED"
    assert len(fakes.payloads("ProcessPartFunction")) == 6
    assert running["most"] == 2


def test_ingestion_state_machine_fails_the_ingestion_when_a_part_fails(
    run_ingestion: Callable[..., Execution],
) -> None:
    def part_two_is_corrupt(payload: dict[str, Any]) -> dict[str, Any]:
        if payload["sequence"] == 2:
            raise BadLogFile("Chunk at byte 4096 cannot be decompressed.")
        return process_part(payload)

    fakes = tasks(PlanIngestionFunction=plan(4), ProcessPartFunction=part_two_is_corrupt)

    execution = run_ingestion(fakes)

    # The part's error is noted on the part, its execution fails, then the Map, then the ingestion.
    assert (execution.status, execution.error) == ("FAILED", "IngestionFailed")
    (noted,) = fakes.payloads("FailPartFunction")
    assert {key: noted[key] for key in ("ingestion_id", "attempt", "part_id", "sequence")} == part_tasks(4)[2]
    assert noted["error"]["Error"] == "BadLogFile"
    cause = json.loads(noted["error"]["Cause"])
    assert (cause["errorType"], cause["errorMessage"]) == (
        "BadLogFile",
        "Chunk at byte 4096 cannot be decompressed.",
    )
    (failed,) = fakes.payloads("FailIngestionFunction")
    assert (failed["ingestion_id"], failed["attempt"]) == (INGESTION_ID, 1)
    # Locally the inline Map fails with the part's own Fail state; on AWS the Distributed Map fails
    # with States.ExceedToleratedFailureThreshold. Either way "Fail ingestion" names the part from
    # what "Record part failure" noted.
    assert failed["error"]["Error"] == "PartFailed"
    assert fakes.payloads("FinalizeIngestionFunction") == []
    assert fakes.names().index("FailPartFunction") < fakes.names().index("FailIngestionFunction")


def test_ingestion_state_machine_a_part_fails_even_when_its_failure_cannot_be_noted(
    run_ingestion: Callable[..., Execution],
) -> None:
    fakes = tasks(
        PlanIngestionFunction=plan(2),
        ProcessPartFunction=raises(BadLogFile("corrupt")),
        FailPartFunction=raises(RuntimeError("DynamoDB is unavailable.")),
    )

    execution = run_ingestion(fakes)

    assert execution.status == "FAILED"
    assert fakes.names()[-1] == "FailIngestionFunction"
    assert fakes.payloads("FinalizeIngestionFunction") == []


@pytest.mark.parametrize("failing", ["PlanIngestionFunction", "FinalizeIngestionFunction"])
def test_ingestion_state_machine_fails_the_ingestion_when_a_task_fails(
    run_ingestion: Callable[..., Execution], failing: str
) -> None:
    fakes = tasks(
        **{
            "PlanIngestionFunction": plan(2),
            failing: raises(BadLogFile("Not a ROS 1 bag: the file starts with b'hello'.")),
        }
    )

    execution = run_ingestion(fakes)

    assert execution.status == "FAILED"
    assert fakes.names()[-1] == "FailIngestionFunction"
    (failed,) = fakes.payloads("FailIngestionFunction")
    assert failed["error"]["Error"] == "BadLogFile"
    if failing == "PlanIngestionFunction":
        assert fakes.names() == ["PlanIngestionFunction", "FailIngestionFunction"]


def test_ingestion_state_machine_fails_the_ingestion_when_the_manifest_cannot_be_read(
    run_ingestion: Callable[..., Execution],
) -> None:
    def plan_without_manifest(payload: dict[str, Any]) -> dict[str, Any]:
        return {**plan(2)(payload), "manifest": {"bucket": MANIFEST_BUCKET, "key": "ingestions/missing.json"}}

    fakes = tasks(PlanIngestionFunction=plan_without_manifest)

    execution = run_ingestion(fakes)

    assert execution.status == "FAILED"
    assert fakes.names() == ["PlanIngestionFunction", "FailIngestionFunction"]


def test_ingestion_state_machine_retries_a_lambda_service_error(
    run_ingestion: Callable[..., Execution], retry_sleeps: list[float]
) -> None:
    throttled = [lambda_service_error("TooManyRequestsException")]

    def plan_after_a_throttle(payload: dict[str, Any]) -> dict[str, Any]:
        if throttled:
            raise throttled.pop()
        return plan(1)(payload)

    fakes = tasks(PlanIngestionFunction=plan_after_a_throttle)

    execution = run_ingestion(fakes)

    assert execution.status == "SUCCEEDED"
    assert fakes.names()[:2] == ["PlanIngestionFunction", "PlanIngestionFunction"]
    assert retry_sleeps == [1]


def test_ingestion_state_machine_does_not_retry_a_function_error(
    run_ingestion: Callable[..., Execution], retry_sleeps: list[float]
) -> None:
    fakes = tasks(PlanIngestionFunction=raises(BadLogFile("The file is empty.")))

    run_ingestion(fakes)

    assert fakes.names() == ["PlanIngestionFunction", "FailIngestionFunction"]
    assert retry_sleeps == []


def test_ingestion_state_machine_retries_fail_ingestion_then_ends_failed(
    run_ingestion: Callable[..., Execution], retry_sleeps: list[float]
) -> None:
    fakes = tasks(
        PlanIngestionFunction=raises(BadLogFile("The file is empty.")),
        FailIngestionFunction=raises(RuntimeError("DynamoDB is unavailable.")),
    )

    execution = run_ingestion(fakes)

    assert (execution.status, execution.error) == ("FAILED", "IngestionFailed")
    assert fakes.names() == ["PlanIngestionFunction"] + ["FailIngestionFunction"] * 3
    assert retry_sleeps == [1, 2]


# -- The deployed file in moto, unchanged ----------------------------------------------------------------


def test_moto_runs_the_deployed_distributed_map_over_the_manifest(
    run_ingestion: Callable[..., Execution],
) -> None:
    fakes = tasks()

    execution = run_ingestion(fakes, deployed=True)

    assert execution.status == "SUCCEEDED"
    processed = fakes.payloads("ProcessPartFunction")
    assert sorted(processed, key=lambda part: part["sequence"]) == part_tasks(3)


def test_moto_ignores_the_deployed_maps_tolerated_failures_which_is_why_the_loader_inlines_it(
    run_ingestion: Callable[..., Execution],
) -> None:
    # On AWS, with ToleratedFailureCount 0, a failed part fails the Map; moto 5.2.5 lets the Map
    # succeed. If this starts failing, moto honours the tolerance, and the local loader's transform
    # (openlqs.local.statemachines) may go.
    fakes = tasks(ProcessPartFunction=raises(BadLogFile("corrupt")))

    execution = run_ingestion(fakes, deployed=True)

    assert execution.status == "SUCCEEDED"
    assert len(fakes.payloads("FailPartFunction")) == 3
    assert fakes.payloads("FinalizeIngestionFunction") == [{"ingestion_id": INGESTION_ID, "attempt": 1}]
