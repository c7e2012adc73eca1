"""What one attempt of an ingestion leaves behind, and taking it back.

An attempt writes record blocks (segment ids carry the ingestion's id), may create topics, and runs as
one Step Functions execution named after the ingestion and the attempt. A failed attempt (the pipeline's
"Fail ingestion"), a cancelled one (the API) and one whose execution ended without finishing it (the
reconciler) are all taken back here, the same way: the execution stopped, its parts settled, its records
deleted, the topics it created and left empty deleted, the statistics recomputed.
"""

from __future__ import annotations

from contextlib import suppress
from functools import partial
from uuid import UUID

from openlqs.domain.common import Context, retry_on_conflict
from openlqs.domain.ingestions import IngestionPartService, attempt_of
from openlqs.domain.object_stores import ObjectSpaces
from openlqs.domain.ports import Executions, RecordRepository, ResourceRepository
from openlqs.domain.resources import TOPIC, TopicService
from openlqs.domain.statistics import RecordStatistics
from openlqs.errors import NotFound, OpenLQSError
from openlqs.ingestion.payloads import IngestionPlan
from openlqs.ingestion.trigger import execution_name
from openlqs.models.common import ProcessState
from openlqs.models.ingestions import Ingestion


class AttemptCleaner:
    """Takes an attempt back: stops its execution, settles its parts and removes what it wrote."""

    def __init__(
        self,
        resources: ResourceRepository,
        records: RecordRepository,
        statistics: RecordStatistics,
        topics: TopicService,
        parts: IngestionPartService,
        executions: Executions,
        spaces: ObjectSpaces | None = None,
    ) -> None:
        self.resources = resources
        self.records = records
        self.statistics = statistics
        self.topics = topics
        self.parts = parts
        self.executions = executions
        self.spaces = spaces

    def discard(self, ingestion: Ingestion) -> None:
        """Delete the records the ingestion wrote, the objects it derived (converted recordings' files)
        and the topics its plan created that are left empty, then recompute the statistics they were in."""
        if self.spaces is not None:
            self.spaces.delete_derived(ingestion)
        touched = self.statistics.clear_ingestion(ingestion)
        stored = ingestion._internal.get("plan")
        self.discard_topics(IngestionPlan.model_validate(stored).created_topics if stored else [])
        self.statistics.refresh(ingestion.log_id, touched)

    def discard_topics(self, created: list[UUID]) -> None:
        """Delete the topics an attempt created that hold no records.

        A task of the attempt may still be writing them (a finalize's statistics, the plan taking back
        what it made): a topic changed meanwhile is looked at again, and one deleted meanwhile is gone
        as wanted.
        """
        for topic_id in created:
            with suppress(NotFound):
                retry_on_conflict(partial(self._delete_if_empty, topic_id))

    def _delete_if_empty(self, topic_id: UUID) -> None:
        topic = self.resources.find(TOPIC, topic_id)
        if topic is not None and not self.records.topic_summary(topic.id).count:
            self.topics.delete(topic.id, Context())

    def settle_parts(self, ingestion: Ingestion, reason: str) -> None:
        """Parts still queued are cancelled and parts still running failed, naming ``reason``."""
        for part in self.parts.all_of(ingestion.id):
            # A part may finish (or be deleted) meanwhile: what it became is kept.
            with suppress(OpenLQSError):
                if part.state == ProcessState.queued:
                    self.parts.transition(
                        part.id, ProcessState.cancelled, expected_from={ProcessState.queued}
                    )
                elif part.state == ProcessState.processing:
                    self.parts.transition(
                        part.id,
                        ProcessState.failed,
                        expected_from={ProcessState.processing},
                        error_name="IngestionCancelled",
                        error_message=reason,
                    )

    def cancel(self, ingestion: Ingestion, reason: str) -> None:
        """``AttemptCancellation``: the ingestion was moved out of its running states by a request."""
        self.executions.stop(execution_name(ingestion.id, attempt_of(ingestion)), reason)
        self.settle_parts(ingestion, reason)
        self.discard(ingestion)
