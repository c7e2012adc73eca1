"""Topic and log statistics from the record blocks, and removing what an ingestion wrote.

Shared by the ingestion service (deleting an ingestion removes its records) and the ingestion pipeline
(a new attempt starts clean, finalize writes the statistics, a failed attempt takes its records back).
"""

from __future__ import annotations

from uuid import UUID

from openlqs.domain.ports import RecordRepository, ResourceKind, ResourceRepository
from openlqs.domain.resources import LOG, TOPIC
from openlqs.models.ingestions import Ingestion
from openlqs.models.resources import RecordStats
from openlqs.records.rows import RecordSummary


def segment_prefix(ingestion_id: UUID) -> str:
    """Every record block an ingestion writes has a segment id starting with this."""
    return f"i{ingestion_id.hex}-"


class RecordStatistics:
    """Recomputes statistics from stored blocks (idempotent, unlike counting as records are written)."""

    def __init__(self, resources: ResourceRepository, records: RecordRepository) -> None:
        self.resources = resources
        self.records = records

    def _set(self, kind: ResourceKind[RecordStats], resource_id: UUID, summary: RecordSummary) -> None:
        def change(stats: RecordStats) -> None:
            stats.record_count, stats.record_size = summary.count, summary.size
            stats.start_time, stats.end_time = summary.start_time, summary.end_time
            stats.duration = (
                None
                if summary.start_time is None or summary.end_time is None
                else summary.end_time - summary.start_time
            )

        self.resources.update(kind, resource_id, change)

    def refresh(self, log_id: UUID, topic_ids: list[UUID] | None = None) -> None:
        """Recompute the statistics of ``topic_ids`` (every topic when None) from their blocks, then the
        log's from its topics."""
        total = RecordSummary()
        for topic in self.resources.list_resources(TOPIC, log_id):
            if topic_ids is None or topic.id in topic_ids:
                summary = self.records.topic_summary(topic.id)
                self._set(TOPIC, topic.id, summary)
            else:
                summary = RecordSummary(
                    topic.record_count, topic.record_size, topic.start_time, topic.end_time
                )
            total = total + summary
        self._set(LOG, log_id, total)

    def clear_ingestion(self, ingestion: Ingestion) -> list[UUID]:
        """Delete every record block the ingestion wrote (any attempt); returns the topics touched."""
        touched = []
        for topic in self.resources.list_resources(TOPIC, ingestion.log_id):
            if self.records.delete_segments(topic.id, segment_prefix(ingestion.id)):
                touched.append(topic.id)
        return touched

    def delete_ingestion_records(self, ingestion: Ingestion) -> None:
        """``RecordCleanup``: remove an ingestion's records and take them out of the statistics."""
        touched = self.clear_ingestion(ingestion)
        if touched:
            self.refresh(ingestion.log_id, touched)
