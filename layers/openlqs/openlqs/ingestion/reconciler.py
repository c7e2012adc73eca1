"""An ingestion always ends: the reconciler settles what an execution left unfinished.

The state machine's Catch fails an ingestion when a task fails. What it cannot catch is the execution
itself ending: stopped (``ABORTED``), out of time (``TIMED_OUT``), or failed by Step Functions' own limits
(``FAILED`` before "Fail ingestion" ran). EventBridge tells the reconciler when an execution ends so; a
scheduled sweep catches anything an event missed, and starts the executions of ingestions left queued
without one (a stream record the trigger gave up on). Both are idempotent: an ingestion already settled,
or of a newer attempt, is left as it is. An ingestion the reconciler cannot classify is logged and left
alone; it never deletes data it cannot account for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol
from uuid import UUID

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field

from openlqs.domain.common import Environment
from openlqs.domain.ingestions import ACTIVE_STATES, attempt_of
from openlqs.domain.ports import Executions
from openlqs.errors import NotFound, OpenLQSError
from openlqs.ingestion.payloads import IngestionTask
from openlqs.ingestion.trigger import execution_name
from openlqs.models.common import ProcessState
from openlqs.models.ingestions import IngestionListParams, ProcessModel

logger = Logger(service="openlqs")

#: The error an ingestion gets when its execution ended this way without finishing it.
ENDED_ERRORS = {
    "FAILED": "ExecutionFailed",
    "TIMED_OUT": "ExecutionTimedOut",
    "ABORTED": "ExecutionAborted",
    "SUCCEEDED": "ExecutionEnded",
    None: "ExecutionMissing",
}
EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
#: ``{ingestion id}-{attempt}``, as the trigger names executions.
_EXECUTION_NAME = re.compile(r"^(?P<id>[0-9a-f-]{36})-(?P<attempt>\d+)$")


class ExecutionStatusChange(BaseModel):
    """The ``detail`` of EventBridge's "Step Functions Execution Status Change"."""

    model_config = ConfigDict(populate_by_name=True)

    name: str
    status: str
    execution_arn: str | None = Field(None, alias="executionArn")
    state_machine_arn: str | None = Field(None, alias="stateMachineArn")
    cause: str | None = None
    error: str | None = None


@dataclass
class Reconciled:
    """What one run did, by ingestion id."""

    failed: list[UUID] = field(default_factory=list)
    started: list[UUID] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "failed": [str(i) for i in self.failed],
            "started": [str(i) for i in self.started],
            "left_alone": self.left_alone,
        }


class ProcessRuns(Protocol):
    """The process service a reconciler settles (ingestions, digestions): read and move processes."""

    def get(self, resource_id: UUID) -> Any: ...

    def list(self, params: Any) -> tuple[int, list[Any]]: ...

    def transition(
        self,
        process_id: UUID,
        to_state: ProcessState,
        *,
        expected_from: set[ProcessState] | None = None,
        error_name: str | None = None,
        error_message: str | None = None,
        error_payload: dict | None = None,
    ) -> Any: ...


class AttemptSettlement(Protocol):
    """Takes an attempt back once its execution ended: its parts settled, what it wrote removed."""

    def settle_parts(self, process: Any, reason: str) -> None: ...

    def discard(self, process: Any) -> None: ...


class IngestionReconciler:
    """Settles ingestions whose execution ended without them; starts those left queued without one.

    ``queued_grace`` is how long a queued ingestion may wait for its execution before the sweep starts
    it (the trigger normally starts it within a second). A subclass settles another kind of process
    (``what``) by saying how to list them (:meth:`_list_params`) and start their execution (:meth:`_task`).
    """

    #: What the reconciled processes are called in reports and logs.
    what = "ingestion"

    def __init__(
        self,
        ingestions: ProcessRuns,
        attempts: AttemptSettlement,
        executions: Executions,
        environment: Environment | None = None,
        *,
        queued_grace: timedelta = timedelta(minutes=2),
    ) -> None:
        self.ingestions = ingestions
        self.attempts = attempts
        self.executions = executions
        self.env = environment or Environment()
        self.queued_grace = queued_grace

    def handle(self, event: dict[str, Any]) -> Reconciled:
        """An EventBridge event: an execution's status change, or the schedule's tick (a sweep)."""
        parsed = parse(event, model=EventBridgeModel)
        if parsed.detail_type == EXECUTION_STATUS_CHANGE:
            change = ExecutionStatusChange.model_validate(parsed.detail)
            return self.execution_ended(change.name, change.status, change.cause or change.error)
        return self.sweep()

    def execution_ended(self, name: str, status: str, cause: str | None = None) -> Reconciled:
        """An execution ended as ``status``: fail its ingestion if that attempt is still running."""
        report = Reconciled()
        match = _EXECUTION_NAME.match(name)
        if match is None:
            report.left_alone.append(f"execution {name}: not an {self.what}'s execution name")
            logger.warning("execution name not understood; nothing done", extra={"execution": name})
            return report
        try:
            ingestion = self.ingestions.get(UUID(match["id"]))
        except NotFound:
            report.left_alone.append(f"execution {name}: its {self.what} no longer exists")
            return report
        if attempt_of(ingestion) != int(match["attempt"]) or ingestion.state not in ACTIVE_STATES:
            return report  # settled already, or queued again since
        self._fail(ingestion, status, cause, report)
        return report

    def sweep(self) -> Reconciled:
        """Every ingestion still queued or running, checked against its execution."""
        report = Reconciled()
        for state in (ProcessState.queued, ProcessState.processing, ProcessState.finalizing):
            for ingestion in self._in_state(state):
                try:
                    self._check(ingestion, report)
                except OpenLQSError as error:  # it moved meanwhile: the next sweep looks again
                    report.left_alone.append(f"{self.what} {ingestion.id}: {error.message}")
        return report

    def _in_state(self, state: ProcessState) -> list[ProcessModel]:
        found: list[ProcessModel] = []
        while True:
            _, page = self.ingestions.list(self._list_params(state, len(found)))
            found.extend(page)
            if len(page) < 1000:
                return found

    def _list_params(self, state: ProcessState, offset: int) -> Any:
        """The list parameters of a page of 1,000 processes in ``state``."""
        return IngestionListParams(state=state, limit=1000, offset=offset)

    def _task(self, process_id: UUID, attempt: int) -> dict[str, Any]:
        """The input of an execution of the process's state machine."""
        return IngestionTask(ingestion_id=process_id, attempt=attempt).model_dump(mode="json")

    def _check(self, ingestion: ProcessModel, report: Reconciled) -> None:
        attempt = attempt_of(ingestion)
        if attempt < 1:
            report.left_alone.append(f"{self.what} {ingestion.id}: {ingestion.state} without an attempt")
            logger.warning(
                f"{self.what} without an attempt; left alone", extra={f"{self.what}_id": str(ingestion.id)}
            )
            return
        name = execution_name(ingestion.id, attempt)
        status = self.executions.status(name)
        if status == "RUNNING":
            return
        if ingestion.state == ProcessState.queued and status is None:
            waited = self.env.now() - (ingestion.transitioned_at or ingestion.created_at)
            if waited >= self.queued_grace:
                self.executions.start(name, self._task(ingestion.id, attempt))
                report.started.append(ingestion.id)
                logger.info(
                    f"queued {self.what} started by the sweep", extra={f"{self.what}_id": str(ingestion.id)}
                )
            return
        self._fail(ingestion, status, None, report)

    def _fail(
        self, ingestion: ProcessModel, status: str | None, cause: str | None, report: Reconciled
    ) -> None:
        name = ENDED_ERRORS.get(status, "ExecutionEnded")
        execution = execution_name(ingestion.id, attempt_of(ingestion))
        said = f"The execution {execution} " + (f"ended {status}" if status else "does not exist")
        message = f"{said} while the {self.what} was {ingestion.state}" + (f": {cause}" if cause else ".")
        self.ingestions.transition(
            ingestion.id,
            ProcessState.failed,
            expected_from=set(ACTIVE_STATES),
            error_name=name,
            error_message=message[:4096],
            error_payload={"attempt": attempt_of(ingestion), "execution": execution, "status": status},
        )
        self.attempts.settle_parts(ingestion, message)
        self.attempts.discard(ingestion)
        report.failed.append(ingestion.id)
        logger.info(
            f"{self.what} failed by the reconciler",
            extra={f"{self.what}_id": str(ingestion.id), "status": status},
        )
