"""IngestionPipeline: the rules behind the state machine's four tasks.

Plan ingestion reads only the bag's header and index, creates one topic per topic name and one
IngestionPart per contiguous run of chunks. Process part reads its byte range, indexes every message and
writes record blocks under segment ids derived from the ingestion and the part (so a re-run overwrites
exactly the same items). Finalize ingestion sets topic and log statistics from the stored blocks. Fail
ingestion removes what the attempt wrote and records why it failed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

import numpy as np

from openlqs.domain.common import Context, Environment, retry_on_conflict
from openlqs.domain.ingestions import IngestionPartService, IngestionService, attempt_of
from openlqs.domain.object_stores import ObjectSpaces
from openlqs.domain.ports import BlobStore, RecordRepository, ResourceKind, ResourceRepository
from openlqs.domain.resources import INGESTION, INGESTION_PART, LOG, TOPIC, TopicService
from openlqs.errors import BadLogFile, Conflict, LimitExceeded, NotFound, OpenLQSError
from openlqs.formats.base import Span
from openlqs.formats.messages import MessageDecodeError, decode_ros1, to_json_value
from openlqs.formats.ros1.bag import BagIndex, index_chunk_columns, read_index
from openlqs.models.common import ProcessState, TypeEncoding
from openlqs.models.ingestions import Ingestion, IngestionPartCreateRequest, IngestionPartListParams
from openlqs.models.resources import (
    Log,
    RecordStats,
    Topic,
    TopicCreateRequest,
    TopicListParams,
    TopicUpdateRequest,
)
from openlqs.records.blocks import RecordBlock
from openlqs.records.codec import BlockColumns, encode_columns
from openlqs.records.reading import ChunkCache, RecordBytesReader
from openlqs.records.rows import RecordRow, RecordSummary

S = ProcessState

#: A block holds at most this many records; a busier bucket run is split into more segments.
MAX_BLOCK_RECORDS = 10_000
#: ...and at most this many encoded bytes (DynamoDB items are <= 400 KB): a block over it (columns that
#: do not compress, ~52 bytes a row at worst) is cut in halves until each fits.
MAX_BLOCK_BLOB_BYTES = 300_000
#: Stored ``query_data`` JSON a block holds at most (before compression; DynamoDB items are ≤ 400 KB).
MAX_BLOCK_EXTRA_BYTES = 192 * 1024
#: Decompressed chunks a part keeps while it decodes opted-in topics' messages.
PART_CHUNK_CACHE_BYTES = 32 * 1024 * 1024
#: The topic context flag that asks ingestions to store small messages' ``query_data``.
STORE_QUERY_DATA = "store_query_data"
#: Records per time bucket a topic's bucket width aims at: about one block (and one DynamoDB write
#: request) per 8,000 records, a page of 1,000 records within one or two blocks, and few items per
#: topic for a Query to go through (decision 32).
RECORDS_PER_BUCKET = 8_000
MIN_BUCKET_WIDTH_NS = 1_000_000  # 1 ms
MAX_BUCKET_WIDTH_NS = 86_400 * 1_000_000_000  # 1 day


class StaleAttempt(OpenLQSError):
    """A task of an older attempt ran after the ingestion was queued again; it must not write."""

    status_code = 409


class IngestionIncomplete(OpenLQSError):
    """Finalize found parts that did not complete."""

    status_code = 409


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


def bucket_width_for(count: int, duration_ns: int) -> int:
    """A bucket width holding about ``RECORDS_PER_BUCKET`` records at the topic's average rate."""
    if count <= 1 or duration_ns <= 0:
        return MAX_BUCKET_WIDTH_NS
    width = duration_ns * RECORDS_PER_BUCKET // count
    return max(MIN_BUCKET_WIDTH_NS, min(MAX_BUCKET_WIDTH_NS, width))


def split_block_rows(rows: list[RecordRow]) -> list[list[RecordRow]]:
    """Rows cut into blocks of at most ``MAX_BLOCK_RECORDS`` rows and ``MAX_BLOCK_EXTRA_BYTES`` of stored
    JSON (``query_data``), so that a block stays well inside DynamoDB's 400 KB item."""
    blocks: list[list[RecordRow]] = []
    current: list[RecordRow] = []
    extra_bytes = 0
    for row in rows:
        size = len(json.dumps(row.extra, separators=(",", ":"))) if row.extra else 0
        if current and (len(current) >= MAX_BLOCK_RECORDS or extra_bytes + size > MAX_BLOCK_EXTRA_BYTES):
            blocks.append(current)
            current, extra_bytes = [], 0
        current.append(row)
        extra_bytes += size
    if current:
        blocks.append(current)
    return blocks


def fit_block(columns: BlockColumns) -> list[tuple[BlockColumns, bytes]]:
    """The block's rows with their encoding, cut in halves until each encodes to at most
    ``MAX_BLOCK_BLOB_BYTES``."""
    blob = encode_columns(columns)
    if len(blob) <= MAX_BLOCK_BLOB_BYTES or len(columns) == 1:
        return [(columns, blob)]
    half = len(columns) // 2
    return fit_block(columns.slice(0, half)) + fit_block(columns.slice(half, len(columns)))


def _stored_query_data(topic: Topic, data: bytes) -> dict[str, Any] | None:
    """``{"query_data": ...}`` for a record of an opted-in topic; None when it does not decode (the
    record then reports the error when read)."""
    try:
        plain = decode_ros1(topic.type_name or "", topic.type_data or "", data)
    except MessageDecodeError:
        return None
    return {"query_data": to_json_value(plain)}


#: Chunk compressions as stored in record rows (the string table of every ingested block).
COMPRESSION_NAMES = ("bz2", "lz4")


def _part_columns(
    data: bytes, base: int, connections: dict[str, str], topic_ids: list[str], ingestion: str
) -> dict[str, Any]:
    """Every message of the part's chunks as numpy columns, with its topic's index in ``topic_ids``."""
    topic_index = {topic_id: i for i, topic_id in enumerate(topic_ids)}
    known = sorted((int(connection), topic_index[topic]) for connection, topic in connections.items())
    # Connection ids are u32s the bag chooses: looked up by binary search, not by an array that large.
    known_ids = np.array([connection for connection, _ in known] or [-1], dtype=np.int64)
    known_topics = np.array([topic for _, topic in known] or [-1], dtype=np.int64)
    pieces: dict[str, list[Any]] = defaultdict(list)
    for chunk in index_chunk_columns(data, base):
        n = len(chunk.timestamps)
        if not n:
            continue
        ids = np.array(chunk.connection_ids, dtype=np.int64)
        at = np.minimum(np.searchsorted(known_ids, ids), len(known_ids) - 1)
        topics = np.where(known_ids[at] == ids, known_topics[at], -1)
        if (topics < 0).any():
            bad = int(np.flatnonzero(topics < 0)[0])
            position = chunk.offsets[bad] if chunk.compression is None else chunk.chunk_start
            raise BadLogFile(f"A message at byte {position} uses unknown connection {ids[bad]}.")
        offsets = np.array(chunk.offsets, dtype=np.int64)
        lengths = np.array(chunk.lengths, dtype=np.int64)
        pieces["topic"].append(topics)
        pieces["timestamps"].append(np.array(chunk.timestamps, dtype=np.int64))
        if chunk.compression is None:
            pieces["data_offsets"].append(offsets)
            pieces["data_lengths"].append(lengths)
            pieces["chunk_offsets"].append(np.full(n, -1, dtype=np.int64))
            pieces["chunk_lengths"].append(np.full(n, -1, dtype=np.int64))
            pieces["compression_ix"].append(np.full(n, -1, dtype=np.int32))
        else:
            pieces["data_offsets"].append(np.full(n, chunk.chunk_start, dtype=np.int64))
            pieces["data_lengths"].append(np.full(n, chunk.chunk_length, dtype=np.int64))
            pieces["chunk_offsets"].append(offsets)
            pieces["chunk_lengths"].append(lengths)
            pieces["compression_ix"].append(
                np.full(n, COMPRESSION_NAMES.index(chunk.compression), dtype=np.int32)
            )
    names = ("topic", "timestamps", "data_offsets", "data_lengths", "chunk_offsets", "chunk_lengths")
    empty = {name: np.zeros(0, dtype=np.int64) for name in names} | {
        "compression_ix": np.zeros(0, dtype=np.int32)
    }
    return {name: np.concatenate(pieces[name]) if pieces[name] else empty[name] for name in empty}


def split_parts(chunks: list[Span], target_bytes: int) -> list[list[Span]]:
    """Contiguous runs of chunks, in file order, of about ``target_bytes`` each (at least one chunk)."""
    parts: list[list[Span]] = []
    current: list[Span] = []
    size = 0
    for chunk in sorted(chunks, key=lambda c: c.start):
        if current and size + (chunk.end - chunk.start) > target_bytes:
            parts.append(current)
            current, size = [], 0
        current.append(chunk)
        size += chunk.end - chunk.start
    if current:
        parts.append(current)
    return parts


def segment_prefix(ingestion_id: UUID) -> str:
    """Every block an ingestion writes has a segment id starting with this."""
    return f"i{ingestion_id.hex}-"


def _error_details(error: dict[str, Any]) -> tuple[str, str]:
    """Step Functions' ``{"Error", "Cause"}``; a Lambda error's cause is JSON with errorMessage."""
    name = str(error.get("Error") or "IngestionFailed")
    cause = error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        parsed = None
    if isinstance(parsed, dict):
        return str(parsed.get("errorType") or name), str(parsed.get("errorMessage") or cause)
    return name, str(cause) or name


class IngestionPipeline:
    def __init__(
        self,
        resources: ResourceRepository,
        records: RecordRepository,
        ingestions: IngestionService,
        parts: IngestionPartService,
        topics: TopicService,
        spaces: ObjectSpaces,
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
        self.env = environment or Environment()
        self.part_target_bytes = part_target_bytes
        #: Messages of an opted-in topic up to this size get their ``query_data`` stored at ingestion.
        self.stored_query_data_max_bytes = stored_query_data_max_bytes

    def _decoders(self, topic_ids: list[str]) -> dict[str, Topic]:
        return {topic_id: cast(Topic, self.resources.get(TOPIC, UUID(topic_id))) for topic_id in topic_ids}

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
        if ingestion.state != S.processing:
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

    def _rewrite(self, kind: ResourceKind, resource_id: UUID, change: Callable[[Any], None]) -> Any:
        """Read, change a copy, write it conditionally on the version; again after a concurrent write."""

        def apply() -> Any:
            current = self.resources.get(kind, resource_id)
            new = current.model_copy(deep=True)
            new._version, new._internal = current._version, dict(current._internal)
            change(new)
            return self.resources.replace(kind, current, new)

        return retry_on_conflict(apply)

    def _set_stats(self, kind: ResourceKind, resource_id: UUID, summary: RecordSummary) -> None:
        def change(stats: RecordStats) -> None:
            stats.record_count, stats.record_size = summary.count, summary.size
            stats.start_time, stats.end_time = summary.start_time, summary.end_time
            stats.duration = (
                None
                if summary.start_time is None or summary.end_time is None
                else summary.end_time - summary.start_time
            )

        self._rewrite(kind, resource_id, change)

    def refresh_statistics(self, log_id: UUID, topic_ids: list[UUID] | None = None) -> None:
        """Recompute topic statistics from their blocks, then the log's from its topics."""
        topics = [cast(Topic, t) for t in self.resources.list_resources(TOPIC, log_id)]
        total = RecordSummary()
        for topic in topics:
            if topic_ids is None or topic.id in topic_ids:
                summary = self.records.topic_summary(topic.id)
                self._set_stats(TOPIC, topic.id, summary)
            else:
                summary = RecordSummary(
                    topic.record_count, topic.record_size, topic.start_time, topic.end_time
                )
            total = total + summary
        self._set_stats(LOG, log_id, total)

    def clear_records(self, ingestion: Ingestion) -> list[UUID]:
        """Delete every record block this ingestion wrote (any attempt); returns the topics touched."""
        touched = []
        for topic in self.resources.list_resources(TOPIC, ingestion.log_id):
            if self.records.delete_segments(topic.id, segment_prefix(ingestion.id)):
                touched.append(topic.id)
        return touched

    # -- Plan ingestion --------------------------------------------------------------------------
    def plan(self, ingestion_id: UUID, attempt: int) -> dict[str, Any]:
        ingestion = self._current(ingestion_id, attempt)
        self.ingestions.transition(ingestion_id, S.processing, expected_from={S.queued, S.processing})
        index = read_index(self._source(ingestion))
        log = cast(Log, self.resources.get(LOG, ingestion.log_id))
        message_count = sum(chunk.message_count for chunk in index.chunks)
        if log.record_count + message_count > self.env.limits.max_records_per_log:
            raise LimitExceeded(
                f"max_records_per_log ({self.env.limits.max_records_per_log}) would be exceeded: "
                f"the log holds {log.record_count} records and the file {message_count}."
            )
        touched = self.clear_records(ingestion)
        if touched:
            self.refresh_statistics(ingestion.log_id, touched)
        connections, widths, created = self._topics(ingestion, index)
        decoded = self._decoded_topics(set(connections.values()))
        parts = self._parts(ingestion, index)

        def remember(new: Ingestion) -> None:
            new._internal["plan"] = {
                "connections": connections,
                "widths": widths,
                "created_topics": created,
                "decoded_topics": decoded,
            }
            if index.salvaged:
                new.context = {
                    **(new.context or {}),
                    "salvage": {"index_missing": True, "ignored_bytes": index.ignored_bytes},
                }

        self._rewrite(INGESTION, ingestion_id, remember)
        return {
            "ingestion_id": str(ingestion_id),
            "attempt": attempt,
            "parts": [
                {
                    "ingestion_id": str(ingestion_id),
                    "part_id": str(part_id),
                    "sequence": sequence,
                    "attempt": attempt,
                }
                for sequence, part_id in parts
            ],
        }

    def _topics(
        self, ingestion: Ingestion, index: BagIndex
    ) -> tuple[dict[str, str], dict[str, int], list[str]]:
        """One topic per topic name (fetched or created); returns connection → topic, widths, created ids."""
        counts: dict[int, int] = defaultdict(int)
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for chunk in index.chunks:
            for connection_id, count in chunk.counts.items():
                counts[connection_id] += count
                first[connection_id] = min(first.get(connection_id, chunk.start_time), chunk.start_time)
                last[connection_id] = max(last.get(connection_id, chunk.end_time), chunk.end_time)
        connections: dict[str, str] = {}
        widths: dict[str, int] = {}
        created: list[str] = []
        for name, publishers in index.topics().items():
            ids = [c.id for c in publishers]
            count = sum(counts[i] for i in ids)
            starts = [first[i] for i in ids if i in first]
            ends = [last[i] for i in ids if i in last]
            width = bucket_width_for(count, (max(ends) - min(starts)) if starts else 0)
            topic, is_new = self._topic(ingestion.log_id, name, publishers[0], width)
            if is_new:
                created.append(str(topic.id))
            widths[str(topic.id)] = int(topic._internal.get("bucket_width_ns") or width)
            for connection_id in ids:
                connections[str(connection_id)] = str(topic.id)
        return connections, widths, created

    def _decoded_topics(self, topic_ids: set[str]) -> list[str]:
        """The topics that opted in to stored ``query_data`` (``context.store_query_data: true``)."""
        opted = []
        for topic_id in sorted(topic_ids):
            topic = cast(Topic, self.resources.get(TOPIC, UUID(topic_id)))
            if (topic.context or {}).get(STORE_QUERY_DATA) is True:
                opted.append(topic_id)
        return opted

    def _topic(self, log_id: UUID, name: str, connection: Any, width: int) -> tuple[Topic, bool]:
        _, found = self.topics.list(TopicListParams(log_id=log_id, name=name, limit=1))
        if found:
            return self._typed(found[0], connection), False
        request = TopicCreateRequest(
            log_id=log_id,
            name=name,
            type_name=connection.type_name,
            type_encoding=TypeEncoding.ros1,
            type_data=connection.message_definition,
            context={"md5sum": connection.md5sum},
        )
        try:
            return self.topics.create(request, Context(), bucket_width_ns=width), True
        except Conflict:
            return self.topics.list(TopicListParams(log_id=log_id, name=name, limit=1))[1][0], False

    def _typed(self, topic: Topic, connection: Any) -> Topic:
        """A topic made before its first ingestion (to opt in to stored query_data) gets the bag's type."""
        if topic.type_name is not None and topic.type_data is not None:
            return topic
        request = TopicUpdateRequest(
            type_name=topic.type_name or connection.type_name,
            type_encoding=topic.type_encoding or TypeEncoding.ros1,
            type_data=topic.type_data or connection.message_definition,
            context={**(topic.context or {}), "md5sum": connection.md5sum},
        )
        return self.topics.update(topic.id, request, Context())

    def _parts(self, ingestion: Ingestion, index: BagIndex) -> list[tuple[int, UUID]]:
        """Replace the ingestion's parts with one per contiguous run of chunks."""
        for part in self._all_parts(ingestion.id):
            self.parts.delete(part.id, Context())
        created = []
        for sequence, chunks in enumerate(split_parts(index.chunks, self.part_target_bytes)):
            request = IngestionPartCreateRequest(
                sequence=sequence,
                state=S.queued,
                context={
                    "start": chunks[0].start,
                    "end": chunks[-1].end,
                    "chunk_count": len(chunks),
                    "message_count": sum(c.message_count for c in chunks),
                },
            )
            created.append((sequence, self.parts.create(ingestion.id, request, Context()).id))
        return created

    # -- Process part ----------------------------------------------------------------------------
    def process_part(self, ingestion_id: UUID, part_id: UUID, attempt: int) -> dict[str, Any]:
        ingestion = self._current(ingestion_id, attempt)
        done = self.parts.get(part_id)
        if done.state == S.completed:
            # A retry after a lost response: the records are written, nothing more to do.
            return {"part_id": str(part_id), "record_count": int((done.context or {}).get("record_count", 0))}
        part = self.parts.transition(part_id, S.processing, expected_from={S.queued, S.processing})
        plan = ingestion._internal.get("plan") or {}
        connections: dict[str, str] = plan.get("connections", {})
        widths: dict[str, int] = plan.get("widths", {})
        context = part.context or {}
        start, end = int(context["start"]), int(context["end"])
        try:
            data = self._source(ingestion).read(start, end)
            if len(data) != end - start:
                raise BadLogFile(f"The file ends at byte {start + len(data)}, inside part {part.sequence}.")
            decoders = self._decoders(plan.get("decoded_topics", []))
            blocks, stats = self._blocks(ingestion, part.sequence, data, start, connections, widths, decoders)
        except BadLogFile as error:
            payload = {"part_id": str(part_id), "sequence": part.sequence, "start": start, "end": end}
            self.parts.transition(
                part_id,
                S.failed,
                error_name=error.name(),
                error_message=error.detail,
                error_payload=payload,
            )
            raise
        self._check_running(ingestion_id, attempt)
        self.records.put_blocks(blocks)
        try:
            self._check_running(ingestion_id, attempt)
        except StaleAttempt:
            # The ingestion failed (another part) while this one wrote: take back what it wrote.
            for topic_id in {block.topic_id for block in blocks}:
                self.records.delete_segments(topic_id, f"{segment_prefix(ingestion_id)}{part.sequence:05d}-")
            raise
        record_count = sum(stat["count"] for stat in stats.values())
        self.parts.transition(part_id, S.completed, progress=1.0)

        def note(new: Any) -> None:
            new.context = {**(new.context or {}), "topics": stats, "record_count": record_count}

        self._rewrite(INGESTION_PART, part_id, note)
        self._advance(ingestion_id, attempt)
        return {"part_id": str(part_id), "record_count": record_count}

    def _all_parts(self, ingestion_id: UUID) -> list[Any]:
        parts: list[Any] = []
        while True:
            _, page = self.parts.list(IngestionPartListParams(limit=1000, offset=len(parts)), ingestion_id)
            parts.extend(page)
            if len(page) < 1000:
                return parts

    def _blocks(
        self,
        ingestion: Ingestion,
        sequence: int,
        data: bytes,
        base: int,
        connections: dict[str, str],
        widths: dict[str, int],
        decoders: dict[str, Topic] | None = None,
    ) -> tuple[list[RecordBlock], dict[str, dict[str, int]]]:
        """The part's record blocks and per-topic statistics.

        Every message becomes a row of numpy columns (no object per message): the part's rows are sorted
        once by (topic, bucket, record order) and cut into blocks of one topic and bucket. Only the
        topics that opted in to stored ``query_data`` have their rows made into objects, to decode them.
        """
        topic_ids = sorted(set(connections.values()))
        columns = _part_columns(data, base, connections, topic_ids, str(ingestion.id))
        widths_by_index = np.array([widths[topic_id] for topic_id in topic_ids], dtype=np.int64)
        topics = columns.pop("topic")
        buckets = columns["timestamps"] // widths_by_index[topics]
        order = np.lexsort(
            (columns["chunk_offsets"], columns["data_offsets"], columns["timestamps"], buckets, topics)
        )
        topics, buckets = topics[order], buckets[order]
        sorted_columns = BlockColumns(
            columns["timestamps"][order],
            columns["data_offsets"][order],
            columns["data_lengths"][order],
            columns["chunk_offsets"][order],
            columns["chunk_lengths"][order],
            columns["compression_ix"][order],
            np.full(len(order), -1, dtype=np.int32),
            np.zeros(len(order), dtype=np.int32),
            list(COMPRESSION_NAMES),
            [],
            [str(ingestion.id)],
        )
        del columns, order
        # Where (topic, bucket) changes: the runs of rows of one block key.
        cuts = np.flatnonzero((np.diff(topics) != 0) | (np.diff(buckets) != 0)) + 1
        starts = [0, *cuts.tolist()]
        stops = [*cuts.tolist(), len(topics)]
        now = self.env.now()
        segment_of = f"{segment_prefix(ingestion.id)}{sequence:05d}-{{:03d}}".format
        decoders = decoders or {}
        reader: RecordBytesReader[RecordRow, None] = RecordBytesReader(
            lambda row: None,
            lambda _, offset, length: data[offset - base : offset - base + length],
            ChunkCache(PART_CHUNK_CACHE_BYTES),
        )
        blocks: list[RecordBlock] = []
        stats: dict[str, dict[str, int]] = {}
        for start, stop in zip(starts, stops, strict=True):
            topic_id, bucket = topic_ids[int(topics[start])], int(buckets[start])
            run = sorted_columns.slice(start, stop)
            topic = decoders.get(topic_id)
            if topic is None:
                firsts = range(0, len(run), MAX_BLOCK_RECORDS)
                runs = [run.slice(i, min(i + MAX_BLOCK_RECORDS, len(run))) for i in firsts]
            else:
                rows = run.rows()
                for row in rows:
                    if row.message_size <= self.stored_query_data_max_bytes:
                        row.extra = _stored_query_data(topic, reader.record_bytes(row, None))
                runs = [BlockColumns.from_rows(block_rows) for block_rows in split_block_rows(rows)]
            fitting = [piece for columns in runs for piece in fit_block(columns)]
            for k, (piece, blob) in enumerate(fitting):
                blocks.append(
                    RecordBlock(UUID(topic_id), bucket, segment_of(k), None, now, columns=piece, blob=blob)
                )
            timestamps = run.timestamps
            stat = stats.setdefault(
                topic_id, {"count": 0, "size": 0, "start": int(timestamps[0]), "end": int(timestamps[-1])}
            )
            stat["count"] += len(run)
            stat["size"] += run.message_bytes()
            stat["start"] = min(stat["start"], int(timestamps[0]))
            stat["end"] = max(stat["end"], int(timestamps[-1]))
        return blocks, stats

    def _advance(self, ingestion_id: UUID, attempt: int) -> None:
        parts = self._all_parts(ingestion_id)
        if not parts:
            return
        done = sum(1 for p in parts if p.state == S.completed)
        # Progress is informative; the ingestion may already be finalizing or failed.
        with suppress(OpenLQSError):
            self.ingestions.transition(
                ingestion_id, S.processing, expected_from={S.processing}, progress=done / len(parts)
            )

    # -- Finalize ingestion ----------------------------------------------------------------------
    def finalize(self, ingestion_id: UUID, attempt: int) -> dict[str, Any]:
        ingestion = self._current(ingestion_id, attempt)
        self.ingestions.transition(ingestion_id, S.finalizing, expected_from={S.processing, S.finalizing})
        parts = self._all_parts(ingestion_id)
        unfinished = sorted(p.sequence for p in parts if p.state != S.completed)
        if unfinished:
            raise IngestionIncomplete(f"Parts {unfinished} of ingestion {ingestion_id} did not complete.")
        plan = ingestion._internal.get("plan") or {}
        topic_ids = [UUID(t) for t in set(plan.get("connections", {}).values())]
        self.refresh_statistics(ingestion.log_id, topic_ids)
        self.ingestions.transition(ingestion_id, S.completed, expected_from={S.finalizing}, progress=1.0)
        return {"ingestion_id": str(ingestion_id), "state": S.completed.value}

    # -- Fail ingestion --------------------------------------------------------------------------
    def fail(self, ingestion_id: UUID, attempt: int, error: dict[str, Any]) -> dict[str, Any]:
        ingestion = self._current(ingestion_id, attempt)
        name, message = _error_details(error)
        parts = self._all_parts(ingestion_id)
        failed_parts = [
            {
                "sequence": p.sequence,
                "part_id": str(p.id),
                "error_name": p.error_name,
                "error_message": p.error_message,
                **(p.error_payload or {}),
            }
            for p in parts
            if p.state == S.failed
        ]
        touched = self.clear_records(ingestion)
        plan = ingestion._internal.get("plan") or {}
        for topic_id in plan.get("created_topics", []):
            topic = self.resources.find(TOPIC, UUID(topic_id))
            if topic is not None and not self.records.topic_summary(topic.id).count:
                self.topics.delete(topic.id, Context())
        self.refresh_statistics(ingestion.log_id, touched or [])
        payload = {"attempt": attempt, "failed_parts": failed_parts} if failed_parts else {"attempt": attempt}
        self.ingestions.transition(
            ingestion_id,
            S.failed,
            error_name=name,
            error_message=message,
            error_payload=payload,
        )
        return {"ingestion_id": str(ingestion_id), "state": S.failed.value}

    # -- RecordCleanup (deleting an ingestion) ---------------------------------------------------
    def delete_ingestion_records(self, ingestion: Ingestion) -> None:
        touched = self.clear_records(ingestion)
        if touched:
            self.refresh_statistics(ingestion.log_id, touched)
