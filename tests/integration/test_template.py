"""Static checks of the deployment: template.yaml, the ingestion state machine and the SAM CLI's view."""

from __future__ import annotations

import json
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
SAM_VALIDATE = ROOT / "scripts" / "sam-validate.sh"
VENV_BIN = Path(sys.executable).parent

# DefinitionSubstitutions placeholders, as Step Functions reads them: ${Name}.
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


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
