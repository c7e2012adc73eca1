"""The template's state machines in moto's Step Functions, with their definitions as SAM deploys them.

Each ``AWS::Serverless::StateMachine`` is created from its ``DefinitionUri`` file (or inline
``Definition``) after ``DefinitionSubstitutions`` are applied the way CloudFormation applies them: every
``${Name}`` with a key in the substitutions becomes its value (``!GetAtt Fn.Arn`` of a function is the
in-process function's ARN, ``!Ref Table`` the local table's name, literals stay as they are); any other
``${...}`` is left alone. moto's interpreter then runs the definition (see
:meth:`openlqs.local.moto_server.TrackedMotoServer.enable_step_functions_interpreter`), and its Lambda
tasks reach the in-process functions through :mod:`openlqs.local.invoke`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openlqs.local.cloudformation import (
    LOCAL_ACCOUNT_ID,
    STATE_MACHINE_TYPE,
    Template,
    resolve_value,
    resources_of_type,
    state_machine_arn,
)

#: The role every local state machine names: moto checks the ARN's form, not the role.
ROLE_ARN_FORMAT = "arn:aws:iam::{account}:role/openlqs-local-{logical_id}-role"
#: Given to executions still running when the local stack stops.
STOPPED_ERROR = "openlqs.LocalStackStopped"


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
        definition = spec.render(lookup)
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
