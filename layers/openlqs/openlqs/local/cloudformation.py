"""Read ``template.yaml``: CloudFormation YAML with its intrinsics, and what its references are locally.

The template is CloudFormation YAML with short-form intrinsics (``!Ref``, ``!Sub``, ``!GetAtt``...);
:class:`TemplateLoader` turns every ``!Tag`` into its long form instead of failing on it.
:func:`resolve_value` resolves the intrinsics local mode can resolve, against the local resources'
names and ARNs (:func:`resource_references`).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

#: Environment variable naming the project folder (the one holding ``template.yaml``).
PROJECT_DIR_ENV = "OPENLQS_PROJECT_DIR"
TEMPLATE_FILE = "template.yaml"
TABLE_TYPE = "AWS::DynamoDB::Table"
BUCKET_TYPE = "AWS::S3::Bucket"
FUNCTION_TYPE = "AWS::Serverless::Function"
STATE_MACHINE_TYPE = "AWS::Serverless::StateMachine"
KMS_KEY_TYPE = "AWS::KMS::Key"
QUEUE_TYPE = "AWS::SQS::Queue"
#: Pseudo parameters as moto answers them.
LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "123456789012"


Template = dict[str, Any]


class TemplateLoader(yaml.SafeLoader):
    """A YAML SafeLoader that accepts every CloudFormation short-form tag.

    ``!Ref X`` becomes ``{"Ref": "X"}``, ``!Condition X`` becomes ``{"Condition": "X"}``,
    ``!GetAtt A.B`` becomes ``{"Fn::GetAtt": ["A", "B"]}`` and any other ``!Tag v`` becomes
    ``{"Fn::Tag": v}``, which is the long form CloudFormation itself uses.
    """


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


TemplateLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path | None = None) -> Template:
    """Parse a CloudFormation/SAM template (default: the project's ``template.yaml``)."""
    template_path = path if path is not None else find_project_root() / TEMPLATE_FILE
    with template_path.open(encoding="utf-8") as stream:
        loaded = yaml.load(stream, Loader=TemplateLoader)
    if not isinstance(loaded, dict):
        raise ValueError(f"{template_path} is not a CloudFormation template (no top-level mapping)")
    return loaded


def parse_parameter_overrides(text: str) -> dict[str, str]:
    """``Name=Value Name2=Value2``, as ``sam deploy --parameter-overrides`` takes them (one value may be
    quoted to hold spaces: ``Name="a b"``)."""
    overrides: dict[str, str] = {}
    for word in shlex.split(text):
        name, equals, value = word.partition("=")
        if not equals or not name:
            raise ValueError(f"parameter override {word!r} is not Name=Value")
        overrides[name] = value
    return overrides


def override_parameters(template: Template, overrides: Mapping[str, str]) -> Template:
    """``template`` with the defaults of ``overrides``' parameters replaced, after the checks
    CloudFormation makes (an unknown name, a Number that is not one, MinValue/MaxValue, AllowedValues,
    AllowedPattern, MinLength/MaxLength); a ``ValueError`` says which fails."""
    if not overrides:
        return template
    parameters: dict[str, Any] = dict(template.get("Parameters") or {})
    for name, value in overrides.items():
        declared = parameters.get(name)
        if not isinstance(declared, dict):
            known = ", ".join(sorted(parameters)) or "none"
            raise ValueError(f"the template has no parameter {name} (it has: {known})")
        _check_parameter(name, declared, value)
        parameters[name] = {**declared, "Default": value}
    return {**template, "Parameters": parameters}


def _check_parameter(name: str, declared: Mapping[str, Any], value: str) -> None:
    if declared.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"parameter {name} is a Number; {value!r} is not") from None
        low, high = declared.get("MinValue"), declared.get("MaxValue")
        if (low is not None and number < float(low)) or (high is not None and number > float(high)):
            raise ValueError(f"parameter {name} must be between {low} and {high}; {value} is not")
    allowed = declared.get("AllowedValues")
    if allowed is not None and value not in [_scalar_text(v) for v in allowed]:
        raise ValueError(f"parameter {name} must be one of {', '.join(map(str, allowed))}; {value!r} is not")
    pattern = declared.get("AllowedPattern")
    if pattern is not None and re.fullmatch(str(pattern), value) is None:
        raise ValueError(f"parameter {name} must match {pattern}; {value!r} does not")
    shortest, longest = declared.get("MinLength"), declared.get("MaxLength")
    if (shortest is not None and len(value) < int(shortest)) or (
        longest is not None and len(value) > int(longest)
    ):
        raise ValueError(f"parameter {name} must be {shortest} to {longest} characters long")


def find_project_root(start: Path | None = None) -> Path:
    """The folder holding openlqs's ``template.yaml``.

    Looked up, in order: ``$OPENLQS_PROJECT_DIR``; the first folder upward from ``start`` (default:
    the working directory) holding both ``template.yaml`` and ``layers/openlqs`` (so an unrelated SAM
    project above the working directory is not picked up); the checkout the package is installed
    from (``layers/openlqs/openlqs/../../..``).
    """
    override = os.environ.get(PROJECT_DIR_ENV)
    if override:
        root = Path(override).expanduser().resolve()
        if not (root / TEMPLATE_FILE).is_file():
            raise FileNotFoundError(f"${PROJECT_DIR_ENV}={override} holds no {TEMPLATE_FILE}")
        return root
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / TEMPLATE_FILE).is_file() and (folder / "layers" / "openlqs").is_dir():
            return folder
    package_root = Path(__file__).resolve().parents[4]
    if (package_root / TEMPLATE_FILE).is_file():
        return package_root
    raise FileNotFoundError(
        f"cannot find openlqs's {TEMPLATE_FILE} above {here} or at {package_root}; "
        f"set ${PROJECT_DIR_ENV} to the project folder"
    )


def resources_of_type(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one type, by logical id (every other type is ignored)."""
    resources = template.get("Resources") or {}
    return {
        logical_id: resource
        for logical_id, resource in resources.items()
        if isinstance(resource, dict) and resource.get("Type") == resource_type
    }


def integer_value(value: Any, lookup: Mapping[str, str], default: int) -> int:
    """A whole number of the template (literal or ``!Ref`` of a parameter), else ``default``."""
    if value is None or isinstance(value, bool):
        return default
    resolved = resolve_value(value, lookup)
    try:
        return int(resolved) if resolved is not None else default
    except ValueError:
        return default


def get_att_target(value: Any, attribute: str) -> str | None:
    """``X`` for ``!GetAtt X.<attribute>`` (either spelling), else None."""
    if not isinstance(value, dict) or set(value) != {"Fn::GetAtt"}:
        return None
    argument = value["Fn::GetAtt"]
    parts = argument.split(".", 1) if isinstance(argument, str) else argument
    if isinstance(parts, list) and len(parts) == 2 and parts[1] == attribute and isinstance(parts[0], str):
        return parts[0]
    return None


def table_arn(name: str) -> str:
    """The ARN of a local DynamoDB table."""
    return f"arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:table/{name}"


def bucket_arn(name: str) -> str:
    """The ARN of a local S3 bucket."""
    return f"arn:aws:s3:::{name}"


def kms_key_arn(key_id: str) -> str:
    """The ARN of a local KMS key."""
    return f"arn:aws:kms:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:key/{key_id}"


def queue_arn(name: str) -> str:
    """The ARN of a local SQS queue."""
    return f"arn:aws:sqs:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{name}"


def state_machine_arn(name: str) -> str:
    """The ARN of a local state machine."""
    return f"arn:aws:states:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:stateMachine:{name}"


def resource_references(
    template: Template,
    *,
    names: Mapping[str, str] | None = None,
    key_ids: Mapping[str, str] | None = None,
    function_arns: Mapping[str, str] | None = None,
    state_machine_names: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What ``!Ref X`` and ``!GetAtt X.Attr`` of local resources are, as one lookup.

    Keys are ``X`` for ``!Ref X`` and ``X.Attr`` for ``!GetAtt X.Attr`` (the spelling ``!Sub`` uses):
    a table's or bucket's name and ``.Arn``; a KMS key's id, ``.KeyId`` and ``.Arn``; a function's
    name and ``.Arn``; a state machine's ARN (its ``!Ref``), ``.Name`` and ``.Arn``.
    """
    references: dict[str, str] = {}
    resources = template.get("Resources") or {}
    for logical_id, name in (names or {}).items():
        references[logical_id] = name
        resource_type = (resources.get(logical_id) or {}).get("Type")
        if resource_type == TABLE_TYPE:
            references[f"{logical_id}.Arn"] = table_arn(name)
        elif resource_type == BUCKET_TYPE:
            references[f"{logical_id}.Arn"] = bucket_arn(name)
    for logical_id, key_id in (key_ids or {}).items():
        references.update(
            {logical_id: key_id, f"{logical_id}.KeyId": key_id, f"{logical_id}.Arn": kms_key_arn(key_id)}
        )
    for logical_id, arn in (function_arns or {}).items():
        references.update({logical_id: arn.rsplit(":", 1)[-1], f"{logical_id}.Arn": arn})
    for logical_id, name in (state_machine_names or {}).items():
        arn = state_machine_arn(name)
        references.update({logical_id: arn, f"{logical_id}.Name": name, f"{logical_id}.Arn": arn})
    return references


def template_lookup(template: Template, refs: Mapping[str, str]) -> dict[str, str]:
    """``refs`` with the pseudo parameters and the template's parameter defaults under them."""
    lookup = {
        "AWS::Region": LOCAL_REGION,
        "AWS::AccountId": LOCAL_ACCOUNT_ID,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": "openlqs-local",
    }
    for name, parameter in (template.get("Parameters") or {}).items():
        if isinstance(parameter, dict) and "Default" in parameter:
            lookup[name] = _scalar_text(parameter["Default"])
    lookup.update(refs)
    return lookup


_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


def resolve_value(value: Any, lookup: Mapping[str, str]) -> str | None:
    """A template value as text, or None when it needs something ``lookup`` does not have.

    Scalars are kept (booleans as ``true``/``false``); ``Ref``, ``Fn::GetAtt``, ``Fn::Sub`` (both
    forms) and ``Fn::Join`` are resolved; any other intrinsic is not resolvable locally.
    """
    if isinstance(value, str | int | float | bool):
        return _scalar_text(value)
    if not (isinstance(value, dict) and len(value) == 1):
        return None
    ((intrinsic, argument),) = value.items()
    if intrinsic == "Ref" and isinstance(argument, str):
        return lookup.get(argument)
    if intrinsic == "Fn::GetAtt":
        parts = argument.split(".", 1) if isinstance(argument, str) else argument
        if isinstance(parts, list) and len(parts) == 2 and all(isinstance(part, str) for part in parts):
            return lookup.get(f"{parts[0]}.{parts[1]}")
        return None
    if intrinsic == "Fn::Sub":
        return _resolve_sub(argument, lookup)
    if intrinsic == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
        delimiter, items = argument
        if isinstance(delimiter, str) and isinstance(items, list):
            resolved = [resolve_value(item, lookup) for item in items]
            if all(item is not None for item in resolved):
                return delimiter.join(item for item in resolved if item is not None)
    return None


def _resolve_sub(argument: Any, lookup: Mapping[str, str]) -> str | None:
    if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
        text, variables = argument
        local = dict(lookup)
        for name, variable in variables.items():
            resolved = resolve_value(variable, lookup)
            if resolved is None:
                return None
            local[name] = resolved
        return _resolve_sub(text, local)
    if not isinstance(argument, str):
        return None
    names = _SUB_VARIABLE.findall(argument)
    if not all(name in lookup for name in names):
        return None
    return _SUB_VARIABLE.sub(lambda match: lookup[match.group(1)], argument)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def snake_case(camel: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", camel).lower()
