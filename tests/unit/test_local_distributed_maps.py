"""The local loader's one transform: a Distributed Map runs as an inline Map over the same items."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from openlqs.local.statemachines import LOCAL_ITEMS_FIELD, StateMachineSpec, inline_distributed_maps

PROJECT_DIR = Path(__file__).resolve().parents[2]

READER = {
    "Resource": "arn:aws:states:::s3:getObject",
    "ReaderConfig": {"InputType": "JSON"},
    "Parameters": {"Bucket.$": "$.plan.bucket", "Key.$": "$.plan.key"},
}
CATCH = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}]


def distributed_map(**fields: Any) -> dict[str, Any]:
    return {
        "Type": "Map",
        "ItemReader": copy.deepcopy(READER),
        "ItemSelector": {"id.$": "$.id", "item.$": "$$.Map.Item.Value"},
        "MaxConcurrencyPath": "$.plan.max_concurrency",
        "ToleratedFailureCount": 0,
        "Label": "Items",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Work",
            "States": {"Work": {"Type": "Pass", "OutputPath": None, "End": True}},
        },
        "ResultPath": None,
        "Catch": copy.deepcopy(CATCH),
        "Next": "Done",
        **fields,
    }


def machine(**states: Any) -> dict[str, Any]:
    return {
        "StartAt": "Plan",
        "States": {
            "Plan": {"Type": "Pass", "Next": "Any items"},
            "Any items": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.count", "NumericGreaterThan": 0, "Next": "Each item"}],
                "Default": "Each item",
            },
            "Each item": distributed_map(),
            "Done": {"Type": "Succeed"},
            "Failed": {"Type": "Fail", "Error": "Failed"},
            **states,
        },
    }


def test_a_distributed_map_reads_its_items_then_runs_them_inline() -> None:
    definition = machine()

    local = inline_distributed_maps(definition)

    states = local["States"]
    reader, each = states["Read the items of Each item"], states["Each item"]
    # The reader: the same ItemReader, each item passed through, all of them into the state
    assert reader["Type"] == "Map"
    assert reader["ItemReader"] == READER
    assert reader["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert reader["ItemProcessor"]["States"] == {"Take the item": {"Type": "Pass", "End": True}}
    assert reader["ResultPath"] == f"$.{LOCAL_ITEMS_FIELD}"
    assert (reader["Next"], reader["Catch"]) == ("Each item", CATCH)
    # The Map: inline over those items, everything else kept
    assert each["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    assert each["ItemsPath"] == f"$.{LOCAL_ITEMS_FIELD}"
    assert not {"ItemReader", "ToleratedFailureCount", "Label"} & set(each)
    expected_kept = {"ItemSelector", "MaxConcurrencyPath", "ResultPath", "Catch", "Next"}
    assert {key: each[key] for key in expected_kept} == {
        key: definition["States"]["Each item"][key] for key in expected_kept
    }
    assert each["ItemProcessor"]["States"] == definition["States"]["Each item"]["ItemProcessor"]["States"]
    # Every way into the Map now goes through the reader
    assert states["Any items"]["Choices"][0]["Next"] == "Read the items of Each item"
    assert states["Any items"]["Default"] == "Read the items of Each item"
    # and the input is not changed
    assert definition == machine()


def test_transitions_to_the_map_from_start_next_and_catch_go_to_the_reader() -> None:
    definition = {
        "StartAt": "Each item",
        "States": {
            "Each item": distributed_map(Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Retry"}]),
            "Retry": {"Type": "Pass", "Next": "Each item"},
            "Elsewhere": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Each item"}],
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }

    local = inline_distributed_maps(definition)

    reader = "Read the items of Each item"
    assert local["StartAt"] == reader
    assert local["States"]["Retry"]["Next"] == reader
    assert local["States"]["Elsewhere"]["Catch"][0]["Next"] == reader
    assert local["States"][reader]["Next"] == "Each item"


def test_a_distributed_map_inside_a_parallel_branch_is_inlined_within_its_branch() -> None:
    branch = {"StartAt": "Each item", "States": {"Each item": distributed_map(), "Done": {"Type": "Succeed"}}}
    definition = {
        "StartAt": "Both",
        "States": {"Both": {"Type": "Parallel", "Branches": [branch], "End": True}},
    }

    local = inline_distributed_maps(definition)

    (inlined,) = local["States"]["Both"]["Branches"]
    assert inlined["StartAt"] == "Read the items of Each item"
    assert inlined["States"]["Each item"]["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    assert local["StartAt"] == "Both"


def test_max_concurrency_replaces_the_maps_own_when_given() -> None:
    local = inline_distributed_maps(machine(), max_concurrency=4)

    each = local["States"]["Each item"]
    assert (each["MaxConcurrency"], "MaxConcurrencyPath" in each) == (4, False)
    assert "MaxConcurrencyPath" in inline_distributed_maps(machine())["States"]["Each item"]


def test_a_distributed_map_over_the_states_own_items_only_changes_mode() -> None:
    state = distributed_map(ItemsPath="$.items")
    del state["ItemReader"]

    local = inline_distributed_maps(machine(**{"Each item": state}))

    assert set(local["States"]) == set(machine()["States"])
    assert local["States"]["Each item"]["ItemsPath"] == "$.items"
    assert local["States"]["Each item"]["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}


def test_inline_maps_and_other_states_are_left_alone() -> None:
    inline = distributed_map(ItemsPath="$.items")
    del inline["ItemReader"], inline["ToleratedFailureCount"], inline["Label"]
    inline["ItemProcessor"]["ProcessorConfig"] = {"Mode": "INLINE"}
    definition = machine(**{"Each item": inline})

    assert inline_distributed_maps(definition) == definition


@pytest.mark.parametrize(
    "field",
    [
        {"ItemBatcher": {"MaxItemsPerBatch": 10}},
        {"ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "b"}}},
    ],
)
def test_what_an_inline_map_cannot_do_is_refused(field: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=f"Each item: a Distributed Map with {next(iter(field))}"):
        inline_distributed_maps(machine(**{"Each item": distributed_map(**field)}))


def test_a_state_already_named_like_the_reader_is_refused() -> None:
    with pytest.raises(ValueError, match="already exists"):
        inline_distributed_maps(machine(**{"Read the items of Each item": {"Type": "Succeed"}}))


def test_local_definition_is_the_rendered_definition_transformed() -> None:
    spec = StateMachineSpec(
        logical_id="M",
        name="m",
        definition=json.dumps(machine()).replace('"Items"', '"${Label}"'),
        substitutions={"Label": "Parts"},
    )

    rendered = json.loads(spec.render({}))
    local = json.loads(spec.local_definition({}, max_concurrency=3))

    assert rendered["States"]["Each item"]["Label"] == "Parts"
    assert local == inline_distributed_maps(rendered, max_concurrency=3)
