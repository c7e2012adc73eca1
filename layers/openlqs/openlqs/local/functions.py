"""Run Lambda handlers in this process, loaded from the very files SAM deploys.

A handler is imported by file path (``functions/api/app.py``), the way the Lambda runtime imports it
from its ``CodeUri``, and called with a fake Lambda context.

How many invocations of one function run at once is the spec's ``max_concurrency``, as Lambda runs
concurrent invocations in separate environments. Handlers keep nothing per request at module level (the
API's Powertools resolver, which does, is one per thread); what they share in this process (Powertools
Logger keys, the metrics buffer, cached services) at worst puts another invocation's request id on a log
line.
"""

from __future__ import annotations

import decimal
import importlib.util
import json
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from openlqs.local.cloudformation import LOCAL_ACCOUNT_ID, LOCAL_REGION
from openlqs.local.resources import FunctionSpec

Handler = Callable[[Any, Any], Any]


@dataclass
class LambdaContext:
    """The attributes and method of the Lambda runtime's context object that handlers use."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    timeout_s: float
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout (informational: nothing enforces it)."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class InProcessFunction:
    """One Lambda function whose handler runs in this process, ``spec.max_concurrency`` calls at a time."""

    def __init__(self, spec: FunctionSpec, function_name: str | None = None) -> None:
        self.spec = spec
        self.function_name = function_name or f"openlqs-local-{spec.logical_id}"
        self._handler: Handler | None = None
        self._load_lock = threading.Lock()
        self._invoke_slots = threading.BoundedSemaphore(max(1, spec.max_concurrency))

    @classmethod
    def from_file(
        cls, code_path: Path, handler_name: str = "lambda_handler", logical_id: str = "Function"
    ) -> InProcessFunction:
        """A function whose handler is ``handler_name`` in the Python file ``code_path``."""
        return cls(FunctionSpec(logical_id=logical_id, code_path=code_path, handler_name=handler_name))

    @property
    def arn(self) -> str:
        """The function's ARN as a deployed function's context reports it."""
        return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{self.function_name}"

    def load(self) -> Handler:
        """Import the handler's file (once) and return the handler; raises if it is missing."""
        with self._load_lock:
            if self._handler is None:
                self._handler = _import_handler(self.spec)
            return self._handler

    def new_context(self) -> LambdaContext:
        """A fresh context for one invocation, with its own request id."""
        return LambdaContext(
            function_name=self.function_name,
            memory_limit_in_mb=self.spec.memory_mb,
            invoked_function_arn=self.arn,
            aws_request_id=str(uuid.uuid4()),
            timeout_s=self.spec.timeout_s,
        )

    def invoke(self, event: Any, context: LambdaContext | None = None) -> Any:
        """Call the handler with ``event`` and return what it returns (exceptions propagate).

        Waits for a free slot when ``spec.max_concurrency`` invocations are already running.
        """
        handler = self.load()
        with self._invoke_slots:
            return handler(event, context or self.new_context())

    def invoke_json(self, event: Any, context: LambdaContext | None = None) -> bytes:
        """:meth:`invoke`, with the result as Lambda's runtime sends it: JSON (see :func:`marshal`)."""
        return marshal(self.invoke(event, context))


def _import_handler(spec: FunctionSpec) -> Handler:
    path = spec.code_path
    if not path.is_file():
        raise FileNotFoundError(f"{spec.logical_id}: handler file {path} does not exist")
    module_name = f"openlqs_local_{spec.logical_id}_{path.stem}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"{spec.logical_id}: cannot import {path}")
    module: ModuleType = importlib.util.module_from_spec(module_spec)
    # Registered before it runs, as a normal import is: Pydantic and dataclasses look their module up.
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    handler = getattr(module, spec.handler_name, None)
    if not callable(handler):
        raise AttributeError(f"{spec.logical_id}: {path} has no callable {spec.handler_name!r}")
    return handler


class InvocationError(Exception):
    """An invocation's failure as Lambda's runtime reports it, when it is not the handler's exception
    itself: what a handler raised in a worker process (``openlqs.local.workers``), or a result that is
    not JSON. Its ``errorType``, message, stack trace (Lambda's ``stackTrace`` lines) and the traceback
    as Python printed it where it was raised."""

    def __init__(
        self, error_type: str, message: str, *, stack_trace: list[str] | None = None, formatted: str = ""
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.stack_trace = stack_trace or []
        self.formatted = formatted or f"{error_type}: {message}\n"

    def __reduce__(self) -> Any:
        return (_invocation_error, (self.error_type, str(self), self.stack_trace, self.formatted))


def _invocation_error(
    error_type: str, message: str, stack_trace: list[str], formatted: str
) -> InvocationError:
    return InvocationError(error_type, message, stack_trace=stack_trace, formatted=formatted)


def error_type(error: BaseException) -> str:
    """The ``errorType`` the Python runtime reports: the class name, or a ``Runtime.*`` init error."""
    if isinstance(error, InvocationError):
        return error.error_type
    if not _raised_while_loading(error):
        return type(error).__name__
    if isinstance(error, SyntaxError):
        return "Runtime.UserCodeSyntaxError"
    if isinstance(error, ImportError | FileNotFoundError):
        return "Runtime.ImportModuleError"
    if isinstance(error, AttributeError):
        return "Runtime.HandlerNotFound"
    return type(error).__name__


def _raised_while_loading(error: BaseException) -> bool:
    """Whether ``error`` comes from importing the handler's file rather than from calling the handler."""
    return any(
        frame.filename == __file__ and frame.name == "_import_handler"
        for frame in traceback.extract_tb(error.__traceback__)
    )


def marshal(output: Any) -> bytes:
    """A handler's result as the Lambda Python runtime sends it: JSON, with Decimal as numbers; raises
    :class:`InvocationError` ``Runtime.MarshalError`` for a result that is not JSON."""
    try:
        return json.dumps(output, default=json_default, ensure_ascii=False).encode()
    except (TypeError, ValueError) as error:
        raise InvocationError("Runtime.MarshalError", f"Unable to marshal response: {error}") from None


def json_default(value: Any) -> Any:
    """What the Lambda Python runtime's encoder adds to ``json``: Decimal (as DynamoDB returns numbers)."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
