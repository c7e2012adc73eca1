"""Run a Lambda function's invocations in worker processes, as Lambda runs them in execution environments.

Threads of one Python process share one interpreter lock: the 16 parts of a Map state run as 16 threads
of the local stack and use one core between them, however many the machine has. The functions that the
state machines' tasks invoke, where a log's work fans out, therefore run in worker processes: each worker
is one execution environment of one function, handles one invocation at a time, and is kept warm for
the next, as Lambda keeps an environment. A function has at most ``processes`` workers (default: the
machine's cores); invocations beyond that wait for a free one.

Workers are forked from multiprocessing's fork server, which imports the libraries the handlers use once
(:data:`PRELOADED_MODULES`), so a cold start costs a fork and the handler's own import. A worker is
given the stack's environment when it starts (the fork server's may be older) and imports the handler
from its file, as :class:`~openlqs.local.functions.InProcessFunction` does.

What the caller sees is what an in-process invocation returns: the handler's result (marshalled to JSON
in the worker, as Lambda's runtime marshals it), or an exception whose ``errorType`` is the handler's
exception's class name (:class:`InvocationError`). A worker that dies in an invocation fails it
with ``Runtime.ExitError``, as Lambda reports a runtime that exited; one found dead while idle is
replaced. Workers ignore SIGINT and SIGTERM (Ctrl-C reaches the terminal's whole process group: the
stack drains its invocations first), and stop with :meth:`ProcessFunction.close`, or when the stack's
process goes away (their end of the pipe closes).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import threading
import traceback
import warnings
from collections.abc import Iterable, Mapping
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

from openlqs.local.functions import (
    InProcessFunction,
    InvocationError,
    LambdaContext,
    error_type,
)
from openlqs.local.resources import FunctionSpec

#: Imported once by the fork server, so that a worker's cold start does not import them again: the
#: workers' own module (its package imports the local stack, and with it moto) and what the handlers
#: need (``worker_preload``).
PRELOADED_MODULES = ("openlqs.local.workers", "openlqs.local.worker_preload")
#: How long :meth:`ProcessFunction.close` waits for a worker to stop before it is killed.
STOP_TIMEOUT_S = 5.0

_CONTEXT_LOCK = threading.Lock()
_context: BaseContext | None = None


def worker_context() -> BaseContext | None:
    """multiprocessing's fork-server context with :data:`PRELOADED_MODULES`, or None where there is none
    (Windows): functions then run in-process."""
    global _context
    with _CONTEXT_LOCK:
        if _context is None and "forkserver" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(list(PRELOADED_MODULES))
            _context = context
        return _context


def start_fork_server() -> None:
    """Start the fork server now (it imports :data:`PRELOADED_MODULES`, a second or two) rather than
    at the first invocation; a no-op where there is none, or when it runs already."""
    if worker_context() is not None:
        forkserver.ensure_running()


def default_processes() -> int:
    """How many workers a function may have by default: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class ProcessFunction(InProcessFunction):
    """A function whose invocations run in up to ``processes`` warm worker processes.

    ``environment`` is what a worker's ``os.environ`` is set to when it starts (default: this process's
    at that moment). ``spec.max_concurrency`` still bounds the invocations running at once.
    """

    def __init__(
        self,
        spec: FunctionSpec,
        function_name: str | None = None,
        *,
        processes: int | None = None,
        environment: Mapping[str, str] | None = None,
        context: BaseContext | None = None,
    ) -> None:
        super().__init__(spec, function_name)
        self.processes = max(1, processes if processes is not None else default_processes())
        self._environment = dict(environment) if environment is not None else None
        self._context = context or worker_context()
        if self._context is None:
            raise RuntimeError("this platform cannot fork worker processes (no fork server)")
        self._workers = threading.Condition()
        self._idle: list[_Worker] = []
        self._started = 0
        self._closed = False

    def load(self) -> Any:
        """Check the handler's file exists (the workers import it); the handler is not loaded here."""
        if not self.spec.code_path.is_file():
            raise FileNotFoundError(
                f"{self.spec.logical_id}: handler file {self.spec.code_path} does not exist"
            )
        return None

    def invoke(self, event: Any, context: LambdaContext | None = None) -> Any:
        """Run the handler in a free worker and return its result (read back from its JSON)."""
        return json.loads(self.invoke_json(event, context))

    def invoke_json(self, event: Any, context: LambdaContext | None = None) -> bytes:
        """Run the handler in a free worker (starting one if fewer than ``processes`` run) and return
        its result's JSON, made there; raises :class:`InvocationError` for what the handler raised."""
        context = context or self.new_context()
        with self._invoke_slots:
            worker = self._acquire()
            try:
                reply = worker.call(event, context)
            except _WorkerDied as died:
                self._discard(worker)
                raise InvocationError(
                    "Runtime.ExitError",
                    f"RequestId: {context.aws_request_id} Error: Runtime exited with error: {died}",
                ) from None
            except BaseException:
                # The pipe may hold half a message: the worker cannot be trusted with another call.
                self._discard(worker)
                raise
            self._release(worker)
        status, value = reply
        if status == "error":
            raise value
        return value

    @property
    def worker_pids(self) -> list[int]:
        """The process ids of the idle workers (tests)."""
        with self._workers:
            return [worker.pid for worker in self._idle]

    def close(self) -> None:
        """Stop the idle workers (and those that become idle later); idempotent."""
        with self._workers:
            self._closed = True
            idle, self._idle = self._idle, []
            self._workers.notify_all()
        _stop_all(idle)

    # The pool

    def _acquire(self) -> _Worker:
        with self._workers:
            while True:
                if self._closed:
                    raise RuntimeError(f"{self.function_name}: the function's workers are stopped")
                while self._idle:
                    worker = self._idle.pop()
                    if worker.process.is_alive():
                        return worker
                    # Ended while idle (killed, out of memory): a new one takes its place.
                    worker.kill()
                    self._started -= 1
                if self._started < self.processes:
                    self._started += 1
                    break
                self._workers.wait()
        try:
            return _Worker.start(self._context, self.spec, self._worker_environment())  # type: ignore[arg-type]
        except BaseException:
            self._discard(None)
            raise

    def _release(self, worker: _Worker) -> None:
        with self._workers:
            if not self._closed:
                self._idle.append(worker)
                self._workers.notify()
                return
        worker.stop()

    def _discard(self, worker: _Worker | None) -> None:
        if worker is not None:
            worker.kill()
        with self._workers:
            self._started -= 1
            self._workers.notify()

    def _worker_environment(self) -> dict[str, str]:
        return self._environment if self._environment is not None else dict(os.environ)


def close_all(functions: Iterable[InProcessFunction]) -> None:
    """Stop the workers of every :class:`ProcessFunction` among ``functions``."""
    for function in functions:
        if isinstance(function, ProcessFunction):
            function.close()


class _WorkerDied(Exception):
    """The worker's process ended (or its pipe broke) during an invocation."""


class _Worker:
    """One worker process and this side of its pipe."""

    def __init__(self, process: BaseProcess, connection: Connection) -> None:
        self.process = process
        self.connection = connection

    @classmethod
    def start(cls, context: BaseContext, spec: FunctionSpec, environment: dict[str, str]) -> _Worker:
        ours, theirs = context.Pipe()
        process = context.Process(  # type: ignore[attr-defined]
            target=serve,
            args=(theirs, spec, environment, list(warnings.filters)),
            name=f"openlqs-local-{spec.logical_id}",
            daemon=True,
        )
        process.start()
        theirs.close()
        return cls(process, ours)

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    def call(self, event: Any, context: LambdaContext) -> tuple[str, Any]:
        try:
            self.connection.send((event, context))
            return self.connection.recv()
        except (EOFError, OSError) as error:
            self.process.join(0.5)
            code = self.process.exitcode
            detail = f"exit code {code}" if code is not None else str(error) or type(error).__name__
            raise _WorkerDied(detail) from error

    def ask_to_stop(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.send(None)

    def stop(self) -> None:
        self.ask_to_stop()
        self.join()

    def join(self) -> None:
        """Wait for the process to end (killing it after :data:`STOP_TIMEOUT_S`)."""
        self.process.join(STOP_TIMEOUT_S)
        self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(STOP_TIMEOUT_S)
        self.connection.close()


def _stop_all(workers: list[_Worker]) -> None:
    for worker in workers:
        worker.ask_to_stop()
    for worker in workers:
        worker.join()


# The worker's side


def serve(
    connection: Connection,
    spec: FunctionSpec,
    environment: Mapping[str, str],
    warning_filters: list[Any] | None = None,
) -> None:
    """A worker's loop: take the stack's environment and warning filters, then answer invocations until
    told to stop (None) or the stack's end of the pipe closes."""
    from openlqs.local.environment import forget_cached_configuration

    # Ctrl-C reaches the whole process group, and a service manager's SIGTERM may too: the stack's
    # process drains the invocations in progress, then stops the workers through their pipes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.environ.clear()
    os.environ.update(environment)
    forget_cached_configuration()
    try:
        from openlqs.local.worker_preload import install_default_session
    except ImportError:
        pass  # a library the handlers need is missing: the handler's own import says which
    else:
        install_default_session()
    if warning_filters is not None:
        warnings.resetwarnings()
        # Inserted one by one at the front, last first: the list ends as the stack's.
        for action, message, category, module, lineno in reversed(warning_filters):
            warnings.filterwarnings(
                action,
                _pattern(message),
                category,
                _pattern(module),
                lineno,
            )
    function = InProcessFunction(spec)
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        event, context = message
        try:
            reply: tuple[str, Any] = ("ok", function.invoke_json(event, context))
        except BaseException as error:
            reply = ("error", _remote(error))
        try:
            connection.send(reply)
        except OSError:
            return


def _remote(error: BaseException) -> InvocationError:
    """What the stack's process needs of ``error``: its ``errorType``, message and stack trace."""
    frames = traceback.extract_tb(error.__traceback__)
    return InvocationError(
        error_type(error),
        str(error),
        stack_trace=traceback.format_list(frames),
        formatted="".join(traceback.format_exception(error)),
    )


def _pattern(text: Any) -> str:
    """A warning filter's message or module: a compiled pattern, a string, or None (any)."""
    return str(getattr(text, "pattern", text) or "")
