"""IAM as template.yaml declares it, for tests: each function's statements, resolved, and an evaluator.

moto checks no permissions, so the tests check them here: a function's ``Policies`` (SAM policy templates
and inline statements) are expanded and their intrinsics resolved against a fake stack, and requests are
evaluated the way IAM evaluates them for the few condition operators the template uses. Anything this
module does not understand (another policy template, another operator) fails loudly instead of passing.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
#: A stack id whose last group ends the ObjectsBucket name, as in a deployed stack.
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/openlqs/0f1e2d3c-4b5a-4697-8877-665544332211"
DEPLOYED_BUCKET = f"openlqs-objects-{ACCOUNT_ID}-{REGION}-665544332211"
#: OpenlqsApi's id in the fake stack (the authorizer's event names it in its methodArn too).
REST_API_ID = "a1b2c3d4e5"

# ${Name} in an Fn::Sub string (${!Literal} is not a reference).
_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")

#: The SAM policy templates the template uses, as SAM defines them (samtranslator's
#: policy_templates.json; a test compares them when the SAM CLI's venv is installed).
SAM_POLICY_TEMPLATES: dict[str, dict[str, Any]] = {
    "S3ReadPolicy": {
        "Statement": [
            {
                "Action": [
                    "s3:GetObject",
                    "s3:ListBucket",
                    "s3:GetBucketLocation",
                    "s3:GetObjectVersion",
                    "s3:GetLifecycleConfiguration",
                ],
                "Effect": "Allow",
                "Resource": [
                    {
                        "Fn::Sub": [
                            "arn:${AWS::Partition}:s3:::${bucketName}",
                            {"bucketName": {"Ref": "BucketName"}},
                        ]
                    },
                    {
                        "Fn::Sub": [
                            "arn:${AWS::Partition}:s3:::${bucketName}/*",
                            {"bucketName": {"Ref": "BucketName"}},
                        ]
                    },
                ],
            }
        ]
    },
    "KMSDecryptPolicy": {
        "Statement": [
            {
                "Action": "kms:Decrypt",
                "Effect": "Allow",
                "Resource": {
                    "Fn::Sub": [
                        "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/${keyId}",
                        {"keyId": {"Ref": "KeyId"}},
                    ]
                },
            }
        ]
    },
    "KMSEncryptPolicy": {
        "Statement": [
            {
                "Action": "kms:Encrypt",
                "Effect": "Allow",
                "Resource": {
                    "Fn::Sub": [
                        "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/${keyId}",
                        {"keyId": {"Ref": "KeyId"}},
                    ]
                },
            }
        ]
    },
    "LambdaInvokePolicy": {
        "Statement": [
            {
                "Action": ["lambda:InvokeFunction"],
                "Effect": "Allow",
                "Resource": {
                    "Fn::Sub": [
                        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${functionName}*",
                        {"functionName": {"Ref": "FunctionName"}},
                    ]
                },
            }
        ]
    },
    "StepFunctionsExecutionPolicy": {
        "Statement": [
            {
                "Action": ["states:StartExecution"],
                "Effect": "Allow",
                "Resource": {
                    "Fn::Sub": [
                        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${stateMachineName}",
                        {"stateMachineName": {"Ref": "StateMachineName"}},
                    ]
                },
            }
        ]
    },
}


def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"


def key_arn(key_id: str) -> str:
    return key_id if key_id.startswith("arn:") else f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"


#: QueryFunction's name in the fake deployed stack.
QUERY_FUNCTION_NAME = "openlqs-QueryFunction-1A2B3C4D5E6F"


def stack_references(
    template: Mapping[str, Any],
    *,
    tables: Mapping[str, str],
    bucket: str = DEPLOYED_BUCKET,
    key_id: str = "1234abcd-12ab-34cd-56ef-1234567890ab",
    state_machine_name: str | None = None,
    queues: Mapping[str, str] | None = None,
    digestion_state_machine_name: str = "DigestionStateMachine-Ef56Gh78",
) -> dict[str, Any]:
    """What ``Ref``/``GetAtt`` and the pseudo parameters are in a fake deployed stack.

    ``tables`` names each table by logical id, ``queues`` some SQS queues (the others are named
    ``openlqs-{logical id}-1A2B3C``, as CloudFormation names them); parameters take their defaults.
    The state machine is named as the template names it (else as CloudFormation would: logical id and a
    random suffix).
    """
    references: dict[str, Any] = {
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::StackId": STACK_ID,
        "AWS::StackName": "openlqs",
        "AWS::URLSuffix": "amazonaws.com",
        "ObjectsBucket": bucket,
        "ObjectsBucket.Arn": f"arn:aws:s3:::{bucket}",
        "SecretsKey": key_id,
        "SecretsKey.Arn": key_arn(key_id),
        "DigestionStateMachine": (
            f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{digestion_state_machine_name}"
        ),
        "DigestionStateMachine.Name": digestion_state_machine_name,
        "OpenlqsApi": REST_API_ID,
    }
    for logical_id, name in tables.items():
        references.update({logical_id: name, f"{logical_id}.Arn": table_arn(name)})
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            function_name = f"openlqs-{logical_id}-1A2B3C4D5E6F"  # as QUERY_FUNCTION_NAME
            references.update({logical_id: function_name, f"{logical_id}.Arn": function_arn(function_name)})
        if resource["Type"] == "AWS::SQS::Queue":
            name = (queues or {}).get(logical_id, f"openlqs-{logical_id}-1A2B3C")
            references.update(
                {
                    logical_id: f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{name}",
                    f"{logical_id}.Arn": queue_arn(name),
                    f"{logical_id}.QueueName": name,
                }
            )
    for name, parameter in (template.get("Parameters") or {}).items():
        references.setdefault(name, parameter.get("Default"))
    if state_machine_name is None:
        declared = template["Resources"]["IngestionStateMachine"]["Properties"].get("Name")
        state_machine_name = (
            str(resolve(declared, references)) if declared is not None else "IngestionStateMachine-Ab12Cd34"
        )
    references.update(
        {
            "IngestionStateMachine": state_machine_arn(state_machine_name),
            "IngestionStateMachine.Name": state_machine_name,
        }
    )
    return references


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"


def state_machine_arn(name: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}"


def resolve(node: Any, references: Mapping[str, Any]) -> Any:
    """``node`` with Ref, GetAtt, Sub, Select, Split and Join resolved (KeyError: unknown reference)."""
    if isinstance(node, list):
        return [resolve(item, references) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((name, value),) = node.items()
        if name == "Ref":
            return references[value]
        if name == "Fn::GetAtt":
            return references[".".join(value) if isinstance(value, list) else value]
        if name == "Fn::Sub":
            text, variables = (value, {}) if isinstance(value, str) else value
            local = {**references, **{key: resolve(item, references) for key, item in variables.items()}}
            return _SUB_VARIABLE.sub(lambda match: str(local[match[1]]), text)
        if name == "Fn::Select":
            index, items = value
            return resolve(items, references)[int(index)]
        if name == "Fn::Split":
            separator, text = value
            return str(resolve(text, references)).split(separator)
        if name == "Fn::Join":
            separator, items = value
            return separator.join(str(item) for item in resolve(items, references))
    return {key: resolve(value, references) for key, value in node.items()}


def _substitute_parameters(node: Any, parameters: Mapping[str, Any]) -> Any:
    if isinstance(node, list):
        return [_substitute_parameters(item, parameters) for item in node]
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in parameters:
            return copy.deepcopy(parameters[node["Ref"]])
        return {key: _substitute_parameters(value, parameters) for key, value in node.items()}
    return node


def attached_policies(template: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every ``AWS::IAM::Policy`` of the template and the roles it is attached to (by ``Ref``)."""
    attached: dict[str, list[str]] = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        roles = resource["Properties"].get("Roles") or []
        if not all(isinstance(role, dict) and set(role) == {"Ref"} for role in roles):
            raise AssertionError(f"{name}: roles other than a Ref are not reviewed by these tests")
        attached[name] = [role["Ref"] for role in roles]
    return attached


def function_statements(template: Mapping[str, Any], function_id: str) -> list[dict[str, Any]]:
    """The statements of a function's (or a state machine's) ``Policies``, SAM policy templates
    expanded, and of every ``AWS::IAM::Policy`` attached to the role SAM generates for it
    (``{function_id}Role``); not yet resolved."""
    statements = _own_statements(template, function_id)
    for name, roles in attached_policies(template).items():
        if f"{function_id}Role" in roles:
            statements.extend(template["Resources"][name]["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _own_statements(template: Mapping[str, Any], function_id: str) -> list[dict[str, Any]]:
    policies = template["Resources"][function_id]["Properties"].get("Policies") or []
    statements: list[dict[str, Any]] = []
    for policy in [policies] if isinstance(policies, str | dict) else policies:
        if isinstance(policy, str):
            raise AssertionError(f"{function_id}: managed policy {policy!r} is not reviewed by these tests")
        if "Statement" in policy:
            statements.extend(policy["Statement"])
            continue
        ((name, parameters),) = policy.items()
        if name not in SAM_POLICY_TEMPLATES:
            raise AssertionError(f"{function_id}: policy template {name} is not known to these tests")
        expanded = _substitute_parameters(SAM_POLICY_TEMPLATES[name], parameters or {})
        statements.extend(expanded["Statement"])
    return statements


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def grants(statements: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Any]:
    """``{(action, resource): condition or None}`` of resolved Allow statements."""
    granted: dict[tuple[str, str], Any] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow", statement
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                granted[(action, resource)] = statement.get("Condition")
    return granted


@dataclass(frozen=True)
class Request:
    """One permission check: an IAM action on a resource, with the request's condition keys."""

    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    call: str = ""

    def __str__(self) -> str:
        keys = f" {dict(self.context)}" if self.context else ""
        return f"{self.action} on {self.resource}{keys} ({self.call})"


def matches(statement: Mapping[str, Any], request: Request) -> bool:
    """Whether a resolved statement applies to ``request`` (its Effect aside)."""
    actions = as_list(statement["Action"])
    resources = as_list(statement.get("Resource", "*"))
    return (
        any(fnmatchcase(request.action.lower(), action.lower()) for action in actions)
        and any(fnmatchcase(request.resource, resource) for resource in resources)
        and condition_holds(statement.get("Condition") or {}, request.context)
    )


def allows(statements: Iterable[Mapping[str, Any]], request: Request) -> bool:
    """Whether an identity policy allows ``request`` (no statement here denies)."""
    return any(statement["Effect"] == "Allow" and matches(statement, request) for statement in statements)


def denies(statements: Iterable[Mapping[str, Any]], request: Request) -> bool:
    """Whether a resource policy explicitly denies ``request``."""
    return any(statement["Effect"] == "Deny" and matches(statement, request) for statement in statements)


def condition_holds(
    condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, tuple[str, ...]]
) -> bool:
    """IAM's condition evaluation for the operators the template uses: every test must hold."""
    for operator, tests in condition.items():
        for key, expected in tests.items():
            if not _test(operator, context.get(key), [str(value) for value in as_list(expected)]):
                return False
    return True


def _test(operator: str, values: tuple[str, ...] | None, expected: list[str]) -> bool:
    if operator == "Null":
        return (values is None) == (expected == ["true"])
    if operator == "Bool":
        return values is not None and values[0].lower() == expected[0].lower()
    qualifier, _, base = operator.rpartition(":")
    compare = {
        "StringEquals": lambda value, pattern: value == pattern,
        "StringNotEquals": lambda value, pattern: value != pattern,
        "StringLike": fnmatchcase,
    }.get(base)
    if compare is None or qualifier not in ("", "ForAllValues"):
        raise AssertionError(f"condition operator {operator} is not understood by these tests")
    if qualifier == "ForAllValues":
        # True when the key is absent, as in IAM.
        return all(any(compare(value, pattern) for pattern in expected) for value in values or ())
    if base == "StringNotEquals":
        return values is None or all(compare(value, pattern) for value in values for pattern in expected)
    return values is not None and any(compare(value, pattern) for value in values for pattern in expected)


#: The public GETs: the OpenAPI document and the Swagger UI, at the root and under both API prefixes
#: with /apps.
PUBLIC_PATHS = {
    "/openapi.json",
    "/docs",
    "/apps/lqs/api/openapi.json",
    "/apps/lqs/api/docs",
    "/apps/lqs/{datastore_id}/api/openapi.json",
    "/apps/lqs/{datastore_id}/api/docs",
}
