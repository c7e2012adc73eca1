"""Static checks of the deployment: template.yaml, the ingestion state machine and the SAM CLI's view."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml
from moto.events.models import EventPattern

from openlqs.ingestion.payloads import PartManifestItem, PartTask, PlannedIngestion
from openlqs.local.cloudformation import template_lookup
from openlqs.local.statemachines import state_machine_specs
from openlqs.settings import Settings
from tests.support.events import load_event

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
INGESTION_ASL = ROOT / "statemachines" / "ingestion.asl.json"
SAM = ROOT / ".venv-sam" / "bin" / "sam"
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
SAM_VALIDATE = ROOT / "scripts" / "sam-validate.sh"
VENV_BIN = Path(sys.executable).parent

# DefinitionSubstitutions placeholders, as Step Functions reads them: ${Name}.
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
# ${Name} or ${Name.Attribute} in an Fn::Sub string (${!Literal} is not a reference).
SUB_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_]+)(?:\.[A-Za-z0-9_.]+)?\}")

# Runs in the SAM CLI's venv (it has the SAM translator): prints the template as CloudFormation gets it.
SAM_TRANSFORM = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoManagedPolicies:
    def load(self):
        return {}

with open(sys.argv[1]) as stream:
    template = yaml_parse(stream.read())
for resource in template["Resources"].values():
    properties = resource.get("Properties") or {}
    for key in ("CodeUri", "ContentUri", "DefinitionUri"):
        if isinstance(properties.get(key), str):
            properties[key] = "s3://openlqs-artifacts/" + key
json.dump(transform(template, {}, NoManagedPolicies()), sys.stdout)
"""


def _template() -> Any:
    # cfn-lint's own loader: it understands the short intrinsic forms (!Ref, !Sub, !GetAtt).
    return cfn_yaml.load(str(TEMPLATE))


def _run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def _placeholder_value(name: str) -> str:
    # Any ARN-shaped value satisfies statelint's "Resource must be a URI"; names stay names.
    if name.endswith("Arn"):
        return f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    return name


def _keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _keys(item)


def test_template_cfn_lint_passes() -> None:
    result = _run(VENV_BIN / "cfn-lint", TEMPLATE)

    assert result.returncode == 0, result.stdout + result.stderr


def _without_fields_statelint_predates(definition: dict[str, Any]) -> dict[str, Any]:
    """``definition`` without ``ItemReader.ReaderConfig.InputType``: statelint 3.1.0 (the latest) knows
    only ``MaxItems`` there, while AWS documents ``InputType`` (``JSON`` for a JSON array file);
    ``test_ingestion_asl_process_parts_is_a_distributed_map_over_the_plans_manifest`` checks its value."""
    for state in definition["States"].values():
        state.get("ItemReader", {}).get("ReaderConfig", {}).pop("InputType", None)
    return definition


def test_ingestion_asl_statelint_passes(tmp_path: Path) -> None:
    # statelint does not know SAM's DefinitionSubstitutions: a "${ProcessPartFunctionArn}" Resource
    # fails its "must be a URI" check. Substitute placeholder ARNs first, as SAM would real ones.
    definition = PLACEHOLDER.sub(lambda match: _placeholder_value(match[1]), INGESTION_ASL.read_text())
    substituted = tmp_path / INGESTION_ASL.name
    substituted.write_text(json.dumps(_without_fields_statelint_predates(json.loads(definition))))

    result = _run(VENV_BIN / "statelint", substituted)

    assert result.returncode == 0, result.stdout + result.stderr


def test_ingestion_asl_placeholders_match_definition_substitutions() -> None:
    used = set(PLACEHOLDER.findall(INGESTION_ASL.read_text()))
    properties = _template()["Resources"]["IngestionStateMachine"]["Properties"]

    provided = set(properties.get("DefinitionSubstitutions", {}))

    assert used - provided == set(), "placeholders in the ASL with no DefinitionSubstitutions entry"
    assert provided - used == set(), "DefinitionSubstitutions entries the ASL never uses"


def test_ingestion_asl_uses_only_jsonpath() -> None:
    # Local mode runs the same file in moto's interpreter, which knows neither JSONata nor variables.
    keys = set(_keys(json.loads(INGESTION_ASL.read_text())))

    assert "Assign" not in keys
    assert "QueryLanguage" not in keys
    assert "{%" not in INGESTION_ASL.read_text()


def test_template_function_environment_mirrors_settings_fields() -> None:
    variables = _template()["Globals"]["Function"]["Environment"]["Variables"]
    ours = {name for name in variables if not name.startswith("POWERTOOLS_")}

    assert ours <= {field.upper() for field in Settings.model_fields}
    assert {"DATASTORE_ID", "RESOURCES_TABLE_NAME", "RECORDS_TABLE_NAME", "OBJECTS_BUCKET_NAME"} <= ours


def test_template_api_url_output_is_a_logqs_base_url() -> None:
    # The LogQS client joins "{api_url}/apps/lqs/..." without a separator check: a trailing slash
    # would give ".../v1//apps/lqs/...".
    api_url = _template()["Outputs"]["ApiUrl"]["Value"]["Fn::Sub"]

    assert api_url.startswith("https://${OpenlqsApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/")
    assert not api_url.endswith("/")


def test_template_sam_validate_passes() -> None:
    if not SAM.exists():
        pytest.skip(f"SAM CLI is not installed in {SAM.parent.parent.name}; run scripts/sam-validate.sh once")

    result = _run("bash", SAM_VALIDATE)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


def _references(node: Any) -> Iterator[str]:
    """Every logical id a template node refers to (Ref, GetAtt, Sub)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                yield value
            elif key == "Fn::GetAtt":
                yield (value.split(".", 1)[0] if isinstance(value, str) else value[0])
            elif key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
                yield from (name for name in SUB_REFERENCE.findall(text) if name not in variables)
                yield from _references(variables)
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def _find_cycle(resources: dict[str, Any]) -> list[str] | None:
    """A dependency cycle among ``resources`` (as a path of logical ids), or None."""
    edges: dict[str, set[str]] = {}
    for name, resource in resources.items():
        depends_on = resource.get("DependsOn") or []
        named = set(_references(resource.get("Properties") or {}))
        named.update([depends_on] if isinstance(depends_on, str) else depends_on)
        edges[name] = named & set(resources)
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done:
            return None
        for target in sorted(edges[name]):
            cycle = visit(target, [*path, name])
            if cycle:
                return cycle
        done.add(name)
        return None

    for name in sorted(resources):
        cycle = visit(name, [])
        if cycle:
            return cycle
    return None


def test_template_has_no_circular_dependency_after_the_sam_transform() -> None:
    # Neither cfn-lint nor `sam validate` sees the cycle ObjectsBucket (notification) ->
    # IngestionTriggerFunction -> its role -> ObjectsBucket: it only appears once SAM has written the
    # bucket's NotificationConfiguration.
    if not SAM_PYTHON.exists():
        pytest.skip(
            f"SAM CLI is not installed in {SAM_PYTHON.parents[1].name}; run scripts/sam-validate.sh once"
        )
    result = subprocess.run(
        [str(SAM_PYTHON), "-c", SAM_TRANSFORM, str(TEMPLATE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
    )
    assert result.returncode == 0, result.stderr
    resources = json.loads(result.stdout)["Resources"]

    assert "NotificationConfiguration" in resources["ObjectsBucket"]["Properties"]
    assert _find_cycle(resources) is None


def test_find_cycle_finds_a_bucket_notification_cycle() -> None:
    resources = {
        "Bucket": {"Properties": {"Lambda": {"Fn::GetAtt": ["Function", "Arn"]}}},
        "Function": {"Properties": {"Role": {"Fn::GetAtt": "Role.Arn"}}},
        "Role": {
            "Properties": {"Resource": {"Fn::Sub": ["arn:aws:s3:::${Name}/*", {"Name": {"Ref": "Bucket"}}]}}
        },
        "Table": {"Properties": {"Name": {"Fn::Sub": "${AWS::StackName}-${Function}"}}},
    }

    assert _find_cycle(resources) == ["Bucket", "Function", "Role", "Bucket"]
    assert _find_cycle({k: v for k, v in resources.items() if k != "Role"} | {"Role": {}}) is None


def _bucket_names(policies: list[Any]) -> Iterator[Any]:
    """Every ObjectsBucket name a function's policies spell: policy template parameters and the
    ``BucketName`` variable of inline statements' ARNs."""
    for policy in policies:
        for name, body in policy.items():
            if name.startswith("S3"):
                yield body["BucketName"]
            elif name == "Statement":
                resources = [
                    s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]] for s in body
                ]
                for resource in (resource for listed in resources for resource in listed):
                    sub = resource.get("Fn::Sub") if isinstance(resource, dict) else None
                    if isinstance(sub, list) and ":s3:::" in sub[0]:
                        yield sub[1]["BucketName"]


def test_template_objects_bucket_name_is_spelled_out_where_a_ref_would_be_circular() -> None:
    template = _template()
    resources = template["Resources"]
    bucket_name = resources["ObjectsBucket"]["Properties"]["BucketName"]
    # The trigger depends on the state machine, which depends on the functions that read the bucket.
    spelled = {
        function: list(_bucket_names(resources[function]["Properties"]["Policies"]))
        for function in (
            "IngestionTriggerFunction",
            "PlanIngestionFunction",
            "ProcessPartFunction",
            "IngestionStateMachine",
        )
    }

    assert "Fn::Sub" in bucket_name
    assert template["Globals"]["Function"]["Environment"]["Variables"]["OBJECTS_BUCKET_NAME"] == bucket_name
    assert spelled == {
        "IngestionTriggerFunction": [bucket_name] * 3,
        "PlanIngestionFunction": [bucket_name] * 3,
        "ProcessPartFunction": [bucket_name] * 2,
        "IngestionStateMachine": [bucket_name],
    }


def test_template_drop_folder_invokes_the_ingestion_trigger() -> None:
    resources = _template()["Resources"]
    trigger = resources["IngestionTriggerFunction"]["Properties"]
    (event,) = [event for event in trigger["Events"].values() if event["Type"] == "S3"]
    rules = event["Properties"]["Filter"]["S3Key"]["Rules"]

    assert event["Properties"]["Bucket"] == {"Ref": "ObjectsBucket"}
    assert event["Properties"]["Events"] in ("s3:ObjectCreated:*", ["s3:ObjectCreated:*"])
    assert [(rule["Name"], rule["Value"]) for rule in rules] == [("prefix", "drop/")]
    assert (trigger["CodeUri"], trigger["Handler"]) == ("functions/ingestion_trigger/", "app.lambda_handler")
    assert (ROOT / trigger["CodeUri"] / "app.py").is_file()
    log_group = resources["IngestionTriggerFunctionLogGroup"]["Properties"]
    assert log_group["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${IngestionTriggerFunction}"}


def test_template_secrets_key_reaches_every_function_and_the_api_may_use_it() -> None:
    template = _template()
    key = template["Resources"]["SecretsKey"]["Properties"]
    api_policies = template["Resources"]["ApiFunction"]["Properties"]["Policies"]
    kms_policies = {
        name: policy[name] for policy in api_policies for name in policy if name.startswith("KMS")
    }

    assert template["Globals"]["Function"]["Environment"]["Variables"]["SECRETS_KEY_ID"] == {
        "Ref": "SecretsKey"
    }
    assert key["EnableKeyRotation"] is True
    assert kms_policies == {
        "KMSEncryptPolicy": {"KeyId": {"Ref": "SecretsKey"}},
        "KMSDecryptPolicy": {"KeyId": {"Ref": "SecretsKey"}},
    }


# -- The ingestion state machine -------------------------------------------------------------------

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
# The retry AWS recommends for every Lambda task: the Lambda service's transient errors, not the
# function's own (a corrupt bag fails the same way every time). Intervals stay small: moto's
# interpreter sleeps for real.
LAMBDA_SERVICE_RETRY = {
    "ErrorEquals": [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    ],
    "IntervalSeconds": 1,
    "MaxAttempts": 3,
    "BackoffRate": 2.0,
}
# Fields moto 5.2.5's interpreter does not run, or runs differently from AWS (DESIGN.md §3): variables,
# JSONata, batching, results written to S3, tolerated failures (ignored: a failed item would not fail
# the Map).
UNSUPPORTED_LOCALLY = {
    "Assign",
    "QueryLanguage",
    "Arguments",
    "Output",
    "ItemBatcher",
    "ResultWriter",
    "ToleratedFailureCount",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentage",
    "ToleratedFailurePercentagePath",
}


def _ingestion_asl() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(INGESTION_ASL.read_text())
    return loaded


def _states(machine: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """Every state as (name, state, the Map state whose iterations run it or None), nested ones too."""
    for name, state in machine["States"].items():
        yield name, state, None
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor is not None:
            for inner_name, inner, _ in _states(processor):
                yield inner_name, inner, state


def test_ingestion_asl_every_task_invokes_lambda_with_the_service_retry() -> None:
    tasks = {name: state for name, state, _ in _states(_ingestion_asl()) if state["Type"] == "Task"}

    assert set(tasks) == {
        "Plan ingestion",
        "Process part",
        "Record part failure",
        "Finalize ingestion",
        "Fail ingestion",
    }
    for name, task in tasks.items():
        assert task["Resource"] == LAMBDA_INVOKE, name
        assert PLACEHOLDER.fullmatch(task["Parameters"]["FunctionName"]), name
        assert task["Retry"][0] == LAMBDA_SERVICE_RETRY, name


def test_ingestion_asl_every_failure_leads_to_fail_ingestion() -> None:
    # "Fail ingestion" itself ends in "Ingestion failed"; every other task and the Map catch everything
    # into "Fail ingestion". Inside the Map, a part's failure is noted on the part ("Record part
    # failure", which always goes on) and then fails the part's execution, hence the Map.
    machine = _ingestion_asl()
    for name, state, enclosing_map in _states(machine):
        if state["Type"] not in ("Task", "Map"):
            continue
        (catch,) = state["Catch"]
        expected = {
            "Fail ingestion": "Ingestion failed",
            "Process part": "Record part failure",
            "Record part failure": "Part failed",
        }.get(name, "Fail ingestion")
        assert (catch["ErrorEquals"], catch["Next"]) == (["States.ALL"], expected), name
        assert catch["ResultPath"] != "$", f"{name}: the Catch must keep the ingestion id and attempt"
        assert (enclosing_map is not None) == (name in ("Process part", "Record part failure")), name
    child = machine["States"]["Process parts"]["ItemProcessor"]["States"]
    assert child["Record part failure"]["Next"] == "Part failed"
    assert child["Part failed"]["Type"] == "Fail"
    assert child["Process part"]["Catch"][0]["ResultPath"] == "$.error"


def test_ingestion_asl_fail_ingestion_gets_the_caught_error() -> None:
    states = _ingestion_asl()["States"]
    error_paths = {
        catch["ResultPath"] for _, s, _ in _states(_ingestion_asl()) for catch in s.get("Catch", [])
    }

    payload = states["Fail ingestion"]["Parameters"]["Payload"]

    assert payload == {"ingestion_id.$": "$.ingestion_id", "attempt.$": "$.attempt", "error.$": "$.error"}
    # None: "Record part failure" failing itself keeps the part's input (the part still fails).
    assert error_paths - {"$.fail_ingestion_error", None} == {"$.error"}
    assert states["Fail ingestion"]["Next"] == "Ingestion failed"
    assert states["Ingestion failed"]["Type"] == "Fail"


def test_ingestion_asl_process_parts_is_a_distributed_map_over_the_plans_manifest() -> None:
    machine = _ingestion_asl()
    states = machine["States"]
    process_parts = states["Process parts"]
    reader = process_parts["ItemReader"]
    processor = process_parts["ItemProcessor"]
    plan_result = states["Plan ingestion"]["ResultSelector"]

    # Child executions (Standard: a part may run for up to the function's 900 s, past Express's 5
    # minutes), items read from the manifest the plan wrote: a JSON array in S3.
    assert processor["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert reader == {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket.$": "$.plan.manifest.bucket", "Key.$": "$.plan.manifest.key"},
    }
    assert "ItemsPath" not in process_parts and "Items" not in process_parts
    # Each child gets exactly a "Process part" payload: the manifest item and the execution's ids.
    selector = process_parts["ItemSelector"]
    assert {field.removesuffix(".$") for field in selector} == set(PartTask.model_fields)
    assert {field.removesuffix(".$") for field in selector} - {"ingestion_id", "attempt"} == set(
        PartManifestItem.model_fields
    )
    assert {selector[f"{name}.$"] for name in PartManifestItem.model_fields} == {
        f"$$.Map.Item.Value.{name}" for name in PartManifestItem.model_fields
    }
    # No failure tolerated: a failed part fails the Map.
    assert process_parts["ToleratedFailureCount"] == 0
    assert not {
        "ToleratedFailurePercentage",
        "ToleratedFailureCountPath",
        "ToleratedFailurePercentagePath",
    } & set(process_parts)
    # The Map's result is an empty object per child, dropped: no ResultWriter is needed.
    assert process_parts["ResultPath"] is None
    assert "ResultWriter" not in process_parts and "ItemBatcher" not in process_parts
    assert processor["States"]["Process part"]["OutputPath"] is None
    assert processor["States"]["Process part"]["End"] is True
    # The plan's state holds references and counts only, never the parts.
    assert set(plan_result) == {"manifest.$", "part_count.$", "max_concurrency.$"}
    assert {"manifest", "part_count"} <= set(PlannedIngestion.model_fields)
    assert not [name for name, f in PlannedIngestion.model_fields.items() if "list" in str(f.annotation)]
    # No parts, no manifest to read.
    (choice,) = states["Are there parts"]["Choices"]
    assert (choice["Variable"], choice["NumericGreaterThan"], choice["Next"]) == (
        "$.plan.part_count",
        0,
        "Process parts",
    )
    assert states["Are there parts"]["Default"] == "Finalize ingestion"
    assert states["Plan ingestion"]["Next"] == "Are there parts"


def test_ingestion_asl_runs_locally_in_what_motos_interpreter_runs() -> None:
    # The deployed file keeps what moto does not run as AWS does; the local loader's transform removes
    # it: the only Distributed Map left locally reads the manifest, and the parts run inline.
    template = _template()
    spec = state_machine_specs(template, ROOT)["IngestionStateMachine"]
    functions = [
        name for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
    ]
    lookup = template_lookup(
        template, {f"{name}.Arn": _placeholder_value(f"{name}Arn") for name in functions}
    )
    local = json.loads(spec.local_definition(lookup))
    maps = {name: state for name, state, _ in _states(local) if state["Type"] == "Map"}

    assert set(_keys(_ingestion_asl())) & UNSUPPORTED_LOCALLY == {"ToleratedFailureCount"}
    assert set(_keys(local)) & UNSUPPORTED_LOCALLY == set()
    assert set(maps) == {"Read the items of Process parts", "Process parts"}
    assert maps["Process parts"]["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    reader = maps["Read the items of Process parts"]
    assert reader["ItemReader"] == _ingestion_asl()["States"]["Process parts"]["ItemReader"]
    assert reader["ItemProcessor"]["States"] == {"Take the item": {"Type": "Pass", "End": True}}
    assert local["States"]["Are there parts"]["Choices"][0]["Next"] == "Read the items of Process parts"


def test_ingestion_asl_max_concurrency_comes_from_a_template_parameter() -> None:
    # DefinitionSubstitutions only replace text inside JSON strings: the number is parsed by the ASL
    # (States.StringToJson) into the state, where the Map's MaxConcurrencyPath reads it.
    template = _template()
    machine = _ingestion_asl()
    process_parts = machine["States"]["Process parts"]
    plan_result = machine["States"]["Plan ingestion"]["ResultSelector"]
    substitutions = template["Resources"]["IngestionStateMachine"]["Properties"]["DefinitionSubstitutions"]
    parameter = template["Parameters"][substitutions["MaxConcurrency"]["Ref"]]

    assert "MaxConcurrency" not in process_parts
    assert process_parts["MaxConcurrencyPath"] == "$.plan.max_concurrency"
    assert machine["States"]["Plan ingestion"]["ResultPath"] == "$.plan"
    assert plan_result["max_concurrency.$"] == "States.StringToJson('${MaxConcurrency}')"
    # Hundreds of parts at once by default; a Distributed Map runs up to 10,000 child executions.
    assert (parameter["Type"], parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (
        "Number",
        100,
        1,
        10_000,
    )


def test_template_state_machine_invokes_exactly_the_functions_its_definition_names() -> None:
    machine = _template()["Resources"]["IngestionStateMachine"]["Properties"]
    named = {
        value["Fn::GetAtt"][0]
        for value in machine["DefinitionSubstitutions"].values()
        if isinstance(value, dict) and "Fn::GetAtt" in value
    }

    invokable = {
        policy["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for policy in machine["Policies"]
        if "LambdaInvokePolicy" in policy
    }

    assert (
        named
        == invokable
        == {
            "PlanIngestionFunction",
            "ProcessPartFunction",
            "FailPartFunction",
            "FinalizeIngestionFunction",
            "FailIngestionFunction",
        }
    )


def test_template_every_function_has_its_log_group_and_its_code() -> None:
    resources = _template()["Resources"]
    functions = [name for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]

    for name in functions:
        log_group = resources[f"{name}LogGroup"]["Properties"]
        assert log_group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{name}}}"}
        assert log_group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
        assert (ROOT / resources[name]["Properties"]["CodeUri"] / "app.py").is_file(), name


def _stream_event(**changes: Any) -> dict[str, Any]:
    """The stream record of events/ingestion_trigger/dynamodb_ingestion_queued.json, changed."""
    event = load_event("ingestion_trigger/dynamodb_ingestion_queued.json")
    (record,) = event["Records"]
    for image in ("NewImage", "OldImage"):
        for attribute, value in (changes.pop(image, None) or {}).items():
            if value is None:
                del record["dynamodb"][image][attribute]
            else:
                record["dynamodb"][image][attribute] = {"S": value}
    if changes.pop("insert", False):
        record["eventName"] = "INSERT"
        del record["dynamodb"]["OldImage"]
    assert not changes
    return dict(record)


@pytest.mark.parametrize(
    ("changes", "selected"),
    [
        ({}, True),
        ({"insert": True}, True),
        ({"OldImage": {"state": "failed"}}, True),
        ({"OldImage": {"state": "queued"}}, False),
        ({"NewImage": {"state": "processing"}}, False),
        ({"NewImage": {"kind": "ingestion_part"}, "OldImage": {"kind": "ingestion_part"}}, False),
        ({"insert": True, "NewImage": {"state": "ready"}}, False),
    ],
)
def test_template_ingestion_trigger_stream_filter_selects_ingestions_entering_queued(
    changes: dict[str, Any], selected: bool
) -> None:
    # The FilterCriteria patterns, matched as Lambda matches them (moto's EventBridge pattern matcher
    # implements the same pattern language), against real-shaped stream records.
    trigger = _template()["Resources"]["IngestionTriggerFunction"]["Properties"]
    (event,) = [event for event in trigger["Events"].values() if event["Type"] == "DynamoDB"]
    patterns = [EventPattern.load(f["Pattern"]) for f in event["Properties"]["FilterCriteria"]["Filters"]]
    record: Any = _stream_event(**changes)

    assert any(pattern.matches_event(record) for pattern in patterns) is selected
    assert event["Properties"]["Stream"] == {"Fn::GetAtt": ["ResourcesTable", "StreamArn"]}


def test_template_ingestion_trigger_starts_the_state_machine() -> None:
    trigger = _template()["Resources"]["IngestionTriggerFunction"]["Properties"]

    policies = [policy for policy in trigger["Policies"] if "StepFunctionsExecutionPolicy" in policy]

    assert trigger["Environment"]["Variables"]["INGESTION_STATE_MACHINE_ARN"] == {
        "Ref": "IngestionStateMachine"
    }
    assert trigger["Environment"]["Variables"]["DIGESTION_STATE_MACHINE_ARN"] == {
        "Ref": "DigestionStateMachine"
    }
    assert policies == [
        {"StepFunctionsExecutionPolicy": {"StateMachineName": {"Fn::GetAtt": [machine, "Name"]}}}
        for machine in ("IngestionStateMachine", "DigestionStateMachine")
    ]
    assert {"INGESTION_STATE_MACHINE_ARN", "DIGESTION_STATE_MACHINE_ARN"} <= {
        field.upper() for field in Settings.model_fields
    }
