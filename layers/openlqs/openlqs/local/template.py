"""Read ``template.yaml`` and build local resources from its own definitions.

The local stack and the integration tests create DynamoDB tables and the S3 bucket from the very
resource definitions SAM deploys, so a key or index added to the template is there locally at once.
The template is CloudFormation YAML with short-form intrinsics (``!Ref``, ``!Sub``, ``!GetAtt``...);
:class:`TemplateLoader` turns every ``!Tag`` into its long form instead of failing on it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
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
#: The function that serves the REST API, and where its code lives when the template has none yet.
API_FUNCTION_ID = "ApiFunction"
DEFAULT_API_CODE_URI = "functions/api"
DEFAULT_HANDLER = "app.lambda_handler"
#: SAM's defaults for a function that sets neither MemorySize nor Timeout.
DEFAULT_MEMORY_MB = 128
DEFAULT_TIMEOUT_S = 3
#: Event types that make a function serve HTTP requests: such a function runs one invocation at a time
#: locally (see :mod:`openlqs.local.functions`).
API_EVENT_TYPES = ("Api", "HttpApi")
#: How many invocations of any other function may run at once locally, unless the function sets
#: ``ReservedConcurrentExecutions`` (a Map state fans out to one function this many times at most).
DEFAULT_LOCAL_CONCURRENCY = 16
#: Lambda's defaults for a DynamoDB stream event source.
DEFAULT_STREAM_BATCH_SIZE = 100
#: Pseudo parameters as moto answers them.
LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "123456789012"

Template = dict[str, Any]

# Arguments of DynamoDB CreateTable that a CloudFormation table's Properties spell the same way.
# PointInTimeRecoverySpecification, SSESpecification, TimeToLiveSpecification and the like are not
# CreateTable arguments and are left out; DeletionProtectionEnabled would only get in the way locally.
_TABLE_PROPERTIES = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "TableClass",
)
_GSI_PROPERTIES = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
_LSI_PROPERTIES = ("IndexName", "KeySchema", "Projection")


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


def local_resource_names(template: Template, prefix: str = "openlqs") -> dict[str, str]:
    """Physical names for every table and bucket, by logical id.

    A literal ``TableName``/``BucketName`` is kept; otherwise the name is ``{prefix}-`` plus the
    logical id in kebab case without its ``Table``/``Bucket`` suffix (``RecordsTable`` →
    ``openlqs-records``), which is also the default of the matching setting.
    """
    names: dict[str, str] = {}
    for resource_type, name_property, suffix in (
        (TABLE_TYPE, "TableName", "Table"),
        (BUCKET_TYPE, "BucketName", "Bucket"),
    ):
        for logical_id, resource in resources_of_type(template, resource_type).items():
            literal = (resource.get("Properties") or {}).get(name_property)
            if isinstance(literal, str):
                names[logical_id] = literal
                continue
            stem = logical_id.removesuffix(suffix) or logical_id
            names[logical_id] = f"{prefix}-{_snake_case(stem).replace('_', '-')}"
    return names


def settings_environment(names: Mapping[str, str]) -> dict[str, str]:
    """Environment variables naming each resource, as the settings read them.

    ``ResourcesTable`` → ``RESOURCES_TABLE_NAME``, ``ObjectsBucket`` → ``OBJECTS_BUCKET_NAME``: the
    settings field of a resource is its logical id in snake case plus ``_name``.
    """
    return {f"{_snake_case(logical_id).upper()}_NAME": name for logical_id, name in names.items()}


def create_tables(
    dynamodb_client: Any,
    template: Template,
    names: Mapping[str, str],
    *,
    streams: bool = True,
) -> list[str]:
    """Create every ``AWS::DynamoDB::Table`` of the template, from its own Properties.

    Keys, attribute definitions, GSIs/LSIs, billing mode and the stream specification are passed to
    ``CreateTable`` as the template spells them. With ``streams=False`` streams are left off so that
    restoring a snapshot does not replay every item as a stream record; turn them on afterwards with
    :func:`enable_streams`. Returns the names of the created tables.
    """
    created = []
    for logical_id, resource in resources_of_type(template, TABLE_TYPE).items():
        request = _create_table_request(resource.get("Properties") or {}, names[logical_id], streams)
        dynamodb_client.create_table(**request)
        created.append(names[logical_id])
    return created


def enable_streams(dynamodb_client: Any, template: Template, names: Mapping[str, str]) -> None:
    """Turn on the streams the template declares, on tables created with ``streams=False``."""
    for logical_id, resource in resources_of_type(template, TABLE_TYPE).items():
        stream = (resource.get("Properties") or {}).get("StreamSpecification")
        if stream:
            dynamodb_client.update_table(
                TableName=names[logical_id], StreamSpecification=_stream_specification(stream)
            )


def create_bucket(s3_client: Any, name: str) -> None:
    """Create the objects bucket (us-east-1, so no location constraint)."""
    s3_client.create_bucket(Bucket=name)


def create_buckets(s3_client: Any, template: Template, names: Mapping[str, str]) -> list[str]:
    """Create every ``AWS::S3::Bucket`` of the template; returns their names."""
    created = []
    for logical_id in resources_of_type(template, BUCKET_TYPE):
        create_bucket(s3_client, names[logical_id])
        created.append(names[logical_id])
    return created


def _create_table_request(properties: Mapping[str, Any], name: str, streams: bool) -> dict[str, Any]:
    request: dict[str, Any] = {"TableName": name}
    request.update({key: properties[key] for key in _TABLE_PROPERTIES if key in properties})
    for key, allowed in (
        ("GlobalSecondaryIndexes", _GSI_PROPERTIES),
        ("LocalSecondaryIndexes", _LSI_PROPERTIES),
    ):
        if properties.get(key):
            request[key] = [{k: index[k] for k in allowed if k in index} for index in properties[key]]
    if streams and properties.get("StreamSpecification"):
        request["StreamSpecification"] = _stream_specification(properties["StreamSpecification"])
    return request


def _stream_specification(template_value: Mapping[str, Any]) -> dict[str, Any]:
    # CloudFormation implies StreamEnabled; the CreateTable API needs it spelled out.
    return {"StreamEnabled": True, "StreamViewType": template_value["StreamViewType"]}


@dataclass(frozen=True)
class FunctionSpec:
    """Where a Lambda function's handler lives and how it is configured, from the template."""

    logical_id: str
    code_path: Path
    handler_name: str
    memory_mb: int = DEFAULT_MEMORY_MB
    timeout_s: int = DEFAULT_TIMEOUT_S
    environment: dict[str, Any] = field(default_factory=dict)
    #: How many invocations may run at once in this process (1: one Lambda execution environment).
    max_concurrency: int = 1


def function_specs(template: Template, project_root: Path) -> dict[str, FunctionSpec]:
    """Every ``AWS::Serverless::Function`` with its code file and handler, by logical id.

    ``Handler: app.lambda_handler`` with ``CodeUri: functions/api/`` is ``functions/api/app.py`` and its
    ``lambda_handler``; ``Globals.Function`` fills in what a function leaves out. ``ApiFunction`` falls
    back to ``functions/api/app.py`` while the template does not declare it.

    A function with an ``Api``/``HttpApi`` event (and ``ApiFunction``) runs one invocation at a time;
    any other may run ``ReservedConcurrentExecutions`` (default :data:`DEFAULT_LOCAL_CONCURRENCY`) at once.
    ``MemorySize``, ``Timeout`` and ``ReservedConcurrentExecutions`` may ``!Ref`` a parameter (its
    default is used).
    """
    defaults = (template.get("Globals") or {}).get("Function") or {}
    parameters = template_lookup(template, {})
    specs: dict[str, FunctionSpec] = {}
    for logical_id, resource in resources_of_type(template, FUNCTION_TYPE).items():
        properties = {**defaults, **(resource.get("Properties") or {})}
        code_uri = properties.get("CodeUri")
        handler = properties.get("Handler")
        if not isinstance(code_uri, str) or not isinstance(handler, str):
            continue  # inline code, images and S3 locations do not run in-process
        environment = {
            **((defaults.get("Environment") or {}).get("Variables") or {}),
            **(((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}),
        }
        specs[logical_id] = _function_spec(
            logical_id,
            project_root / code_uri,
            handler,
            memory_mb=_integer(properties.get("MemorySize"), parameters, DEFAULT_MEMORY_MB),
            timeout_s=_integer(properties.get("Timeout"), parameters, DEFAULT_TIMEOUT_S),
            environment=environment,
            max_concurrency=_local_concurrency(logical_id, properties, parameters),
        )
    if API_FUNCTION_ID not in specs:
        specs[API_FUNCTION_ID] = _function_spec(
            API_FUNCTION_ID, project_root / DEFAULT_API_CODE_URI, DEFAULT_HANDLER, timeout_s=30
        )
    return specs


def _function_spec(
    logical_id: str,
    code_dir: Path,
    handler: str,
    *,
    memory_mb: Any = DEFAULT_MEMORY_MB,
    timeout_s: Any = DEFAULT_TIMEOUT_S,
    environment: dict[str, Any] | None = None,
    max_concurrency: int = 1,
) -> FunctionSpec:
    module, _, handler_name = handler.rpartition(".")
    return FunctionSpec(
        logical_id=logical_id,
        code_path=code_dir.joinpath(*module.split(".")).with_suffix(".py"),
        handler_name=handler_name,
        memory_mb=memory_mb if isinstance(memory_mb, int) else DEFAULT_MEMORY_MB,
        timeout_s=timeout_s if isinstance(timeout_s, int) else DEFAULT_TIMEOUT_S,
        environment=environment or {},
        max_concurrency=max_concurrency,
    )


def _local_concurrency(logical_id: str, properties: Mapping[str, Any], parameters: Mapping[str, str]) -> int:
    events = properties.get("Events") or {}
    serves_api = logical_id == API_FUNCTION_ID or any(
        isinstance(event, dict) and event.get("Type") in API_EVENT_TYPES for event in events.values()
    )
    if serves_api:
        return 1
    reserved = _integer(properties.get("ReservedConcurrentExecutions"), parameters, 0)
    return reserved if reserved > 0 else DEFAULT_LOCAL_CONCURRENCY


def _integer(value: Any, lookup: Mapping[str, str], default: int) -> int:
    """A whole number of the template (literal or ``!Ref`` of a parameter), else ``default``."""
    if value is None or isinstance(value, bool):
        return default
    resolved = resolve_value(value, lookup)
    try:
        return int(resolved) if resolved is not None else default
    except ValueError:
        return default


@dataclass(frozen=True)
class S3EventSubscription:
    """A function's SAM ``Type: S3`` event: the bucket whose notifications invoke it, and for what.

    ``filter_rules`` are the ``Filter.S3Key.Rules`` as (name, value) pairs, e.g. ``("prefix", "drop/")``.
    """

    function_id: str
    event_id: str
    bucket_id: str
    events: tuple[str, ...]
    filter_rules: tuple[tuple[str, str], ...] = ()

    def notification_filter(self) -> dict[str, Any]:
        """The ``Filter`` of an S3 ``PutBucketNotificationConfiguration`` entry (empty: every key)."""
        if not self.filter_rules:
            return {}
        return {"Key": {"FilterRules": [{"Name": name, "Value": value} for name, value in self.filter_rules]}}


def s3_event_subscriptions(template: Template) -> list[S3EventSubscription]:
    """Every S3 event of every ``AWS::Serverless::Function`` on a bucket of the template.

    SAM turns these into the bucket's ``NotificationConfiguration``; the local stack, whose moto cannot
    invoke in-process functions, routes the same notifications through a queue instead.
    """
    subscriptions = []
    for function_id, resource in resources_of_type(template, FUNCTION_TYPE).items():
        events = (resource.get("Properties") or {}).get("Events") or {}
        for event_id, event in events.items():
            if not isinstance(event, dict) or event.get("Type") != "S3":
                continue
            properties = event.get("Properties") or {}
            bucket = properties.get("Bucket")
            if not (isinstance(bucket, dict) and isinstance(bucket.get("Ref"), str)):
                continue  # SAM requires a bucket of the same template
            names = properties.get("Events")
            rules = ((properties.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
            subscriptions.append(
                S3EventSubscription(
                    function_id=function_id,
                    event_id=event_id,
                    bucket_id=bucket["Ref"],
                    events=(names,) if isinstance(names, str) else tuple(names or ()),
                    filter_rules=tuple((str(rule["Name"]), str(rule["Value"])) for rule in rules),
                )
            )
    return subscriptions


@dataclass(frozen=True)
class DynamoDBEventSubscription:
    """A function's SAM ``Type: DynamoDB`` event on the stream of a table of the template.

    ``filter_patterns`` are the ``FilterCriteria.Filters[].Pattern`` texts (JSON); a record is delivered
    when it matches any of them, or always when there are none. ``maximum_retry_attempts`` is None when
    the template leaves Lambda's default (retry until the record expires).
    """

    function_id: str
    event_id: str
    table_id: str
    starting_position: str = "LATEST"
    batch_size: int = DEFAULT_STREAM_BATCH_SIZE
    maximum_retry_attempts: int | None = None
    filter_patterns: tuple[str, ...] = ()
    enabled: bool = True


def dynamodb_event_subscriptions(template: Template) -> list[DynamoDBEventSubscription]:
    """Every DynamoDB stream event of every ``AWS::Serverless::Function`` on a table of the template.

    ``Stream: !GetAtt Table.StreamArn`` names the table; streams of other stacks are skipped. A
    ``Pattern`` may be the JSON text SAM expects or, with the language extensions, a mapping.
    """
    subscriptions = []
    for function_id, resource in resources_of_type(template, FUNCTION_TYPE).items():
        events = (resource.get("Properties") or {}).get("Events") or {}
        for event_id, event in events.items():
            if not isinstance(event, dict) or event.get("Type") != "DynamoDB":
                continue
            properties = event.get("Properties") or {}
            table_id = _get_att_target(properties.get("Stream"), "StreamArn")
            if table_id is None:
                continue
            filters = (properties.get("FilterCriteria") or {}).get("Filters") or []
            retries = properties.get("MaximumRetryAttempts")
            subscriptions.append(
                DynamoDBEventSubscription(
                    function_id=function_id,
                    event_id=event_id,
                    table_id=table_id,
                    starting_position=str(properties.get("StartingPosition", "LATEST")),
                    batch_size=int(properties.get("BatchSize", DEFAULT_STREAM_BATCH_SIZE)),
                    maximum_retry_attempts=None if retries is None else int(retries),
                    filter_patterns=tuple(_pattern_text(entry.get("Pattern")) for entry in filters),
                    enabled=properties.get("Enabled", True) is not False,
                )
            )
    return subscriptions


def _get_att_target(value: Any, attribute: str) -> str | None:
    """``X`` for ``!GetAtt X.<attribute>`` (either spelling), else None."""
    if not isinstance(value, dict) or set(value) != {"Fn::GetAtt"}:
        return None
    argument = value["Fn::GetAtt"]
    parts = argument.split(".", 1) if isinstance(argument, str) else argument
    if isinstance(parts, list) and len(parts) == 2 and parts[1] == attribute and isinstance(parts[0], str):
        return parts[0]
    return None


def _pattern_text(pattern: Any) -> str:
    if isinstance(pattern, str):
        return pattern
    if isinstance(pattern, dict) and set(pattern) == {"Fn::ToJsonString"}:
        pattern = pattern["Fn::ToJsonString"]
    if isinstance(pattern, dict):
        return json.dumps(pattern)
    raise ValueError(f"unsupported FilterCriteria pattern {pattern!r}: expected JSON text")


# ARNs of local resources, as moto answers them.


def table_arn(name: str) -> str:
    """The ARN of a local DynamoDB table."""
    return f"arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:table/{name}"


def bucket_arn(name: str) -> str:
    """The ARN of a local S3 bucket."""
    return f"arn:aws:s3:::{name}"


def kms_key_arn(key_id: str) -> str:
    """The ARN of a local KMS key."""
    return f"arn:aws:kms:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:key/{key_id}"


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


def function_environment(template: Template, refs: Mapping[str, str]) -> dict[str, str]:
    """The environment variables the template gives its functions, resolved for local mode.

    Literal values are kept; ``!Ref``, ``!GetAtt``, ``!Sub`` and ``!Join`` are resolved against
    ``refs`` (see :func:`resource_references`), the template's parameter defaults and the pseudo
    parameters. A variable that cannot be resolved locally (for example a resource the local stack does
    not create) is left out. Local mode runs every function in one process, so the variables of all
    functions are merged.
    """
    lookup = template_lookup(template, refs)
    globals_variables = ((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}
    declared = [globals_variables.get("Variables") or {}]
    declared.extend(spec.environment for spec in function_specs(template, Path()).values())
    environment: dict[str, str] = {}
    for variables in declared:
        for variable, value in variables.items():
            resolved = resolve_value(value, lookup)
            if resolved is not None:
                environment[variable] = resolved
    return environment


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


def _snake_case(camel: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", camel).lower()


# The REST API's authorizer, public routes and gateway responses, for the local API Gateway.

SERVERLESS_API_TYPE = "AWS::Serverless::Api"
#: API Gateway's answers when a template sets none (the gateway's own defaults).
DEFAULT_GATEWAY_RESPONSES = {
    "UNAUTHORIZED": (401, '{"message":"Unauthorized"}'),
    "ACCESS_DENIED": (403, '{"message":"User is not authorized to access this resource"}'),
    "DEFAULT_5XX": (500, '{"message":"Internal server error"}'),
}


@dataclass(frozen=True)
class ApiAuthSpec:
    """How API Gateway guards the API: one REQUEST authorizer by default, public routes, responses."""

    #: Logical id of the authorizer's function; None: the API has no default authorizer.
    authorizer_function_id: str | None = None
    #: The request header the authorizer is identified (and its answer cached) by.
    identity_header: str = "Authorization"
    cache_ttl_s: int = 300
    #: (method, path pattern) of the routes declared with ``Auth: {Authorizer: NONE}``.
    public_routes: tuple[tuple[str, re.Pattern[str]], ...] = ()
    responses: Mapping[str, tuple[int, str]] = field(default_factory=lambda: dict(DEFAULT_GATEWAY_RESPONSES))

    def is_public(self, method: str, path: str) -> bool:
        return any(
            allowed in ("ANY", method.upper()) and pattern.fullmatch(path)
            for allowed, pattern in self.public_routes
        )

    def response(self, response_type: str) -> tuple[int, str]:
        return self.responses.get(response_type) or DEFAULT_GATEWAY_RESPONSES[response_type]


def api_auth_spec(template: Template, function_id: str = API_FUNCTION_ID) -> ApiAuthSpec:
    """Read the API's ``Auth`` (default authorizer), ``GatewayResponses`` and public events."""
    parameters = template_lookup(template, {})
    function = (template.get("Resources") or {}).get(function_id) or {}
    events = (function.get("Properties") or {}).get("Events") or {}
    api_ids = {
        (event.get("Properties") or {}).get("RestApiId", {}).get("Ref")
        for event in events.values()
        if isinstance(event, dict) and event.get("Type") == "Api"
    }
    apis = resources_of_type(template, SERVERLESS_API_TYPE)
    api = next((apis[api_id] for api_id in api_ids if api_id in apis), None)
    properties = (api or {}).get("Properties") or {}
    auth = properties.get("Auth") or {}
    authorizer = (auth.get("Authorizers") or {}).get(auth.get("DefaultAuthorizer") or "") or {}
    identity = authorizer.get("Identity") or {}
    headers = identity.get("Headers") or ["Authorization"]
    responses = dict(DEFAULT_GATEWAY_RESPONSES)
    for response_type, response in (properties.get("GatewayResponses") or {}).items():
        body = ((response or {}).get("ResponseTemplates") or {}).get("application/json")
        default_status = DEFAULT_GATEWAY_RESPONSES.get(response_type, (500, ""))[0]
        status = _integer(response.get("StatusCode"), parameters, default_status)
        if body is not None:
            responses[response_type] = (status, str(body))
    public: list[tuple[str, re.Pattern[str]]] = []
    for event in events.values():
        event_properties = (event or {}).get("Properties") or {}
        if ((event_properties.get("Auth") or {}).get("Authorizer")) == "NONE":
            method = str(event_properties.get("Method", "ANY")).upper()
            public.append((method, _path_pattern(str(event_properties.get("Path", "/")))))
    return ApiAuthSpec(
        authorizer_function_id=_get_att_target(authorizer.get("FunctionArn"), "Arn"),
        identity_header=str(headers[0]),
        cache_ttl_s=_integer(identity.get("ReauthorizeEvery"), parameters, 300),
        public_routes=tuple(public),
        responses=responses,
    )


def _path_pattern(path: str) -> re.Pattern[str]:
    """An API Gateway resource path as a regular expression: ``{id}`` one segment, ``{proxy+}`` the rest."""
    parts = re.split(r"(\{[^}]+\})", path)
    pattern = "".join(
        (".+" if part.endswith("+}") else "[^/]+") if part.startswith("{") else re.escape(part)
        for part in parts
    )
    return re.compile(pattern)
