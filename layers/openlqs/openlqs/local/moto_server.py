"""moto's server, in this process, with a cheap record of which tables and buckets changed.

Every AWS call of the local stack (handlers, the Step Functions interpreter, tests) goes through this
one WSGI server, so a small middleware that counts writes per table and bucket tells the snapshotter
what it has to save, without scanning anything.
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import make_server

from openlqs.local.moto_fence import (
    MotoRequestHandler,
    ReadWriteLock,
    ThreadedMotoServer,
    WsgiApp,
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

    def wrap(self, app: WsgiApp) -> WsgiApp:
        """A WSGI middleware around ``app`` that records the writes passing through it."""
        return RequestGate(self).wrap(app)


class RequestGate:
    """Orders the requests moto serves as DynamoDB orders its operations, and records their writes.

    moto's server answers each request on its own thread, and moto's DynamoDB backend is not safe for
    concurrent use: a Query iterating a table while another thread adds an item fails, and a write can
    interleave with a transaction. DynamoDB requests therefore run under one readers-writer lock (reads
    together, each write alone, the response built inside the lock); the tables' stream reads are reads.
    """

    def __init__(self, tracker: ChangeTracker) -> None:
        self.tracker = tracker
        self.locks = {"dynamodb": ReadWriteLock(), "s3": ReadWriteLock()}

    def wrap(self, app: WsgiApp) -> WsgiApp:
        def gated_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            request = classify(environ)
            if request.written:
                self.tracker.mark(request.written)
            lock = self.locks.get(request.service)
            if lock is None:
                return app(environ, start_response)
            if request.write:
                # The body is read first: a slow (or killed) uploader must not hold every other request.
                _buffer_body(environ)
            with lock.writing() if request.write else lock.reading():
                return list(app(environ, start_response))

        return gated_app


#: A request body larger than this is buffered in a temporary file rather than in memory.
_BODY_MEMORY_BYTES = 64 * 1024 * 1024


def _buffer_body(environ: dict[str, Any]) -> None:
    """Read the request body off the socket now, so that the app reads it from a buffer."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if length <= 0 or isinstance(environ.get("wsgi.input"), io.BytesIO):
        return
    source = environ["wsgi.input"]
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


@dataclass(frozen=True)
class MotoRequest:
    """What the gate needs to know of one request to moto."""

    #: ``dynamodb`` (tables and their streams), ``s3``, or ``other``.
    service: str
    write: bool
    #: The tables or buckets a write names (``ANY_RESOURCE`` when it cannot be told).
    written: list[str]


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
        return MotoRequest("dynamodb", True, _dynamodb_tables(environ))
    if method not in _WRITE_METHODS:
        return MotoRequest("s3", False, [])
    # Otherwise S3 (path-style: /bucket/key) or a REST service whose writes we do not save.
    bucket = environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)[0]
    host = environ.get("HTTP_HOST", "")
    host_bucket = host.split(".", 1)[0] if host.count(".") >= 1 and not host[:1].isdigit() else ""
    return MotoRequest("s3", True, [name for name in (bucket, host_bucket) if name])


def _dynamodb_tables(environ: dict[str, Any]) -> list[str]:
    """The tables a DynamoDB write request names; the body is read and put back for moto."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return [ANY_RESOURCE]
    if length <= 0:
        return [ANY_RESOURCE]
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    try:
        request = json.loads(body)
    except ValueError:
        return [ANY_RESOURCE]
    if not isinstance(request, dict):
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


class TrackedMotoServer(ThreadedMotoServer):
    """moto's ``ThreadedMotoServer`` with a :class:`ChangeTracker` in front of its WSGI app.

    It also reports a failed bind (port in use) from :meth:`start` instead of waiting forever.
    """

    def __init__(self, tracker: ChangeTracker, ip_address: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        install_transactions()
        self.tracker = tracker
        self._start_error: BaseException | None = None
        self._previous_sfn_config: dict[str, Any] | None = None
        self._previous_interpreter_log_level: int | None = None

    def _server_entry(self) -> None:
        # Mirrors ThreadedMotoServer._server_entry (moto 5.2), with the tracker around the app.
        app = self.tracker.wrap(moto_wsgi_app())
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
