"""Waiting for an ingestion: until it ends, or a deadline, saying what it is doing meanwhile.

A wait that says nothing looks like a hang. While waiting, a line on standard error says what the
ingestion is doing (``queued for 30 s: no execution has started``, ``processing 3/12 parts``) every
``report_interval`` seconds, whether or not standard error is a terminal (on a terminal with tqdm the
line is the progress bar's text instead). A wait ends at ``timeout`` (default
:data:`DEFAULT_WAIT_TIMEOUT_S`) with :class:`IngestionWaitTimeout`, whose message names the ingestion,
its state and what to check.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO, TypeVar

from openlqs.client.progress import SilentBar, progress_bar

if TYPE_CHECKING:
    from openlqs.client.client import LogQS
    from openlqs.client.models import Digestion, Ingestion

#: What a wait refreshes: an ingestion, or a digestion (``DigestionWaiter``).
Process = TypeVar("Process", "Ingestion", "Digestion")

#: How long ``wait_for`` and ``openlqs ingest`` wait by default (``timeout=None`` waits for ever).
DEFAULT_WAIT_TIMEOUT_S = 3600.0
#: How often a wait says what the ingestion is doing.
DEFAULT_REPORT_INTERVAL_S = 15.0
#: Ingestion states after which nothing changes without a new request.
FINAL_STATES = frozenset({"completed", "failed", "cancelled", "archived"})
#: The progress bar: percent, bar, elapsed time and the ingestion's state; no rate (a rate of
#: "percent per second" means nothing to anyone).
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {elapsed} {postfix}"


class IngestionWaitTimeout(TimeoutError):
    """An ingestion did not end within the wait's timeout. ``ingestion`` is its last known state."""

    def __init__(self, message: str, ingestion: Ingestion | Digestion) -> None:
        super().__init__(message)
        self.ingestion = ingestion


def _label(ingestion: Ingestion | Digestion) -> str:
    return f"{ingestion.name} ({ingestion.id})" if ingestion.name else str(ingestion.id)


def _seconds_in_state(ingestion: Ingestion | Digestion, now: datetime) -> float | None:
    since = ingestion.transitioned_at or ingestion.updated_at or ingestion.created_at
    if since is None:
        return None
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return max(0.0, (now - since).total_seconds())


class IngestionWaiter:
    """Refreshes one ingestion until it ends; ``clock``, ``sleep``, ``now`` and ``out`` are for tests.

    A subclass waits for another process (``what``) by saying what it is doing (:meth:`status`) and what
    to check when it does not end (:meth:`advice`).
    """

    #: What is waited for, in the lines a wait prints.
    what = "ingestion"

    def __init__(
        self,
        client: LogQS,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        out: TextIO | None = None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.sleep = sleep
        self.now = now
        self.out = out

    # What the ingestion is doing ------------------------------------------------------------------

    def _parts(self, ingestion: Ingestion | Digestion) -> tuple[int, int]:
        """(completed parts, all parts) of the ingestion, counted by the API."""
        listing = self.client.list.ingestion_part
        total = listing(ingestion_id=ingestion.id, limit=1).count or 0
        done = listing(ingestion_id=ingestion.id, state="completed", limit=1).count or 0
        return done, total

    def status(self, ingestion: Ingestion | Digestion) -> str:
        """One line on what the ingestion is doing now, e.g. ``processing 3/12 parts``."""
        state = str(ingestion.state)
        waited = _seconds_in_state(ingestion, self.now())
        for_how_long = f" for {waited:.0f} s" if waited is not None else ""
        if state == "queued":
            return f"queued{for_how_long}: no execution has started"
        if state == "ready":
            return f"ready{for_how_long}: it is not queued, so nothing will process it"
        if state == "processing":
            done, total = self._parts(ingestion)
            if total == 0:
                return f"processing{for_how_long}: planning its parts"
            return f"processing {done}/{total} parts"
        if state == "finalizing":
            return f"finalizing{for_how_long}: writing the log's statistics"
        if ingestion.error_message:
            return f"{state}: {ingestion.error_message}"
        return state

    def advice(self, ingestion: Ingestion | Digestion) -> str:
        """What to check when an ingestion does not end."""
        state = str(ingestion.state)
        if state == "queued":
            return (
                "No execution has picked it up: the ingestion trigger starts one when an ingestion is "
                "queued. Locally, check that `make local` (openlqs local) is still running and look at its "
                "output; on AWS, look at IngestionTriggerFunction's logs."
            )
        if state == "ready":
            return "It was never queued: queue it with ingestion.update(state='queued')."
        return (
            "It is still running: locally, look at the output of `make local`; on AWS, at "
            f"IngestionStateMachine's execution for {ingestion.id} in the Step Functions console. "
            "Wait longer with a larger timeout (openlqs ingest --timeout SECONDS)."
        )

    # Waiting ----------------------------------------------------------------------------------------

    def wait(
        self,
        ingestion: Process,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT_S,
        poll_interval: float = 1.0,
        show_progress: bool | None = None,
        report_interval: float | None = DEFAULT_REPORT_INTERVAL_S,
    ) -> Process:
        """Refresh ``ingestion`` until it is in a final state; returns it whatever that state is.

        ``timeout`` seconds (None: no limit) end the wait with :class:`IngestionWaitTimeout`. Every
        ``report_interval`` seconds (None: never) a status line goes to standard error, or into the
        progress bar when one is shown.
        """
        enabled = self.client.config.progress if show_progress is None else show_progress
        started = self.clock()
        deadline = None if timeout is None else started + timeout
        next_report = None if report_interval is None else started + report_interval
        bar = progress_bar(
            None if enabled else False,
            total=100,
            desc=str(ingestion.name or ingestion.id),
            bar_format=BAR_FORMAT,
        )
        shows_bar = not isinstance(bar, SilentBar)
        with bar:
            shown = 0.0
            while True:
                ingestion.refresh()
                state = str(ingestion.state)
                reached = 100.0 if state == "completed" else 100.0 * (ingestion.progress or 0.0)
                bar.update(max(0.0, reached - shown))
                shown = max(shown, reached)
                bar.set_postfix_str(state)
                if state in FINAL_STATES:
                    return ingestion
                now = self.clock()
                if deadline is not None and now >= deadline:
                    raise IngestionWaitTimeout(
                        f"{self.what.capitalize()} {_label(ingestion)} is still {state} after waiting "
                        f"{timeout:g} s "
                        f"({self.status(ingestion)}). {self.advice(ingestion)}",
                        ingestion,
                    )
                if next_report is not None and report_interval is not None and now >= next_report:
                    line = self.status(ingestion)
                    if shows_bar:
                        bar.set_postfix_str(line)
                    else:
                        self._say(f"{self.what} {_label(ingestion)}: {line}")
                    next_report = now + report_interval
                pause = poll_interval if deadline is None else min(poll_interval, max(0.0, deadline - now))
                self.sleep(pause)

    def _say(self, line: str) -> None:
        out = self.out or sys.stderr
        print(line, file=out, flush=True)
