"""A digestion always ends: the ingestion reconciler's rules, for DigestionStateMachine's executions.

An execution stopped, timed out or failed by Step Functions' own limits leaves its digestion
``processing`` with nobody to settle it; ReconcileDigestionsFunction fails it (``ExecutionAborted``…,
its queued parts cancelled and its running ones failed, so that readers waiting on them stop), and
starts the digestions left queued without an execution. Executions are named as ingestions' are
(``{digestion id}-{attempt}``), of another state machine.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from openlqs.digestion.payloads import DigestionTask
from openlqs.ingestion.reconciler import IngestionReconciler
from openlqs.models.common import ProcessState
from openlqs.models.digestions import DigestionListParams


class DigestionReconciler(IngestionReconciler):
    """Settles digestions whose execution ended without them; starts those left queued without one."""

    what = "digestion"

    def _list_params(self, state: ProcessState, offset: int) -> Any:
        return DigestionListParams(state=state, limit=1000, offset=offset)

    def _task(self, process_id: UUID, attempt: int) -> dict[str, Any]:
        return DigestionTask(digestion_id=process_id, attempt=attempt).model_dump(mode="json")
