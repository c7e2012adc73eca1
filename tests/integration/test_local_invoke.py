"""The ``lambda.Invoke`` hook: local functions (in this process or in workers) answer Lambda calls on boto3's
default session."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from openlqs.local.functions import InProcessFunction
from openlqs.local.invoke import LambdaInvokeHook, parse_function_name
from openlqs.local.workers import ProcessFunction, close_all

HANDLERS = """
import decimal


class BadInput(Exception):
    pass


def lambda_handler(event, context):
    if event.get("fail"):
        raise BadInput(f"cannot use {event['fail']}")
    if event.get("unserializable"):
        return {"value": object()}
    doubled = event["value"] * 2
    return {"doubled": doubled, "request_id": context.aws_request_id, "price": decimal.Decimal("1.5")}
"""


def _function(handler_file: Path, logical_id: str, where: str) -> InProcessFunction:
    """The function in this process, or in a worker process (as the local stack runs task functions)."""
    function = InProcessFunction.from_file(handler_file, logical_id=logical_id)
    if where == "worker":
        return ProcessFunction(function.spec, processes=1)
    return function


@pytest.fixture(params=["in-process", "worker"])
def double(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[InProcessFunction]:
    handler_file = tmp_path / "double" / "app.py"
    handler_file.parent.mkdir()
    handler_file.write_text(HANDLERS)
    function = _function(handler_file, "DoubleFunction", request.param)
    yield function
    close_all([function])


@pytest.fixture
def hook(aws_credentials: None, double: InProcessFunction) -> Iterator[LambdaInvokeHook]:
    # mock_aws gives boto3 a fresh default session: the hook goes on that one, as it does locally.
    with mock_aws(), LambdaInvokeHook({double.function_name: double}, err=io.StringIO()) as installed:
        yield installed


def _invoke(function_name: str, payload: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return dict(
        boto3.client("lambda").invoke(FunctionName=function_name, Payload=json.dumps(payload), **kwargs)
    )


def test_invoke_hook_returns_the_handlers_result(hook: LambdaInvokeHook, double: InProcessFunction) -> None:
    response = _invoke(double.arn, {"value": 21})

    payload = json.loads(response["Payload"].read())
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    assert payload["doubled"] == 42
    assert payload["price"] == 1.5
    assert payload["request_id"] == response["ResponseMetadata"]["RequestId"]


@pytest.mark.parametrize(
    "name_of",
    [
        lambda f: f.function_name,
        lambda f: f"{f.function_name}:$LATEST",
        lambda f: f.arn,
        lambda f: f"{f.arn}:$LATEST",
        lambda f: f"123456789012:function:{f.function_name}",
    ],
    ids=["name", "name-qualifier", "arn", "arn-qualifier", "partial-arn"],
)
def test_invoke_hook_finds_the_function_by_name_or_arn(
    hook: LambdaInvokeHook, double: InProcessFunction, name_of: Any
) -> None:
    response = _invoke(name_of(double), {"value": 1})

    assert json.loads(response["Payload"].read())["doubled"] == 2


def test_invoke_hook_maps_an_exception_to_an_unhandled_function_error(
    hook: LambdaInvokeHook, double: InProcessFunction
) -> None:
    response = _invoke(double.function_name, {"fail": "this"})

    error = json.loads(response["Payload"].read())
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "BadInput"
    assert error["errorMessage"] == "cannot use this"
    assert any("lambda_handler" in line for line in error["stackTrace"])


def test_invoke_hook_reports_an_unserializable_result_as_a_marshal_error(
    hook: LambdaInvokeHook, double: InProcessFunction
) -> None:
    response = _invoke(double.function_name, {"unserializable": True})

    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "Runtime.MarshalError"


@pytest.mark.parametrize("where", ["in-process", "worker"])
def test_invoke_hook_reports_a_missing_handler_file_as_an_import_error(
    aws_credentials: None, tmp_path: Path, where: str
) -> None:
    missing = _function(tmp_path / "nowhere" / "app.py", "MissingFunction", where)
    try:
        with mock_aws(), LambdaInvokeHook({missing.function_name: missing}, err=io.StringIO()):
            response = _invoke(missing.function_name, {})
    finally:
        close_all([missing])

    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "Runtime.ImportModuleError"


def test_invoke_hook_refuses_a_payload_that_is_not_json(
    hook: LambdaInvokeHook, double: InProcessFunction
) -> None:
    with pytest.raises(ClientError) as raised:
        boto3.client("lambda").invoke(FunctionName=double.function_name, Payload=b"{not json")

    assert raised.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_invoke_hook_leaves_unknown_functions_to_moto(hook: LambdaInvokeHook) -> None:
    with pytest.raises(ClientError) as raised:
        _invoke("someone-elses-function", {})

    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_invoke_hook_answers_an_event_invocation_with_202_after_running_it(
    hook: LambdaInvokeHook, double: InProcessFunction
) -> None:
    response = _invoke(double.function_name, {"value": 1}, InvocationType="Event")

    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""


def test_invoke_hook_uninstall_stops_answering(aws_credentials: None, double: InProcessFunction) -> None:
    with mock_aws():
        hook = LambdaInvokeHook({double.function_name: double}).install()
        answered = _invoke(double.function_name, {"value": 2})["StatusCode"]
        hook.uninstall()
        with pytest.raises(ClientError) as raised:
            _invoke(double.function_name, {"value": 2})

    assert answered == 200
    assert not hook.installed
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.parametrize(
    ("function_name", "expected"),
    [
        ("f", ("f", None)),
        ("f:live", ("f", "live")),
        ("arn:aws:lambda:us-east-1:123456789012:function:f", ("f", None)),
        ("arn:aws:lambda:us-east-1:123456789012:function:f:7", ("f", "7")),
        ("123456789012:function:f:$LATEST", ("f", "$LATEST")),
    ],
)
def test_parse_function_name_accepts_every_form_lambda_does(
    function_name: str, expected: tuple[str, str | None]
) -> None:
    assert parse_function_name(function_name) == expected
