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

A ROS 2 recording (an ingestion of its ``metadata.yaml``, or of a lone ``.db3``: ``recordings``) is
planned file by file: a plain MCAP file's chunks become parts of that file, and a file records cannot
point into becomes one conversion part, which converts it into a derived MCAP next to it, uploads it
and indexes it. Each part's records name their file in ``source``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import defaultdict
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from openlqs.domain.common import Context, Environment
from openlqs.domain.ingestions import IngestionPartService, IngestionService, attempt_of
from openlqs.domain.object_keys import part_manifest_key
from openlqs.domain.object_stores import ObjectSpaces
from openlqs.domain.ports import BlobStore, Counter, RecordRepository, ResourceRepository
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
from openlqs.formats.rosbag2.convert import convert_db3_to_mcap, decompress_mcap_messages
from openlqs.formats.rosbag2.metadata import Rosbag2Metadata, parse_metadata, storage_files
from openlqs.formats.rosbag2.sqlite import Db3Reader
from openlqs.formats.rosbag2.zstd import decompress_zstd_stream
from openlqs.ingestion.attempts import AttemptCleaner
from openlqs.ingestion.part_blocks import BlockBuilder, PartBlocks, TopicStats, bucket_width_for, part_columns
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
from openlqs.ingestion.recordings import (
    MAX_METADATA_BYTES,
    MCAP_CONTENT_TYPE,
    LocalFile,
    PlannedFile,
    is_metadata_yaml,
    is_sqlite,
    lone_db3_file,
    metadata_channels,
    missing_files_error,
    planned_file,
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
#: The counter of an attempt's completed parts: ``count#{ingestion}#{attempt}#completed_ingestion_part``.
COMPLETED_PARTS = "completed_ingestion_part"
#: Where an ingestion keeps (server-side) the context keys its last plan wrote from the file's index,
#: so that the next attempt replaces them and leaves the user's own keys alone.
INDEX_CONTEXT_KEYS = "index_context_keys"
#: Where a plan that failed on a bad file keeps where the file is bad (``BadLogFile.payload``) for
#: "Fail ingestion", with its attempt.
PLAN_FAILURE = "plan_failure"
#: Writes of a topic's type a conversion part tries (another part may type it at the same time).
TYPE_WRITE_ATTEMPTS = 5
#: The ``format`` of a recording's plan (its files are MCAP files, or converted into MCAP files).
RECORDING_FORMAT = "rosbag2"
#: The keys of a failed part's ``error_payload`` that say which part it is (the rest came from its error).
PART_KEYS = frozenset({"part_id", "sequence", "start", "end"})


def completed_parts_counter(ingestion_id: UUID, attempt: int) -> Counter:
    """How many parts of one attempt completed (the numerator of its progress)."""
    return Counter(f"{ingestion_id}#{attempt}", COMPLETED_PARTS)


def named(sequences: list[int]) -> str:
    """``[1, 5, 9]``, or the first ``NAMED_PARTS`` and how many more."""
    shown = sequences[:NAMED_PARTS]
    more = len(sequences) - len(shown)
    return f"{shown}" + (f" (and {more} more)" if more else "")


def with_index_context(
    context: dict[str, Any] | None, index: LogIndex, internal: dict[str, Any]
) -> dict[str, Any] | None:
    """An ingestion's ``context`` with what the file's index says (salvage, attachments, metadata
    records…) in place of what an earlier attempt's index said; the user's own keys are kept (a key of
    both is the file's). Records the keys written in ``internal``."""
    earlier = set(internal.get(INDEX_CONTEXT_KEYS) or [])
    kept = {key: value for key, value in (context or {}).items() if key not in earlier}
    facts = dict(index.context)
    if index.salvaged:
        salvage = dict(facts.get("salvage") or {})
        salvage.setdefault("index_missing", True)
        salvage.setdefault("ignored_bytes", index.ignored_bytes)
        facts["salvage"] = salvage
    internal[INDEX_CONTEXT_KEYS] = sorted(facts)
    merged = {**kept, **facts}
    return merged if merged or context is not None else None


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
            return self._plan_recording(ingestion, attempt, created, source, head)
        log_format = format_for(head)
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

    # -- Plan ingestion: recordings (ROS 2 bag directories, lone .db3 files) ---------------------------
    def _plan_recording(
        self, ingestion: Ingestion, attempt: int, created: list[UUID], source: BlobByteSource, head: bytes
    ) -> PlannedIngestion:
        """Plan a recording (``recordings``): its files checked to be there, plain MCAP files indexed and
        cut into parts, one conversion part per file to convert, one topic per name across files."""
        ingestion_id = ingestion.id
        object_key = ingestion.object_key or ""
        space = self.spaces.for_ingestion(ingestion.log_id, ingestion.object_store_id)
        metadata: Rosbag2Metadata | None = None
        if is_sqlite(head):
            files = [lone_db3_file(object_key, ingestion_id)]
            declared, message_count, duration = self._lone_db3_topics(source)
        else:
            if source.size > MAX_METADATA_BYTES:
                raise BadLogFile(
                    f"metadata.yaml is {source.size} bytes, more than the {MAX_METADATA_BYTES} a "
                    "recording's metadata may have."
                )
            metadata = parse_metadata(source.read(0, source.size))
            files = [planned_file(object_key, ingestion_id, f) for f in storage_files(metadata)]
            declared = metadata_channels(metadata)
            message_count, duration = metadata.message_count, metadata.duration
        sizes: dict[str, int] = {}
        missing: list[str] = []
        for planned in files:
            info = space.blobs.head(space.full_key(planned.key))
            if info is None:
                missing.append(planned.path)
            else:
                sizes[planned.path] = info.size
        if missing:
            raise missing_files_error(missing)
        if any(planned.converted for planned in files) and ingestion.object_store_id is not None:
            raise BadLogFile(
                f"The recording has files to convert ({', '.join(f.path for f in files if f.converted)}) "
                "into objects of the log, and it is in an object store: upload it to the log to ingest it."
            )
        indexes: dict[int, LogIndex] = {}
        mcap = McapFormat()
        for position, planned in enumerate(files):
            if planned.converted:
                continue
            file_source = BlobByteSource(space.blobs, space.full_key(planned.key), sizes[planned.path])
            file_head = file_source.read(0, SNIFF_BYTES)
            if not mcap.sniff(file_head):
                raise BadLogFile(
                    f"{planned.path} is not an MCAP file (storage_identifier mcap): it starts with "
                    f"{file_head!r}.",
                    payload={"file": planned.path},
                )
            try:
                indexes[position] = mcap.read_index(file_source)
            except BadLogFile as error:
                raise BadLogFile(
                    f"{planned.path}: {error.detail}", payload={**error.payload, "file": planned.path}
                ) from error
        # metadata.yaml's count is what rosbag2 wrote; the plain files' indexes may say more.
        message_count = max(
            message_count, sum(span.message_count for index in indexes.values() for span in index.spans)
        )
        log = self.resources.get(LOG, ingestion.log_id)
        if log.record_count + message_count > self.env.limits.max_records_per_log:
            raise LimitExceeded(
                f"max_records_per_log ({self.env.limits.max_records_per_log}) would be exceeded: "
                f"the log holds {log.record_count} records and the recording {message_count}."
            )
        touched = self.statistics.clear_ingestion(ingestion)
        if touched:
            self.statistics.refresh(ingestion.log_id, touched)
        self.spaces.delete_derived(ingestion)  # what an earlier attempt converted
        # One topic per name: a plain file's channels first (they carry the definitions), then the
        # topics metadata.yaml (or a lone .db3's topics table) lists, which cover the files to convert.
        by_name: dict[str, list[Channel]] = {}
        counts: dict[str, int] = defaultdict(int)
        for position in sorted(indexes):
            index = indexes[position]
            for name, channels in index.topics().items():
                by_name.setdefault(name, []).extend(channels)
            names_of = {channel.id: channel.topic for channel in index.channels.values()}
            for span in index.spans:
                for channel_id, count in span.counts.items():
                    counts[names_of.get(channel_id, "")] += count
        for channel in declared:
            by_name.setdefault(channel.topic, []).append(channel)
        if metadata is not None:
            for information in metadata.topics_with_message_count:
                name = information.topic_metadata.name
                counts[name] = max(counts[name], information.message_count)
        names: dict[str, UUID] = {}
        widths: dict[UUID, int] = {}
        for name, channels in by_name.items():
            width = bucket_width_for(counts.get(name, 0), duration)
            topic, is_new = self._topic(ingestion.log_id, name, channels[0], width)
            if is_new:
                created.append(topic.id)
            names[name] = topic.id
            widths[topic.id] = int(topic._internal.get("bucket_width_ns") or width)
        for position, index in indexes.items():
            files[position].channels = {
                str(channel.id): names[channel.topic] for channel in index.channels.values()
            }
        previous = ingestion._internal.get("plan")
        if previous and IngestionPlan.model_validate(previous).attempt == attempt:
            created = [*IngestionPlan.model_validate(previous).created_topics, *created]
        plan = IngestionPlan(
            format=RECORDING_FORMAT,
            attempt=attempt,
            topics={},
            names=names,
            files=files,
            widths=widths,
            created_topics=created,
            query_data_topics=self._query_data_topics(set(names.values())),
        )
        contexts: list[dict[str, Any]] = []
        for position, planned in enumerate(files):
            if planned.converted:
                contexts.append(
                    {
                        "attempt": attempt,
                        "file": position,
                        "path": planned.path,
                        "conversion": planned.conversion,
                        "size": sizes[planned.path],
                    }
                )
            else:
                contexts += [
                    {**self._run_context(attempt, run), "file": position, "path": planned.path}
                    for run in self._runs(indexes[position])
                ]
        parts = self._create_parts(ingestion, contexts)
        plan.part_count = len(parts)
        manifest = self._write_manifest(ingestion_id, attempt, parts)
        facts = _recording_facts(metadata, files, indexes)

        def remember(new: Ingestion) -> None:
            new._internal["plan"] = plan.to_internal()
            new.context = with_index_context(new.context, facts, new._internal)

        self.resources.update(INGESTION, ingestion_id, remember)
        return PlannedIngestion(
            ingestion_id=ingestion_id, attempt=attempt, manifest=manifest, part_count=len(parts)
        )

    def _lone_db3_topics(self, source: BlobByteSource) -> tuple[list[Channel], int, int]:
        """A lone ``.db3``'s topics (its ``topics`` table), message count and duration: the file is
        copied to scratch space (sqlite reads pages, not ranges)."""
        with tempfile.TemporaryDirectory(dir=self.scratch_dir) as scratch:
            local = Path(scratch) / "recording.db3"
            source.blobs.download_file(source.key, local)
            with Db3Reader(local) as reader:
                summary = reader.summary()
                channels = [
                    Channel(
                        id=-1 - position,
                        topic=topic.name,
                        type_name=topic.type,
                        type_encoding="cdr" if topic.serialization_format == "cdr" else None,
                        type_data=None,
                        context={
                            "message_encoding": topic.serialization_format,
                            **(
                                {"metadata": {"offered_qos_profiles": topic.offered_qos_profiles}}
                                if topic.offered_qos_profiles
                                else {}
                            ),
                        },
                    )
                    for position, topic in enumerate(reader.topics)
                ]
        return channels, summary[0], summary[2] - summary[1] if summary[0] else 0

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
                built = self._converted_part(ingestion, plan, part, planned, attempt)
            else:
                start, end = int(context["start"]), int(context["end"])
                file_source = (
                    self._source(ingestion) if planned is None else self._file_source(ingestion, planned)
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
        self.parts.transition(part_id, ProcessState.completed, progress=1.0)

        def note(new: IngestionPart) -> None:
            stats = {str(topic_id): stat.to_json() for topic_id, stat in built.stats.items()}
            new.context = {**(new.context or {}), "topics": stats, "record_count": built.record_count}

        self.resources.update(INGESTION_PART, part_id, note)
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

    def _file_source(self, ingestion: Ingestion, planned: PlannedFile) -> BlobByteSource:
        """A recording's file, read where it was uploaded."""
        space = self.spaces.for_ingestion(ingestion.log_id, ingestion.object_store_id)
        key = space.full_key(planned.key)
        info = space.blobs.head(key)
        if info is None:
            raise BadLogFile(f"{planned.path} of the recording is gone.", payload={"file": planned.path})
        return BlobByteSource(space.blobs, key, info.size)

    def _converted_part(
        self,
        ingestion: Ingestion,
        plan: IngestionPlan,
        part: IngestionPart,
        planned: PlannedFile,
        attempt: int,
    ) -> PartBlocks:
        """A file that records cannot point into as it is: copied to scratch space, decompressed and
        converted into an MCAP (``formats.rosbag2``), uploaded as the derived object ``planned.derived_key``
        (a multipart upload), then indexed from the local copy, run of chunks by run of chunks (each run's
        blocks written as soon as built: memory holds one run). Returns the stats; blocks are written."""
        space = self.spaces.for_ingestion(ingestion.log_id, ingestion.object_store_id)
        assert planned.derived_key is not None
        with tempfile.TemporaryDirectory(dir=self.scratch_dir) as scratch:
            folder = Path(scratch)
            local = folder / "original"
            try:
                space.blobs.download_file(space.full_key(planned.key), local)
            except NotFound:
                raise BadLogFile(
                    f"{planned.path} of the recording is gone.", payload={"file": planned.path}
                ) from None
            if "zstd_file" in planned.conversion:
                plain = folder / "decompressed"
                with local.open("rb") as src, plain.open("wb") as dst:
                    try:
                        # Bounded by the part's storage (it holds the converted MCAP too, later).
                        room = shutil.disk_usage(folder).free - local.stat().st_size
                        decompress_zstd_stream(src, dst, max_output_bytes=max(room, 0))
                    except BadLogFile as error:
                        raise BadLogFile(
                            f"{planned.path}: {error.detail}", payload={"file": planned.path}
                        ) from error
                local.unlink()
                local = plain
            mcap_path = local
            if "db3_to_mcap" in planned.conversion or "zstd_messages" in planned.conversion:
                mcap_path = folder / "converted.mcap"
                try:
                    with mcap_path.open("wb") as out:
                        if "db3_to_mcap" in planned.conversion:
                            convert_db3_to_mcap(
                                local,
                                out,
                                compression_mode="message" if self._message_compressed(ingestion) else "none",
                                metadata=self._recording_metadata(ingestion),
                            )
                        else:
                            with local.open("rb") as src:
                                decompress_mcap_messages(src, out)
                except BadLogFile as error:
                    detail = error.detail.replace(local.name, planned.path)
                    raise BadLogFile(f"{planned.path}: {detail}", payload={"file": planned.path}) from error
                local.unlink()
            head = mcap_path.open("rb").read(SNIFF_BYTES)
            if not McapFormat().sniff(head):
                raise BadLogFile(
                    f"{planned.path} is not an MCAP file once decompressed: it starts with {head!r}.",
                    payload={"file": planned.path},
                )
            self._check_running(ingestion.id, attempt)
            derived = space.full_key(planned.derived_key)
            space.blobs.upload_file(mcap_path, derived, MCAP_CONTENT_TYPE)
            try:
                return self._index_local(ingestion, plan, part, planned, mcap_path, attempt)
            except (StaleAttempt, NotFound):
                # The ingestion failed, was cancelled or deleted while this part converted: its cleanup
                # may have run before the upload ended.
                space.blobs.delete(derived)
                raise

    def _index_local(
        self,
        ingestion: Ingestion,
        plan: IngestionPlan,
        part: IngestionPart,
        planned: PlannedFile,
        mcap_path: Path,
        attempt: int,
    ) -> PartBlocks:
        local = LocalFile(mcap_path)
        try:
            index = McapFormat().read_index(local)
            channels: dict[str, UUID] = {}
            for name, found in index.topics().items():
                topic_id = plan.names.get(name)
                if topic_id is None:
                    raise BadLogFile(
                        f"{planned.path} has the topic {name!r}, which the recording's metadata.yaml "
                        "does not list.",
                        payload={"file": planned.path},
                    )
                self._type_from_file(topic_id, found[0])
                channels.update({str(channel.id): topic_id for channel in found})
            stats: dict[UUID, TopicStats] = {}
            for batch, run in enumerate(self._runs(index)):
                start, end = run[0].start, run[-1].end
                built = self._blocks(
                    ingestion,
                    plan,
                    part.sequence,
                    local.read(start, end),
                    start,
                    planned,
                    channels_of_file=channels,
                    batch=batch,
                )
                self._check_running(ingestion.id, attempt)
                self.records.put_blocks(built.blocks)
                for topic_id, stat in built.stats.items():
                    seen = stats.get(topic_id)
                    stats[topic_id] = stat if seen is None else seen.merged(stat)
            return PartBlocks([], stats)
        finally:
            local.close()

    def _type_from_file(self, topic_id: UUID, channel: Channel) -> None:
        """Give a topic what a converted file says of its type (parts of several files run at once: a
        write that lost the race reads the topic again, which the winner may have typed already)."""
        for attempt in range(TYPE_WRITE_ATTEMPTS):
            try:
                self._typed(self.resources.get(TOPIC, topic_id), channel)
                return
            except Conflict:
                if attempt == TYPE_WRITE_ATTEMPTS - 1:
                    raise

    def _recording_metadata(self, ingestion: Ingestion) -> Rosbag2Metadata | None:
        """The recording's ``metadata.yaml`` (None for a lone ``.db3``), read again by a part."""
        source = self._source(ingestion)
        if is_sqlite(source.read(0, SNIFF_BYTES)):
            return None
        return parse_metadata(source.read(0, min(source.size, MAX_METADATA_BYTES)))

    def _message_compressed(self, ingestion: Ingestion) -> bool:
        metadata = self._recording_metadata(ingestion)
        return metadata is not None and metadata.compression_mode == "message"

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


def _recording_facts(
    metadata: Rosbag2Metadata | None, files: list[PlannedFile], indexes: dict[int, LogIndex]
) -> LogIndex:
    """What an ingestion's ``context`` says of a recording (as a ``LogIndex``'s facts): its storage,
    compression and files, and which files were converted into which objects."""
    facts: dict[str, Any] = {
        "rosbag2": {
            "metadata_version": metadata.version if metadata else None,
            "storage_identifier": metadata.storage_identifier if metadata else "sqlite3",
            "compression_mode": metadata.compression_mode if metadata else "none",
            "compression_format": metadata.compression_format if metadata else "",
            "ros_distro": metadata.ros_distro if metadata else "",
            "files": [planned.path for planned in files],
            "converted": [
                {"file": planned.path, "object_key": planned.derived_key, "steps": planned.conversion}
                for planned in files
                if planned.converted
            ],
        }
    }
    salvaged = [files[position].path for position, index in sorted(indexes.items()) if index.salvaged]
    if salvaged:
        facts["salvage"] = {"files": salvaged}
    return LogIndex(format=RECORDING_FORMAT, file_size=0, channels={}, spans=[], context=facts)


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem.get("loc", ()))
    return f"{where} {problem.get('msg', 'is not valid')}".strip()
