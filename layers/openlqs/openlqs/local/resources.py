"""The local resources built from ``template.yaml``'s own definitions: tables, buckets, functions, events.

The local stack and the integration tests create DynamoDB tables and the S3 bucket from the very
resource definitions SAM deploys, so a key or index added to the template is there locally at once;
functions, their environment and their event sources (S3 notifications, DynamoDB streams) are read the
same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openlqs.local.cloudformation import (
    BUCKET_TYPE,
    FUNCTION_TYPE,
    QUEUE_TYPE,
    TABLE_TYPE,
    Template,
    get_att_target,
    integer_value,
    queue_arn,
    resolve_value,
    resources_of_type,
    snake_case,
    template_lookup,
)

#: The function that serves the REST API, and where its code lives when the template has none yet.
API_FUNCTION_ID = "ApiFunction"


DEFAULT_API_CODE_URI = "functions/api"


DEFAULT_HANDLER = "app.lambda_handler"


#: SAM's defaults for a function that sets neither MemorySize nor Timeout.
DEFAULT_MEMORY_MB = 128


DEFAULT_TIMEOUT_S = 3


#: locally (see :mod:`openlqs.local.functions`).


#: How many invocations of any other function may run at once locally, unless the function sets
#: ``ReservedConcurrentExecutions`` (a Map state fans out to one function this many times at most).
DEFAULT_LOCAL_CONCURRENCY = 16


#: Lambda's defaults for a DynamoDB stream event source.
DEFAULT_STREAM_BATCH_SIZE = 100


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
            names[logical_id] = f"{prefix}-{snake_case(stem).replace('_', '-')}"
    return names


def settings_environment(names: Mapping[str, str]) -> dict[str, str]:
    """Environment variables naming each resource, as the settings read them.

    ``ResourcesTable`` → ``RESOURCES_TABLE_NAME``, ``ObjectsBucket`` → ``OBJECTS_BUCKET_NAME``: the
    settings field of a resource is its logical id in snake case plus ``_name``.
    """
    return {f"{snake_case(logical_id).upper()}_NAME": name for logical_id, name in names.items()}


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

    A function may run ``ReservedConcurrentExecutions`` (default :data:`DEFAULT_LOCAL_CONCURRENCY`)
    invocations at once, the API's too (its resolver is per thread: ``openlqs.api.app.get_app``).
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
            memory_mb=integer_value(properties.get("MemorySize"), parameters, DEFAULT_MEMORY_MB),
            timeout_s=integer_value(properties.get("Timeout"), parameters, DEFAULT_TIMEOUT_S),
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
    reserved = integer_value(properties.get("ReservedConcurrentExecutions"), parameters, 0)
    return reserved if reserved > 0 else DEFAULT_LOCAL_CONCURRENCY


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
    #: ``BisectBatchOnFunctionError``: a failed batch is split in halves, each retried on its own.
    bisect: bool = False
    #: The queue (logical id) of ``DestinationConfig.OnFailure``: where given-up batches are described.
    on_failure_queue_id: str | None = None


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
            table_id = get_att_target(properties.get("Stream"), "StreamArn")
            if table_id is None:
                continue
            filters = (properties.get("FilterCriteria") or {}).get("Filters") or []
            retries = properties.get("MaximumRetryAttempts")
            on_failure = ((properties.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
                "Destination"
            )
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
                    bisect=properties.get("BisectBatchOnFunctionError") is True,
                    on_failure_queue_id=get_att_target(on_failure, "Arn"),
                )
            )
    return subscriptions


@dataclass(frozen=True)
class ScheduleSubscription:
    """A function's SAM ``Type: Schedule`` event with a ``rate(...)`` expression."""

    function_id: str
    event_id: str
    period_s: float
    rule_name: str


_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}


def schedule_subscriptions(template: Template) -> list[ScheduleSubscription]:
    """Every ``rate(...)`` schedule of every function (a ``cron(...)`` one is not run locally)."""
    found = []
    for function_id, resource in resources_of_type(template, FUNCTION_TYPE).items():
        events = (resource.get("Properties") or {}).get("Events") or {}
        for event_id, event in events.items():
            if not isinstance(event, dict) or event.get("Type") != "Schedule":
                continue
            properties = event.get("Properties") or {}
            match = _RATE.match(str(properties.get("Schedule", "")).strip())
            if match is None or properties.get("Enabled", True) is False:
                continue
            period = int(match.group(1)) * _UNIT_S[match.group(2).rstrip("s")]
            found.append(
                ScheduleSubscription(function_id, event_id, float(period), f"{function_id}{event_id}")
            )
    return found


def queue_names(template: Template, prefix: str = "openlqs") -> dict[str, str]:
    """Physical names of the template's SQS queues, by logical id (``IngestionTriggerDeadLetterQueue`` →
    ``openlqs-ingestion-trigger-dead-letter-queue``)."""
    return {
        logical_id: f"{prefix}-{snake_case(logical_id).replace('_', '-')}"
        for logical_id in resources_of_type(template, QUEUE_TYPE)
    }


def _pattern_text(pattern: Any) -> str:
    if isinstance(pattern, str):
        return pattern
    if isinstance(pattern, dict) and set(pattern) == {"Fn::ToJsonString"}:
        pattern = pattern["Fn::ToJsonString"]
    if isinstance(pattern, dict):
        return json.dumps(pattern)
    raise ValueError(f"unsupported FilterCriteria pattern {pattern!r}: expected JSON text")


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


#: Queue properties of a CloudFormation queue that are SQS attributes of the same name.
_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
)


def create_queues(sqs_client: Any, template: Template, prefix: str = "openlqs") -> dict[str, str]:
    """Create every ``AWS::SQS::Queue`` of the template with its attributes; returns their URLs by
    logical id.

    ``VisibilityTimeout``, ``MessageRetentionPeriod``, ``DelaySeconds`` and
    ``ReceiveMessageWaitTimeSeconds`` are passed as the template sets them (a ``!Ref`` of a parameter
    too), and a ``RedrivePolicy`` naming another queue of the template (``!GetAtt Q.Arn``) is set once
    every queue exists, so that moto moves a message received ``maxReceiveCount`` times to it.
    """
    names = queue_names(template, prefix)
    queues = resources_of_type(template, QUEUE_TYPE)
    parameters = template_lookup(template, {})
    urls: dict[str, str] = {}
    for logical_id, name in names.items():
        properties = queues[logical_id].get("Properties") or {}
        attributes = {
            key: str(resolved)
            for key in _QUEUE_ATTRIBUTES
            if key in properties and (resolved := resolve_value(properties[key], parameters)) is not None
        }
        urls[logical_id] = str(sqs_client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
    for logical_id, url in urls.items():
        redrive = (queues[logical_id].get("Properties") or {}).get("RedrivePolicy")
        if not isinstance(redrive, dict):
            continue
        target = get_att_target(redrive.get("deadLetterTargetArn"), "Arn")
        if target not in names:
            continue  # a queue of another stack: not here
        policy = {
            "deadLetterTargetArn": queue_arn(names[target]),
            "maxReceiveCount": integer_value(redrive.get("maxReceiveCount"), parameters, 10),
        }
        sqs_client.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(policy)})
    return urls


#: How many invocations poll an SQS event source at once without a ``ScalingConfig`` (Lambda starts
#: five pollers for a queue).
DEFAULT_QUEUE_CONCURRENCY = 5


@dataclass(frozen=True)
class SqsEventSubscription:
    """A function's SAM ``Type: SQS`` event on a queue of the template."""

    function_id: str
    event_id: str
    queue_id: str
    batch_size: int = 10
    #: ``FunctionResponseTypes: [ReportBatchItemFailures]``: the function names the messages that failed.
    report_batch_item_failures: bool = False
    #: ``ScalingConfig.MaximumConcurrency``: invocations at once.
    maximum_concurrency: int = DEFAULT_QUEUE_CONCURRENCY
    enabled: bool = True


def sqs_event_subscriptions(template: Template) -> list[SqsEventSubscription]:
    """Every SQS event (``Queue: !GetAtt Q.Arn``) of every ``AWS::Serverless::Function``."""
    parameters = template_lookup(template, {})
    subscriptions = []
    for function_id, resource in resources_of_type(template, FUNCTION_TYPE).items():
        events = (resource.get("Properties") or {}).get("Events") or {}
        for event_id, event in events.items():
            if not isinstance(event, dict) or event.get("Type") != "SQS":
                continue
            properties = event.get("Properties") or {}
            queue_id = get_att_target(properties.get("Queue"), "Arn")
            if queue_id is None:
                continue
            scaling = properties.get("ScalingConfig") or {}
            subscriptions.append(
                SqsEventSubscription(
                    function_id=function_id,
                    event_id=event_id,
                    queue_id=queue_id,
                    batch_size=integer_value(properties.get("BatchSize"), parameters, 10),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (properties.get("FunctionResponseTypes") or []),
                    maximum_concurrency=integer_value(
                        scaling.get("MaximumConcurrency"), parameters, DEFAULT_QUEUE_CONCURRENCY
                    ),
                    enabled=properties.get("Enabled", True) is not False,
                )
            )
    return subscriptions
