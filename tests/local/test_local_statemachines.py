"""The local stack's state machines: created from the template, run by moto with in-process Lambda tasks."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from openlqs.local import LocalStack
from openlqs.local.cloudformation import load_template, resource_references, template_lookup
from openlqs.local.resources import function_specs, local_resource_names
from openlqs.local.statemachines import StateMachineSpec, state_machine_specs
from tests.support.local import ECHO_HANDLER, local_stack

PROJECT_DIR = Path(__file__).resolve().parents[2]
# Generous upper bound so a slow machine does not hang the suite; nothing is timed.
EXECUTION_LIMIT_S = 60

#: A small stand-in for template.yaml: a table with a stream feeding a trigger, three task functions
#: and a state machine whose DefinitionSubstitutions name them the ways template.yaml does.
TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Handler: app.lambda_handler
    Timeout: 10
    Environment:
      Variables:
        RESOURCES_TABLE_NAME: !Ref ResourcesTable
Resources:
  ResourcesTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - { AttributeName: pk, AttributeType: S }
      KeySchema:
        - { AttributeName: pk, KeyType: HASH }
      StreamSpecification:
        StreamViewType: NEW_AND_OLD_IMAGES
  ObjectsBucket:
    Type: AWS::S3::Bucket
  ApiFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/api/
  DoubleFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/double/
  CheckFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/check/
  RecoverFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/recover/
  TriggerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/trigger/
      Environment:
        Variables:
          WORK_STATE_MACHINE_ARN: !Ref WorkStateMachine
      Events:
        Queued:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt ResourcesTable.StreamArn
            StartingPosition: LATEST
            BatchSize: 2
            MaximumRetryAttempts: 1
            BisectBatchOnFunctionError: true
            DestinationConfig:
              OnFailure:
                Type: SQS
                Destination: !GetAtt TriggerDeadLetterQueue.Arn
            FilterCriteria:
              Filters:
                - Pattern: >-
                    {"dynamodb": {"NewImage": {"state": {"S": ["queued"]}},
                    "OldImage": {"state": {"S": [{"anything-but": ["queued"]}]}}}}
                - Pattern: '{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"state": {"S": ["queued"]}}}}'
  TriggerDeadLetterQueue:
    Type: AWS::SQS::Queue
  WorkStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: statemachines/work.asl.json
      DefinitionSubstitutions:
        DoubleFunctionArn: !GetAtt DoubleFunction.Arn
        CheckFunctionName: !Ref CheckFunction
        RecoverFunctionArn: !GetAtt RecoverFunction.Arn
        TableName: !Ref ResourcesTable
        MaxConcurrency: 2
"""

#: Both ways of calling Lambda: a function ARN as Resource, and the lambda:invoke integration.
DEFINITION = """{
  "Comment": "Doubles a value, checks items two at a time, recovers from BadInput.",
  "StartAt": "Double the value",
  "States": {
    "Double the value": {
      "Type": "Task",
      "Resource": "${DoubleFunctionArn}",
      "Catch": [{"ErrorEquals": ["BadInput"], "ResultPath": "$.error", "Next": "Recover"}],
      "Next": "Check every item"
    },
    "Check every item": {
      "Type": "Map",
      "ItemsPath": "$.items",
      "MaxConcurrency": ${MaxConcurrency},
      "Iterator": {
        "StartAt": "Check the item",
        "States": {
          "Check the item": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "${CheckFunctionName}", "Payload.$": "$"},
            "OutputPath": "$.Payload",
            "End": true
          }
        }
      },
      "ResultPath": "$.checked",
      "Parameters": {"item.$": "$$.Map.Item.Value", "table": "${TableName}"},
      "End": true
    },
    "Recover": {"Type": "Task", "Resource": "${RecoverFunctionArn}", "End": true}
  }
}
"""

DOUBLE_HANDLER = """
class BadInput(Exception):
    pass


def lambda_handler(event, context):
    if event["value"] < 0:
        raise BadInput(f"{event['value']} is negative")
    return {**event, "value": event["value"] * 2}
"""

#: Both items of a two-item Map must be in the handler at once, or the barrier breaks.
CHECK_HANDLER = """
import threading

both_items = threading.Barrier(2, timeout=20)


def lambda_handler(event, context):
    if event["item"].get("together"):
        both_items.wait()
    return {"item": event["item"]["name"], "table": event["table"]}
"""

RECOVER_HANDLER = """
def lambda_handler(event, context):
    return {"recovered": event["error"]["Error"], "value": event["value"]}
"""

#: Starts WorkStateMachine once per queued item, named after it, as IngestionTriggerFunction does.
TRIGGER_HANDLER = """
import json
import os

import boto3


def lambda_handler(event, context):
    sfn = boto3.client("stepfunctions")
    for record in event["Records"]:
        image = record["dynamodb"]["NewImage"]
        sfn.start_execution(
            stateMachineArn=os.environ["WORK_STATE_MACHINE_ARN"],
            name=f"{image['pk']['S']}-1",
            input=json.dumps({"value": int(image["value"]["N"]), "items": []}),
        )
"""


def write_project(root: Path) -> Path:
    """A project folder with :data:`TEMPLATE`, its state machine and its functions."""
    handlers = {
        "api": ECHO_HANDLER,
        "double": DOUBLE_HANDLER,
        "check": CHECK_HANDLER,
        "recover": RECOVER_HANDLER,
        "trigger": TRIGGER_HANDLER,
    }
    for folder, handler in handlers.items():
        (root / "functions" / folder).mkdir(parents=True)
        (root / "functions" / folder / "app.py").write_text(handler)
    (root / "statemachines").mkdir()
    (root / "statemachines" / "work.asl.json").write_text(DEFINITION)
    (root / "template.yaml").write_text(TEMPLATE)
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "project")


def wait_for_execution(stack: LocalStack, execution_arn: str) -> dict[str, Any]:
    """Poll an execution until it ends; returns its description."""
    sfn = stack.client("stepfunctions")
    deadline = time.monotonic() + EXECUTION_LIMIT_S
    description = sfn.describe_execution(executionArn=execution_arn)
    while description["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.05)
        description = sfn.describe_execution(executionArn=execution_arn)
    return dict(description)


def run(stack: LocalStack, execution_input: dict[str, Any]) -> dict[str, Any]:
    execution = stack.client("stepfunctions").start_execution(
        stateMachineArn=stack.state_machine_arns["WorkStateMachine"], input=json.dumps(execution_input)
    )
    return wait_for_execution(stack, execution["executionArn"])


def test_local_state_machine_runs_to_success_calling_in_process_functions(
    project: Path, data_dir: Path
) -> None:
    with local_stack(project, data_dir) as stack:
        description = run(
            stack,
            {"value": 21, "items": [{"name": "a", "together": True}, {"name": "b", "together": True}]},
        )

    assert description["status"] == "SUCCEEDED", description
    output = json.loads(description["output"])
    assert output["value"] == 42
    assert output["checked"] == [
        {"item": "a", "table": "openlqs-resources"},
        {"item": "b", "table": "openlqs-resources"},
    ]


def test_local_state_machine_catches_a_failing_function_by_its_exception_class_name(
    project: Path, data_dir: Path
) -> None:
    with local_stack(project, data_dir) as stack:
        description = run(stack, {"value": -1, "items": []})

    assert description["status"] == "SUCCEEDED", description
    assert json.loads(description["output"]) == {"recovered": "BadInput", "value": -1}


def test_local_state_machine_without_a_catch_fails_with_the_error_name(project: Path, data_dir: Path) -> None:
    definition = json.loads(DEFINITION.replace("${MaxConcurrency}", "2"))
    del definition["States"]["Double the value"]["Catch"]
    (project / "statemachines" / "work.asl.json").write_text(json.dumps(definition))

    with local_stack(project, data_dir) as stack:
        description = run(stack, {"value": -5, "items": []})

    assert description["status"] == "FAILED"
    assert description["error"] == "BadInput"
    cause = json.loads(description["cause"])
    assert (cause["errorType"], cause["errorMessage"]) == ("BadInput", "-5 is negative")


def test_local_stack_creates_the_state_machine_with_substituted_arns(project: Path, data_dir: Path) -> None:
    with local_stack(project, data_dir) as stack:
        arn = stack.state_machine_arns["WorkStateMachine"]
        definition = json.loads(
            stack.client("stepfunctions").describe_state_machine(stateMachineArn=arn)["definition"]
        )
        environment_arn = os.environ["WORK_STATE_MACHINE_ARN"]
        double_arn = stack.functions["DoubleFunction"].arn

    states = definition["States"]
    assert arn == "arn:aws:states:us-east-1:123456789012:stateMachine:openlqs-local-WorkStateMachine"
    assert environment_arn == arn
    assert states["Double the value"]["Resource"] == double_arn
    assert states["Check every item"]["MaxConcurrency"] == 2
    check = states["Check every item"]["Iterator"]["States"]["Check the item"]
    assert check["Parameters"]["FunctionName"] == "openlqs-local-CheckFunction"
    assert "WORK_STATE_MACHINE_ARN" not in os.environ


def test_local_stack_stop_removes_the_invoke_hook_and_stops_running_executions(
    project: Path, data_dir: Path
) -> None:
    definition = json.loads(DEFINITION.replace("${MaxConcurrency}", "2"))
    definition["States"]["Double the value"]["Next"] = "Wait a while"
    definition["States"]["Wait a while"] = {"Type": "Wait", "Seconds": 3600, "Next": "Check every item"}
    (project / "statemachines" / "work.asl.json").write_text(json.dumps(definition))
    stack = local_stack(project, data_dir).start()
    hook = stack.invoke_hook
    assert hook is not None and hook.installed
    sfn = stack.client("stepfunctions")
    machine = stack.state_machine_arns["WorkStateMachine"]
    execution = sfn.start_execution(stateMachineArn=machine, input='{"value": 1, "items": []}')
    history: list[dict[str, Any]] = []
    deadline = time.monotonic() + EXECUTION_LIMIT_S
    while not any(event["type"] == "WaitStateEntered" for event in history) and time.monotonic() < deadline:
        time.sleep(0.05)
        history = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]

    stack.stop()

    assert any(event["type"] == "LambdaFunctionSucceeded" for event in history)
    assert not hook.installed
    assert stack.invoke_hook is None
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("openlqs-")]


def test_real_template_state_machines_render_with_local_references() -> None:
    # Every DefinitionSubstitution of template.yaml resolves locally and leaves valid JSON.
    template = load_template(PROJECT_DIR / "template.yaml")
    specs = state_machine_specs(template, PROJECT_DIR)
    functions = function_specs(template, PROJECT_DIR)
    references = resource_references(
        template,
        names=local_resource_names(template),
        key_ids={"SecretsKey": "key-id"},
        function_arns={
            logical_id: f"arn:aws:lambda:us-east-1:123456789012:function:openlqs-local-{logical_id}"
            for logical_id in functions
        },
        state_machine_names={logical_id: spec.name for logical_id, spec in specs.items()},
    )

    rendered = {
        logical_id: spec.render(template_lookup(template, references)) for logical_id, spec in specs.items()
    }

    assert "IngestionStateMachine" in rendered
    for logical_id, definition in rendered.items():
        assert json.loads(definition)["States"]
        assert not any(f"${{{key}}}" in definition for key in specs[logical_id].substitutions)


def test_state_machine_spec_render_refuses_an_unresolvable_substitution() -> None:
    spec = StateMachineSpec(
        logical_id="M",
        name="m",
        definition='{"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "${Missing}", "End": true}}}',
        substitutions={"Missing": {"Fn::GetAtt": ["NotLocal", "Arn"]}},
    )

    with pytest.raises(ValueError, match="Missing"):
        spec.render({})


def test_state_machine_spec_render_keeps_placeholders_it_was_not_given() -> None:
    spec = StateMachineSpec(
        logical_id="M",
        name="m",
        definition='{"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "${A}-${B}", "End": true}}}',
        substitutions={"A": "literal"},
    )

    assert json.loads(spec.render({}))["States"]["A"]["Result"] == "literal-${B}"


def test_local_stack_fails_to_start_without_the_definition_file(project: Path, data_dir: Path) -> None:
    shutil.rmtree(project / "statemachines")
    stack = local_stack(project, data_dir)

    with pytest.raises(FileNotFoundError, match=r"work\.asl\.json"):
        stack.start()

    assert stack.moto is None
