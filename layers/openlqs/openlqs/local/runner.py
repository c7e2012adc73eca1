"""``openlqs local`` in the foreground: start the stack, print what a client needs, stop on Ctrl-C."""

from __future__ import annotations

import shlex
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TextIO

from openlqs.auth import format_authorization
from openlqs.local.stack import LocalStack

RUNNING_MESSAGE = "openlqs local is running; Ctrl-C to stop"
#: Powertools warns on every cold start of a function that publishes no metric; locally metrics are off
#: (no CloudWatch), so the warning says nothing a user can act on.
_EMPTY_METRICS_WARNING = "No application metrics to publish"


def export_lines(exports: Mapping[str, str]) -> list[str]:
    """``export NAME=value`` lines a shell can evaluate."""
    return [f"export {name}={shlex.quote(value)}" for name, value in exports.items()]


def docs_line(stack: LocalStack) -> str:
    """Where the API's documentation is, and the token its Authorize button wants (a shell comment)."""
    line = f"# API docs: {stack.api_url}/docs"
    if stack.admin_key is None:
        return line
    token = format_authorization(stack.admin_key.key_id, stack.admin_key.secret).removeprefix("Bearer ")
    return f"{line} (Authorize with the bearer token {token})"


def console_line(stack: LocalStack) -> str:
    """Where the web console is (a shell comment): it asks for the key printed above."""
    return f"# Console: {stack.api_url}/console/ (sign in with LQS_API_KEY_ID and LQS_API_KEY_SECRET)"


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into ``stop.set()`` while inside the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_foreground(
    port: int | None = None,
    moto_port: int | None = None,
    data_dir: Path | str | None = None,
    *,
    parameter_overrides: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the local stack until Ctrl-C or SIGTERM, then save and stop; returns the exit status.

    Prints the ``export`` lines a client needs and a "running" line on ``out`` (standard output) once
    the API is being served; everything else goes to standard error.
    """
    out = out or sys.stdout
    warnings.filterwarnings("ignore", message=_EMPTY_METRICS_WARNING, category=UserWarning)
    stop = threading.Event()
    with _stop_on_signals(stop):
        try:
            stack = LocalStack(
                port=port,
                moto_port=moto_port,
                data_dir=data_dir,
                access_log=True,
                parameter_overrides=parameter_overrides,
            )
            stack.start()
        except Exception as error:
            print(f"openlqs local: cannot start: {error}", file=sys.stderr)
            return 1
        try:
            print(f"openlqs local: data in {stack.data_dir}", file=sys.stderr)
            for line in export_lines(stack.exports()):
                print(line, file=out)
            print(docs_line(stack), file=out)
            print(console_line(stack), file=out)
            print(RUNNING_MESSAGE, file=out, flush=True)
            while not stop.wait(0.5):
                pass
        finally:
            stack.stop()
    print("openlqs local: stopped", file=sys.stderr)
    return 0
