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

from openlqs.settings import Settings

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


def test_ingestion_asl_statelint_passes(tmp_path: Path) -> None:
    # statelint does not know SAM's DefinitionSubstitutions: a "${ProcessPartFunctionArn}" Resource
    # fails its "must be a URI" check. Substitute placeholder ARNs first, as SAM would real ones.
    definition = PLACEHOLDER.sub(lambda match: _placeholder_value(match[1]), INGESTION_ASL.read_text())
    substituted = tmp_path / INGESTION_ASL.name
    substituted.write_text(definition)

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


def test_template_objects_bucket_name_is_spelled_out_where_a_ref_would_be_circular() -> None:
    template = _template()
    resources = template["Resources"]
    bucket_name = resources["ObjectsBucket"]["Properties"]["BucketName"]
    trigger_policies = resources["IngestionTriggerFunction"]["Properties"]["Policies"]
    policy_names = [
        policy["S3CrudPolicy"]["BucketName"] for policy in trigger_policies if "S3CrudPolicy" in policy
    ]

    assert "Fn::Sub" in bucket_name
    assert template["Globals"]["Function"]["Environment"]["Variables"]["OBJECTS_BUCKET_NAME"] == bucket_name
    assert policy_names == [bucket_name]


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
