"""Security of the deployment, read from template.yaml as the local stack reads it.

Who may call the API (the authorizer, the public documentation, API Gateway's own error answers), how
ObjectsBucket is locked down, which settings are parameters, and exactly what each function may do.
"""

from __future__ import annotations

import json
import re
import sys
from fnmatch import fnmatchcase
from importlib.resources import files
from typing import Any
from uuid import uuid4

import pytest

from openlqs import errors
from openlqs.adapters import keys
from openlqs.domain.api_keys import INVALID_CREDENTIALS
from openlqs.domain.digestions import COMPLETED_DIGESTION_PARTS, completed_digestion_parts
from openlqs.domain.ingestions import COMPLETED_PARTS, completed_parts_counter
from openlqs.domain.object_keys import part_manifest_key
from openlqs.local.functions import InProcessFunction
from openlqs.local.resources import function_specs
from openlqs.settings import Settings
from tests.support.events import load_event
from tests.support.paths import DATASTORE_ID, PROJECT_DIR
from tests.support.policies import (
    DEPLOYED_BUCKET,
    PUBLIC_PATHS,
    REST_API_ID,
    SAM_POLICY_TEMPLATES,
    Request,
    as_list,
    attached_policies,
    denies,
    function_statements,
    grants,
    queue_arn,
    resolve,
    stack_references,
    table_arn,
)

SAM_POLICY_TEMPLATES_JSON = (
    (PROJECT_DIR / ".venv-sam" / "lib" / "python3.11" / "site-packages" / "samtranslator")
    / "policy_templates_data"
    / "policy_templates.json"
)

RESOURCES = table_arn("openlqs-ResourcesTable-1A2B3C")
RESOURCES_INDEXES = f"{RESOURCES}/index/*"
RECORDS = table_arn("openlqs-RecordsTable-4D5E6F")
BUCKET = f"arn:aws:s3:::{DEPLOYED_BUCKET}"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
#: The fake stack is named "openlqs"; the template names the state machine "{stack name}-ingestion".
STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:openlqs-ingestion"
CHILD_EXECUTIONS = "arn:aws:states:us-east-1:123456789012:execution:openlqs-ingestion/*"
EXECUTIONS = "arn:aws:states:us-east-1:123456789012:execution:openlqs-ingestion:*"
PART_MANIFESTS = f"{BUCKET}/ingestions/*"
QUERY_FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:openlqs-QueryFunction-1A2B3C4D5E6F"
HOOK_DELIVERY_QUEUE = queue_arn("openlqs-HookDeliveryQueue-1A2B3C")
DIGESTION_STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:DigestionStateMachine-Ef56Gh78"
DIGESTION_EXECUTIONS = "arn:aws:states:us-east-1:123456789012:execution:DigestionStateMachine-Ef56Gh78:*"
#: FlushStageAuthorizersCache of the API's own stage (the StageName parameter's default, v1).
AUTHORIZER_CACHE = f"arn:aws:apigateway:us-east-1::/restapis/{REST_API_ID}/stages/v1/cache/authorizers"

#: SAM's S3ReadPolicy grants these on the bucket and on every object alike.
S3_READ_POLICY = {
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:ListBucket",
    "s3:GetBucketLocation",
    "s3:GetLifecycleConfiguration",
}

#: Every function's permissions: {resource ARN: actions}. Each is what the function's code calls (see
#: the comments in template.yaml; test_template_permissions.py runs the code and checks the calls).
EXPECTED_PERMISSIONS: dict[str, dict[str, set[str]]] = {
    "ApiFunction": {
        RESOURCES: {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
            "dynamodb:BatchWriteItem",
        },
        RESOURCES_INDEXES: {"dynamodb:Query"},
        RECORDS: {"dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"},
        f"{RECORDS}/index/BlockStats": {"dynamodb:Query"},
        f"{BUCKET}/lqs/*": {
            "s3:GetObject",
            "s3:PutObject",
            "s3:DeleteObject",
            "s3:AbortMultipartUpload",
            "s3:ListMultipartUploadParts",
        },
        BUCKET: {"s3:ListBucket"},
        KEY: {"kms:Encrypt", "kms:Decrypt"},
        EXECUTIONS: {"states:StopExecution"},
        DIGESTION_EXECUTIONS: {"states:StopExecution"},
        AUTHORIZER_CACHE: {"apigateway:DELETE"},
        QUERY_FUNCTION: {"lambda:InvokeFunction"},
    },
    "AuthorizerFunction": {RESOURCES: {"dynamodb:GetItem"}},
    "QueryFunction": {
        RESOURCES: {"dynamodb:GetItem"},
        f"{RESOURCES}/index/ByParent": {"dynamodb:Query"},
        RECORDS: {"dynamodb:Query"},
    },
    # Public: it answers without a key, so it may call nothing at all.
    "ConsoleFunction": {},
    "IngestionTriggerFunction": {
        RESOURCES: {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:ConditionCheckItem",
        },
        RESOURCES_INDEXES: {"dynamodb:Query"},
        BUCKET: S3_READ_POLICY,
        f"{BUCKET}/*": S3_READ_POLICY,
        f"{BUCKET}/lqs/*": {"s3:PutObject", "s3:AbortMultipartUpload"},
        f"{BUCKET}/drop/*": {"s3:DeleteObject"},
        STATE_MACHINE: {"states:StartExecution"},
        DIGESTION_STATE_MACHINE: {"states:StartExecution"},
    },
    "PlanIngestionFunction": {
        RESOURCES: {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
            "dynamodb:BatchWriteItem",
        },
        RESOURCES_INDEXES: {"dynamodb:Query"},
        RECORDS: {"dynamodb:Query", "dynamodb:BatchWriteItem"},
        BUCKET: S3_READ_POLICY,
        f"{BUCKET}/*": S3_READ_POLICY,
        PART_MANIFESTS: {"s3:PutObject"},
        # What an earlier attempt of a recording derived (docs/ros2.md).
        f"{BUCKET}/lqs/*": {"s3:DeleteObject"},
        KEY: {"kms:Decrypt"},
    },
    "ProcessPartFunction": {
        RESOURCES: {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
        RESOURCES_INDEXES: {"dynamodb:Query"},
        RECORDS: {"dynamodb:Query", "dynamodb:BatchWriteItem"},
        BUCKET: S3_READ_POLICY,
        f"{BUCKET}/*": S3_READ_POLICY,
        # A recording's file converted into a derived MCAP (uploaded, deleted when the attempt ended).
        f"{BUCKET}/lqs/*": {"s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"},
        KEY: {"kms:Decrypt"},
    },
    "FailPartFunction": {RESOURCES: {"dynamodb:GetItem", "dynamodb:PutItem"}},
    "FinalizeIngestionFunction": {
        RESOURCES: {"dynamodb:GetItem", "dynamodb:PutItem"},
        RESOURCES_INDEXES: {"dynamodb:Query"},
        RECORDS: {"dynamodb:Query"},
    },
    "FailIngestionFunction": {
        RESOURCES: {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        },
        RESOURCES_INDEXES: {"dynamodb:Query"},
        RECORDS: {"dynamodb:Query", "dynamodb:BatchWriteItem"},
        BUCKET: {"s3:ListBucket"},
        f"{BUCKET}/lqs/*": {"s3:DeleteObject"},
    },
    "HookDeliveryFunction": {
        RESOURCES: {"dynamodb:GetItem", "dynamodb:PutItem"},
        f"{RESOURCES}/index/ByParent": {"dynamodb:Query"},
        HOOK_DELIVERY_QUEUE: {"sqs:SendMessage", "sqs:ChangeMessageVisibility"},
        KEY: {"kms:Decrypt"},
    },
    "ReconcileIngestionsFunction": {
        RESOURCES: {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
        },
        RESOURCES_INDEXES: {"dynamodb:Query"},
        RECORDS: {"dynamodb:Query", "dynamodb:BatchWriteItem"},
        STATE_MACHINE: {"states:StartExecution"},
        EXECUTIONS: {"states:DescribeExecution", "states:StopExecution"},
        BUCKET: {"s3:ListBucket"},
        f"{BUCKET}/lqs/*": {"s3:DeleteObject"},
    },
    "PlanDigestionFunction": {
        RESOURCES: {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
        },
        RESOURCES_INDEXES: {"dynamodb:Query"},
        RECORDS: {"dynamodb:Query"},
        BUCKET: S3_READ_POLICY,
        f"{BUCKET}/*": S3_READ_POLICY,
        f"{BUCKET}/lqs/*": {"s3:DeleteObject"},
        KEY: {"kms:Decrypt"},
    },
    "WriteDigestionPartFunction": {
        RESOURCES: {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
        BUCKET: S3_READ_POLICY,
        f"{BUCKET}/*": S3_READ_POLICY,
        f"{BUCKET}/lqs/*": {"s3:PutObject", "s3:DeleteObject"},
        KEY: {"kms:Decrypt"},
    },
    "FinalizeDigestionFunction": {
        RESOURCES: {"dynamodb:GetItem", "dynamodb:PutItem"},
        RESOURCES_INDEXES: {"dynamodb:Query"},
        BUCKET: S3_READ_POLICY,
        f"{BUCKET}/*": S3_READ_POLICY,
        f"{BUCKET}/lqs/*": {"s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"},
        KEY: {"kms:Decrypt"},
    },
    "FailDigestionFunction": {
        RESOURCES: {"dynamodb:GetItem", "dynamodb:PutItem"},
        RESOURCES_INDEXES: {"dynamodb:Query"},
        BUCKET: {"s3:ListBucket"},
        f"{BUCKET}/lqs/*": {"s3:DeleteObject"},
    },
    "ReconcileDigestionsFunction": {
        RESOURCES: {"dynamodb:GetItem", "dynamodb:PutItem"},
        RESOURCES_INDEXES: {"dynamodb:Query"},
        BUCKET: {"s3:ListBucket"},
        f"{BUCKET}/lqs/*": {"s3:DeleteObject"},
        DIGESTION_STATE_MACHINE: {"states:StartExecution"},
        DIGESTION_EXECUTIONS: {"states:DescribeExecution", "states:StopExecution"},
    },
}


#: The state machine's permissions: its tasks, its Distributed Map (child executions of itself and the
#: part manifests its ItemReader reads) and the log delivery Step Functions needs (no resource-level
#: permissions exist for those).
EXPECTED_STATE_MACHINE_PERMISSIONS: dict[str, set[str]] = {
    **{
        f"arn:aws:lambda:us-east-1:123456789012:function:openlqs-{function}-1A2B3C4D5E6F*": {
            "lambda:InvokeFunction"
        }
        for function in (
            "PlanIngestionFunction",
            "ProcessPartFunction",
            "FailPartFunction",
            "FinalizeIngestionFunction",
            "FailIngestionFunction",
        )
    },
    STATE_MACHINE: {"states:StartExecution"},
    CHILD_EXECUTIONS: {"states:DescribeExecution", "states:StopExecution"},
    PART_MANIFESTS: {"s3:GetObject"},
    "*": {
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    },
}


def _resources(template: dict[str, Any]) -> dict[str, Any]:
    resources: dict[str, Any] = template["Resources"]
    return resources


def _functions(template: dict[str, Any]) -> list[str]:
    return [name for name, r in _resources(template).items() if r["Type"] == "AWS::Serverless::Function"]


def _references(template: dict[str, Any]) -> dict[str, Any]:
    tables = {"ResourcesTable": RESOURCES.rsplit("/", 1)[1], "RecordsTable": RECORDS.rsplit("/", 1)[1]}
    return stack_references(template, tables=tables)


def _statements(template: dict[str, Any], function_id: str) -> list[dict[str, Any]]:
    return [resolve(s, _references(template)) for s in function_statements(template, function_id)]


def _permissions(template: dict[str, Any], function_id: str) -> dict[str, set[str]]:
    permissions: dict[str, set[str]] = {}
    for action, resource in grants(_statements(template, function_id)):
        permissions.setdefault(resource, set()).add(action)
    return permissions


def _api_events(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    events = _resources(template)["ApiFunction"]["Properties"]["Events"]
    return {name: event["Properties"] for name, event in events.items() if event["Type"] == "Api"}


# -- The API: authorizer, public documentation, gateway responses, throttling ------------------------


def test_template_api_requires_the_request_authorizer_on_every_route_by_default(
    template: dict[str, Any],
) -> None:
    auth = _resources(template)["OpenlqsApi"]["Properties"]["Auth"]
    authorizer = auth["Authorizers"][auth["DefaultAuthorizer"]]
    parameter = template["Parameters"]["AuthorizerCacheTtlSeconds"]

    assert authorizer["FunctionPayloadType"] == "REQUEST"
    assert authorizer["FunctionArn"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
    assert authorizer["Identity"] == {
        "Headers": ["Authorization"],
        "ReauthorizeEvery": {"Ref": "AuthorizerCacheTtlSeconds"},
    }
    assert {key: parameter[key] for key in ("Type", "Default", "MinValue", "MaxValue")} == {
        "Type": "Number",
        "Default": 300,
        "MinValue": 0,
        "MaxValue": 3600,
    }


def test_template_only_the_documentation_gets_are_public(template: dict[str, Any]) -> None:
    events = _api_events(template)
    public = {name: event for name, event in events.items() if "Auth" in event}

    assert {(e["Method"], e["Path"]) for e in public.values()} == {("GET", path) for path in PUBLIC_PATHS}
    assert all(e["Auth"] == {"Authorizer": "NONE"} for e in public.values())
    assert all(name.startswith("Public") for name in public)
    # Every other route goes through the default authorizer.
    assert {(e["Method"], e["Path"]) for n, e in events.items() if n not in public} == {
        ("ANY", "/"),
        ("ANY", "/{proxy+}"),
    }


def test_template_console_is_public_for_get_only_and_no_other_function_serves_the_api(
    template: dict[str, Any],
) -> None:
    served = {
        name: {event_name: event["Properties"] for event_name, event in (props.get("Events") or {}).items()}
        for name, resource in _resources(template).items()
        if resource["Type"] == "AWS::Serverless::Function"
        for props in (resource["Properties"],)
        if any(event["Type"] == "Api" for event in (props.get("Events") or {}).values())
    }
    console = served["ConsoleFunction"]

    assert set(served) == {"ApiFunction", "ConsoleFunction"}
    assert {(event["Method"], event["Path"]) for event in console.values()} == {
        ("GET", "/console"),
        ("GET", "/console/{proxy+}"),
    }
    assert all(event["Auth"] == {"Authorizer": "NONE"} for event in console.values())
    assert all(name.startswith("Public") for name in console)
    assert all(event["RestApiId"] == {"Ref": "OpenlqsApi"} for event in console.values())


def test_template_objects_bucket_lets_browsers_use_presigned_urls_only_to_read_and_upload(
    template: dict[str, Any],
) -> None:
    (rule,) = _resources(template)["ObjectsBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    parameter = template["Parameters"]["ObjectsCorsAllowedOrigins"]

    assert sorted(rule["AllowedMethods"]) == ["GET", "HEAD", "PUT"]
    assert rule["AllowedOrigins"] == {"Ref": "ObjectsCorsAllowedOrigins"}
    assert (parameter["Type"], parameter["Default"]) == ("CommaDelimitedList", "*")
    # Ranged reads (the console's large records, Foxglove) need the range headers exposed.
    assert {"ETag", "Content-Range", "Accept-Ranges", "Content-Length"} <= set(rule["ExposedHeaders"])


def test_template_gateway_responses_answer_in_logqs_error_shape(template: dict[str, Any]) -> None:
    responses = _resources(template)["OpenlqsApi"]["Properties"]["GatewayResponses"]
    expected = {
        "UNAUTHORIZED": ("401", "Unauthorized"),
        "ACCESS_DENIED": ("403", "Forbidden"),
        "THROTTLED": ("429", "TooManyRequests"),
        "DEFAULT_5XX": (None, "InternalServerError"),
    }

    assert set(responses) == set(expected)
    for response_type, (status, error_name) in expected.items():
        response = responses[response_type]
        body = json.loads(response["ResponseTemplates"]["application/json"])
        assert response.get("StatusCode") == status, response_type
        assert response["ResponseParameters"] == {"Headers": {"Content-Type": "'application/json'"}}
        assert set(body) == {"message"}
        assert re.fullmatch(rf"\[{error_name}\] \S.*", body["message"]), body


def test_template_unauthorized_body_is_the_apis_and_says_what_a_request_must_carry(
    template: dict[str, Any],
) -> None:
    # One 401 body, from API Gateway or ApiFunction: the expected header form, not which part was wrong.
    response = _resources(template)["OpenlqsApi"]["Properties"]["GatewayResponses"]["UNAUTHORIZED"]
    message = json.loads(response["ResponseTemplates"]["application/json"])["message"]

    assert message == errors.Unauthorized(INVALID_CREDENTIALS).message
    assert "Authorization: Bearer base64(key_id:secret)" in message


def test_template_gateway_response_names_are_openlqs_errors(template: dict[str, Any]) -> None:
    # The client raises the error class the bracketed name names (openlqs.errors).
    responses = _resources(template)["OpenlqsApi"]["Properties"]["GatewayResponses"]
    for response in responses.values():
        message = json.loads(response["ResponseTemplates"]["application/json"])["message"]
        name = message[1 : message.index("]")]
        error = getattr(errors, name)
        assert issubclass(error, errors.OpenLQSError)
        assert response.get("StatusCode", "500") == str(error.status_code)


def test_template_api_throttling_comes_from_parameters(template: dict[str, Any]) -> None:
    (settings,) = _resources(template)["OpenlqsApi"]["Properties"]["MethodSettings"]

    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    for name in ("ApiThrottlingBurstLimit", "ApiThrottlingRateLimit"):
        parameter = template["Parameters"][name]
        assert (parameter["Type"], parameter["MinValue"]) == ("Number", 1), name


def test_template_authorizer_function_calls_openlqs_authorizer(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the authorizer's entry point as the template declares it, openlqs's handler stubbed
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    spec = function_specs(template, PROJECT_DIR)["AuthorizerFunction"]
    event = load_event("authorizer/api_key_request.json")
    function = InProcessFunction(spec)
    seen: list[dict[str, Any]] = []
    answer = {"principalId": "8d5c3e1a-2f47-4b6e-9c1d-0a7e5f3b2c94"}

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        return answer

    monkeypatch.setattr(sys.modules[function.load().__module__], "handle", handle)

    # When API Gateway invokes it
    returned = function.invoke(event)

    # Then the event went to openlqs.api.authorizer.handle unchanged, and its answer came back
    assert spec.code_path == PROJECT_DIR / "functions" / "authorizer" / "app.py"
    assert seen == [event]
    assert returned == answer


# -- ObjectsBucket ------------------------------------------------------------------------------------


def test_template_objects_bucket_is_private_and_encrypted_by_default(template: dict[str, Any]) -> None:
    bucket = _resources(template)["ObjectsBucket"]["Properties"]

    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]

    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def test_template_objects_bucket_aborts_incomplete_uploads_after_a_parameter(
    template: dict[str, Any],
) -> None:
    rules = _resources(template)["ObjectsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    parameter = template["Parameters"]["IncompleteUploadExpiryDays"]

    (rule,) = [rule for rule in rules if "AbortIncompleteMultipartUpload" in rule]

    assert rule["Status"] == "Enabled"
    # No filter: every prefix (log objects and the drop folder's server-side copies).
    assert not {"Prefix", "Filter", "TagFilters"} & set(rule)
    assert rule["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": {"Ref": "IncompleteUploadExpiryDays"}
    }
    assert (parameter["Type"], parameter["Default"], parameter["MinValue"]) == ("Number", 7, 1)


def test_template_objects_bucket_expires_noncurrent_versions_after_a_parameter(
    template: dict[str, Any],
) -> None:
    rules = _resources(template)["ObjectsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]

    (rule,) = [rule for rule in rules if "NoncurrentVersionExpiration" in rule]

    assert rule["Status"] == "Enabled"
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": {"Ref": "NoncurrentVersionExpiryDays"}}
    assert template["Parameters"]["NoncurrentVersionExpiryDays"]["Default"] == 30


def test_template_objects_bucket_expires_part_manifests_only_after_a_parameter(
    template: dict[str, Any],
) -> None:
    rules = _resources(template)["ObjectsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    parameter = template["Parameters"]["IngestionManifestExpiryDays"]

    (rule,) = [rule for rule in rules if "ExpirationInDays" in rule]

    # Only the pipeline's prefix: a log's objects (lqs/) never expire
    assert (rule["Status"], rule["Prefix"]) == ("Enabled", "ingestions/")
    assert rule["ExpirationInDays"] == {"Ref": "IngestionManifestExpiryDays"}
    assert part_manifest_key(uuid4(), 1).startswith(rule["Prefix"])
    assert (parameter["Type"], parameter["Default"], parameter["MinValue"]) == ("Number", 30, 1)


def test_template_functions_never_log_their_events(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    overriding = [
        name
        for name in _functions(template)
        if "POWERTOOLS_LOGGER_LOG_EVENT"
        in ((_resources(template)[name]["Properties"].get("Environment") or {}).get("Variables") or {})
    ]

    assert variables["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
    assert overriding == []


def test_template_access_log_names_the_key_but_no_header_or_body(template: dict[str, Any]) -> None:
    log_format = _resources(template)["OpenlqsApi"]["Properties"]["AccessLogSetting"]["Format"]

    assert '"keyId":"$context.authorizer.keyId"' in log_format
    assert "header" not in log_format.lower()
    assert "body" not in log_format.lower()


def _bucket_policy(template: dict[str, Any]) -> list[dict[str, Any]]:
    policy = _resources(template)["ObjectsBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "ObjectsBucket"}
    statements: list[dict[str, Any]] = resolve(policy["PolicyDocument"]["Statement"], _references(template))
    return statements


@pytest.mark.parametrize(
    ("action", "context", "denied"),
    [
        ("s3:PutObject", {}, False),
        ("s3:PutObject", {"s3:x-amz-server-side-encryption": ("AES256",)}, False),
        ("s3:PutObject", {"s3:x-amz-server-side-encryption": ("aws:kms",)}, True),
        ("s3:PutObject", {"s3:x-amz-server-side-encryption": ("aws:kms:dsse",)}, True),
        ("s3:PutObject", {"s3:x-amz-server-side-encryption-customer-algorithm": ("AES256",)}, True),
        ("s3:GetObject", {"aws:SecureTransport": ("false",)}, True),
        ("s3:PutObject", {"aws:SecureTransport": ("false",)}, True),
        ("s3:GetObject", {}, False),
    ],
)
def test_template_objects_bucket_policy_refuses_plain_http_and_other_encryption(
    template: dict[str, Any], action: str, context: dict[str, tuple[str, ...]], denied: bool
) -> None:
    # A presigned UploadPart (s3:PutObject) sends no encryption header: it must not be denied.
    request = Request(
        action, f"{BUCKET}/lqs/{DATASTORE_ID}/logs/x/run.bag", {"aws:SecureTransport": ("true",), **context}
    )

    assert denies(_bucket_policy(template), request) is denied


def test_template_objects_bucket_name_resolves_like_a_deployed_bucket(template: dict[str, Any]) -> None:
    bucket_name = _resources(template)["ObjectsBucket"]["Properties"]["BucketName"]

    assert resolve(bucket_name, _references(template)) == DEPLOYED_BUCKET


# -- Settings as parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameter", "variable"),
    [("UploadUrlTtlSeconds", "UPLOAD_URL_TTL_S"), ("DownloadUrlTtlSeconds", "DOWNLOAD_URL_TTL_S")],
)
def test_template_presigned_url_ttls_are_parameters_with_the_settings_bounds(
    template: dict[str, Any], parameter: str, variable: str
) -> None:
    variables = _resources(template)["ApiFunction"]["Properties"]["Environment"]["Variables"]
    declared = template["Parameters"][parameter]
    setting = Settings.model_fields[variable.lower()]
    bounds = {type(m).__name__: getattr(m, type(m).__name__.lower()) for m in setting.metadata}

    assert variables[variable] == {"Ref": parameter}
    assert (declared["Type"], declared["Default"]) == ("Number", setting.default)
    assert (declared["MinValue"], declared["MaxValue"]) == (bounds["Ge"], bounds["Le"])


def test_template_every_function_environment_mirrors_settings_fields(template: dict[str, Any]) -> None:
    fields = {name.upper() for name in Settings.model_fields}

    for name in _functions(template):
        variables = (_resources(template)[name]["Properties"].get("Environment") or {}).get("Variables") or {}
        assert set(variables) <= fields, name


# -- IAM ----------------------------------------------------------------------------------------------


def test_template_every_function_has_exactly_its_reviewed_permissions(template: dict[str, Any]) -> None:
    assert set(_functions(template)) == set(EXPECTED_PERMISSIONS)
    for name, expected in EXPECTED_PERMISSIONS.items():
        assert _permissions(template, name) == expected, name


def test_template_only_the_api_function_may_flush_and_only_its_own_stage_cache(
    template: dict[str, Any],
) -> None:
    # The one attached policy: on ApiFunction's generated role, apart from its Policies, because naming
    # the API from the function's own role would make the template circular (the API depends on it).
    flushers = {
        name: {
            resource for (action, resource) in grants(_statements(template, name)) if "apigateway" in action
        }
        for name in _functions(template)
    }
    (statement,) = _resources(template)["ApiFunctionAuthorizerCachePolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]

    assert attached_policies(template) == {"ApiFunctionAuthorizerCachePolicy": ["ApiFunctionRole"]}
    assert {name: found for name, found in flushers.items() if found} == {"ApiFunction": {AUTHORIZER_CACHE}}
    assert statement["Action"] == "apigateway:DELETE"
    assert resolve(statement["Resource"], _references(template)) == AUTHORIZER_CACHE
    assert "OpenlqsApi" not in json.dumps(_resources(template)["ApiFunction"]["Properties"]["Policies"])


def test_template_api_function_only_stops_executions(template: dict[str, Any]) -> None:
    states = {
        resource: {action for action in actions if action.startswith("states:")}
        for resource, actions in _permissions(template, "ApiFunction").items()
    }

    assert {resource: actions for resource, actions in states.items() if actions} == {
        EXECUTIONS: {"states:StopExecution"},
        DIGESTION_EXECUTIONS: {"states:StopExecution"},
    }


def test_template_only_the_trigger_and_the_reconciler_start_executions(template: dict[str, Any]) -> None:
    starters = {
        name
        for name in _functions(template)
        if any("states:StartExecution" in actions for actions in _permissions(template, name).values())
    }

    assert starters == {
        "IngestionTriggerFunction",
        "ReconcileIngestionsFunction",
        "ReconcileDigestionsFunction",
    }


def test_template_process_part_function_writes_only_its_part_the_progress_and_topics_in_resources_table(
    template: dict[str, Any],
) -> None:
    granted = grants(_statements(template, "ProcessPartFunction"))
    resources_writes = {
        action: condition
        for (action, resource), condition in granted.items()
        if resource.startswith(RESOURCES) and action not in ("dynamodb:GetItem", "dynamodb:Query")
    }

    # Topics: a converted recording's file gives its topics their definitions (docs/ros2.md).
    assert resources_writes == {
        "dynamodb:PutItem": {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["ingestion_part#*", "topic#*"]}
        },
        "dynamodb:UpdateItem": {
            "ForAllValues:StringLike": {
                "dynamodb:LeadingKeys": ["ingestion#*", "count#*#completed_ingestion_part"]
            }
        },
    }


def test_template_fail_part_function_reads_and_writes_only_ingestions_and_parts(
    template: dict[str, Any],
) -> None:
    granted = grants(_statements(template, "FailPartFunction"))

    assert granted == {
        ("dynamodb:GetItem", RESOURCES): {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["ingestion#*", "ingestion_part#*"]}
        },
        ("dynamodb:PutItem", RESOURCES): {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["ingestion_part#*"]}
        },
    }


@pytest.mark.parametrize("function_id", ["ApiFunction", "PlanIngestionFunction"])
def test_template_resources_table_batch_writes_touch_only_ingestion_parts(
    template: dict[str, Any], function_id: str
) -> None:
    granted = grants(_statements(template, function_id))

    assert granted[("dynamodb:BatchWriteItem", RESOURCES)] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["ingestion_part#*"]}
    }


def test_template_state_machine_has_exactly_its_reviewed_permissions(template: dict[str, Any]) -> None:
    permissions: dict[str, set[str]] = {}
    for action, resource in grants(_statements(template, "IngestionStateMachine")):
        permissions.setdefault(resource, set()).add(action)

    assert permissions == EXPECTED_STATE_MACHINE_PERMISSIONS


def test_template_state_machine_policy_names_the_state_machine_it_is(template: dict[str, Any]) -> None:
    # The policy cannot !Ref its own state machine (a cycle): it names the state machine by the Name the
    # template gives it, and the trigger starts executions of that same name.
    references = _references(template)
    name = resolve(_resources(template)["IngestionStateMachine"]["Properties"]["Name"], references)

    assert references["IngestionStateMachine.Name"] == name == "openlqs-ingestion"
    assert STATE_MACHINE.endswith(f":stateMachine:{name}")
    assert (STATE_MACHINE, "states:StartExecution") in {
        (resource, action) for action, resource in grants(_statements(template, "IngestionTriggerFunction"))
    }


def test_template_only_the_plan_writes_part_manifests(template: dict[str, Any]) -> None:
    writers = {
        name
        for name in [*_functions(template), "IngestionStateMachine"]
        for action, resource in grants(_statements(template, name))
        if action in ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
        and fnmatchcase(PART_MANIFESTS, resource)
    }

    assert writers == {"PlanIngestionFunction"}


def test_template_digestion_tasks_write_only_digestions_and_their_parts_in_resources_table(
    template: dict[str, Any],
) -> None:
    writes = {
        name: {
            action: condition
            for (action, resource), condition in grants(_statements(template, name)).items()
            if resource.startswith(RESOURCES) and action not in ("dynamodb:GetItem", "dynamodb:Query")
        }
        for name in (
            "WriteDigestionPartFunction",
            "FinalizeDigestionFunction",
            "FailDigestionFunction",
            "ReconcileDigestionsFunction",
        )
    }
    parts = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["digestion#*", "digestion_part#*"]}}

    assert writes == {
        "WriteDigestionPartFunction": {
            "dynamodb:PutItem": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["digestion_part#*"]}},
            "dynamodb:UpdateItem": {
                "ForAllValues:StringLike": {
                    "dynamodb:LeadingKeys": ["digestion#*", "count#*#completed_digestion_part"]
                }
            },
        },
        "FinalizeDigestionFunction": {
            "dynamodb:PutItem": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["digestion#*"]}}
        },
        "FailDigestionFunction": {"dynamodb:PutItem": parts},
        "ReconcileDigestionsFunction": {"dynamodb:PutItem": parts},
    }


def test_template_authorizer_function_reads_only_api_key_items(template: dict[str, Any]) -> None:
    granted = grants(_statements(template, "AuthorizerFunction"))

    assert granted == {
        ("dynamodb:GetItem", RESOURCES): {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["api_key#*", "user#*"]}
        }
    }


def test_template_query_function_only_reads(template: dict[str, Any]) -> None:
    granted = grants(_statements(template, "QueryFunction"))

    assert {action for action, _ in granted} == {"dynamodb:GetItem", "dynamodb:Query"}
    assert granted[("dynamodb:GetItem", RESOURCES)] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["label#*"]}
    }


def test_template_only_the_api_function_invokes_the_query_function(template: dict[str, Any]) -> None:
    invokers = {
        name
        for name in _functions(template)
        for action, resource in grants(_statements(template, name))
        if action.startswith("lambda:")
    }

    assert invokers == {"ApiFunction"}
    assert _permissions(template, "ApiFunction")[QUERY_FUNCTION] == {"lambda:InvokeFunction"}


_INGESTION_ID = uuid4()


@pytest.mark.parametrize(
    ("function_id", "action", "allowed", "refused"),
    [
        (
            "AuthorizerFunction",
            "dynamodb:GetItem",
            [keys.entity_pk(kind, uuid4()) for kind in ("api_key", "user")],
            [keys.entity_pk(kind, uuid4()) for kind in ("object_store", "group")]
            + [keys.unique_pk("api_key", "", "x")],
        ),
        (
            "QueryFunction",
            "dynamodb:GetItem",
            [keys.entity_pk("label", uuid4())],
            [keys.entity_pk(kind, uuid4()) for kind in ("api_key", "user", "label_log", "log")],
        ),
        (
            "ProcessPartFunction",
            "dynamodb:PutItem",
            [keys.entity_pk(kind, uuid4()) for kind in ("ingestion_part", "topic")],
            [keys.entity_pk(kind, uuid4()) for kind in ("ingestion", "log", "group")]
            + [keys.unique_pk("topic", "", "x")],
        ),
        (
            "ProcessPartFunction",
            "dynamodb:UpdateItem",
            [
                keys.entity_pk("ingestion", uuid4()),
                keys.counter_pk(completed_parts_counter(_INGESTION_ID, 3).scope, COMPLETED_PARTS),
            ],
            [
                keys.entity_pk("ingestion_part", uuid4()),
                keys.counter_pk(str(_INGESTION_ID), "ingestion_part"),
                keys.counter_pk("", "log"),
                keys.entity_pk("topic", uuid4()),
            ],
        ),
        (
            "WriteDigestionPartFunction",
            "dynamodb:UpdateItem",
            [
                keys.entity_pk("digestion", uuid4()),
                keys.counter_pk(completed_digestion_parts(_INGESTION_ID, 2).scope, COMPLETED_DIGESTION_PARTS),
            ],
            [
                keys.entity_pk("digestion_part", uuid4()),
                keys.counter_pk(completed_parts_counter(_INGESTION_ID, 3).scope, COMPLETED_PARTS),
                keys.counter_pk(str(_INGESTION_ID), "digestion_part"),
                keys.entity_pk("log", uuid4()),
            ],
        ),
        (
            "WriteDigestionPartFunction",
            "dynamodb:PutItem",
            [keys.entity_pk("digestion_part", uuid4())],
            [keys.entity_pk(kind, uuid4()) for kind in ("digestion", "log", "topic")],
        ),
        (
            "PlanDigestionFunction",
            "dynamodb:BatchWriteItem",
            [keys.entity_pk("digestion_part", uuid4()), keys.digestion_index_pk(uuid4())],
            [keys.entity_pk(kind, uuid4()) for kind in ("digestion", "ingestion_part", "topic")],
        ),
        (
            "PlanIngestionFunction",
            "dynamodb:BatchWriteItem",
            [keys.entity_pk("ingestion_part", uuid4())],
            [keys.entity_pk(kind, uuid4()) for kind in ("ingestion", "topic", "log")],
        ),
    ],
)
def test_template_leading_key_conditions_follow_the_key_layout(
    template: dict[str, Any], function_id: str, action: str, allowed: list[str], refused: list[str]
) -> None:
    # The conditions name partition keys as openlqs.adapters.keys builds them ("{kind}#{id}", counters).
    (patterns,) = [
        condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        for (granted, _), condition in grants(_statements(template, function_id)).items()
        if granted == action and condition
    ]

    for key in allowed:
        assert any(fnmatchcase(key, pattern) for pattern in patterns), key
    for key in refused:
        assert not any(fnmatchcase(key, pattern) for pattern in patterns), key


def test_template_no_function_may_scan_or_reconfigure_what_it_uses(template: dict[str, Any]) -> None:
    forbidden = re.compile(
        r"\*|.*:\*|dynamodb:(Scan|BatchGetItem|DescribeTable|PartiQL.*|Delete(Table|Backup)|Update(Table|.*Settings))"
        r"|s3:(Put|Delete)(Bucket.*|Lifecycle.*|ObjectAcl|Encryption.*)|kms:(Create.*|Put.*|Schedule.*|Disable.*)"
    )

    for name in _functions(template):
        for action, resource in grants(_statements(template, name)):
            assert not forbidden.fullmatch(action), (name, action)
            assert resource != "*", (name, action)


def test_template_secrets_key_is_used_only_where_secrets_are_sealed_or_opened(
    template: dict[str, Any],
) -> None:
    users = {
        name: {action for (action, resource) in grants(_statements(template, name)) if resource == KEY}
        for name in _functions(template)
    }

    assert {name: actions for name, actions in users.items() if actions} == {
        "ApiFunction": {"kms:Encrypt", "kms:Decrypt"},
        "PlanIngestionFunction": {"kms:Decrypt"},
        "ProcessPartFunction": {"kms:Decrypt"},
        "HookDeliveryFunction": {"kms:Decrypt"},
        # Digestions read records where their ingestions' objects are, a registered store's too.
        "PlanDigestionFunction": {"kms:Decrypt"},
        "WriteDigestionPartFunction": {"kms:Decrypt"},
        "FinalizeDigestionFunction": {"kms:Decrypt"},
    }


def test_template_sam_policy_templates_match_sam() -> None:
    if not SAM_POLICY_TEMPLATES_JSON.is_file():
        pytest.skip("SAM CLI is not installed in .venv-sam; run scripts/sam-validate.sh once")
    sam = json.loads(SAM_POLICY_TEMPLATES_JSON.read_text())["Templates"]

    for name, definition in SAM_POLICY_TEMPLATES.items():
        assert definition == sam[name]["Definition"], name


def test_template_function_actions_exist_in_aws(template: dict[str, Any]) -> None:
    # cfn-lint does not check the actions of a SAM function's Policies; its copy of AWS's list does.
    known = json.loads((files("cfnlint.data.AdditionalSpecs") / "Policies.json").read_text())

    for name in _functions(template):
        for statement in function_statements(template, name):
            for action in as_list(statement["Action"]):
                service, _, operation = action.partition(":")
                assert operation.lower() in known[service]["Actions"], (name, action)
