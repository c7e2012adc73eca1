"""Read ``template.yaml`` and build local resources from its own definitions.

The local stack and the integration tests create DynamoDB tables and the S3 bucket from the very
resource definitions SAM deploys, so a key or index added to the template is there locally at once.
The template is CloudFormation YAML with short-form intrinsics (``!Ref``, ``!Sub``, ``!GetAtt``...);
:class:`TemplateLoader` turns every ``!Tag`` into its long form instead of failing on it.
"""

from __future__ import annotations

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
KMS_KEY_TYPE = "AWS::KMS::Key"
#: The function that serves the REST API, and where its code lives when the template has none yet.
API_FUNCTION_ID = "ApiFunction"
DEFAULT_API_CODE_URI = "functions/api"
DEFAULT_HANDLER = "app.lambda_handler"
#: SAM's defaults for a function that sets neither MemorySize nor Timeout.
DEFAULT_MEMORY_MB = 128
DEFAULT_TIMEOUT_S = 3
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


def function_specs(template: Template, project_root: Path) -> dict[str, FunctionSpec]:
    """Every ``AWS::Serverless::Function`` with its code file and handler, by logical id.

    ``Handler: app.lambda_handler`` with ``CodeUri: functions/api/`` is ``functions/api/app.py`` and its
    ``lambda_handler``; ``Globals.Function`` fills in what a function leaves out. ``ApiFunction`` falls
    back to ``functions/api/app.py`` while the template does not declare it.
    """
    defaults = (template.get("Globals") or {}).get("Function") or {}
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
            memory_mb=properties.get("MemorySize", DEFAULT_MEMORY_MB),
            timeout_s=properties.get("Timeout", DEFAULT_TIMEOUT_S),
            environment=environment,
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
) -> FunctionSpec:
    module, _, handler_name = handler.rpartition(".")
    return FunctionSpec(
        logical_id=logical_id,
        code_path=code_dir.joinpath(*module.split(".")).with_suffix(".py"),
        handler_name=handler_name,
        memory_mb=memory_mb if isinstance(memory_mb, int) else DEFAULT_MEMORY_MB,
        timeout_s=timeout_s if isinstance(timeout_s, int) else DEFAULT_TIMEOUT_S,
        environment=environment or {},
    )


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


def function_environment(template: Template, refs: Mapping[str, str]) -> dict[str, str]:
    """The environment variables the template gives its functions, resolved for local mode.

    Literal values are kept; ``!Ref`` and ``!Sub`` are resolved against ``refs`` (logical id → value),
    the template's parameter defaults and the pseudo parameters. A variable that cannot be resolved
    locally (for example a resource the local stack does not create) is left out. Local mode runs every
    function in one process, so the variables of all functions are merged.
    """
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
    globals_variables = ((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}
    declared = [globals_variables.get("Variables") or {}]
    declared.extend(spec.environment for spec in function_specs(template, Path()).values())
    environment: dict[str, str] = {}
    for variables in declared:
        for variable, value in variables.items():
            resolved = _resolve(value, lookup)
            if resolved is not None:
                environment[variable] = resolved
    return environment


def _resolve(value: Any, lookup: Mapping[str, str]) -> str | None:
    if isinstance(value, str | int | float | bool):
        return _scalar_text(value)
    if isinstance(value, dict) and len(value) == 1:
        (intrinsic, argument), *_ = value.items()
        if intrinsic == "Ref" and isinstance(argument, str):
            return lookup.get(argument)
        if intrinsic == "Fn::Sub" and isinstance(argument, str):
            names = re.findall(r"\$\{([^}!]+)\}", argument)
            if all(name in lookup for name in names):
                return re.sub(r"\$\{([^}!]+)\}", lambda match: lookup[match.group(1)], argument)
    return None


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _snake_case(camel: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", camel).lower()
