"""After a restart: the ingestions the previous run of the local stack left unfinished are run again.

The local stack's Step Functions executions live in its process: when it stops (or is killed) during an
ingestion, the execution is gone, and the ingestion would stay ``queued`` or ``processing`` for good. At
start, a running one is queued again as a new attempt (its plan clears what the lost attempt wrote, so
every record ends up stored once), and a queued one gets its execution started.
"""

from __future__ import annotations

from uuid import UUID

from openlqs.domain.ingestions import attempt_of
from openlqs.models.common import ProcessState
from openlqs.models.ingestions import Ingestion, IngestionListParams
from openlqs.services import Services


def resume_interrupted(services: Services) -> list[UUID]:
    """Queue again or start every ingestion left queued or running; returns their ids."""
    resumed: list[UUID] = []
    for state in (ProcessState.processing, ProcessState.finalizing, ProcessState.queued):
        ingestions: list[Ingestion] = []
        while True:  # every page first: requeuing one moves it out of the state listed
            params = IngestionListParams(state=state, limit=1000, offset=len(ingestions))
            _, page = services.ingestions.list(params)
            ingestions.extend(page)
            if len(page) < params.limit:
                break
        for ingestion in ingestions:
            if state == ProcessState.queued:
                services.trigger.start_ingestion(ingestion.id, attempt_of(ingestion))
            else:
                services.ingestions.requeue_interrupted(ingestion.id)
            resumed.append(ingestion.id)
    return resumed
