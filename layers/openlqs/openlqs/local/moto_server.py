"""moto's server, in this process, with a cheap record of which tables and buckets changed.

Every AWS call of the local stack (handlers, the Step Functions interpreter, tests) goes through this
one WSGI server, so a small middleware that counts writes per table and bucket tells the snapshotter
what it has to save, without scanning anything.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import make_server

from openlqs.local.durability import DurableWrites
from openlqs.local.moto_fence import (
    MotoRequestHandler,
    ReadWriteLock,
    ThreadedMotoServer,
    WsgiApp,
    install_backend_lookup,
    install_ranged_reads,
    install_stopped_executions,
    install_stream_signals,
    install_task_clients,
    install_transactions,
    moto_wsgi_app,
    step_functions_config,
)

#: The moto config that makes Step Functions executions run their states (moto's ``/moto-api/config``).
STEP_FUNCTIONS_INTERPRETER_CONFIG = {"stepfunctions": {"execute_state_machine": True}}
#: The interpreter's logger: it logs every failure event, caught ones too, with the whole state's repr.
STEP_FUNCTIONS_INTERPRETER_LOGGER = "moto.stepfunctions.parser"

_DYNAMODB_TARGET_PREFIX = "DynamoDB_"
_DYNAMODB_STREAMS_TARGET_PREFIX = "DynamoDBStreams_"
_DYNAMODB_READ_PREFIXES = ("Get", "BatchGet", "TransactGet", "Query", "Scan", "Describe", "List")
_WRITE_METHODS = frozenset({"PUT", "POST", "DELETE", "PATCH"})
#: How often the server's loop looks for a shutdown request (a stop waits this long at most).
SHUTDOWN_POLL_S = 0.05
#: Counted for a write the middleware cannot attribute to one table or bucket.
ANY_RESOURCE = "*"


class ChangeTracker:
    """Counts writes per DynamoDB table and S3 bucket name; a changed count means "save me"."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def generation(self, name: str) -> int:
        """A number that grows with every write to ``name`` (or to an unknown resource)."""
        with self._lock:
            return self._counts[name] + self._counts[ANY_RESOURCE]

    def mark(self, names: Iterable[str]) -> None:
        """Record a write to each of ``names``."""
        with self._lock:
            self._counts.update(names)


class RequestGate:
    """Orders the requests moto serves as DynamoDB and S3 order them, and journals their writes.

    moto's server answers each request on its own thread, and moto's backends are not safe for
    concurrent use: a Query iterating a table while another thread adds an item fails, and a write can
    interleave with a transaction. Requests to each service therefore run under a readers-writer lock
    (reads together, each write alone, the answer built inside the lock; a table's stream reads are
    reads). A write's journal entries (``durable``, once set) are written inside its lock, before the
    answer leaves: what the API said was stored is on disk.
    """

    def __init__(self, tracker: ChangeTracker) -> None:
        self.tracker = tracker
        self.locks = {"dynamodb": ReadWriteLock(), "s3": ReadWriteLock()}
        #: Set once the stack has restored its state (a restore is not journaled again).
        self.durable: DurableWrites | None = None
        #: ClientRequestTokens of transactions that succeeded: (request fingerprint, answer, when).
        self._tokens: dict[str, tuple[str, list[bytes], float]] = {}

    def wrap(self, app: WsgiApp) -> WsgiApp:
        def gated_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            request = classify(environ)
            if request.written:
                self.tracker.mark(request.written)
            lock = self.locks.get(request.service)
            if lock is None:
                return app(environ, start_response)
            if not request.write:
                with lock.reading():
                    return list(app(environ, start_response))
            # The body is read first: a slow (or killed) uploader must not hold every other request.
            body = _buffer_body(environ)
            statuses: list[int] = []

            def recording_start_response(status: str, *args: Any) -> Any:
                statuses.append(int(status.split(" ", 1)[0]))
                return start_response(status, *args)

            token = _client_request_token(request)
            with lock.writing():
                if token is not None:
                    repeated = self._repeated(token, request)
                    if repeated is not None:
                        status_line, headers, answer = repeated
                        start_response(status_line, headers)
                        return answer
                answer = list(app(environ, recording_start_response))
                durable = self.durable
                if durable is not None:
                    if request.service == "dynamodb":
                        durable.dynamodb(request.operation, request.body or {})
                    else:
                        durable.s3(environ, statuses[-1] if statuses else 500, b"".join(answer), body)
                if token is not None and statuses and statuses[-1] < 300:
                    self._remember(token, request, answer)
            return answer

        return gated_app

    def _repeated(
        self, token: str, request: MotoRequest
    ) -> tuple[str, list[tuple[str, str]], list[bytes]] | None:
        """The answer to a TransactWriteItems whose ClientRequestToken succeeded before (DynamoDB does
        not run it twice: botocore sends the same token again when it retries after a lost answer)."""
        now = time.monotonic()
        for old in [t for t, (_, _, at) in self._tokens.items() if now - at > _TOKEN_LIFETIME_S]:
            self._tokens.pop(old, None)
        seen = self._tokens.get(token)
        if seen is None:
            return None
        fingerprint, answer, _ = seen
        if fingerprint != _fingerprint(request):
            body = json.dumps(
                {
                    "__type": "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                    "message": "The request uses the same client token as a previous, non-identical one.",
                }
            ).encode()
            return "400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")], [body]
        return "200 OK", [("Content-Type", "application/x-amz-json-1.0")], answer

    def _remember(self, token: str, request: MotoRequest, answer: list[bytes]) -> None:
        self._tokens[token] = (_fingerprint(request), answer, time.monotonic())


@dataclass(frozen=True)
class MotoRequest:
    """What the gate needs to know of one request to moto."""

    #: ``dynamodb`` (tables and their streams), ``s3``, or ``other``.
    service: str
    write: bool
    #: The tables or buckets a write names (``ANY_RESOURCE`` when it cannot be told).
    written: list[str]
    #: A DynamoDB request's operation and JSON body.
    operation: str = ""
    body: dict[str, Any] | None = None


def classify(environ: dict[str, Any]) -> MotoRequest:
    """Which service a request is for, whether it writes, and what it writes to."""
    method = environ.get("REQUEST_METHOD", "GET")
    if environ.get("PATH_INFO", "").startswith("/moto-api"):
        return MotoRequest("other", False, [])
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        service, _, operation = target.partition(".")
        if service.startswith(_DYNAMODB_STREAMS_TARGET_PREFIX):
            return MotoRequest("dynamodb", False, [])
        if not service.startswith(_DYNAMODB_TARGET_PREFIX):
            return MotoRequest("other", False, [])  # other JSON services hold nothing we save
        if operation.startswith(_DYNAMODB_READ_PREFIXES):
            return MotoRequest("dynamodb", False, [])
        body = _json_body(environ)
        return MotoRequest("dynamodb", True, _dynamodb_tables(body), operation, body)
    if method not in _WRITE_METHODS:
        return MotoRequest("s3", False, [])
    # Otherwise S3 (path-style: /bucket/key) or a REST service whose writes we do not save.
    bucket = environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)[0]
    host = environ.get("HTTP_HOST", "")
    host_bucket = host.split(".", 1)[0] if host.count(".") >= 1 and not host[:1].isdigit() else ""
    return MotoRequest("s3", True, [name for name in (bucket, host_bucket) if name])


def _content_length(environ: dict[str, Any]) -> int:
    """The request's ``Content-Length``; 0 when absent or not a number."""
    try:
        return max(int(environ.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def _json_body(environ: dict[str, Any]) -> dict[str, Any] | None:
    """A DynamoDB request's JSON body (read, then put back for moto); None when it is not an object."""
    length = _content_length(environ)
    if not length:
        return None
    raw = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(raw)
    try:
        request = json.loads(raw)
    except ValueError:
        return None
    return request if isinstance(request, dict) else None


def _dynamodb_tables(request: dict[str, Any] | None) -> list[str]:
    """The tables a DynamoDB write request names."""
    if request is None:
        return [ANY_RESOURCE]
    tables: set[str] = set()
    if isinstance(request.get("TableName"), str):
        tables.add(request["TableName"])
    tables.update(request.get("RequestItems") or {})  # BatchWriteItem
    for item in request.get("TransactItems") or []:  # TransactWriteItems
        for operation in item.values() if isinstance(item, dict) else ():
            if isinstance(operation, dict) and isinstance(operation.get("TableName"), str):
                tables.add(operation["TableName"])
    # PartiQL statements and anything else name their table inside text we do not parse.
    return sorted(tables) or [ANY_RESOURCE]


#: How long DynamoDB remembers a transaction's ClientRequestToken.
_TOKEN_LIFETIME_S = 600.0


def _client_request_token(request: MotoRequest) -> str | None:
    if request.operation != "TransactWriteItems" or not request.body:
        return None
    token = request.body.get("ClientRequestToken")
    return token if isinstance(token, str) and token else None


def _fingerprint(request: MotoRequest) -> str:
    body = {k: v for k, v in (request.body or {}).items() if k != "ClientRequestToken"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


#: A request body larger than this is buffered in a temporary file rather than in memory.
_BODY_MEMORY_BYTES = 64 * 1024 * 1024
#: A small body (a DeleteObjects list) is also handed to the journal.
_KEPT_BODY_BYTES = 1024 * 1024


def _buffer_body(environ: dict[str, Any]) -> bytes | None:
    """Read the request body off the socket now, so that the app reads it from a buffer; returns it when
    it is small."""
    length = _content_length(environ)
    if not length:
        return None
    source = environ["wsgi.input"]
    if isinstance(source, io.BytesIO):
        return source.getvalue() if length <= _KEPT_BODY_BYTES else None
    # Not a context manager: the buffer is the request body until the request is done.
    buffer = tempfile.SpooledTemporaryFile(max_size=_BODY_MEMORY_BYTES)  # noqa: SIM115
    remaining = length
    while remaining:
        piece = source.read(min(remaining, 1024 * 1024))
        if not piece:
            break
        buffer.write(piece)
        remaining -= len(piece)
    buffer.seek(0)
    environ["wsgi.input"] = buffer
    if length > _KEPT_BODY_BYTES:
        return None
    kept = buffer.read()
    buffer.seek(0)
    return bytes(kept)


class TrackedMotoServer(ThreadedMotoServer):
    """moto's ``ThreadedMotoServer`` with a :class:`ChangeTracker` in front of its WSGI app.

    It also reports a failed bind (port in use) from :meth:`start` instead of waiting forever.
    """

    def __init__(self, tracker: ChangeTracker, ip_address: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        install_transactions()
        install_ranged_reads()
        install_backend_lookup()
        install_task_clients()
        install_stream_signals()
        self.tracker = tracker
        self.gate = RequestGate(tracker)
        self._start_error: BaseException | None = None
        self._previous_sfn_config: dict[str, Any] | None = None
        self._previous_interpreter_log_level: int | None = None

    def _server_entry(self) -> None:
        # Mirrors ThreadedMotoServer._server_entry (moto 5.2), with the tracker around the app.
        app = self.gate.wrap(moto_wsgi_app())
        try:
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
        except BaseException as error:
            self._start_error = error
            self._server_ready_event.set()
            return
        self._server_ready_event.set()
        self._server.serve_forever(poll_interval=SHUTDOWN_POLL_S)

    def start(self) -> None:
        """Start serving on a background thread; raises if the port cannot be bound."""
        # werkzeug logs every request at INFO; the local stack's own log is enough.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        super().start()
        if self._start_error is not None:
            assert self._thread is not None
            self._thread.join()
            raise OSError(
                f"moto cannot listen on {self._ip_address}:{self._port}: {self._start_error}"
            ) from self._start_error

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, the endpoint every AWS client of the local stack uses."""
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def post_moto_api(self, path: str, payload: Any = None) -> Any:
        """POST to moto's own API (``/moto-api/...``) and return the decoded JSON answer."""
        data = json.dumps(payload).encode() if payload is not None else b""
        request = urllib.request.Request(
            f"{self.url}/moto-api/{path}",
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", "Content-Length": str(len(data))},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def enable_step_functions_interpreter(self) -> None:
        """Make Step Functions executions run their states (moto config, not an environment variable).

        moto's config is process-wide; :meth:`restore_config` puts back what was there before. The
        interpreter's own log is kept to critical messages: a task's error is already reported by the
        function that raised it (:mod:`openlqs.local.invoke`) and in the execution's history.
        """
        if self._previous_sfn_config is None:
            self._previous_sfn_config = step_functions_config()
        if self._previous_interpreter_log_level is None:
            interpreter_logger = logging.getLogger(STEP_FUNCTIONS_INTERPRETER_LOGGER)
            self._previous_interpreter_log_level = interpreter_logger.level
            interpreter_logger.setLevel(logging.CRITICAL)
        install_stopped_executions()
        self.post_moto_api("config", STEP_FUNCTIONS_INTERPRETER_CONFIG)

    def restore_config(self) -> None:
        """Undo :meth:`enable_step_functions_interpreter` (for whatever else uses moto in this process)."""
        if self._previous_interpreter_log_level is not None:
            logging.getLogger(STEP_FUNCTIONS_INTERPRETER_LOGGER).setLevel(
                self._previous_interpreter_log_level
            )
            self._previous_interpreter_log_level = None
        if self._previous_sfn_config is not None:
            self.post_moto_api("config", {"stepfunctions": self._previous_sfn_config})
            self._previous_sfn_config = None

    def reset(self) -> None:
        """Drop every resource of every moto backend in this process."""
        self.post_moto_api("reset")
