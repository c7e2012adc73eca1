"""What the tests of the local stack share."""

from __future__ import annotations

import queue
import shutil
from pathlib import Path
from typing import Any

from openlqs.local import LocalStack
from openlqs.local.functions import InProcessFunction, LambdaContext
from openlqs.local.resources import FunctionSpec
from tests.support.paths import PROJECT_DIR

#: Generous upper bound for an event to arrive, so a slow machine does not hang the suite; nothing is timed.
EVENT_LIMIT_S = 30

#: An ApiFunction handler that answers with what it received (and fails on request), for stacks of a
#: test project.
ECHO_HANDLER = """
import base64
import json


def lambda_handler(event, context):
    path = event["path"]
    if path == "/boom":
        raise RuntimeError("the handler failed")
    if path == "/not-a-proxy-response":
        return ["nope"]
    if path == "/binary":
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/octet-stream"},
            "body": base64.b64encode(bytes(range(256))).decode(),
            "isBase64Encoded": True,
        }
    if path == "/created":
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json", "X-Single": "one", "Set-Cookie": "b=2"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": "{}",
        }
    if path == "/no-content":
        return {"statusCode": 204, "headers": {}, "body": None}
    context_fields = {
        "function_name": context.function_name,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "invoked_function_arn": context.invoked_function_arn,
        "aws_request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"event": event, "context": context_fields}),
    }
"""


def stand_in_project(root: Path, *real_functions: str) -> Path:
    """A project at ``root``: the real template.yaml and state machines, the authorizer (the local API
    Gateway loads it at start), the reconciler (its schedule ticks at start), ``real_functions`` (folders
    under ``functions/``) and a stand-in ApiFunction that echoes its event."""
    (root / "functions" / "api").mkdir(parents=True)
    shutil.copy(PROJECT_DIR / "template.yaml", root / "template.yaml")
    shutil.copytree(PROJECT_DIR / "statemachines", root / "statemachines")
    (root / "functions" / "api" / "app.py").write_text(ECHO_HANDLER)
    for folder in ("authorizer", "reconcile_ingestions", *real_functions):
        shutil.copytree(PROJECT_DIR / "functions" / folder, root / "functions" / folder)
    return root


def local_stack(project: Path, data_dir: Path, **kwargs: Any) -> LocalStack:
    """A stack of ``project`` on free ports that saves only when stopped or asked (``snapshot()``)."""
    return LocalStack(
        port=0, moto_port=0, data_dir=data_dir, project_dir=project, snapshot_interval=3600, **kwargs
    )


class RecordingFunction(InProcessFunction):
    """A stand-in function: keeps every event, fails the first ``failures`` calls, else answers
    ``answer``."""

    def __init__(self, logical_id: str, failures: int = 0, answer: Any = None) -> None:
        super().__init__(
            FunctionSpec(logical_id=logical_id, code_path=Path("unused.py"), handler_name="unused")
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.failures = failures
        self.answer = answer

    def invoke(self, event: Any, context: LambdaContext | None = None) -> Any:
        self.events.put(event)
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("trigger failed on purpose")
        return self.answer

    def next_event(self, timeout: float = EVENT_LIMIT_S) -> dict[str, Any]:
        return self.events.get(timeout=timeout)
