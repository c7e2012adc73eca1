"""The template's state machines in moto's Step Functions, with their definitions as SAM deploys them.

Each ``AWS::Serverless::StateMachine`` is created from its ``DefinitionUri`` file (or inline
``Definition``) after ``DefinitionSubstitutions`` are applied the way CloudFormation applies them: every
``${Name}`` with a key in the substitutions becomes its value (``!GetAtt Fn.Arn`` of a function is the
in-process function's ARN, ``!Ref Table`` the local table's name, literals stay as they are); any other
``${...}`` is left alone. moto's interpreter then runs the definition (see
:meth:`openlqs.local.moto_server.TrackedMotoServer.enable_step_functions_interpreter`), and its Lambda
tasks reach the in-process functions through :mod:`openlqs.local.invoke`.

One transform makes the deployed file run locally as it runs on AWS (:func:`inline_distributed_maps`).
moto 5.2.5 runs a Distributed Map and its S3 ``ItemReader``, but ignores ``ToleratedFailureCount`` and
``ToleratedFailurePercentage``: an item that fails does not fail the Map (on AWS, with no failure
tolerated, the Map fails at once). An inline Map fails with its first failed iteration, as AWS's
Distributed Map does. So, locally, each Distributed Map becomes two states: a Distributed Map that only
reads the items with the same ``ItemReader`` (its iterations pass each item through), then the original
Map, inline, over those items. (moto's ``aws-sdk:s3:getObject`` task would have been the simpler reader,
but it returns the object's body as a stream the state cannot hold, so it cannot be used.)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openlqs.local.cloudformation import (
    LOCAL_ACCOUNT_ID,
    STATE_MACHINE_TYPE,
    Template,
    get_att_target,
    resolve_value,
    resources_of_type,
    state_machine_arn,
)
from openlqs.local.workers import default_processes

#: The role every local state machine names: moto checks the ARN's form, not the role.
ROLE_ARN_FORMAT = "arn:aws:iam::{account}:role/openlqs-local-{logical_id}-role"
#: Given to executions still running when the local stack stops.
STOPPED_ERROR = "openlqs.LocalStackStopped"
#: Where, locally, a Distributed Map's items are put for its inline Map (a key no definition uses).
LOCAL_ITEMS_FIELD = "openlqs_local_items"
#: Iterations a Map of the local stack runs at once: one per worker process of its task function (the
#: cores); more of them than cores gains nothing (docs/performance.md, benchmarks 5 and 11) and costs
#: memory (a part holds its bytes). On AWS the template's PartMaxConcurrency applies.
LOCAL_MAP_MAX_CONCURRENCY = max(2, default_processes())
#: Fields only a Distributed Map has (an inline Map refuses them).
_DISTRIBUTED_ONLY = (
    "ItemReader",
    "ItemBatcher",
    "ResultWriter",
    "ToleratedFailureCount",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentage",
    "ToleratedFailurePercentagePath",
    "Label",
)


def inline_distributed_maps(
    definition: dict[str, Any], *, max_concurrency: int | None = None
) -> dict[str, Any]:
    """``definition`` with every Distributed Map run as an inline Map over the same items.

    A Distributed Map ``M`` with an ``ItemReader`` becomes ``Read the items of M`` (a Distributed Map with
    that ``ItemReader`` whose iterations pass each item through; its result goes to
    ``$.openlqs_local_items``; on failure it takes ``M``'s ``Catch``) followed by ``M`` as an inline Map
    over ``$.openlqs_local_items``, with the same ``ItemSelector``, iterations, ``Catch``, ``ResultPath``
    and ``Next``; every transition to ``M`` goes to the reader. ``max_concurrency``, when given, replaces
    the Map's ``MaxConcurrency``/``MaxConcurrencyPath``. A Distributed Map with an ``ItemBatcher`` or a
    ``ResultWriter`` is refused (ValueError): an inline Map cannot do what they do. The input is not
    changed.
    """
    result = copy.deepcopy(definition)
    for container in list(_containers(result)):
        _inline_maps_of(container, max_concurrency)
    return result


def _containers(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every part of a definition that has ``StartAt`` and ``States``: the definition itself, its Maps'
    iterations and its Parallels' branches."""
    states = node.get("States")
    if not isinstance(states, dict):
        return
    yield node
    for state in states.values():
        if not isinstance(state, dict):
            continue
        for nested in (state.get("ItemProcessor"), state.get("Iterator"), *(state.get("Branches") or [])):
            if isinstance(nested, dict):
                yield from _containers(nested)


def _inline_maps_of(container: dict[str, Any], max_concurrency: int | None) -> None:
    states: dict[str, Any] = container["States"]
    for name, state in list(states.items()):
        if not isinstance(state, dict) or state.get("Type") != "Map":
            continue
        processor = state.get("ItemProcessor")
        if not isinstance(processor, dict):
            continue
        if (processor.get("ProcessorConfig") or {}).get("Mode") != "DISTRIBUTED":
            continue
        for unsupported in ("ItemBatcher", "ResultWriter"):
            if unsupported in state:
                raise ValueError(f"{name}: a Distributed Map with {unsupported} cannot run as an inline Map")
        reader_config = state.get("ItemReader")
        for key in _DISTRIBUTED_ONLY:
            state.pop(key, None)
        processor["ProcessorConfig"] = {"Mode": "INLINE"}
        if max_concurrency is not None:
            state.pop("MaxConcurrencyPath", None)
            state["MaxConcurrency"] = max_concurrency
        if reader_config is None:
            continue  # items from the state (ItemsPath/Items): the inline Map reads them the same way
        reader_name = f"Read the items of {name}"
        if reader_name in states:
            raise ValueError(f"{name}: a state named {reader_name!r} already exists")
        state["ItemsPath"] = f"$.{LOCAL_ITEMS_FIELD}"
        reader: dict[str, Any] = {
            "Comment": f"Local stack only: reads the items of {name!r} as its ItemReader does on AWS.",
            "Type": "Map",
            "ItemReader": reader_config,
            "MaxConcurrency": 1,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Take the item",
                "States": {"Take the item": {"Type": "Pass", "End": True}},
            },
            "ResultPath": f"$.{LOCAL_ITEMS_FIELD}",
            "Next": name,
        }
        if "Catch" in state:
            reader["Catch"] = copy.deepcopy(state["Catch"])
        _redirect(container, name, reader_name)
        states[reader_name] = reader


def _redirect(container: dict[str, Any], old: str, new: str) -> None:
    """Every transition of one container's states (and its ``StartAt``) to ``old`` goes to ``new``."""
    if container.get("StartAt") == old:
        container["StartAt"] = new
    for state in container["States"].values():
        if not isinstance(state, dict):
            continue
        if state.get("Next") == old:
            state["Next"] = new
        if state.get("Default") == old:
            state["Default"] = new
        for rule in [*(state.get("Catch") or []), *(state.get("Choices") or [])]:
            if isinstance(rule, dict) and rule.get("Next") == old:
                rule["Next"] = new


@dataclass(frozen=True)
class StateMachineSpec:
    """A state machine of the template: its local name, raw definition and substitutions."""

    logical_id: str
    name: str
    definition: str
    #: Where the definition was read from (for error messages), or None for an inline one.
    source: Path | None = None
    substitutions: dict[str, Any] = field(default_factory=dict)
    type: str = "STANDARD"

    @property
    def arn(self) -> str:
        """The state machine's local ARN (``!Ref`` of the resource)."""
        return state_machine_arn(self.name)

    @property
    def role_arn(self) -> str:
        """A placeholder execution role (moto requires one, and checks only its form)."""
        return ROLE_ARN_FORMAT.format(account=LOCAL_ACCOUNT_ID, logical_id=self.logical_id)

    def render(self, lookup: Mapping[str, str]) -> str:
        """The definition with its substitutions applied; raises ValueError naming what is missing.

        ``lookup`` resolves ``!Ref``/``!GetAtt`` (see :func:`openlqs.local.resources.resource_references`
        and :func:`~openlqs.local.resources.template_lookup`).
        """
        definition = self.definition
        where = self.source or f"{self.logical_id}.Definition"
        for key, value in self.substitutions.items():
            resolved = resolve_value(value, lookup)
            if resolved is None:
                raise ValueError(
                    f"{self.logical_id}: DefinitionSubstitutions {key}={value!r} cannot be resolved locally"
                )
            definition = definition.replace(f"${{{key}}}", resolved)
        try:
            json.loads(definition)
        except ValueError as error:
            raise ValueError(f"{where}: not valid JSON after DefinitionSubstitutions: {error}") from error
        return definition

    def local_definition(
        self, lookup: Mapping[str, str], *, max_concurrency: int | None = LOCAL_MAP_MAX_CONCURRENCY
    ) -> str:
        """The rendered definition as the local stack runs it: Distributed Maps as inline Maps over the
        same items (:func:`inline_distributed_maps`), at most ``max_concurrency`` iterations at once."""
        rendered = json.loads(self.render(lookup))
        try:
            local = inline_distributed_maps(rendered, max_concurrency=max_concurrency)
        except ValueError as error:
            raise ValueError(f"{self.source or self.logical_id}: {error}") from error
        return json.dumps(local)


def task_functions(specs: Iterable[StateMachineSpec]) -> set[str]:
    """The logical ids of the functions the state machines invoke: those whose ARN a definition
    substitution names (``!GetAtt PlanIngestionFunction.Arn``)."""
    return {
        target
        for spec in specs
        for value in spec.substitutions.values()
        if (target := get_att_target(value, "Arn")) is not None
    }


def state_machine_specs(template: Template, project_root: Path) -> dict[str, StateMachineSpec]:
    """Every ``AWS::Serverless::StateMachine`` of the template, by logical id.

    The local name is a literal ``Name`` if the template sets one, else ``openlqs-local-{LogicalId}``.
    A definition kept in S3 (``DefinitionUri`` as a mapping) cannot be read locally and raises.
    """
    specs: dict[str, StateMachineSpec] = {}
    for logical_id, resource in resources_of_type(template, STATE_MACHINE_TYPE).items():
        properties = resource.get("Properties") or {}
        name = properties.get("Name")
        source: Path | None = None
        definition_uri = properties.get("DefinitionUri")
        if isinstance(definition_uri, str):
            source = project_root / definition_uri
            definition = source.read_text(encoding="utf-8")
        elif isinstance(properties.get("Definition"), dict):
            definition = json.dumps(properties["Definition"])
        else:
            raise ValueError(
                f"{logical_id}: only a local DefinitionUri file or an inline Definition runs locally"
            )
        specs[logical_id] = StateMachineSpec(
            logical_id=logical_id,
            name=name if isinstance(name, str) else f"openlqs-local-{logical_id}",
            definition=definition,
            source=source,
            substitutions=dict(properties.get("DefinitionSubstitutions") or {}),
            type=str(properties.get("Type", "STANDARD")),
        )
    return specs


def create_state_machines(
    sfn_client: Any, specs: Iterable[StateMachineSpec], lookup: Mapping[str, str]
) -> dict[str, str]:
    """Create each state machine in moto; returns their ARNs by logical id.

    Create them after the interpreter is enabled: moto keeps state machines in a different backend
    when it executes them.
    """
    arns = {}
    for spec in specs:
        definition = spec.local_definition(lookup)
        try:
            response = sfn_client.create_state_machine(
                name=spec.name, definition=definition, roleArn=spec.role_arn, type=spec.type
            )
        except sfn_client.exceptions.InvalidDefinition as error:
            raise ValueError(
                f"{spec.source or spec.logical_id}: moto refuses the definition: {error}"
            ) from error
        arns[spec.logical_id] = str(response["stateMachineArn"])
    return arns


def stop_running_executions(sfn_client: Any, state_machine_arns: Iterable[str]) -> list[str]:
    """Stop every running execution of the given state machines; returns the stopped executions' ARNs.

    moto's interpreter checks for a stop between states, so its threads end soon after; a Lambda
    invocation in progress runs to its end.
    """
    stopped = []
    for arn in state_machine_arns:
        paginator = sfn_client.get_paginator("list_executions")
        for page in paginator.paginate(stateMachineArn=arn, statusFilter="RUNNING"):
            for execution in page.get("executions", []):
                sfn_client.stop_execution(
                    executionArn=execution["executionArn"],
                    error=STOPPED_ERROR,
                    cause="The openlqs local stack stopped while the execution was running.",
                )
                stopped.append(str(execution["executionArn"]))
    return stopped
