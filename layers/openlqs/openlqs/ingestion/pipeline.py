"""IngestionPipeline: the rules behind the state machine's four tasks.

Plan ingestion picks the log's format from its first bytes, reads only its index, creates one topic per
topic name and one IngestionPart per contiguous run of chunks. Process part reads its byte range, indexes
every message and writes record blocks under segment ids derived from the ingestion and the part (so a
re-run overwrites exactly the same items). Finalize ingestion sets topic and log statistics from the
stored blocks. Fail ingestion removes what the attempt wrote and records why it failed. Nothing here
knows which format it indexes (``openlqs.formats``).
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import suppress
from dataclasses import dataclass
from uuid import UUID

from openlqs.domain.common import Context, Environment
from openlqs.domain.ingestions import IngestionPartService, IngestionService, attempt_of
from openlqs.domain.object_stores import ObjectSpaces
from openlqs.domain.ports import BlobStore, RecordRepository, ResourceRepository
from openlqs.domain.resources import INGESTION, INGESTION_PART, LOG, TOPIC, TopicService
from openlqs.domain.statistics import RecordStatistics, segment_prefix
from openlqs.errors import (
    BadLogFile,
    Conflict,
    IngestionIncomplete,
    LimitExceeded,
    NotFound,
    OpenLQSError,
    StaleAttempt,
)
from openlqs.formats.base import Channel, LogIndex, Span
from openlqs.formats.registry import SNIFF_BYTES, format_for, format_named
from openlqs.ingestion.attempts import AttemptCleaner
from openlqs.ingestion.part_blocks import BlockBuilder, PartBlocks, bucket_width_for, part_columns
from openlqs.ingestion.payloads import (
    FailTask,
    IngestionOutcome,
    IngestionPlan,
    IngestionTask,
    PartOutcome,
    PartTask,
    PlannedIngestion,
)
from openlqs.models.common import ProcessState
from openlqs.models.ingestions import (
    Ingestion,
    IngestionPart,
    IngestionPartCreateRequest,
    IngestionPartListParams,
)
from openlqs.models.resources import Topic, TopicCreateRequest, TopicListParams, TopicUpdateRequest

#: The topic context flag that asks ingestions to store small messages' ``query_data``.
STORE_QUERY_DATA = "store_query_data"


@dataclass(frozen=True)
class BlobByteSource:
    """``ByteSource`` over one object of a bucket (S3 range reads)."""

    blobs: BlobStore
    key: str
    size: int

    def read(self, start: int, end: int) -> bytes:
        end = min(end, self.size)
        if end <= start:
            return b""
        return self.blobs.read(self.key, start, end - 1)


def split_parts(spans: list[Span], target_bytes: int) -> list[list[Span]]:
    """Contiguous runs of spans, in file order, of about ``target_bytes`` each (at least one span)."""
    parts: list[list[Span]] = []
    current: list[Span] = []
    size = 0
    for span in sorted(spans, key=lambda s: s.start):
        if current and size + (span.end - span.start) > target_bytes:
            parts.append(current)
            current, size = [], 0
        current.append(span)
        size += span.end - span.start
    if current:
        parts.append(current)
    return parts


class IngestionPipeline:
    def __init__(
        self,
        resources: ResourceRepository,
        records: RecordRepository,
        ingestions: IngestionService,
        parts: IngestionPartService,
        topics: TopicService,
        spaces: ObjectSpaces,
        statistics: RecordStatistics,
        attempts: AttemptCleaner,
        environment: Environment | None = None,
        *,
        part_target_bytes: int = 64 * 1024 * 1024,
        stored_query_data_max_bytes: int = 1024,
    ) -> None:
        self.resources = resources
        self.records = records
        self.ingestions = ingestions
        self.parts = parts
        self.topics = topics
        self.spaces = spaces
        self.statistics = statistics
        self.attempts = attempts
        self.env = environment or Environment()
        self.part_target_bytes = part_target_bytes
        #: Messages of an opted-in topic up to this size get their ``query_data`` stored at ingestion.
        self.stored_query_data_max_bytes = stored_query_data_max_bytes

    # -- helpers ---------------------------------------------------------------------------------
    def _current(self, ingestion_id: UUID, attempt: int) -> Ingestion:
        ingestion = self.ingestions.get(ingestion_id)
        if attempt_of(ingestion) != attempt:
            raise StaleAttempt(
                f"Ingestion {ingestion_id} is on attempt {attempt_of(ingestion)}; "
                f"attempt {attempt} stops here."
            )
        return ingestion

    def _check_running(self, ingestion_id: UUID, attempt: int) -> None:
        """Parts write only while their attempt is the ingestion's and it is still processing."""
        ingestion = self._current(ingestion_id, attempt)
        if ingestion.state != ProcessState.processing:
            raise StaleAttempt(f"Ingestion {ingestion_id} is {ingestion.state}; part results are discarded.")

    def _source(self, ingestion: Ingestion) -> BlobByteSource:
        if ingestion.object_key is None:
            raise BadLogFile(f"Ingestion {ingestion.id} names no object.")
        space = (
            self.spaces.for_store(ingestion.object_store_id)
            if ingestion.object_store_id is not None
            else self.spaces.for_log(ingestion.log_id)
        )
        key = space.full_key(ingestion.object_key)
        info = space.blobs.head(key)
        if info is None:
            raise NotFound(f"Object {ingestion.object_key!r} of ingestion {ingestion.id} not found.")
        return BlobByteSource(space.blobs, key, info.size)

    @staticmethod
    def _plan_of(ingestion: Ingestion) -> IngestionPlan:
        stored = ingestion._internal.get("plan")
        if not stored:
            raise StaleAttempt(f"Ingestion {ingestion.id} has no plan; it was not planned by this attempt.")
        return IngestionPlan.model_validate(stored)

    def _all_parts(self, ingestion_id: UUID) -> list[IngestionPart]:
        parts: list[IngestionPart] = []
        while True:
            _, page = self.parts.list(IngestionPartListParams(limit=1000, offset=len(parts)), ingestion_id)
            parts.extend(page)
            if len(page) < 1000:
                return parts

    # -- Plan ingestion --------------------------------------------------------------------------
    def plan(self, task: IngestionTask) -> PlannedIngestion:
        ingestion_id, attempt = task.ingestion_id, task.attempt
        ingestion = self._current(ingestion_id, attempt)
        self.ingestions.transition(
            ingestion_id,
            ProcessState.processing,
            expected_from={ProcessState.queued, ProcessState.processing},
        )
        source = self._source(ingestion)
        log_format = format_for(source.read(0, SNIFF_BYTES))
        index = log_format.read_index(source)
        log = self.resources.get(LOG, ingestion.log_id)
        message_count = sum(span.message_count for span in index.spans)
        if log.record_count + message_count > self.env.limits.max_records_per_log:
            raise LimitExceeded(
                f"max_records_per_log ({self.env.limits.max_records_per_log}) would be exceeded: "
                f"the log holds {log.record_count} records and the file {message_count}."
            )
        touched = self.statistics.clear_ingestion(ingestion)
        if touched:
            self.statistics.refresh(ingestion.log_id, touched)
        topics, widths, created = self._topics(ingestion, index)
        previous = ingestion._internal.get("plan")
        if previous and IngestionPlan.model_validate(previous).attempt == attempt:
            # "Plan ingestion" retried within its attempt: the topics the first run made are this attempt's.
            created = [*IngestionPlan.model_validate(previous).created_topics, *created]
        plan = IngestionPlan(
            format=log_format.name,
            attempt=attempt,
            topics=topics,
            widths=widths,
            created_topics=created,
            query_data_topics=self._query_data_topics(set(topics.values())),
        )

        def remember(new: Ingestion) -> None:
            new._internal["plan"] = plan.to_internal()
            if index.salvaged:
                new.context = {
                    **(new.context or {}),
                    "salvage": {"index_missing": True, "ignored_bytes": index.ignored_bytes},
                }

        try:
            parts = self._parts(ingestion, index)
            self.resources.update(INGESTION, ingestion_id, remember)
            self._check_running(ingestion_id, attempt)
        except (StaleAttempt, NotFound):
            self._take_back_plan(ingestion_id, attempt, created)
            raise
        return PlannedIngestion(
            ingestion_id=ingestion_id,
            attempt=attempt,
            parts=[
                PartTask(ingestion_id=ingestion_id, part_id=part_id, sequence=sequence, attempt=attempt)
                for sequence, part_id in parts
            ],
        )

    def _take_back_plan(self, ingestion_id: UUID, attempt: int, created: list[UUID]) -> None:
        """The ingestion was cancelled or deleted while this attempt was planned: the cancel did not see
        the topics and parts made since, so they are taken back here (unless a new attempt has begun,
        which owns the log's topics now)."""
        try:
            ingestion: Ingestion | None = self.ingestions.get(ingestion_id)
        except NotFound:
            ingestion = None
        if ingestion is not None and attempt_of(ingestion) != attempt:
            return
        if ingestion is not None:
            self.attempts.settle_parts(ingestion, f"{ingestion.state} while it was planned")
        self.attempts.discard_topics(created)

    def _topics(
        self, ingestion: Ingestion, index: LogIndex
    ) -> tuple[dict[str, UUID], dict[UUID, int], list[UUID]]:
        """One topic per topic name (fetched or created); returns channel → topic, widths, created ids."""
        counts: dict[int, int] = defaultdict(int)
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for span in index.spans:
            for channel_id, count in span.counts.items():
                counts[channel_id] += count
                first[channel_id] = min(first.get(channel_id, span.start_time), span.start_time)
                last[channel_id] = max(last.get(channel_id, span.end_time), span.end_time)
        topics: dict[str, UUID] = {}
        widths: dict[UUID, int] = {}
        created: list[UUID] = []
        for name, channels in index.topics().items():
            ids = [c.id for c in channels]
            count = sum(counts[i] for i in ids)
            starts = [first[i] for i in ids if i in first]
            ends = [last[i] for i in ids if i in last]
            width = bucket_width_for(count, (max(ends) - min(starts)) if starts else 0)
            topic, is_new = self._topic(ingestion.log_id, name, channels[0], width)
            if is_new:
                created.append(topic.id)
            widths[topic.id] = int(topic._internal.get("bucket_width_ns") or width)
            for channel_id in ids:
                topics[str(channel_id)] = topic.id
        return topics, widths, created

    def _query_data_topics(self, topic_ids: set[UUID]) -> list[UUID]:
        """The topics that opted in to stored ``query_data`` (``context.store_query_data: true``)."""
        opted = []
        for topic_id in sorted(topic_ids):
            topic = self.resources.get(TOPIC, topic_id)
            if (topic.context or {}).get(STORE_QUERY_DATA) is True:
                opted.append(topic_id)
        return opted

    def _topic(self, log_id: UUID, name: str, channel: Channel, width: int) -> tuple[Topic, bool]:
        _, found = self.topics.list(TopicListParams(log_id=log_id, name=name, limit=1))
        if found:
            return self._typed(found[0], channel), False
        request = TopicCreateRequest(
            log_id=log_id,
            name=name,
            type_name=channel.type_name,
            type_encoding=channel.type_encoding,
            type_data=channel.type_data,
            type_schema=channel.type_schema,
            context=channel.context or None,
        )
        try:
            return self.topics.create(request, Context(), bucket_width_ns=width), True
        except Conflict:
            return self.topics.list(TopicListParams(log_id=log_id, name=name, limit=1))[1][0], False

    def _typed(self, topic: Topic, channel: Channel) -> Topic:
        """A topic made before its first ingestion (to opt in to stored query_data) gets the file's type."""
        if topic.type_name is not None and topic.type_data is not None:
            return topic
        request = TopicUpdateRequest(
            type_name=topic.type_name or channel.type_name,
            type_encoding=topic.type_encoding or channel.type_encoding,
            type_data=topic.type_data or channel.type_data,
            type_schema=topic.type_schema or channel.type_schema,
            context={**(topic.context or {}), **channel.context},
        )
        return self.topics.update(topic.id, request, Context())

    def _parts(self, ingestion: Ingestion, index: LogIndex) -> list[tuple[int, UUID]]:
        """Replace the ingestion's parts with one per contiguous run of spans."""
        for part in self._all_parts(ingestion.id):
            self.parts.delete(part.id, Context())
        created = []
        for sequence, spans in enumerate(split_parts(index.spans, self.part_target_bytes)):
            request = IngestionPartCreateRequest(
                sequence=sequence,
                state=ProcessState.queued,
                context={
                    "start": spans[0].start,
                    "end": spans[-1].end,
                    "chunk_count": len(spans),
                    "message_count": sum(s.message_count for s in spans),
                },
            )
            created.append((sequence, self.parts.create(ingestion.id, request, Context()).id))
        return created

    # -- Process part ----------------------------------------------------------------------------
    def process_part(self, task: PartTask) -> PartOutcome:
        ingestion_id, part_id, attempt = task.ingestion_id, task.part_id, task.attempt
        ingestion = self._current(ingestion_id, attempt)
        done = self.parts.get(part_id)
        if done.state == ProcessState.completed:
            # A retry after a lost response: the records are written, nothing more to do.
            return PartOutcome(part_id=part_id, record_count=int((done.context or {}).get("record_count", 0)))
        part = self.parts.transition(
            part_id, ProcessState.processing, expected_from={ProcessState.queued, ProcessState.processing}
        )
        plan = self._plan_of(ingestion)
        context = part.context or {}
        start, end = int(context["start"]), int(context["end"])
        try:
            data = self._source(ingestion).read(start, end)
            if len(data) != end - start:
                raise BadLogFile(f"The file ends at byte {start + len(data)}, inside part {part.sequence}.")
            built = self._blocks(ingestion, plan, part.sequence, data, start)
        except BadLogFile as error:
            payload = {"part_id": str(part_id), "sequence": part.sequence, "start": start, "end": end}
            self.parts.transition(
                part_id,
                ProcessState.failed,
                error_name=error.name(),
                error_message=error.detail,
                error_payload=payload,
            )
            raise
        self._check_running(ingestion_id, attempt)
        self.records.put_blocks(built.blocks)
        try:
            self._check_running(ingestion_id, attempt)
        except (StaleAttempt, NotFound):
            # The ingestion failed (another part), was cancelled or deleted while this one wrote: take
            # back what it wrote.
            for topic_id in {block.topic_id for block in built.blocks}:
                self.records.delete_segments(topic_id, f"{segment_prefix(ingestion_id)}{part.sequence:05d}-")
            raise
        self.parts.transition(part_id, ProcessState.completed, progress=1.0)

        def note(new: IngestionPart) -> None:
            stats = {str(topic_id): stat.to_json() for topic_id, stat in built.stats.items()}
            new.context = {**(new.context or {}), "topics": stats, "record_count": built.record_count}

        self.resources.update(INGESTION_PART, part_id, note)
        self._advance(ingestion_id)
        return PartOutcome(part_id=part_id, record_count=built.record_count)

    def _blocks(
        self, ingestion: Ingestion, plan: IngestionPlan, sequence: int, data: bytes, base: int
    ) -> PartBlocks:
        """The part's record blocks: its chunks indexed by the plan's format, cut into blocks."""
        topic_ids = plan.topic_ids()
        topic_index = {topic_id: i for i, topic_id in enumerate(topic_ids)}
        channels = {int(channel): topic_index[topic] for channel, topic in plan.topics.items()}
        chunks = format_named(plan.format).index_columns(data, base)
        builder = BlockBuilder(
            ingestion_id=ingestion.id,
            segment=f"{segment_prefix(ingestion.id)}{sequence:05d}-{{:03d}}".format,
            created_at=self.env.now(),
            query_data_topics={
                topic_id: self.resources.get(TOPIC, topic_id) for topic_id in plan.query_data_topics
            },
            query_data_max_bytes=self.stored_query_data_max_bytes,
            read_bytes=lambda offset, length: data[offset - base : offset - base + length],
        )
        return builder.build(part_columns(chunks, channels), topic_ids, plan.widths)

    def _advance(self, ingestion_id: UUID) -> None:
        parts = self._all_parts(ingestion_id)
        if not parts:
            return
        done = sum(1 for p in parts if p.state == ProcessState.completed)
        # Progress is informative; the ingestion may already be finalizing or failed.
        with suppress(OpenLQSError):
            self.ingestions.transition(
                ingestion_id,
                ProcessState.processing,
                expected_from={ProcessState.processing},
                progress=done / len(parts),
            )

    # -- Finalize ingestion ----------------------------------------------------------------------
    def finalize(self, task: IngestionTask) -> IngestionOutcome:
        ingestion_id = task.ingestion_id
        ingestion = self._current(ingestion_id, task.attempt)
        self.ingestions.transition(
            ingestion_id,
            ProcessState.finalizing,
            expected_from={ProcessState.processing, ProcessState.finalizing},
        )
        parts = self._all_parts(ingestion_id)
        unfinished = sorted(p.sequence for p in parts if p.state != ProcessState.completed)
        if unfinished:
            raise IngestionIncomplete(f"Parts {unfinished} of ingestion {ingestion_id} did not complete.")
        self.statistics.refresh(ingestion.log_id, self._plan_of(ingestion).topic_ids())
        self.ingestions.transition(
            ingestion_id, ProcessState.completed, expected_from={ProcessState.finalizing}, progress=1.0
        )
        return IngestionOutcome(ingestion_id=ingestion_id, state=ProcessState.completed)

    # -- Fail ingestion --------------------------------------------------------------------------
    def fail(self, task: FailTask) -> IngestionOutcome:
        ingestion_id, attempt = task.ingestion_id, task.attempt
        ingestion = self._current(ingestion_id, attempt)
        name, message = (
            task.error.details() if task.error is not None else ("IngestionFailed", "IngestionFailed")
        )
        failed_parts = [
            {
                "sequence": p.sequence,
                "part_id": str(p.id),
                "error_name": p.error_name,
                "error_message": p.error_message,
                **(p.error_payload or {}),
            }
            for p in self._all_parts(ingestion_id)
            if p.state == ProcessState.failed
        ]
        self.attempts.discard(ingestion)
        payload = {"attempt": attempt, "failed_parts": failed_parts} if failed_parts else {"attempt": attempt}
        self.ingestions.transition(
            ingestion_id,
            ProcessState.failed,
            error_name=name,
            error_message=message,
            error_payload=payload,
        )
        return IngestionOutcome(ingestion_id=ingestion_id, state=ProcessState.failed)
