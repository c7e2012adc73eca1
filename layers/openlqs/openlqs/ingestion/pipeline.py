"""IngestionPipeline: the rules behind the state machine's tasks.

Plan ingestion picks the log's format from its first bytes, reads only its index, creates one topic per
topic name and one IngestionPart per contiguous run of chunks (``part_sizes``), in batches, and writes
the parts' manifest to ObjectsBucket for the Map to read: the state carries only its location. Process
part reads its byte range, indexes every message and writes record blocks under segment ids derived from
the ingestion and the part (so a re-run overwrites exactly the same items), then counts itself done
(an atomic counter: no part lists the others). Record part failure notes why a part's task failed.
Finalize ingestion sets topic and log statistics from the stored blocks. Fail ingestion removes what
the attempt wrote and records why it failed, naming the failed parts. Nothing here knows which format it
indexes (``openlqs.formats``).

A ROS 2 recording (an ingestion of its ``metadata.yaml``, or of a lone ``.db3``) is planned file by
file and may have conversion parts: those steps are ``recording_steps``'s, and a part of a recording's
file names it in its records' ``source``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from contextlib import suppress
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from openlqs.domain.common import Context, Environment
from openlqs.domain.ingestions import (
    IngestionPartService,
    IngestionService,
    attempt_of,
    completed_parts_counter,
)
from openlqs.domain.object_keys import part_manifest_key
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
from openlqs.formats.mcap import McapFormat
from openlqs.formats.registry import SNIFF_BYTES, format_for, format_named
from openlqs.ingestion.attempts import AttemptCleaner
from openlqs.ingestion.log_sources import BlobByteSource, with_index_context
from openlqs.ingestion.part_blocks import BlockBuilder, PartBlocks, bucket_width_for, part_columns
from openlqs.ingestion.part_sizes import PartSizing
from openlqs.ingestion.payloads import (
    FailedPartTask,
    FailTask,
    IngestionOutcome,
    IngestionPlan,
    IngestionTask,
    ManifestLocation,
    PartOutcome,
    PartState,
    PartTask,
    PlannedIngestion,
)
from openlqs.ingestion.recording_steps import RecordingSteps
from openlqs.ingestion.recordings import (
    RECORDING_KINDS,
    PlannedFile,
    is_metadata_yaml,
    is_sqlite,
)
from openlqs.models.common import ProcessState
from openlqs.models.ingestions import Ingestion, IngestionPart, IngestionPartCreateRequest
from openlqs.models.resources import Topic, TopicCreateRequest, TopicListParams, TopicUpdateRequest

#: The topic context flag that asks ingestions to store small messages' ``query_data``.
STORE_QUERY_DATA = "store_query_data"
#: Most parts one ingestion may have. The Map's result holds an empty object (3 bytes) per part and a
#: state holds at most 256 KiB; 50,000 parts of the default 64 MiB are 3.2 TB.
MAX_PARTS = 50_000
#: Parts an error message or payload names at most (the rest are counted).
NAMED_PARTS = 20
#: Where a plan that failed on a bad file keeps where the file is bad (``BadLogFile.payload``) for
#: "Fail ingestion", with its attempt.
PLAN_FAILURE = "plan_failure"
#: The keys of a failed part's ``error_payload`` that say which part it is (the rest came from its error).
PART_KEYS = frozenset({"part_id", "sequence", "start", "end"})


def named(sequences: list[int]) -> str:
    """``[1, 5, 9]``, or the first ``NAMED_PARTS`` and how many more."""
    shown = sequences[:NAMED_PARTS]
    more = len(sequences) - len(shown)
    return f"{shown}" + (f" (and {more} more)" if more else "")


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
        manifests: BlobStore,
        manifest_bucket: str,
        sizing: PartSizing | None = None,
        max_parts: int = MAX_PARTS,
        stored_query_data_max_bytes: int = 1024,
        scratch_dir: Path | None = None,
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
        #: ObjectsBucket, where part manifests are written (``manifest_bucket`` is its name).
        self.manifests = manifests
        self.manifest_bucket = manifest_bucket
        self.sizing = sizing or PartSizing()
        self.max_parts = max_parts
        #: Messages of an opted-in topic up to this size get their ``query_data`` stored at ingestion.
        self.stored_query_data_max_bytes = stored_query_data_max_bytes
        #: Local storage for the files a part converts (Lambda's ephemeral storage; the system's
        #: temporary folder when None).
        self.scratch_dir = scratch_dir
        #: The steps only ROS 2 recordings take (their plan, their conversion parts).
        self.recordings = RecordingSteps(self)

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

    # -- Plan ingestion --------------------------------------------------------------------------
    def plan(self, task: IngestionTask) -> PlannedIngestion:
        ingestion_id, attempt = task.ingestion_id, task.attempt
        ingestion = self._current(ingestion_id, attempt)
        self.ingestions.transition(
            ingestion_id,
            ProcessState.processing,
            expected_from={ProcessState.queued, ProcessState.processing},
        )
        created: list[UUID] = []
        try:
            return self._plan(ingestion, attempt, created)
        except Exception as error:
            self._undo_plan(ingestion, attempt, created, error)
            raise

    def _plan(self, ingestion: Ingestion, attempt: int, created: list[UUID]) -> PlannedIngestion:
        ingestion_id = ingestion.id
        source = self._source(ingestion)
        head = source.read(0, SNIFF_BYTES)
        if is_sqlite(head) or is_metadata_yaml(ingestion.object_key or "", head):
            return self.recordings.plan(ingestion, attempt, created, source, head)
        log_format = format_for(head, also=RECORDING_KINDS)
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
        topics, widths = self._topics(ingestion, index, created)
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
            new.context = with_index_context(new.context, index, new._internal)

        try:
            parts = self._parts(ingestion, index, attempt)
            plan.part_count = len(parts)
            manifest = self._write_manifest(ingestion_id, attempt, parts)
            self.resources.update(INGESTION, ingestion_id, remember)
            self._check_running(ingestion_id, attempt)
        except (StaleAttempt, NotFound):
            self._take_back_plan(ingestion_id, attempt, created)
            raise
        return PlannedIngestion(
            ingestion_id=ingestion_id, attempt=attempt, manifest=manifest, part_count=len(parts)
        )

    def _undo_plan(self, ingestion: Ingestion, attempt: int, created: list[UUID], error: Exception) -> None:
        """A plan that failed leaves nothing behind: the topics it made (still empty) are deleted, and
        where a bad file is bad is kept for "Fail ingestion"."""
        for topic_id in created:
            # Another ingestion of the log may have found the topic meanwhile and written to it.
            with suppress(OpenLQSError):
                if not self.records.topic_summary(topic_id).count:
                    self.topics.delete(topic_id, Context())
        payload = error.payload if isinstance(error, BadLogFile) else {}

        def note(new: Ingestion) -> None:
            new._internal[PLAN_FAILURE] = {"attempt": attempt, "payload": payload}

        with suppress(OpenLQSError):
            self.resources.update(INGESTION, ingestion.id, note)

    def _write_manifest(
        self, ingestion_id: UUID, attempt: int, parts: list[tuple[UUID, int]]
    ) -> ManifestLocation:
        """The parts as the Map's ItemReader reads them: a JSON array in ObjectsBucket, in sequence order
        (``PartManifestItem``s)."""
        body = json.dumps(
            [{"part_id": str(part_id), "sequence": sequence} for part_id, sequence in parts],
            separators=(",", ":"),
        )
        key = part_manifest_key(ingestion_id, attempt)
        self.manifests.put(key, body.encode(), "application/json")
        return ManifestLocation(bucket=self.manifest_bucket, key=key)

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
        self, ingestion: Ingestion, index: LogIndex, created: list[UUID]
    ) -> tuple[dict[str, UUID], dict[UUID, int]]:
        """One topic per topic name (fetched or created; the ids of those made go to ``created``);
        returns channel → topic and the topics' bucket widths."""
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
        return topics, widths

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
        try:
            request = TopicCreateRequest(
                log_id=log_id,
                name=name,
                type_name=channel.type_name,
                type_encoding=channel.type_encoding,
                type_data=channel.type_data,
                type_schema=channel.type_schema,
                context=channel.context or None,
            )
        except ValidationError as error:
            raise BadLogFile(
                f"Topic {name!r} of the file cannot be stored: {_first_problem(error)}"
            ) from error
        try:
            return self.topics.create(request, Context(), bucket_width_ns=width), True
        except Conflict:
            return self.topics.list(TopicListParams(log_id=log_id, name=name, limit=1))[1][0], False

    def _typed(self, topic: Topic, channel: Channel) -> Topic:
        """A topic made before its first ingestion (to opt in to stored query_data) gets the file's type:
        what it does not say (name, encoding, definition, schema) is taken from the file."""
        encoded = topic.type_encoding is not None or channel.type_encoding is None
        if topic.type_name is not None and topic.type_data is not None and encoded:
            return topic
        changes = {
            "type_name": topic.type_name or channel.type_name,
            "type_encoding": topic.type_encoding or channel.type_encoding,
            "type_data": topic.type_data or channel.type_data,
            "type_schema": topic.type_schema or channel.type_schema,
            "context": {**(topic.context or {}), **channel.context},
        }
        current = {
            "type_name": topic.type_name,
            "type_encoding": topic.type_encoding,
            "type_data": topic.type_data,
            "type_schema": topic.type_schema,
            "context": topic.context,
        }
        if changes == current:  # an untyped channel (protobuf…) on a topic that already says so
            return topic
        try:
            request = TopicUpdateRequest(**changes)
        except ValidationError as error:
            raise BadLogFile(
                f"Topic {topic.name!r} cannot take the file's type: {_first_problem(error)}"
            ) from error
        return self.topics.update(topic.id, request, Context())

    def _parts(self, ingestion: Ingestion, index: LogIndex, attempt: int) -> list[tuple[UUID, int]]:
        """Replace the ingestion's parts with one per run of spans (``PartSizing``), in batches; the id
        and sequence of each."""
        return self._create_parts(ingestion, [self._run_context(attempt, run) for run in self._runs(index)])

    def _runs(self, index: LogIndex) -> list[list[Span]]:
        runs = self.sizing.split(index.spans)
        if len(runs) > self.max_parts:
            raise LimitExceeded(
                f"The file would make {len(runs)} ingestion parts, more than the {self.max_parts} one "
                "ingestion may have; raise PART_TARGET_BYTES (PartTargetBytes) so that parts are larger."
            )
        return runs

    def _run_context(self, attempt: int, spans: list[Span]) -> dict[str, Any]:
        return {
            "attempt": attempt,
            "start": spans[0].start,
            "end": spans[-1].end,
            "chunk_count": len(spans),
            "message_count": sum(s.message_count for s in spans),
            "estimated_seconds": round(sum(self.sizing.seconds(s) for s in spans), 3),
        }

    def _create_parts(self, ingestion: Ingestion, contexts: list[dict[str, Any]]) -> list[tuple[UUID, int]]:
        if len(contexts) > self.max_parts:
            raise LimitExceeded(
                f"The recording would make {len(contexts)} ingestion parts, more than the {self.max_parts} "
                "one ingestion may have; raise PART_TARGET_BYTES (PartTargetBytes) so that parts are larger."
            )
        self.parts.delete_all(ingestion.id)
        requests = (
            IngestionPartCreateRequest(sequence=sequence, state=ProcessState.queued, context=context)
            for sequence, context in enumerate(contexts)
        )
        return self.parts.create_many(ingestion, requests, Context())

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
        planned = plan.files[int(context["file"])] if "file" in context else None
        where = {key: context[key] for key in ("start", "end", "path") if key in context}
        try:
            if planned is not None and planned.converted:
                built = self.recordings.converted_part(ingestion, plan, part, planned, attempt)
            else:
                start, end = int(context["start"]), int(context["end"])
                file_source = (
                    self._source(ingestion)
                    if planned is None
                    else self.recordings.file_source(ingestion, planned)
                )
                data = file_source.read(start, end)
                if len(data) != end - start:
                    raise BadLogFile(
                        f"{'The file' if planned is None else planned.path} ends at byte "
                        f"{start + len(data)}, inside part {part.sequence}."
                    )
                built = self._blocks(ingestion, plan, part.sequence, data, start, planned)
        except BadLogFile as error:
            payload = {**error.payload, "part_id": str(part_id), "sequence": part.sequence, **where}
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

        def note(new: IngestionPart) -> None:
            stats = {str(topic_id): stat.to_json() for topic_id, stat in built.stats.items()}
            new.context = {**(new.context or {}), "topics": stats, "record_count": built.record_count}

        # The part's counts ride on the write that completes it: a completed part always has them.
        self.parts.transition(part_id, ProcessState.completed, progress=1.0, amend=note)
        self._count_done(ingestion_id, attempt, plan)
        return PartOutcome(part_id=part_id, record_count=built.record_count)

    def _count_done(self, ingestion_id: UUID, attempt: int, plan: IngestionPlan) -> None:
        """One more part of the attempt completed: an atomic counter, then the ingestion's progress (a
        conditional write that only ever raises it). Two writes, whatever the number of parts."""
        done = self.resources.add_to_counter(completed_parts_counter(ingestion_id, attempt), 1)
        if plan.part_count > 0:
            self.resources.raise_progress(
                INGESTION,
                ingestion_id,
                min(1.0, done / plan.part_count),
                state=ProcessState.processing,
                attempt=attempt,
            )

    # -- Record part failure ---------------------------------------------------------------------
    def fail_part(self, task: FailedPartTask) -> PartState:
        """Note on the part why its "Process part" failed (a timeout, a crash, an error), so that "Fail
        ingestion" can name it. A part that already failed keeps its own error (it knows its bytes); a
        completed part stays completed; a part of another attempt is left alone."""
        part = self.resources.find(INGESTION_PART, task.part_id)
        if part is None or part.ingestion_id != task.ingestion_id:
            return PartState(part_id=task.part_id, state=None)
        ingestion = self.ingestions.get(task.ingestion_id)
        if attempt_of(ingestion) != task.attempt or part.state in (
            ProcessState.failed,
            ProcessState.completed,
        ):
            return PartState(part_id=part.id, state=part.state)
        name, message = task.error.details()
        context = part.context or {}
        payload = {
            "part_id": str(part.id),
            "sequence": part.sequence,
            **{key: context[key] for key in ("start", "end") if key in context},
        }
        failed = self.parts.transition(
            part.id, ProcessState.failed, error_name=name, error_message=message, error_payload=payload
        )
        return PartState(part_id=failed.id, state=failed.state)

    def _blocks(
        self,
        ingestion: Ingestion,
        plan: IngestionPlan,
        sequence: int,
        data: bytes,
        base: int,
        planned: PlannedFile | None = None,
        *,
        channels_of_file: dict[str, UUID] | None = None,
        batch: int | None = None,
    ) -> PartBlocks:
        """The part's record blocks: its chunks indexed by the plan's format, cut into blocks. A part of a
        recording's file maps that file's channels (``channels_of_file`` for a converted file), and its
        records name the file in ``source``; ``batch`` numbers the runs of chunks of a conversion part."""
        topic_ids = plan.topic_ids()
        topic_index = {topic_id: i for i, topic_id in enumerate(topic_ids)}
        mapping = plan.topics if planned is None else (channels_of_file or planned.channels)
        channels = {int(channel): topic_index[topic] for channel, topic in mapping.items()}
        log_format = format_named(plan.format) if planned is None else McapFormat()
        chunks = log_format.index_columns(data, base)
        within = "" if batch is None else f"{batch:04d}-"
        builder = BlockBuilder(
            ingestion_id=ingestion.id,
            segment=f"{segment_prefix(ingestion.id)}{sequence:05d}-{within}{{:03d}}".format,
            created_at=self.env.now(),
            source=None if planned is None else planned.source,
            query_data_topics={
                topic_id: self.resources.get(TOPIC, topic_id) for topic_id in plan.query_data_topics
            },
            query_data_max_bytes=self.stored_query_data_max_bytes,
            read_bytes=lambda offset, length: data[offset - base : offset - base + length],
        )
        return builder.build(part_columns(chunks, channels), topic_ids, plan.widths)

    # -- Finalize ingestion ----------------------------------------------------------------------
    def finalize(self, task: IngestionTask) -> IngestionOutcome:
        ingestion_id = task.ingestion_id
        ingestion = self._current(ingestion_id, task.attempt)
        self.ingestions.transition(
            ingestion_id,
            ProcessState.finalizing,
            expected_from={ProcessState.processing, ProcessState.finalizing},
        )
        # The one listing of the parts in an ingestion's life.
        parts = self.parts.all_of(ingestion_id)
        unfinished = [p.sequence for p in parts if p.state != ProcessState.completed]
        if unfinished:
            raise IngestionIncomplete(
                f"Parts {named(unfinished)} of ingestion {ingestion_id} did not complete "
                f"({len(unfinished)} of {len(parts)})."
            )
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
        failed = [
            p
            for p in self.parts.all_of(ingestion_id)
            if p.state == ProcessState.failed and (p.context or {}).get("attempt", attempt) == attempt
        ]
        if failed:
            # The Map failed because a part did (on AWS its error is States.ExceedToleratedFailureThreshold):
            # the first failed part says why, and the payload names them.
            first = failed[0]
            name = first.error_name or name
            message = f"Part {first.sequence} failed: {first.error_message or name}" + (
                f" ({len(failed) - 1} more parts failed)" if len(failed) > 1 else ""
            )
        failed_parts: list[dict[str, Any]] = [
            {
                "sequence": p.sequence,
                "part_id": str(p.id),
                "error_name": p.error_name,
                "error_message": p.error_message,
                **(p.error_payload or {}),
            }
            for p in failed[:NAMED_PARTS]
        ]
        self.attempts.discard(ingestion)
        payload: dict[str, Any] = {"attempt": attempt, **_where_it_failed(ingestion, attempt, failed_parts)}
        if failed:
            payload.update(failed_parts=failed_parts, failed_part_count=len(failed))
        self.ingestions.transition(
            ingestion_id,
            ProcessState.failed,
            error_name=name,
            error_message=message,
            error_payload=payload,
        )
        return IngestionOutcome(ingestion_id=ingestion_id, state=ProcessState.failed)


def _where_it_failed(
    ingestion: Ingestion, attempt: int, failed_parts: list[dict[str, Any]]
) -> dict[str, Any]:
    """Where the file is bad (``chunk_offset``…), for a failed ingestion's ``error_payload``: what the
    plan of this attempt found, else what the first failed part's error said."""
    plan_failure = ingestion._internal.get(PLAN_FAILURE)
    if isinstance(plan_failure, dict) and plan_failure.get("attempt") == attempt:
        return dict(plan_failure.get("payload") or {})
    for part in sorted(failed_parts, key=lambda p: int(p["sequence"])):
        found = {
            key: value for key, value in part.items() if key not in PART_KEYS and not key.startswith("error_")
        }
        if found:
            return found
    return {}


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem.get("loc", ()))
    return f"{where} {problem.get('msg', 'is not valid')}".strip()
