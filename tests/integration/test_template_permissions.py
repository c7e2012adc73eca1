"""Every AWS call the functions make is one their policies in template.yaml allow.

moto checks no permissions, so a policy too tight for the code would only fail in a deployed stack. Here
each function's real code runs in moto, as in the other integration tests, while a botocore hook records
every call it makes and every URL it presigns (S3 checks a presigned request against the permissions of
whoever signed it). Each call becomes the IAM checks AWS makes for it, evaluated against the function's
statements from the template (tests.support.policies.py); S3 calls are also checked against
ObjectsBucket's bucket policy.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus
from uuid import UUID, uuid4

import boto3
import pytest
import requests

from openlqs.api import authorizer
from openlqs.auth import format_authorization
from openlqs.domain.common import Environment
from openlqs.ingestion.reconciler import IngestionReconciler
from openlqs.local.apigateway import AuthorizerCacheFlushHook
from openlqs.local.functions import InProcessFunction
from openlqs.local.invoke import LambdaInvokeHook
from openlqs.local.queue_events import SqsEventQueue
from openlqs.local.resources import create_queues, function_specs, queue_names
from openlqs.services import get_services
from openlqs.settings import get_settings
from tests.support import tasks
from tests.support.api import ApiClient, ApiResponse
from tests.support.bags import write_string_bag
from tests.support.events import load_event
from tests.support.hooks import HookReceiver, StreamReader
from tests.support.paths import DATASTORE_ID, PROJECT_DIR
from tests.support.policies import (
    DEPLOYED_BUCKET,
    QUERY_FUNCTION_NAME,
    REGION,
    REST_API_ID,
    Request,
    allows,
    denies,
    function_statements,
    key_arn,
    queue_arn,
    resolve,
    stack_references,
    table_arn,
)
from tests.support.resources import create_group, create_log, create_records, create_topic
from tests.support.rosbag2 import mixed_messages, write_split_recording

#: As template.yaml names the state machine ("{stack name}-ingestion") in the fake stack "openlqs".
STATE_MACHINE_NAME = "openlqs-ingestion"
#: The template's queues are named "{prefix}-{logical id in kebab case}" here.
QUEUE_PREFIX = "perm"
#: The stage of the deployed API (the StageName parameter's default), as requests name it.
STAGE = "v1"
EXTERNAL_BUCKET = "robot-fleet-logs"
_RECORDER_ID = "openlqs-tests-permission-recorder"
#: S3 operations → the actions S3 authorizes them as (on the object, unless "bucket").
_S3_ACTIONS = {
    "HeadObject": [("s3:GetObject", "object"), ("s3:ListBucket", "bucket")],  # ListBucket: 404, not 403
    "GetObject": [("s3:GetObject", "object")],
    "PutObject": [("s3:PutObject", "object")],
    "CreateMultipartUpload": [("s3:PutObject", "object")],
    "UploadPart": [("s3:PutObject", "object")],
    "CompleteMultipartUpload": [("s3:PutObject", "object")],
    "CopyObject": [("s3:PutObject", "object"), ("s3:GetObject", "source")],
    "UploadPartCopy": [("s3:PutObject", "object"), ("s3:GetObject", "source")],
    "DeleteObject": [("s3:DeleteObject", "object")],
    "AbortMultipartUpload": [("s3:AbortMultipartUpload", "object")],
    "ListParts": [("s3:ListMultipartUploadParts", "object")],
    "ListObjectsV2": [("s3:ListBucket", "bucket")],
}
#: Items of a TransactWriteItems → the action DynamoDB authorizes each as.
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


@dataclass(frozen=True)
class Call:
    """One call a function made (or presigned): the IAM service prefix, the operation, its parameters."""

    service: str
    operation: str
    params: dict[str, Any]
    presigned: bool = False

    def __str__(self) -> str:
        return f"{'presigned ' if self.presigned else ''}{self.service}:{self.operation}"


class CallRecorder:
    """Every call botocore makes or presigns while a function's code runs, by function."""

    def __init__(self) -> None:
        self.calls: dict[str, list[Call]] = defaultdict(list)
        self._running: str | None = None
        self._lock = threading.Lock()

    def record(self, params: dict[str, Any], model: Any, context: Any = None, **_: Any) -> None:
        """botocore's ``provide-client-params`` handler (also emitted for presigned URLs)."""
        if self._running is None:
            return
        kept = copy.deepcopy({name: value for name, value in params.items() if name != "Body"})
        presigned = bool((context or {}).get("is_presign_request"))
        with self._lock:
            self.calls[self._running].append(
                Call(model.service_model.signing_name, model.name, kept, presigned)
            )

    @contextmanager
    def running(self, function_id: str) -> Iterator[None]:
        """Calls made meanwhile, from any thread (s3transfer copies in its own), are ``function_id``'s
        (until a function it invokes runs, whose calls are that function's)."""
        previous, self._running = self._running, function_id
        try:
            yield
        finally:
            self._running = previous


@pytest.fixture
def deployed(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The moto stack of ``aws`` with ObjectsBucket named as deployed and the state machine created."""
    boto3.client("s3").create_bucket(Bucket=DEPLOYED_BUCKET)
    boto3.client("s3").create_bucket(Bucket=EXTERNAL_BUCKET)
    machine = boto3.client("stepfunctions").create_state_machine(
        name=STATE_MACHINE_NAME,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/openlqs-IngestionStateMachineRole",
    )
    environment = {
        **aws,
        "OBJECTS_BUCKET_NAME": DEPLOYED_BUCKET,
        "INGESTION_STATE_MACHINE_ARN": machine["stateMachineArn"],
        "PART_TARGET_BYTES": "4096",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    get_services.cache_clear()
    return environment


@pytest.fixture
def recorder(deployed: dict[str, str]) -> Iterator[CallRecorder]:
    """A recorder on boto3's default session: every client created from now on reports to it.

    Clients copy the session's handlers when they are created, so the cached services (and the
    authorizer's key service) are dropped first: the code under test creates new ones.
    """
    authorizer.get_keys.cache_clear()
    get_services.cache_clear()
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    assert session is not None
    recorder = CallRecorder()
    session.events.register("provide-client-params", recorder.record, unique_id=_RECORDER_ID)
    try:
        yield recorder
    finally:
        session.events.unregister("provide-client-params", unique_id=_RECORDER_ID)
        authorizer.get_keys.cache_clear()
        get_services.cache_clear()


def _function(template: dict[str, Any], function_id: str) -> InProcessFunction:
    return InProcessFunction(function_specs(template, PROJECT_DIR)[function_id])


def _ok(response: ApiResponse) -> Any:
    assert response.status == 200, response.body
    return response.json().get("data")


def _requests(call: Call, deployed: dict[str, str]) -> list[Request]:
    """The permission checks AWS makes for one call (none for another bucket: the store's own keys)."""
    params, operation = call.params, call.operation
    if call.service == "dynamodb":
        return list(_dynamodb_requests(call))
    if call.service == "s3":
        if params["Bucket"] != DEPLOYED_BUCKET:
            return []
        if operation not in _S3_ACTIONS:
            raise AssertionError(f"{call}: no IAM mapping in this test; add one to _S3_ACTIONS")
        context: dict[str, tuple[str, ...]] = {"aws:SecureTransport": ("true",)}
        if params.get("ServerSideEncryption"):
            context["s3:x-amz-server-side-encryption"] = (params["ServerSideEncryption"],)
        if params.get("SSECustomerAlgorithm"):
            context["s3:x-amz-server-side-encryption-customer-algorithm"] = (params["SSECustomerAlgorithm"],)
        source = params.get("CopySource")
        if isinstance(source, str):
            source_bucket, _, source_key = source.lstrip("/").partition("/")
            source = {"Bucket": source_bucket, "Key": source_key}
        arns = {
            "object": f"arn:aws:s3:::{params['Bucket']}/{params.get('Key')}",
            "bucket": f"arn:aws:s3:::{params['Bucket']}",
            "source": f"arn:aws:s3:::{source['Bucket']}/{source['Key']}" if source else "",
        }
        return [
            Request(action, arns[target], context, str(call)) for action, target in _S3_ACTIONS[operation]
        ]
    if call.service == "kms" and operation in ("Encrypt", "Decrypt"):
        return [
            Request(
                f"kms:{operation}", key_arn(params.get("KeyId") or deployed["SECRETS_KEY_ID"]), {}, str(call)
            )
        ]
    if call.service == "states" and operation == "StartExecution":
        return [Request("states:StartExecution", params["stateMachineArn"], {}, str(call))]
    if call.service == "states" and operation in ("StopExecution", "DescribeExecution"):
        return [Request(f"states:{operation}", params["executionArn"], {}, str(call))]
    if call.service == "lambda" and operation == "Invoke":
        name = params["FunctionName"]
        arn = name if name.startswith("arn:") else f"arn:aws:lambda:{REGION}:123456789012:function:{name}"
        return [Request("lambda:InvokeFunction", arn, {}, str(call))]
    if call.service == "sqs" and operation in ("SendMessage", "SendMessageBatch", "ChangeMessageVisibility"):
        action = (
            "sqs:ChangeMessageVisibility" if operation == "ChangeMessageVisibility" else "sqs:SendMessage"
        )
        name = params["QueueUrl"].rsplit("/", 1)[-1]
        return [Request(action, queue_arn(name), {}, str(call))]
    if call.service == "apigateway" and operation == "FlushStageAuthorizersCache":
        # API Gateway's management API authorizes the HTTP method on the request's path.
        path = f"/restapis/{params['restApiId']}/stages/{params['stageName']}/cache/authorizers"
        return [Request("apigateway:DELETE", f"arn:aws:apigateway:{REGION}::{path}", {}, str(call))]
    raise AssertionError(f"{call}: no IAM mapping in this test; add one")


def _partition_key(key: dict[str, Any]) -> str:
    value = key["pk"]
    return str(value["S"] if isinstance(value, dict) else value)


def _dynamodb_requests(call: Call) -> Iterator[Request]:
    params, operation = call.params, call.operation

    def item(action: str, table: str, key: dict[str, Any]) -> Request:
        return Request(
            f"dynamodb:{action}",
            table_arn(table),
            {"dynamodb:LeadingKeys": (_partition_key(key),)},
            str(call),
        )

    if operation == "TransactWriteItems":
        for entry in params["TransactItems"]:
            ((kind, body),) = entry.items()
            yield item(_TRANSACT_ACTIONS[kind], body["TableName"], body.get("Item") or body["Key"])
    elif operation == "BatchWriteItem":
        for table, writes in params["RequestItems"].items():
            keys = [
                write.get("PutRequest", {}).get("Item") or write["DeleteRequest"]["Key"] for write in writes
            ]
            leading = tuple(sorted({_partition_key(key) for key in keys}))
            yield Request(
                "dynamodb:BatchWriteItem", table_arn(table), {"dynamodb:LeadingKeys": leading}, str(call)
            )
    elif operation == "Query":
        index = params.get("IndexName")
        resource = table_arn(params["TableName"]) + (f"/index/{index}" if index else "")
        yield Request("dynamodb:Query", resource, {}, str(call))
    elif operation == "PutItem":
        yield item("PutItem", params["TableName"], params["Item"])
    elif operation in ("GetItem", "UpdateItem", "DeleteItem"):
        yield item(operation, params["TableName"], params["Key"])
    else:
        raise AssertionError(f"{call}: no IAM mapping in this test; add one")


def _refused(
    recorder: CallRecorder, template: dict[str, Any], deployed: dict[str, str]
) -> dict[str, list[str]]:
    """Per function, every recorded check its policy does not allow or the bucket policy denies."""
    references = stack_references(
        template,
        tables={
            "ResourcesTable": deployed["RESOURCES_TABLE_NAME"],
            "RecordsTable": deployed["RECORDS_TABLE_NAME"],
        },
        key_id=deployed["SECRETS_KEY_ID"],
        state_machine_name=STATE_MACHINE_NAME,
        queues=queue_names(template, prefix=QUEUE_PREFIX),
    )
    bucket_policy = resolve(
        template["Resources"]["ObjectsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"], references
    )
    refused: dict[str, list[str]] = {}
    for function_id, calls in recorder.calls.items():
        statements = [resolve(s, references) for s in function_statements(template, function_id)]
        for call in calls:
            for request in _requests(call, deployed):
                if not allows(statements, request):
                    refused.setdefault(function_id, []).append(f"not allowed: {request}")
                elif request.action.startswith("s3:") and denies(bucket_policy, request):
                    refused.setdefault(function_id, []).append(f"denied by the bucket policy: {request}")
    return refused


def _operations(recorder: CallRecorder, function_id: str) -> set[str]:
    return {str(call) for call in recorder.calls[function_id]}


def _bag(tmp_path: Path, name: str = "run.bag") -> bytes:
    """A bag of two topics in many small chunks: several ingestion parts of PART_TARGET_BYTES."""
    messages = [
        (f"/robot/{'left' if i % 2 else 'right'}", 1_700_000_000_000_000_000 + i * 10_000_000, f"m{i}")
        for i in range(120)
    ]
    return write_string_bag(tmp_path / name, messages, chunk_threshold=1024).read_bytes()


# -- ApiFunction and AuthorizerFunction ---------------------------------------------------------------


def test_template_permissions_allow_every_call_of_the_api_and_the_authorizer(
    api: ApiClient, recorder: CallRecorder, deployed: dict[str, str], template: dict[str, Any], tmp_path: Path
) -> None:
    data = _bag(tmp_path)
    boto3.client("s3").put_object(Bucket=EXTERNAL_BUCKET, Key="fleet/run.bag", Body=data)
    # Requests come through the deployed API's stage, whose authorizer cache the API flushes
    api = api.through(REST_API_ID, STAGE)
    flushed: list[str] = []
    # When a session uses every family of routes
    with recorder.running("ApiFunction"):
        log = create_log(api, create_group(api, "Permissions")["id"], "Session")
        objects = f"/logs/{log['id']}/objects"
        topic = create_topic(api, log["id"], "/chatter")
        create_records(api, topic["id"], [10, 20, 30])
        _ok(api.get(f"/topics/{topic['id']}/records"))
        _ok(api.post(objects, {"key": "run.bag", "content_type": None}))
        _ok(api.get(f"{objects}/run.bag/parts"))
        part = _ok(api.post(f"{objects}/run.bag/parts", {"part_number": 1, "size": len(data)}))
    assert requests.put(part["presigned_url"], data=data, timeout=30).status_code == 200
    with recorder.running("ApiFunction"):
        _ok(api.get(f"{objects}/run.bag/parts/1"))
        completed = _ok(api.patch(f"{objects}/run.bag", {"upload_state": "complete"}))
        _ok(api.get(f"{objects}/run.bag"))
        _ok(api.get(objects, params={"processing": "False"}))
        _ok(api.get(objects, params={"processing": "True"}))
        for key in ("aborted.bag", "deleted.bag"):
            _ok(api.post(objects, {"key": key, "content_type": None}))
        _ok(api.patch(f"{objects}/aborted.bag", {"upload_state": "aborted"}))
        assert api.delete(f"{objects}/deleted.bag").status in (200, 204)
        queued = _ok(
            api.post("/ingestions", {"log_id": log["id"], "object_key": "run.bag", "state": "queued"})
        )
        ready = _ok(api.post("/ingestions", {"log_id": log["id"], "object_key": "run.bag"}))
        assert api.delete(f"/ingestions/{ready['id']}").status in (200, 204)
        store = _ok(
            api.post(
                "/objectStores",
                {
                    "name": "fleet",
                    "bucket_name": EXTERNAL_BUCKET,
                    "access_key_id": "AKIAEXAMPLE",
                    "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                    "key_prefix": "fleet/",
                },
            )
        )
        _ok(api.get(f"/objectStores/{store['id']}/objects"))
        key = _ok(api.post("/apiKeys", {"name": "robot", "role": "read"}))
        revoked = _ok(api.post("/apiKeys", {"name": "revoked", "role": "write"}))
        with AuthorizerCacheFlushHook({(REST_API_ID, STAGE): lambda: flushed.append(STAGE)}):
            _ok(api.patch(f"/apiKeys/{revoked['id']}", {"role": "read"}))
            assert api.delete(f"/apiKeys/{revoked['id']}").status == 204
        assert api.delete(f"/topics/{topic['id']}").status in (200, 204)
    # and API Gateway asks the authorizer about the new key, a wrong secret and an unknown key
    authorizer = _function(template, "AuthorizerFunction")
    event = load_event("authorizer/api_key_request.json")

    def authorize(key_id: str, secret: str) -> Any:
        header = format_authorization(UUID(key_id), secret)
        event["headers"]["Authorization"] = header
        event["multiValueHeaders"]["Authorization"] = [header]
        return authorizer.invoke(event)

    with recorder.running("AuthorizerFunction"):
        answer = authorize(key["id"], key["secret"])
        for key_id, secret in ((key["id"], "wrong"), (DATASTORE_ID, "unknown")):
            with pytest.raises(Exception, match=r"^Unauthorized$"):
                authorize(key_id, secret)

    # Then each made the calls expected of it, and the template allows every one
    assert completed["size"] == len(data) and queued["state"] == "queued"
    assert flushed == [STAGE, STAGE]
    assert answer["context"] == {"keyId": key["id"], "role": "read", "userId": ""}
    # The answer is cached per header for every route (AuthorizerCacheTtlSeconds): it allows the stage.
    (allowed,) = answer["policyDocument"]["Statement"]
    assert (allowed["Effect"], allowed["Resource"]) == (
        "Allow",
        "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/v1/*/*",
    )
    assert {
        "s3:CreateMultipartUpload",
        "presigned s3:UploadPart",
        "s3:ListParts",
        "s3:CompleteMultipartUpload",
        "presigned s3:GetObject",
        "s3:AbortMultipartUpload",
        "s3:ListObjectsV2",
        "kms:Encrypt",
        "kms:Decrypt",
        "dynamodb:TransactWriteItems",
        "dynamodb:BatchWriteItem",
        "apigateway:FlushStageAuthorizersCache",
    } <= _operations(recorder, "ApiFunction")
    assert _operations(recorder, "AuthorizerFunction") == {"dynamodb:GetItem"}
    assert _refused(recorder, template, deployed) == {}


# -- QueryFunction (invoked by ApiFunction) ---------------------------------------------------------


class _RecordedFunction(InProcessFunction):
    """A function whose calls the recorder gives to it, also when another function invokes it."""

    def __init__(self, function: InProcessFunction, recorder: CallRecorder, function_name: str) -> None:
        super().__init__(function.spec, function_name)
        self._recorder = recorder

    def invoke(self, event: Any, context: Any = None) -> Any:
        with self._recorder.running(self.spec.logical_id):
            return super().invoke(event, context)


def test_template_permissions_allow_every_call_of_a_query(
    api: ApiClient,
    recorder: CallRecorder,
    deployed: dict[str, str],
    template: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a log with records and a tag, and ApiFunction set to invoke QueryFunction
    log = create_log(api, create_group(api, "Queried")["id"], "Session")
    topic = create_topic(api, log["id"], "/chatter")
    create_records(api, topic["id"], [10, 20, 30])
    label = _ok(api.post("/labels", {"value": "braking"}))
    _ok(api.post(f"/logs/{log['id']}/tags", {"label_id": label["id"], "topic_id": topic["id"]}))
    monkeypatch.setenv("QUERY_FUNCTION_NAME", QUERY_FUNCTION_NAME)
    get_settings.cache_clear()
    get_services.cache_clear()
    query_function = _RecordedFunction(_function(template, "QueryFunction"), recorder, QUERY_FUNCTION_NAME)
    statement = (
        "SELECT t.name, count(*), (SELECT count(*) FROM tags g WHERE g.label = 'braking'), "
        "(SELECT count(*) FROM ingestions) FROM records r JOIN topics t ON r.topic_id = t.id GROUP BY 1"
    )

    # When a query is created and changed through the API
    with LambdaInvokeHook({QUERY_FUNCTION_NAME: query_function}), recorder.running("ApiFunction"):
        query = _ok(api.post(f"/logs/{log['id']}/queries", {"statement": statement}))
        changed = _ok(api.patch(f"/queries/{query['id']}", {"statement": "SELECT count(*) FROM records"}))

    # Then it ran in QueryFunction, which only read, and the template allows every call of both
    assert (query["error"], query["rows"]) == (None, [["/chatter", 3, 1, 0]])
    assert changed["rows"] == [[3]]
    assert "lambda:Invoke" in _operations(recorder, "ApiFunction")
    assert _operations(recorder, "QueryFunction") == {"dynamodb:Query", "dynamodb:GetItem"}
    assert _refused(recorder, template, deployed) == {}


# -- IngestionTriggerFunction -------------------------------------------------------------------------


def _object_created(bucket: str, key: str) -> dict[str, Any]:
    """The S3 event of events/ingestion_trigger for an object now in moto."""
    head = boto3.client("s3").head_object(Bucket=bucket, Key=key)
    event = load_event("ingestion_trigger/s3_object_created.json")
    record = event["Records"][0]
    record["s3"]["bucket"].update(name=bucket, arn=f"arn:aws:s3:::{bucket}")
    record["s3"]["object"].update(
        key=quote_plus(key, safe="/"), eTag=head["ETag"].strip('"'), size=head["ContentLength"]
    )
    return dict(event)


def _queued(ingestion: dict[str, Any], attempt: int) -> dict[str, Any]:
    """The stream event of events/ingestion_trigger for an ingestion that entered queued."""
    event = load_event("ingestion_trigger/dynamodb_ingestion_queued.json")
    record = event["Records"][0]["dynamodb"]
    record["Keys"]["pk"]["S"] = record["NewImage"]["pk"]["S"] = f"ingestion#{ingestion['id']}"
    record["NewImage"]["id"]["S"] = ingestion["id"]
    record["NewImage"]["x_attempt"]["N"] = str(attempt)
    return dict(event)


def test_template_permissions_allow_every_call_of_the_ingestion_trigger(
    api: ApiClient, recorder: CallRecorder, deployed: dict[str, str], template: dict[str, Any]
) -> None:
    s3 = boto3.client("s3")
    # A small file (CopyObject) and one above s3transfer's 8 MiB multipart threshold (UploadPartCopy).
    dropped = {
        "drop/Fleet/Run 7/small.bag": b"#ROSBAG V2.0\n",
        "drop/Fleet/Run 7/big.bin": bytes(9 * 1024 * 1024),
    }
    for key, body in dropped.items():
        s3.put_object(Bucket=DEPLOYED_BUCKET, Key=key, Body=body)
    trigger = _function(template, "IngestionTriggerFunction")

    with recorder.running("IngestionTriggerFunction"):
        ingestion_ids = [
            trigger.invoke(_object_created(DEPLOYED_BUCKET, key))["ingestion_ids"] for key in dropped
        ]
        (ingestion_id,) = ingestion_ids[0]
        started = trigger.invoke(_queued(api.get(f"/ingestions/{ingestion_id}").data, 1))

    assert len(started["execution_arns"]) == 1
    assert "Contents" not in s3.list_objects_v2(Bucket=DEPLOYED_BUCKET, Prefix="drop/")
    assert {"s3:CopyObject", "s3:UploadPartCopy", "s3:DeleteObject", "states:StartExecution"} <= _operations(
        recorder, "IngestionTriggerFunction"
    )
    assert _refused(recorder, template, deployed) == {}


# -- Cancelling (ApiFunction) and reconciling (ReconcileIngestionsFunction) ---------------------------


def test_template_permissions_allow_every_call_of_cancelling_and_reconciling(
    api: ApiClient, recorder: CallRecorder, deployed: dict[str, str], template: dict[str, Any], tmp_path: Path
) -> None:
    # Given three ingestions of a bag, planned and a part done, each with its execution running
    data = _bag(tmp_path)
    log = create_log(api, create_group(api, "Reconciled")["id"], "run")
    s3 = boto3.client("s3")
    s3.put_object(Bucket=DEPLOYED_BUCKET, Key=f"lqs/{DATASTORE_ID}/logs/{log['id']}/run.bag", Body=data)
    sfn = boto3.client("stepfunctions")
    ingestions, executions = [], []
    for _ in range(3):
        request = {
            "log_id": log["id"],
            "object_key": "run.bag",
            "state": "queued",
            "context": {"allow_duplicate": True},
        }
        ingestion = _ok(api.post("/ingestions", request))
        name = f"{ingestion['id']}-1"
        executions.append(
            sfn.start_execution(stateMachineArn=deployed["INGESTION_STATE_MACHINE_ARN"], name=name)[
                "executionArn"
            ]
        )
        task = {"ingestion_id": ingestion["id"], "attempt": 1}
        plan = _function(template, "PlanIngestionFunction").invoke(task)
        _function(template, "ProcessPartFunction").invoke(tasks.parts_of(plan)[0])
        ingestions.append(ingestion)
    cancelled, aborted, swept = ingestions
    for arn in executions[1:]:
        sfn.stop_execution(executionArn=arn)  # as Step Functions' own limits would end them
    event = load_event("reconcile_ingestions/execution_aborted.json")
    event["detail"].update(name=f"{aborted['id']}-1", executionArn=executions[1])

    # When a user cancels the first, EventBridge reports the second's end and the schedule sweeps
    with recorder.running("ApiFunction"):
        _ok(api.patch(f"/ingestions/{cancelled['id']}", {"state": "cancelled"}))
    reconcile = _function(template, "ReconcileIngestionsFunction")
    with recorder.running("ReconcileIngestionsFunction"):
        answers = [
            reconcile.invoke(event),
            reconcile.invoke(load_event("reconcile_ingestions/scheduled_sweep.json")),
        ]
    # and, an hour later, the sweep finds an ingestion queued again without an execution
    requeued = _ok(api.patch(f"/ingestions/{swept['id']}", {"state": "queued"}))
    with recorder.running("ReconcileIngestionsFunction"):
        services = get_services()
        IngestionReconciler(
            services.ingestions,
            services.pipeline.attempts,
            services.trigger.starter,
            Environment(now=lambda: datetime.now(UTC) + timedelta(hours=1)),
        ).sweep()

    # Then each made the calls expected of it, and the template allows every one
    assert sfn.describe_execution(executionArn=executions[0])["status"] == "ABORTED"
    assert [answer["failed"] for answer in answers] == [[aborted["id"]], [swept["id"]]]
    assert requeued["state"] == "queued"
    assert "states:StopExecution" in _operations(recorder, "ApiFunction")
    assert {"states:DescribeExecution", "states:StartExecution", "dynamodb:BatchWriteItem"} <= _operations(
        recorder, "ReconcileIngestionsFunction"
    )
    assert _refused(recorder, template, deployed) == {}


# -- The ingestion state machine's tasks --------------------------------------------------------------


def _distributed_map_calls(recorder: CallRecorder, plan: dict[str, Any], parts: list[dict[str, Any]]) -> None:
    """What Step Functions does with the state machine's role for "Process parts" (nothing runs it
    here): its ItemReader reads the manifest the plan named, and it starts, describes and stops child
    executions of its own state machine."""
    own = f"arn:aws:states:us-east-1:123456789012:stateMachine:{STATE_MACHINE_NAME}"
    child = f"arn:aws:states:us-east-1:123456789012:execution:{STATE_MACHINE_NAME}/Process parts:{uuid4()}"
    location = plan["manifest"]
    recorder.calls["IngestionStateMachine"] += [
        Call("s3", "GetObject", {"Bucket": location["bucket"], "Key": location["key"]}),
        *(Call("states", "StartExecution", {"stateMachineArn": own}) for _ in parts),
        Call("states", "DescribeExecution", {"executionArn": child}),
        Call("states", "StopExecution", {"executionArn": child}),
    ]


def _run_tasks(
    recorder: CallRecorder,
    template: dict[str, Any],
    ingestion_id: str,
    *,
    fail: bool = False,
    attempt: int = 1,
) -> dict[str, Any]:
    """Plan, process every part, then finalize (or, as if the first part had failed: note its failure,
    then fail the ingestion), as the ASL does."""
    payload = {"ingestion_id": ingestion_id, "attempt": attempt}
    with recorder.running("PlanIngestionFunction"):
        plan = _function(template, "PlanIngestionFunction").invoke(payload)
    parts = tasks.parts_of(plan)
    assert len(parts) > 1
    assert plan["manifest"]["bucket"] == DEPLOYED_BUCKET
    _distributed_map_calls(recorder, plan, parts)
    if fail:
        error = load_event("ingestion/fail_part.json")["error"]
        with recorder.running("FailPartFunction"):
            noted = _function(template, "FailPartFunction").invoke({**parts[0], "error": error})
        assert noted["state"] == "failed"
        caught = {"Error": "States.ExceedToleratedFailureThreshold", "Cause": "A part failed."}
        with recorder.running("FailIngestionFunction"):
            return dict(_function(template, "FailIngestionFunction").invoke({**payload, "error": caught}))
    with recorder.running("ProcessPartFunction"):
        for part in parts:
            _function(template, "ProcessPartFunction").invoke(part)
    with recorder.running("FinalizeIngestionFunction"):
        return dict(_function(template, "FinalizeIngestionFunction").invoke(payload))


def test_template_permissions_allow_every_call_of_the_ingestion_tasks(
    api: ApiClient, recorder: CallRecorder, deployed: dict[str, str], template: dict[str, Any], tmp_path: Path
) -> None:
    # Given a bag uploaded to a log, the same bag in a registered object store, and a third log
    data = _bag(tmp_path)
    s3 = boto3.client("s3")
    group = create_group(api, "Tasks")
    logs = [create_log(api, group["id"], name) for name in ("Uploaded", "In store", "Failing")]
    for log in (logs[0], logs[2]):
        s3.put_object(Bucket=DEPLOYED_BUCKET, Key=f"lqs/{DATASTORE_ID}/logs/{log['id']}/run.bag", Body=data)
    s3.put_object(Bucket=EXTERNAL_BUCKET, Key="fleet/run.bag", Body=data)
    store = _ok(
        api.post(
            "/objectStores",
            {
                "name": "fleet",
                "bucket_name": EXTERNAL_BUCKET,
                "access_key_id": "AKIAEXAMPLE",
                "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "key_prefix": "fleet/",
            },
        )
    )
    queued = {"object_key": "run.bag", "state": "queued"}
    uploaded, in_store, failing = (
        _ok(api.post("/ingestions", {"log_id": logs[0]["id"], **queued})),
        _ok(api.post("/ingestions", {"log_id": logs[1]["id"], "object_store_id": store["id"], **queued})),
        _ok(api.post("/ingestions", {"log_id": logs[2]["id"], **queued})),
    )

    # When the state machine's tasks run each of them (the third's first part fails; queued again, its
    # new plan replaces the failed attempt's parts), and the first ingestion is deleted with its parts
    results = [
        _run_tasks(recorder, template, uploaded["id"]),
        _run_tasks(recorder, template, in_store["id"]),
        _run_tasks(recorder, template, failing["id"], fail=True),
    ]
    failed = api.get(f"/ingestions/{failing['id']}").data
    assert _ok(api.patch(f"/ingestions/{failing['id']}", {"state": "queued"}))["state"] == "queued"
    results.append(_run_tasks(recorder, template, failing["id"], attempt=2))
    with recorder.running("ApiFunction"):
        assert api.delete(f"/ingestions/{uploaded['id']}").status in (200, 204)

    # Then they did their work, and the template allows every call they made
    assert [result["state"] for result in results] == ["completed", "completed", "failed", "completed"]
    assert (failed["error_name"], failed["error_payload"]["failed_parts"][0]["sequence"]) == (
        "Sandbox.Timedout",
        0,
    )
    assert api.get(f"/logs/{logs[1]['id']}").data["record_count"] == 120
    assert api.get(f"/logs/{logs[2]['id']}").data["record_count"] == 120
    assert api.get("/ingestionParts", params={"ingestion_id": uploaded["id"]}).json()["count"] == 0
    assert "kms:Decrypt" in _operations(recorder, "ProcessPartFunction")
    assert {"dynamodb:BatchWriteItem", "dynamodb:UpdateItem"} <= _operations(recorder, "ProcessPartFunction")
    assert {"dynamodb:BatchWriteItem", "s3:PutObject"} <= _operations(recorder, "PlanIngestionFunction")
    assert "dynamodb:BatchWriteItem" in _operations(recorder, "ApiFunction")
    assert _operations(recorder, "FailPartFunction") == {"dynamodb:GetItem", "dynamodb:TransactWriteItems"}
    assert "dynamodb:TransactWriteItems" in _operations(recorder, "FailIngestionFunction")
    assert _operations(recorder, "IngestionStateMachine") == {
        "s3:GetObject",
        "states:StartExecution",
        "states:DescribeExecution",
        "states:StopExecution",
    }
    assert _refused(recorder, template, deployed) == {}


# -- HookDeliveryFunction -----------------------------------------------------------------------------


def test_template_permissions_allow_every_call_of_the_hook_delivery(
    api: ApiClient,
    aws: dict[str, str],
    recorder: CallRecorder,
    deployed: dict[str, str],
    template: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the deployment's queues, and a receiver that fails once
    sqs = boto3.client("sqs")
    queues = create_queues(sqs, template, prefix=QUEUE_PREFIX)
    url = queues["HookDeliveryQueue"]
    for name, value in {
        "HOOK_DELIVERY_QUEUE_URL": url,
        "HOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "HOOK_RETRY_BASE_DELAY_S": "0",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    get_services.cache_clear()
    source = SqsEventQueue(sqs, url, queue_arn(url.rsplit("/", 1)[-1]), report_batch_item_failures=True)
    function = _function(template, "HookDeliveryFunction")
    stream = StreamReader(template, aws["RESOURCES_TABLE_NAME"])
    with HookReceiver() as receiver:
        receiver.answer("/events", 500, 200)
        # When a user sets up a workflow with a signed hook and a process runs under it
        with recorder.running("ApiFunction"):
            workflow = _ok(api.post("/workflows", {"name": "Notify", "process_type": "ingestion"}))
            hook = {"trigger_process": "ingestion", "trigger_state": "ready", "uri": receiver.url("/events")}
            _ok(api.post(f"/workflows/{workflow['id']}/hooks", {**hook, "secret": "s3cret"}))
            log = create_log(api, create_group(api, "Hooks")["id"], "Run")
            _ok(api.post("/ingestions", {"log_id": log["id"], "workflow_id": workflow["id"]}))
        # and the function gets the stream's change, then the queue's job twice (a 500, then a 200)
        changes = {"Records": stream.read()}  # Lambda's reads of the stream, not the function's
        with recorder.running("HookDeliveryFunction"):
            function.invoke(changes)
        for _ in range(2):
            (delivery,) = source.receive()
            with recorder.running("HookDeliveryFunction"):
                answer = function.invoke(delivery.event)
            source.settle(delivery.event, answer)

    # Then the receiver got the delivery, and the template allows every call made on the way
    assert len(receiver.posts_to("/events")) == 2 and answer["delivered"] == 1
    assert {"kms:Encrypt", "dynamodb:TransactWriteItems"} <= _operations(recorder, "ApiFunction")
    assert {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:TransactWriteItems",
        "kms:Decrypt",
        "sqs:SendMessageBatch",
        "sqs:ChangeMessageVisibility",
    } <= _operations(recorder, "HookDeliveryFunction")


def test_template_permissions_allow_every_call_of_a_recording_converted_failed_and_deleted(
    api: ApiClient, recorder: CallRecorder, deployed: dict[str, str], template: dict[str, Any], tmp_path: Path
) -> None:
    # Given a ROS 2 recording of two .db3 files uploaded to a log
    recording = write_split_recording(
        tmp_path / "run", [mixed_messages(10**18, 30), mixed_messages(10**18 + 10**9, 20)], storage="sqlite3"
    )
    s3 = boto3.client("s3")
    log = create_log(api, create_group(api, "Recordings")["id"], "Run")
    for path in recording.path.iterdir():
        s3.put_object(
            Bucket=DEPLOYED_BUCKET,
            Key=f"lqs/{DATASTORE_ID}/logs/{log['id']}/run/{path.name}",
            Body=path.read_bytes(),
        )
    ingestion = _ok(
        api.post("/ingestions", {"log_id": log["id"], "object_key": "run/metadata.yaml", "state": "queued"})
    )

    # When a first attempt converts one file and fails on the other (its derived object is deleted), a
    # second converts both (a part each), and the ingestion is deleted with its derived objects
    payload = {"ingestion_id": ingestion["id"], "attempt": 1}
    with recorder.running("PlanIngestionFunction"):
        plan = _function(template, "PlanIngestionFunction").invoke(payload)
    first, second = tasks.parts_of(plan)
    with recorder.running("ProcessPartFunction"):
        _function(template, "ProcessPartFunction").invoke(first)
    with recorder.running("FailPartFunction"):
        _function(template, "FailPartFunction").invoke(
            {**second, "error": load_event("ingestion/fail_part.json")["error"]}
        )
    caught = {"Error": "States.ExceedToleratedFailureThreshold", "Cause": "A part failed."}
    with recorder.running("FailIngestionFunction"):
        results = [_function(template, "FailIngestionFunction").invoke({**payload, "error": caught})]
    assert _ok(api.patch(f"/ingestions/{ingestion['id']}", {"state": "queued"}))["state"] == "queued"
    results.append(_run_tasks(recorder, template, ingestion["id"], attempt=2))
    with recorder.running("ApiFunction"):
        assert api.delete(f"/ingestions/{ingestion['id']}").status == 204

    # Then the template allows every call they made, the S3 ones included
    assert [result["state"] for result in results] == ["failed", "completed"]
    assert {"s3:PutObject", "s3:GetObject"} <= _operations(recorder, "ProcessPartFunction")
    assert {"s3:ListObjectsV2", "s3:DeleteObject"} <= _operations(recorder, "FailIngestionFunction")
    assert {"s3:ListObjectsV2", "s3:DeleteObject"} <= _operations(recorder, "ApiFunction")
    listed = s3.list_objects_v2(Bucket=DEPLOYED_BUCKET, Prefix=f"lqs/{DATASTORE_ID}/logs/{log['id']}/")
    assert sorted(item["Key"].rsplit("/", 1)[1] for item in listed["Contents"]) == [
        "metadata.yaml",
        "run_0.db3",
        "run_1.db3",
    ]
    assert _refused(recorder, template, deployed) == {}


def test_refused_reports_a_call_the_policy_does_not_allow(
    recorder: CallRecorder, deployed: dict[str, str], template: dict[str, Any]
) -> None:
    # Given ProcessPartFunction writing a log item (its policy allows parts and topics only)
    recorder.calls["ProcessPartFunction"].append(
        Call(
            "dynamodb",
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": deployed["RESOURCES_TABLE_NAME"], "Item": {"pk": "log#1"}}}
                ]
            },
        )
    )
    # and ApiFunction asking for SSE-KMS (the bucket policy refuses other encryption)
    recorder.calls["ApiFunction"].append(
        Call(
            "s3", "PutObject", {"Bucket": DEPLOYED_BUCKET, "Key": "lqs/x", "ServerSideEncryption": "aws:kms"}
        )
    )

    # and ApiFunction flushing the authorizer cache of a stage of another API (it may flush its own only)
    recorder.calls["ApiFunction"].append(
        Call("apigateway", "FlushStageAuthorizersCache", {"restApiId": "0therap1d0", "stageName": STAGE})
    )

    refused = _refused(recorder, template, deployed)

    assert [line.split(":")[0] for line in refused["ProcessPartFunction"]] == ["not allowed"]
    assert [line.split(":")[0] for line in refused["ApiFunction"]] == [
        "denied by the bucket policy",
        "not allowed",
    ]


def test_call_recorder_records_presigned_urls_as_the_signers_calls(
    recorder: CallRecorder, deployed: dict[str, str]
) -> None:
    s3 = boto3.client("s3")

    with recorder.running("ApiFunction"):
        s3.generate_presigned_url("get_object", Params={"Bucket": DEPLOYED_BUCKET, "Key": "lqs/a"})
        s3.list_objects_v2(Bucket=DEPLOYED_BUCKET)
    s3.head_bucket(Bucket=DEPLOYED_BUCKET)

    assert [str(call) for call in recorder.calls["ApiFunction"]] == [
        "presigned s3:GetObject",
        "s3:ListObjectsV2",
    ]
    assert set(recorder.calls) == {"ApiFunction"}
