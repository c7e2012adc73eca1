"""Answer Lambda ``Invoke`` calls with the in-process functions, without Docker.

moto runs Lambda code only in containers. Everything in the local stack that invokes a function —
above all moto's Step Functions interpreter, whose Task states call ``lambda.invoke`` through
``boto3.client("lambda", ...)`` — creates its client from boto3's default session. A botocore
``before-call.lambda.Invoke`` handler registered on that session answers the call before any HTTP
request is made: it finds the function by name or ARN, calls its handler in this thread, and returns
the response Lambda would have returned, so the interpreter's Retry and Catch see what they see on AWS.

An exception raised by a handler becomes ``FunctionError: "Unhandled"`` with Lambda's error payload
(``errorMessage``, ``errorType``, ``requestId``, ``stackTrace``); Step Functions names the error by its
``errorType``, so ``raise BadLogFile(...)`` in a handler reaches the state machine as ``"BadLogFile"``.
Names the hook does not know (and qualifiers other than ``$LATEST``) go on to moto, which answers as
Lambda does for a function that does not exist.
"""

from __future__ import annotations

import base64
import io
import json
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TextIO
from urllib.parse import unquote

import boto3
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

from openlqs.local.cloudformation import LOCAL_REGION
from openlqs.local.functions import (
    InProcessFunction,
    InvocationError,
    LambdaContext,
    error_type,
)

INVOKE_EVENT = "before-call.lambda.Invoke"
#: Lambda's limit on a synchronous invocation's request and response payloads.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
LATEST = "$LATEST"
_HANDLER_ID = "openlqs-local-lambda-invoke"
_URL_PATH_PREFIX = "/2015-03-31/functions/"
_URL_PATH_SUFFIX = "/invocations"

FunctionLookup = Callable[[str], InProcessFunction | None]


class LambdaInvokeHook:
    """Answers ``lambda.Invoke`` calls made through boto3's default session with in-process functions.

    ``functions`` maps function names (``InProcessFunction.function_name``) to functions, or is a
    callable doing so; it is consulted at every call, as Lambda resolves a name at every call. Errors
    of handlers are written to ``err`` (standard error by default), as Lambda writes them to the
    function's log. Use :meth:`install` and :meth:`uninstall` (or ``with``)::

        with LambdaInvokeHook({function.function_name: function}):
            boto3.client("lambda").invoke(FunctionName=function.arn, Payload=b"{}")
    """

    def __init__(
        self,
        functions: Mapping[str, InProcessFunction] | FunctionLookup,
        *,
        err: TextIO | None = None,
    ) -> None:
        self._lookup: FunctionLookup = functions.get if isinstance(functions, Mapping) else functions
        self._err = err
        self._session: boto3.session.Session | None = None
        self._in_flight = 0
        self._idle = threading.Condition()

    # Installation

    @property
    def installed(self) -> bool:
        """Whether the hook is registered on a session (which is not necessarily the default any more)."""
        return self._session is not None

    def install(self) -> LambdaInvokeHook:
        """Register on boto3's default session (creating it from the environment if there is none).

        Clients copy their session's handlers when they are created, so only clients created from now
        on are answered in-process. The session is also warmed up here (its lazily built components
        created once) because moto's Map state creates clients from it on several threads at once.
        """
        if self._session is not None:
            raise RuntimeError("the Lambda invoke hook is already installed")
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        session = boto3.DEFAULT_SESSION
        assert session is not None
        session.events.register(INVOKE_EVENT, self._on_invoke, unique_id=_HANDLER_ID)
        self._session = session
        _warm_up(session)
        return self

    def uninstall(self) -> None:
        """Unregister from the session it was installed on (idempotent)."""
        session, self._session = self._session, None
        if session is not None:
            session.events.unregister(INVOKE_EVENT, unique_id=_HANDLER_ID)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no invocation is running; returns False if some still run after ``timeout`` s."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    @property
    def in_flight(self) -> int:
        """How many invocations are running right now."""
        with self._idle:
            return self._in_flight

    def __enter__(self) -> LambdaInvokeHook:
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()

    # Invocation

    def invoke(
        self,
        function: InProcessFunction,
        payload: bytes,
        *,
        invocation_type: str = "RequestResponse",
        client_context: str | None = None,
    ) -> tuple[AWSResponse, dict[str, Any]]:
        """Invoke ``function`` with the JSON ``payload``; returns botocore's (http, parsed) response."""
        request_id = str(uuid.uuid4())
        if len(payload) > MAX_PAYLOAD_BYTES:
            return _client_error(
                413,
                "RequestTooLargeException",
                f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation",
                request_id,
            )
        try:
            event = json.loads(payload) if payload.strip() else {}
        except ValueError as error:
            return _client_error(
                400,
                "InvalidRequestContentException",
                f"Could not parse request body into json: {error}",
                request_id,
            )
        if invocation_type == "DryRun":
            return _response(204, b"", request_id)
        context = function.new_context()
        context.aws_request_id = request_id
        context.client_context = _decode_client_context(client_context)
        result, function_error = self._run(function, event, context)
        if invocation_type == "Event":
            # Run to completion here (locally there is no queue to hand it to); the caller gets 202.
            return _response(202, b"", request_id)
        return _response(200, result, request_id, function_error=function_error)

    def _run(
        self, function: InProcessFunction, event: Any, context: LambdaContext
    ) -> tuple[bytes, str | None]:
        with self._idle:
            self._in_flight += 1
        try:
            try:
                body = function.invoke_json(event, context)
            except Exception as error:
                self._log_error(function, error)
                return _error_payload(error, context.aws_request_id, error_type(error)), "Unhandled"
            if len(body) > MAX_PAYLOAD_BYTES:
                too_large = RuntimeError(
                    f"Response payload size ({len(body)} bytes) exceeded maximum allowed payload size "
                    f"({MAX_PAYLOAD_BYTES} bytes)."
                )
                return _error_payload(
                    too_large, context.aws_request_id, "Function.ResponseSizeTooLarge"
                ), "Unhandled"
            return body, None
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _on_invoke(
        self, params: Mapping[str, Any], **_kwargs: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        """The botocore handler: answer the call, or return None to let it go on to moto."""
        name, qualifier = parse_function_name(_function_name_from_path(str(params.get("url_path", ""))))
        qualifier = (params.get("query_string") or {}).get("Qualifier") or qualifier
        if qualifier not in (None, LATEST):
            return None
        function = self._lookup(name)
        if function is None:
            return None
        headers = params.get("headers") or {}
        return self.invoke(
            function,
            _body_bytes(params.get("body")),
            invocation_type=headers.get("X-Amz-Invocation-Type") or "RequestResponse",
            client_context=headers.get("X-Amz-Client-Context"),
        )

    def _log_error(self, function: InProcessFunction, error: BaseException) -> None:
        err = self._err or sys.stderr
        print(f"openlqs local: {function.function_name} raised {error_type(error)}: {error}", file=err)
        if isinstance(error, InvocationError):
            print(error.formatted, end="", file=err)
        else:
            traceback.print_exception(error, file=err)
        err.flush()


def parse_function_name(function_name: str) -> tuple[str, str | None]:
    """A ``FunctionName`` (name, ``name:qualifier``, ARN or partial ARN) as (name, qualifier)."""
    parts = function_name.split(":")
    if parts[0] == "arn" and len(parts) >= 7:
        return parts[6], parts[7] if len(parts) > 7 else None
    if len(parts) >= 3 and parts[1] == "function":  # 123456789012:function:name[:qualifier]
        return parts[2], parts[3] if len(parts) > 3 else None
    return parts[0], parts[1] if len(parts) > 1 else None


def _function_name_from_path(url_path: str) -> str:
    path = url_path.split("?", 1)[0]
    if path.startswith(_URL_PATH_PREFIX) and path.endswith(_URL_PATH_SUFFIX):
        return unquote(path[len(_URL_PATH_PREFIX) : -len(_URL_PATH_SUFFIX)])
    return ""


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    data = body.read()
    return data.encode() if isinstance(data, str) else bytes(data)


def _decode_client_context(client_context: str | None) -> Any:
    if not client_context:
        return None
    try:
        return json.loads(base64.b64decode(client_context))
    except ValueError:
        return None


def _error_payload(error: BaseException, request_id: str, error_type: str) -> bytes:
    if isinstance(error, InvocationError):
        stack_trace = error.stack_trace
    else:
        stack_trace = traceback.format_list(traceback.extract_tb(error.__traceback__))
    payload = {
        "errorMessage": str(error),
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack_trace,
    }
    return json.dumps(payload).encode()


class _RawBody:
    """The ``raw`` of an :class:`AWSResponse` that never went over the network."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kwargs: Any) -> Any:
        yield self._body


def _response(
    status: int, payload: bytes, request_id: str, *, function_error: str | None = None
) -> tuple[AWSResponse, dict[str, Any]]:
    headers = {
        "content-type": "application/json",
        "content-length": str(len(payload)),
        "x-amzn-requestid": request_id,
        "x-amz-executed-version": LATEST,
    }
    if function_error is not None:
        headers["x-amz-function-error"] = function_error
    http = AWSResponse(f"https://lambda.{LOCAL_REGION}.amazonaws.com", status, headers, _RawBody(payload))
    parsed: dict[str, Any] = {
        "ResponseMetadata": {
            "RequestId": request_id,
            "HTTPStatusCode": status,
            "HTTPHeaders": headers,
            "RetryAttempts": 0,
        },
        "StatusCode": status,
        "ExecutedVersion": LATEST,
        "Payload": StreamingBody(io.BytesIO(payload), len(payload)),
    }
    if function_error is not None:
        parsed["FunctionError"] = function_error
    return http, parsed


def _client_error(
    status: int, code: str, message: str, request_id: str
) -> tuple[AWSResponse, dict[str, Any]]:
    body = json.dumps({"Type": "User", "message": message}).encode()
    headers = {"content-type": "application/json", "x-amzn-requestid": request_id, "x-amzn-errortype": code}
    http = AWSResponse(f"https://lambda.{LOCAL_REGION}.amazonaws.com", status, headers, _RawBody(body))
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {
            "RequestId": request_id,
            "HTTPStatusCode": status,
            "HTTPHeaders": headers,
            "RetryAttempts": 0,
        },
        "Type": "User",
        "message": message,
    }
    return http, parsed


def _warm_up(session: boto3.session.Session) -> None:
    """Create what a session builds lazily, once, so that threads creating clients do not race."""
    session.client(
        "lambda",
        region_name=LOCAL_REGION,
        endpoint_url="http://127.0.0.1",
        aws_access_key_id="warm-up",
        aws_secret_access_key="warm-up",
    )
    session.get_credentials()
