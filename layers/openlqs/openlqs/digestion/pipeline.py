"""DigestionPipeline: the rules behind DigestionStateMachine's four tasks.

Plan digestion selects each digestion topic's records from the record blocks (``digestion.selection``),
checks that the objects they point into are there, and cuts the merged selection into parts of a bounded
index (records and message bytes), created ``queued`` in sequence order. Write part reads its records'
bytes through the one reading core (``records.reading``: neighbours in one ranged read, each compressed
chunk decompressed once) and writes the part's blob, the bytes in index order, where the official
client reads it; when the digestion asks for an export, it also writes the part's export fragment from
the same bytes. Finalize digestion assembles the export from the fragments (``digestion.export``) and
completes the digestion; Fail digestion settles the parts and records why it failed.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np

from openlqs.digestion.attempts import DigestionAttempts, blob_key, export_key, fragment_key
from openlqs.digestion.export import ExportUpload
from openlqs.digestion.payloads import (
    DigestionFailTask,
    DigestionOutcome,
    DigestionPartOutcome,
    DigestionPartTask,
    DigestionPlan,
    DigestionTask,
    PlannedChannel,
    PlannedDigestion,
)
from openlqs.digestion.selection import RecordSelector
from openlqs.domain.common import Environment
from openlqs.domain.digestions import (
    DigestionPartService,
    DigestionService,
    PlannedPart,
    completed_digestion_parts,
)
from openlqs.domain.ingestions import attempt_of
from openlqs.domain.object_stores import ObjectSpaces
from openlqs.domain.objects import ObjectSpace
from openlqs.domain.ports import ResourceRepository
from openlqs.domain.record_data import ObjectLocation, RecordLocations
from openlqs.domain.resources import DIGESTION, TOPIC
from openlqs.errors import (
    BadLogFile,
    DigestionIncomplete,
    InvalidTransition,
    NotFound,
    OpenLQSError,
    StaleAttempt,
)
from openlqs.formats.export import ExportChannel, ExportFormat, MessageRun, PlacedChunk
from openlqs.formats.exporters import export_format
from openlqs.models.common import ProcessState
from openlqs.models.digestions import EXPORT, Digestion, DigestionPart, ExportSpec, export_spec
from openlqs.models.resources import Topic
from openlqs.records.part_index import PartIndex
from openlqs.records.reading import ChunkCache, RecordBytesReader
from openlqs.records.rows import RecordRow

S = ProcessState
#: Records of one part: the official client's readers handle ~10,000 well (a fetch of a part returns its
#: whole index, about 170 bytes of JSON a record, within Lambda's 6 MB answer).
PART_MAX_RECORDS = 10_000
#: Message bytes of one part: its blob is built in memory and written with one PutObject.
PART_MAX_BYTES = 64 * 1024 * 1024
#: Largest encoded index a part keeps (a DynamoDB item holds 400 KB).
PART_MAX_INDEX_BYTES = 300 * 1024
#: Planned parts written at once: one BatchWriteItem of indexes and one of parts (25 items each).
PLANNED_BATCH = 25
BLOB_CONTENT_TYPE = "application/octet-stream"
#: Bytes of other records a part's ranged read reads through rather than making another request (an S3
#: GET costs about as much as reading a MiB).
READ_GAP = 1024 * 1024
_NULL = -1
#: Attempts whose export channels a process keeps (a Lambda container writes parts of a few at a time).
_REMEMBERED_ATTEMPTS = 16


def distinct_pairs(first: np.ndarray, second: np.ndarray) -> list[tuple[int, int]]:
    """The distinct (first[i], second[i]) of two columns of 32-bit integers, in order. Each pair is one
    64-bit key: ``np.unique(..., axis=0)`` compares rows as raw bytes, ten times slower on a plan's
    quarter-million records."""
    # The second number moved to 0 .. 2**32 - 1 keeps the keys in the pairs' order.
    keys = (first.astype(np.int64) << 32) | (second.astype(np.int64) + (1 << 31))
    return [(key >> 32, (key & 0xFFFFFFFF) - (1 << 31)) for key in np.unique(keys).tolist()]


def part_ranges(
    index: PartIndex, max_records: int, max_bytes: int, max_index_bytes: int = PART_MAX_INDEX_BYTES
) -> list[tuple[int, int]]:
    """Consecutive ranges of ``index`` of at most ``max_records`` records, ``max_bytes`` message bytes
    (at least one record each) and an encoded index of at most ``max_index_bytes``."""
    sizes = index.message_sizes()
    ends = np.cumsum(sizes)
    ranges: list[tuple[int, int]] = []
    start = 0
    while start < len(index):
        base = int(ends[start - 1]) if start else 0
        stop = min(start + max_records, int(np.searchsorted(ends, base + max_bytes, side="right")))
        stop = max(stop, start + 1)
        while stop - start > 1 and len(index.slice(start, stop).encode()) > max_index_bytes:
            stop = start + (stop - start) // 2
        ranges.append((start, stop))
        start = stop
    return ranges


class DigestionPipeline:
    def __init__(
        self,
        resources: ResourceRepository,
        digestions: DigestionService,
        parts: DigestionPartService,
        spaces: ObjectSpaces,
        attempts: DigestionAttempts,
        selector: RecordSelector,
        environment: Environment | None = None,
        *,
        part_max_records: int = PART_MAX_RECORDS,
        part_max_bytes: int = PART_MAX_BYTES,
        chunk_cache_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self.resources = resources
        self.digestions = digestions
        self.parts = parts
        self.spaces = spaces
        self.attempts = attempts
        self.selector = selector
        self.env = environment or Environment()
        self.part_max_records = part_max_records
        self.part_max_bytes = part_max_bytes
        self.chunk_cache_bytes = chunk_cache_bytes
        #: Export channels of the attempts this process wrote parts of, the latest few (``_channels``).
        self._attempt_channels: dict[tuple[UUID, int], list[ExportChannel]] = {}
        self._channels_lock = threading.Lock()

    # -- helpers ---------------------------------------------------------------------------------
    def _current(self, digestion_id: UUID, attempt: int) -> Digestion:
        digestion = self.digestions.get(digestion_id)
        if attempt_of(digestion) != attempt:
            raise StaleAttempt(
                f"Digestion {digestion_id} is on attempt {attempt_of(digestion)}; "
                f"attempt {attempt} stops here."
            )
        return digestion

    def _running(self, digestion_id: UUID, attempt: int) -> Digestion:
        """Parts write only while their attempt is the digestion's and it is still processing."""
        digestion = self._current(digestion_id, attempt)
        if digestion.state != S.processing:
            raise StaleAttempt(f"Digestion {digestion_id} is {digestion.state}; part results are discarded.")
        return digestion

    @staticmethod
    def plan_of(digestion: Digestion) -> DigestionPlan:
        stored = digestion._internal.get("plan")
        if not stored:
            raise StaleAttempt(f"Digestion {digestion.id} has no plan; it was not planned by this attempt.")
        return DigestionPlan.model_validate(stored)

    def _channels(self, plan: DigestionPlan, digestion_id: UUID | None = None) -> list[ExportChannel]:
        """The export's channels: the plan's topics as they are now. A part (``digestion_id`` given)
        takes them from the ones this process read for the same attempt, when it read them: the parts
        of an attempt then write one version of each topic, and a part reads no topic."""
        if digestion_id is None:
            return self._read_channels(plan)
        attempt = (digestion_id, plan.attempt)
        with self._channels_lock:  # parts that start together read the topics once
            channels = self._attempt_channels.get(attempt)
            if channels is None:
                channels = self._attempt_channels[attempt] = self._read_channels(plan)
                while len(self._attempt_channels) > _REMEMBERED_ATTEMPTS:
                    self._attempt_channels.pop(next(iter(self._attempt_channels)))
        return channels

    def _read_channels(self, plan: DigestionPlan) -> list[ExportChannel]:
        channels = []
        for planned in plan.channels:
            topic = self.resources.get(TOPIC, planned.topic_id)
            channels.append(
                ExportChannel(
                    id=planned.id,
                    topic=topic.name,
                    type_name=topic.type_name,
                    type_encoding=topic.type_encoding,
                    type_data=topic.type_data,
                    context=topic.context or {},
                    latched=planned.latched,
                )
            )
        return channels

    def _bytes(self, index: PartIndex) -> bytes:
        """The records' message bytes in index order, read through the reading core: per object the
        records sit in, neighbours in ranged reads (gaps up to ``READ_GAP`` read through), each
        compressed chunk decompressed once."""
        if not len(index):
            return b""
        locations = RecordLocations(self.spaces, self.resources)
        reader: RecordBytesReader[RecordRow, ObjectLocation] = RecordBytesReader(
            locations.where, locations.read, ChunkCache(self.chunk_cache_bytes)
        )
        c = index.columns
        sizes = index.message_sizes()
        compressions = [*c.compressions, None]  # index -1 (null) is the last item
        pieces: list[bytes] = [b""] * len(index)
        try:
            for ingestion_ix, source_ix in distinct_pairs(c.ingestion_ix, c.source_ix):
                mine = np.flatnonzero((c.ingestion_ix == ingestion_ix) & (c.source_ix == source_ix))
                where = locations.where(c.rows(int(mine[0]), int(mine[0]) + 1)[0])
                chunk_offsets = c.chunk_offsets[mine].tolist()
                chunk_lengths = c.chunk_lengths[mine].tolist()
                read = reader.read_spans(
                    where,
                    c.data_offsets[mine].tolist(),
                    c.data_lengths[mine].tolist(),
                    [compressions[ix] for ix in c.compression_ix[mine].tolist()],
                    [None if n == _NULL else n for n in chunk_offsets],
                    [None if n == _NULL else n for n in chunk_lengths],
                    max_gap=READ_GAP,
                )
                for at, data in zip(mine.tolist(), read, strict=True):
                    if len(data) != sizes[at]:
                        raise ValueError(
                            f"the record of {int(c.timestamps[at])} at byte {int(c.data_offsets[at])} of its "
                            f"object holds {len(data)} bytes, not {int(sizes[at])}"
                        )
                    pieces[at] = data
        except ValueError as error:  # a corrupt chunk, or an object shorter than its records say
            raise BadLogFile(f"A record's bytes cannot be read: {error}.") from error
        return b"".join(pieces)

    @staticmethod
    def _run(index: PartIndex, data: bytes, plan: DigestionPlan, base: dict[str, int] | None) -> MessageRun:
        """The part's records as the export writes them: channel ids, times, sizes, the blob."""
        channel_of = plan.channel_of()
        by_topic = np.array([channel_of[topic] for topic in index.topics] or [0], dtype=np.int64)
        channel_ids = by_topic[index.topic_ix]
        sequences = np.zeros(len(index), dtype=np.int64)
        for channel_id in np.unique(channel_ids).tolist():
            mine = channel_ids == channel_id
            start = (base or {}).get(str(channel_id), 0)
            sequences[mine] = (start + np.arange(int(mine.sum()))) % 2**32
        return MessageRun(channel_ids, index.columns.timestamps, index.message_sizes(), data, sequences)

    def _advance(self, digestion_id: UUID, attempt: int, plan: DigestionPlan) -> None:
        """One more part of the attempt completed: an atomic counter, then the digestion's progress (a
        conditional write that only ever raises it). Two writes, whatever the number of parts."""
        done = self.resources.add_to_counter(completed_digestion_parts(digestion_id, attempt), 1)
        if plan.part_count > 0:
            self.resources.raise_progress(
                DIGESTION, digestion_id, min(1.0, done / plan.part_count), state=S.processing, attempt=attempt
            )

    # -- Plan digestion --------------------------------------------------------------------------
    def plan(self, task: DigestionTask) -> PlannedDigestion:
        digestion = self._current(task.digestion_id, task.attempt)
        self.digestions.transition(digestion.id, S.processing, expected_from={S.queued, S.processing})
        topics = self.digestions.check_selection(digestion)
        entries = self.digestions.topics_of(digestion.id)
        spec = export_spec(digestion.context)
        channels = [
            PlannedChannel(
                id=number, topic_id=topic_id, latched=spec is not None and spec.latched_topic(topic.name)
            )
            for number, (topic_id, topic) in enumerate(topics.items(), start=1)
        ]
        plan = DigestionPlan(attempt=task.attempt, part_count=0, record_count=0, channels=channels)
        if spec is not None:
            plan.export = {"format": spec.format, "latched": spec.latched}
            export_format(spec.format).check(self._channels(plan))
        selection = self.selector.select([(entry, topics[entry.topic_id]) for entry in entries])
        self._check_sources(selection.index, topics)
        if spec is not None and spec.latched:
            plan.latched = self._latched(entries, topics, selection.index, spec)
        self.attempts.replace_outputs(digestion)
        parts = self._parts(digestion, selection.index, plan)
        plan.part_count, plan.record_count, plan.skipped_records = (
            len(parts),
            len(selection.index),
            selection.skipped,
        )

        def remember(new: Digestion) -> None:
            new._internal["plan"] = plan.to_internal()
            if spec is not None:
                request = spec.model_dump(exclude=set(ExportSpec.RESULT_FIELDS), mode="json")
                new.context = {**(new.context or {}), EXPORT: request}

        self.resources.update(DIGESTION, digestion.id, remember)
        return PlannedDigestion(
            digestion_id=digestion.id,
            attempt=task.attempt,
            parts=[
                DigestionPartTask(
                    digestion_id=digestion.id, part_id=part_id, sequence=sequence, attempt=task.attempt
                )
                for sequence, part_id in parts
            ],
        )

    def _check_sources(self, index: PartIndex, topics: dict[UUID, Topic]) -> None:
        """Every object the records point into is there and long enough: a digestion whose source
        object was deleted fails now, naming it, rather than in one of its parts."""
        if not len(index):
            return
        columns = index.columns
        ends = columns.data_offsets + columns.data_lengths
        locations = RecordLocations(self.spaces, self.resources)
        for ingestion_ix, source_ix in distinct_pairs(columns.ingestion_ix, columns.source_ix):
            mine = (columns.ingestion_ix == ingestion_ix) & (columns.source_ix == source_ix)
            first = int(np.flatnonzero(mine)[0])
            topic = topics.get(UUID(index.topics[int(index.topic_ix[first])]))
            what = f"records of topic {topic.name if topic else '?'}"
            ingestion_id = columns.ingestions[ingestion_ix]
            row = columns.rows(first, first + 1)[0]
            try:
                where = locations.where(row)
            except NotFound as error:
                raise NotFound(
                    f"The {what} point into ingestion {ingestion_id}, which no longer exists ({error.detail})"
                ) from error
            size = locations.size(where)
            if size is None:
                raise NotFound(
                    f"The object {where.key!r} of ingestion {ingestion_id}, which the {what} point into, no "
                    "longer exists."
                )
            needed = int(ends[mine].max())
            if needed > size:
                raise BadLogFile(
                    f"The object {where.key!r} of ingestion {ingestion_id} holds {size} bytes, but the "
                    f"{what} point up to byte {needed}: it was replaced since it was ingested."
                )

    def _latched(
        self, entries: list[Any], topics: dict[UUID, Topic], selected: PartIndex, spec: ExportSpec
    ) -> list[list[Any]]:
        """Each latched topic's last record before its window (once, and not when it is selected)."""
        chosen = set(map(tuple, selected.entries())) if len(selected) < 200_000 else None
        found: dict[tuple[Any, ...], None] = {}
        for entry in entries:
            topic = topics[entry.topic_id]
            if not spec.latched_topic(topic.name):
                continue
            latched = self.selector.latched(entry, topic)
            if latched is None:
                continue
            (record,) = latched.entries()
            if chosen is None or record not in chosen:
                found.setdefault(record, None)
        records = sorted(found, key=lambda record: (record[8], record[3], record[6] or -1))
        return [list(record) for record in records]

    def _parts(self, digestion: Digestion, index: PartIndex, plan: DigestionPlan) -> list[tuple[int, UUID]]:
        """One ``queued`` part per range of the selection, created in sequence order, in batches of
        ``PLANNED_BATCH`` (their indexes are held until written)."""
        created: list[tuple[int, UUID]] = []
        pending: list[PlannedPart] = []
        counts: dict[str, int] = {}
        channel_of = plan.channel_of()
        previous: datetime | None = None
        for sequence, (start, stop) in enumerate(
            part_ranges(index, self.part_max_records, self.part_max_bytes)
        ):
            part_index = index.slice(start, stop)
            times = part_index.columns.timestamps
            context = {
                "record_count": stop - start,
                "message_bytes": int(part_index.message_sizes().sum()),
                "start_time": int(times.min()),
                "end_time": int(times.max()),
            }
            previous = self.parts.next_created_at(previous)
            # Where each channel's sequence numbers start in this part (MCAP message sequences).
            internal = {"sequence_base": dict(counts)}
            pending.append(PlannedPart(sequence, part_index, context, previous, internal))
            channels = np.array([channel_of[t] for t in part_index.topics])[part_index.topic_ix]
            for channel_id, count in zip(*np.unique(channels, return_counts=True), strict=True):
                counts[str(channel_id)] = counts.get(str(channel_id), 0) + int(count)
            if len(pending) == PLANNED_BATCH:
                created += [(p.sequence, p.id) for p in self.parts.create_planned(digestion, pending)]
                pending = []
        if pending:
            created += [(p.sequence, p.id) for p in self.parts.create_planned(digestion, pending)]
        return created

    # -- Write part ------------------------------------------------------------------------------
    def write_part(self, task: DigestionPartTask) -> DigestionPartOutcome:
        """Write one part's blob (and export fragment). Its reads and writes are few and none contends
        with the other parts': the digestion is read twice (the attempt, then whether it still runs
        once the objects are written), the part is moved twice (its note rides on the second move),
        and the progress is an atomic counter."""
        digestion = self._current(task.digestion_id, task.attempt)
        try:
            part = self.parts.transition(task.part_id, S.processing, expected_from={S.queued, S.processing})
        except InvalidTransition:
            done = self.parts.state_of(task.part_id)
            if done.state != S.completed:
                raise
            # A retry after a lost response: the blob is written, nothing more to do.
            return DigestionPartOutcome(
                part_id=done.id, record_count=int((done.context or {}).get("record_count", 0))
            )
        plan = self.plan_of(digestion)
        index = self.parts.index_of(part.id) or PartIndex.from_entries([])
        space = self.spaces.of_log(digestion.log_id)
        try:
            data = self._bytes(index)
            fragment = None
            if plan.export is not None:
                export = export_format(str(plan.export["format"]))
                run = self._run(index, data, plan, part._internal.get("sequence_base"))
                fragment = export.fragment(self._channels(plan, digestion.id), run)
        except OpenLQSError as error:
            payload = {"part_id": str(part.id), "sequence": part.sequence}
            self.parts.transition(
                part.id, S.failed, error_name=error.name(), error_message=error.detail, error_payload=payload
            )
            raise
        keys = [space.full_key(blob_key(digestion.id, part.id))]
        space.blobs.put(keys[0], data, BLOB_CONTENT_TYPE)
        if fragment is not None:
            keys.append(space.full_key(fragment_key(digestion.id, part.sequence)))
            space.blobs.put(keys[1], fragment.body, BLOB_CONTENT_TYPE)
        try:
            self._running(digestion.id, task.attempt)
        except (StaleAttempt, NotFound):
            # The digestion failed (another part), was cancelled or deleted while this part wrote.
            for key in keys:
                space.blobs.delete(key)
            raise

        def note(new: DigestionPart) -> None:
            new.context = {**(new.context or {}), "blob_size": len(data)}
            if fragment is not None:
                new._internal["export"] = {"size": len(fragment.body), "chunks": fragment.chunks}

        self.parts.transition(part.id, S.completed, progress=1.0, amend=note)
        self._advance(digestion.id, task.attempt, plan)
        return DigestionPartOutcome(part_id=part.id, record_count=len(index))

    # -- Finalize digestion ----------------------------------------------------------------------
    def finalize(self, task: DigestionTask) -> DigestionOutcome:
        digestion = self._current(task.digestion_id, task.attempt)
        self.digestions.transition(digestion.id, S.finalizing, expected_from={S.processing, S.finalizing})
        parts = self.attempts.all_parts(digestion.id)
        unfinished = sorted(p.sequence for p in parts if p.state != S.completed)
        if unfinished:
            raise DigestionIncomplete(f"Parts {unfinished} of digestion {digestion.id} did not complete.")
        plan = self.plan_of(digestion)
        if plan.export is not None:
            result = self._export(digestion, plan, parts)

            def record(new: Digestion) -> None:
                context = dict(new.context or {})
                context[EXPORT] = {**(context.get(EXPORT) or {}), **result}
                new.context = context

            self.resources.update(DIGESTION, digestion.id, record)
        self.digestions.transition(digestion.id, S.completed, expected_from={S.finalizing}, progress=1.0)
        return DigestionOutcome(digestion_id=digestion.id, state=S.completed)

    def _export(
        self, digestion: Digestion, plan: DigestionPlan, parts: list[DigestionPart]
    ) -> dict[str, Any]:
        """Assemble the export from the parts' fragments; its key (relative to the log), size and
        message count."""
        assert plan.export is not None
        export = export_format(str(plan.export["format"]))
        channels = self._channels(plan)
        space = self.spaces.for_log(digestion.log_id)
        key = export_key(digestion.id, export.extension)
        upload = ExportUpload(space.blobs, space.full_key(key), export.content_type)
        try:
            placed, tail_at = self._assemble(upload, export, channels, plan, parts, space)
            size = upload.finish(export.head(channels, placed, tail_at))
        except BaseException:
            upload.abort()
            raise
        self.attempts.discard_unfinished(digestion)
        count = sum(int(n) for chunk in placed for n in chunk.chunk["counts"].values())
        return {"key": key, "size": size, "message_count": count}

    def _assemble(
        self,
        upload: ExportUpload,
        export: ExportFormat,
        channels: list[ExportChannel],
        plan: DigestionPlan,
        parts: list[DigestionPart],
        space: ObjectSpace,
    ) -> tuple[list[PlacedChunk], int]:
        """Head (zeros until the end), latched records, fragments, tail; the chunks placed, and where
        the tail starts."""
        upload.write(bytes(export.head_size(channels)))
        placed: list[PlacedChunk] = []
        if plan.latched:
            index = PartIndex.from_entries(plan.latched)
            fragment = export.fragment(channels, self._run(index, self._bytes(index), plan, None))
            placed += [PlacedChunk(upload.size + int(c["offset"]), c) for c in fragment.chunks]
            upload.write(fragment.body)
        for part in sorted(parts, key=lambda p: p.sequence):
            written = part._internal.get("export")
            if written is None:
                raise DigestionIncomplete(
                    f"Part {part.sequence} of digestion {part.digestion_id} wrote no fragment."
                )
            at = upload.size
            upload.copy(
                space.full_key(fragment_key(part.digestion_id, part.sequence)),
                int(written["size"]),
                space.blobs.read,
            )
            placed += [PlacedChunk(at + int(c["offset"]), c) for c in written["chunks"]]
        tail_at = upload.size
        upload.write(export.tail(channels, placed, tail_at))
        return placed, tail_at

    # -- Fail digestion --------------------------------------------------------------------------
    def fail(self, task: DigestionFailTask) -> DigestionOutcome:
        digestion = self._current(task.digestion_id, task.attempt)
        name, message = (
            task.error.details() if task.error is not None else ("DigestionFailed", "DigestionFailed")
        )
        failed_parts = [
            {
                "sequence": p.sequence,
                "part_id": str(p.id),
                "error_name": p.error_name,
                "error_message": p.error_message,
            }
            for p in self.attempts.all_parts(digestion.id)
            if p.state == S.failed
        ]
        self.attempts.settle_parts(digestion, message)
        self.attempts.discard_unfinished(digestion)
        payload = {"attempt": task.attempt, **({"failed_parts": failed_parts} if failed_parts else {})}
        self.digestions.transition(
            digestion.id, S.failed, error_name=name, error_message=message[:4096], error_payload=payload
        )
        return DigestionOutcome(digestion_id=digestion.id, state=S.failed)
