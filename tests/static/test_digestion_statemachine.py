"""statemachines/digestion.asl.json, read as SAM deploys it and as moto's interpreter runs it locally."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from moto.events.models import EventPattern

from tests.static.test_template import (
    LAMBDA_INVOKE,
    LAMBDA_SERVICE_RETRY,
    PLACEHOLDER,
    ROOT,
    UNSUPPORTED_LOCALLY,
    VENV_BIN,
    _keys,
    _placeholder_value,
    _run,
    _states,
    _stream_event,
    _template,
)

DIGESTION_ASL = ROOT / "statemachines" / "digestion.asl.json"
TASK_FUNCTIONS = {
    "Plan digestion": "PlanDigestionFunctionArn",
    "Write part": "WriteDigestionPartFunctionArn",
    "Finalize digestion": "FinalizeDigestionFunctionArn",
    "Fail digestion": "FailDigestionFunctionArn",
}


def _asl() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DIGESTION_ASL.read_text())
    return loaded


def _machine() -> dict[str, Any]:
    properties: dict[str, Any] = _template()["Resources"]["DigestionStateMachine"]["Properties"]
    return properties


def test_digestion_asl_statelint_passes(tmp_path: Path) -> None:
    definition = PLACEHOLDER.sub(lambda match: _placeholder_value(match[1]), DIGESTION_ASL.read_text())
    substituted = tmp_path / DIGESTION_ASL.name
    substituted.write_text(definition)

    result = _run(VENV_BIN / "statelint", substituted)

    assert result.returncode == 0, result.stdout + result.stderr


def test_digestion_asl_placeholders_match_definition_substitutions() -> None:
    used = set(PLACEHOLDER.findall(DIGESTION_ASL.read_text()))

    assert used == set(_machine()["DefinitionSubstitutions"])


def test_digestion_asl_uses_only_what_motos_interpreter_runs() -> None:
    machine = _asl()
    maps = [state for _, state, _ in _states(machine) if state["Type"] == "Map"]

    assert set(_keys(machine)) & (UNSUPPORTED_LOCALLY | {"Assign", "QueryLanguage"}) == set()
    assert "{%" not in DIGESTION_ASL.read_text()
    assert len(maps) == 1
    assert maps[0]["ItemProcessor"]["ProcessorConfig"]["Mode"] == "INLINE"
    assert maps[0]["MaxConcurrencyPath"] == "$.plan.max_concurrency"


def test_digestion_asl_every_task_invokes_its_function_with_the_lambda_service_retry() -> None:
    tasks = {name: state for name, state, _ in _states(_asl()) if state["Type"] == "Task"}

    assert set(tasks) == set(TASK_FUNCTIONS)
    for name, task in tasks.items():
        assert task["Resource"] == LAMBDA_INVOKE, name
        assert task["Parameters"]["FunctionName"] == "${" + TASK_FUNCTIONS[name] + "}", name
        assert task["Retry"][0] == LAMBDA_SERVICE_RETRY, name


def test_digestion_asl_every_failure_leads_to_fail_digestion_with_the_error() -> None:
    for name, state, enclosing_map in _states(_asl()):
        if state["Type"] not in ("Task", "Map"):
            continue
        (catch,) = (enclosing_map or state)["Catch"]
        expected = "Digestion failed" if name == "Fail digestion" else "Fail digestion"
        assert (catch["ErrorEquals"], catch["Next"]) == (["States.ALL"], expected), name
        assert catch["ResultPath"] in ("$.error", "$.fail_digestion_error"), name
    payload = _asl()["States"]["Fail digestion"]["Parameters"]["Payload"]
    assert payload == {"digestion_id.$": "$.digestion_id", "attempt.$": "$.attempt", "error.$": "$.error"}


def test_template_digestion_state_machine_invokes_exactly_its_functions() -> None:
    machine = _machine()
    named = {v["Fn::GetAtt"][0] for v in machine["DefinitionSubstitutions"].values() if "Fn::GetAtt" in v}
    invokable = {
        p["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for p in machine["Policies"]
        if "LambdaInvokePolicy" in p
    }

    assert named == invokable == {value.removesuffix("Arn") for value in TASK_FUNCTIONS.values()}
    assert machine["DefinitionSubstitutions"]["MaxConcurrency"] == {"Ref": "PartMaxConcurrency"}


def test_template_trigger_stream_filter_selects_digestions_entering_queued() -> None:
    trigger = _template()["Resources"]["IngestionTriggerFunction"]["Properties"]
    (event,) = [event for event in trigger["Events"].values() if event["Type"] == "DynamoDB"]
    patterns = [EventPattern.load(f["Pattern"]) for f in event["Properties"]["FilterCriteria"]["Filters"]]
    digestion = {"NewImage": {"kind": "digestion"}, "OldImage": {"kind": "digestion"}}
    cases = [
        (_stream_event(**digestion), True),
        (_stream_event(insert=True, NewImage={"kind": "digestion"}), True),
        (
            _stream_event(NewImage={"kind": "digestion"}, OldImage={"kind": "digestion", "state": "queued"}),
            False,
        ),
        (
            _stream_event(
                NewImage={"kind": "digestion", "state": "processing"}, OldImage={"kind": "digestion"}
            ),
            False,
        ),
        (_stream_event(NewImage={"kind": "digestion_part"}, OldImage={"kind": "digestion_part"}), False),
    ]

    for record, selected in cases:
        assert any(pattern.matches_event(record) for pattern in patterns) is selected, record
