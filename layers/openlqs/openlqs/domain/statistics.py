"""Topic and log statistics from the record blocks, and removing what an ingestion wrote.

Shared by the ingestion service (deleting an ingestion removes its records) and the ingestion pipeline
(a new attempt starts clean, finalize writes the statistics, a failed attempt takes its records back).
"""

from __future__ import annotations

from uuid import UUID

from openlqs.domain.common import retry_on_conflict
from openlqs.domain.ports import RecordRepository, ResourceKind, ResourceRepository
from openlqs.domain.resources import LOG, TOPIC
from openlqs.errors import NotFound
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

    def _set(
        self, kind: ResourceKind[RecordStats], resource_id: UUID, summary: RecordSummary
    ) -> RecordSummary:
        """Set a topic's or log's statistics to ``summary``; returns what they were just before. Records
        created through the API meanwhile change the same item: it is written however busy it is."""
        replaced = RecordSummary()

        def change(stats: RecordStats) -> None:
            nonlocal replaced
            replaced = _summary_of(stats)
            stats.record_count, stats.record_size = summary.count, summary.size
            stats.start_time, stats.end_time = summary.start_time, summary.end_time
            stats.duration = _duration(summary)

        retry_on_conflict(lambda: self.resources.update(kind, resource_id, change))
        return replaced

    def refresh(self, log_id: UUID, topic_ids: list[UUID] | None = None) -> None:
        """Recompute the statistics of ``topic_ids`` (every topic when None) from their blocks, then
        move the log's by what they changed.

        The log's count and size change by the refreshed topics' differences rather than being set to
        a sum over its topics: a record created meanwhile in another topic is counted in the log before
        its topic (``RecordService``), and a sum read before its topic's write would drop it from the
        log for good. Time bounds widen with the topics', or are recomputed from every topic when a
        refreshed topic lost records. Each write is tried again, with waits, for as long as a record
        create does: the topics are written by then, and a log left behind them would stay wrong.
        """
        count = size = 0
        widened = RecordSummary()
        shrank = False
        if topic_ids is None:
            topic_ids = [topic.id for topic in self.resources.list_resources(TOPIC, log_id)]
        for topic_id in topic_ids:  # by id: a list of a log's topics is eventually consistent on AWS
            summary = self.records.topic_summary(topic_id)
            try:
                old = self._set(TOPIC, topic_id, summary)
            except NotFound:
                continue  # deleted meanwhile: its deletion took its records out of the log
            count, size = count + summary.count - old.count, size + summary.size - old.size
            widened = widened + summary
            shrank = shrank or summary.count < old.count or not _within(old, summary)

        def change(stats: RecordStats) -> None:
            stats.record_count = max(stats.record_count + count, 0)
            stats.record_size = max(stats.record_size + size, 0)
            bounds = self._bounds(log_id) if shrank else _summary_of(stats) + widened
            stats.start_time, stats.end_time = bounds.start_time, bounds.end_time
            stats.duration = _duration(bounds)

        retry_on_conflict(lambda: self.resources.update(LOG, log_id, change))

    def _bounds(self, log_id: UUID) -> RecordSummary:
        """The time bounds of every topic of the log together."""
        total = RecordSummary()
        for topic in self.resources.list_resources(TOPIC, log_id):
            total = total + _summary_of(topic)
        return total

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


def _summary_of(stats: RecordStats) -> RecordSummary:
    return RecordSummary(stats.record_count, stats.record_size, stats.start_time, stats.end_time)


def _within(inner: RecordSummary, outer: RecordSummary) -> bool:
    """Whether ``inner``'s time bounds lie within ``outer``'s (no records lie within anything)."""
    if inner.start_time is None or inner.end_time is None:
        return True
    if outer.start_time is None or outer.end_time is None:
        return False
    return outer.start_time <= inner.start_time and inner.end_time <= outer.end_time


def _duration(summary: RecordSummary) -> int | None:
    if summary.start_time is None or summary.end_time is None:
        return None
    return summary.end_time - summary.start_time
