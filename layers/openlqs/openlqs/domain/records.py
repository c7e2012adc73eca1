"""Records of a topic, stored as record blocks: create, read, update and delete, with the topic and log
statistics that follow each change; lists are read by :mod:`openlqs.domain.record_windows`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from openlqs.domain.common import (
    Context,
    Environment,
    LockState,
    check_unlocked,
    lock_changes,
    patch_fields,
    retry_on_conflict,
)
from openlqs.domain.coverage import Coverage, TopicCoverage
from openlqs.domain.ports import RecordRepository, ResourceKind, ResourceRepository
from openlqs.domain.record_windows import EXTRA_FIELDS, RecordWindows, TopicRef
from openlqs.domain.resources import LOG, TOPIC
from openlqs.errors import Conflict, LimitExceeded, NotFound
from openlqs.models.records import Record, RecordCreateRequest, RecordListParams, RecordUpdateRequest
from openlqs.models.resources import Log, RecordStats, Topic
from openlqs.records.blocks import RecordBlock
from openlqs.records.rows import RecordRow, bucket_of

#: Segment prefix of blocks holding records created through the API (ingestions use their own ids).
API_SEGMENT = "api"
#: An API block takes new records until it holds this many or its encoding reaches ``API_BLOCK_BYTES``.
API_BLOCK_RECORDS = 1_000
API_BLOCK_BYTES = 200_000
#: The log's count of records being created through the API right now (reserved, not yet written).
_RESERVED = "records_reserved"


def to_record(topic: Topic | TopicRef, block: RecordBlock, row: RecordRow, *, auxiliary: bool) -> Record:
    """The record of a stored row, as the API returns it."""
    extra = row.extra or {}
    return Record.model_validate(
        {
            **row.located(),
            "log_id": topic.log_id,
            "topic_id": topic.id,
            "created_at": extra.get("created_at") or block.created_at,
            "updated_at": extra.get("updated_at"),
            "created_by": extra.get("created_by"),
            "updated_by": extra.get("updated_by"),
            "locked": extra.get("locked", False),
            "locked_by": extra.get("locked_by"),
            "locked_at": extra.get("locked_at"),
            "note": extra.get("note"),
            "context": extra.get("context"),
            "query_data": extra.get("query_data"),
            "error": extra.get("error"),
            "auxiliary_data": extra.get("auxiliary_data") if auxiliary else None,
        }
    )


class RecordService:
    """Records live in RecordsTable blocks; topic and log statistics follow every change."""

    def __init__(
        self,
        resources: ResourceRepository,
        records: RecordRepository,
        environment: Environment | None = None,
        *,
        default_bucket_width_ns: int = 10_000_000_000,
    ) -> None:
        self.resources = resources
        self.records = records
        self.env = environment or Environment()
        self.default_bucket_width_ns = default_bucket_width_ns
        self.windows = RecordWindows(resources, records, default_bucket_width_ns=default_bucket_width_ns)

    # -- helpers ---------------------------------------------------------------------------------
    def topic(self, topic_id: UUID) -> Topic:
        return self.resources.get(TOPIC, topic_id)

    def _width(self, topic: Topic) -> int:
        return self.windows.width(topic)

    def coverage(self, topic_id: UUID, start: int | None, end: int | None, bins: int) -> Coverage:
        """The topic's records per time bin of [start, end), from its blocks' statistics
        (``domain/coverage.py``)."""
        topic = self.topic(topic_id)
        window = (topic.start_time, topic.end_time)
        return TopicCoverage(self.records).coverage(topic.id, self._width(topic), window, start, end, bins)

    def to_record(
        self, topic: Topic | TopicRef, block: RecordBlock, row: RecordRow, *, auxiliary: bool
    ) -> Record:
        return to_record(topic, block, row, auxiliary=auxiliary)

    def _locate(self, topic: Topic, timestamp: int) -> tuple[RecordBlock, int]:
        """The block and index of the first record (in file order) at ``timestamp``."""
        found: tuple[RecordBlock, int] | None = None
        for block in self.records.bucket_blocks(topic.id, bucket_of(timestamp, self._width(topic))):
            for index, row in enumerate(block.rows):
                if row.timestamp == timestamp and (
                    found is None or row.order_key() < found[0].rows[found[1]].order_key()
                ):
                    found = (block, index)
        if found is None:
            raise NotFound(f"No record at timestamp {timestamp} on topic {topic.id}.")
        return found

    # -- statistics ------------------------------------------------------------------------------
    def _adjust_stats(
        self,
        kind: ResourceKind[RecordStats],
        resource_id: UUID,
        *,
        count: int,
        size: int,
        timestamp: int,
        recompute: Callable[[], tuple[int | None, int | None]] | None = None,
        reserved: bool = False,
    ) -> None:
        """Add ``count``/``size`` to a topic or log and widen (or recompute) its time bounds; with
        ``reserved``, take back one reservation of the log (``_reserve``)."""

        def apply(stats: RecordStats) -> None:
            if reserved:
                _released(stats)
            start, end = stats.start_time, stats.end_time
            if recompute is not None:
                start, end = recompute()
            elif count > 0:
                start = timestamp if start is None else min(start, timestamp)
                end = timestamp if end is None else max(end, timestamp)
            stats.record_count = max(stats.record_count + count, 0)
            stats.record_size = max(stats.record_size + size, 0)
            stats.start_time, stats.end_time = start, end
            stats.duration = None if start is None or end is None else end - start

        self.resources.update(kind, resource_id, apply)

    def _topic_bounds(self, topic_id: UUID) -> tuple[int | None, int | None]:
        first, last = self.records.first_and_last(topic_id)
        return (first.timestamp if first else None), (last.timestamp if last else None)

    def _log_bounds(self, log_id: UUID, *, without: UUID | None = None) -> tuple[int | None, int | None]:
        """A log's time bounds from its topics (leaving out ``without``, a topic being deleted)."""
        topics = [t for t in self.resources.list_resources(TOPIC, log_id) if t.id != without]
        starts = [t.start_time for t in topics if t.start_time is not None]
        ends = [t.end_time for t in topics if t.end_time is not None]
        return (min(starts) if starts else None), (max(ends) if ends else None)

    def _reserve(self, log_id: UUID) -> None:
        """Count one more record on the log before it is written, refusing it past
        ``max_records_per_log``: a version-guarded write of the log, so concurrent creates are counted
        one after the other and together never pass the limit. The reservation is taken back when the
        record is counted in the log's statistics, or was not written."""
        limit = self.env.limits.max_records_per_log

        def reserve(log: Log) -> None:
            reserved = int(log._internal.get(_RESERVED) or 0)
            if log.record_count + reserved >= limit:
                raise LimitExceeded(f"max_records_per_log ({limit}) reached for log {log.id}.")
            log._internal[_RESERVED] = reserved + 1

        self.resources.update(LOG, log_id, reserve)

    def _release(self, log_id: UUID) -> None:
        """Take back a reservation whose record was not written."""

        retry_on_conflict(lambda: self.resources.update(LOG, log_id, _released))

    def _after_change(
        self, topic: Topic, *, count: int, size: int, timestamp: int, reserved: bool = False
    ) -> None:
        """Statistics after a change of ``count`` records; ``reserved``: the log's reservation for the
        record just written is taken back in the same write that counts it."""
        if count > 0:
            # A record is written by now: its statistics must follow, however busy the log is.
            retry_on_conflict(
                lambda: self._adjust_stats(
                    LOG, topic.log_id, count=count, size=size, timestamp=timestamp, reserved=reserved
                )
            )
            retry_on_conflict(
                lambda: self._adjust_stats(TOPIC, topic.id, count=count, size=size, timestamp=timestamp)
            )
            return
        self._adjust_stats(
            TOPIC,
            topic.id,
            count=count,
            size=size,
            timestamp=timestamp,
            recompute=lambda: self._topic_bounds(topic.id),
        )
        self._adjust_stats(
            LOG,
            topic.log_id,
            count=count,
            size=size,
            timestamp=timestamp,
            recompute=lambda: self._log_bounds(topic.log_id),
        )

    # -- commands --------------------------------------------------------------------------------
    def create(self, topic_id: UUID, request: RecordCreateRequest, context: Context) -> Record:
        """Write one record into its bucket's API block; the log's ``max_records_per_log`` is reserved
        first (``_reserve``), so concurrent creates cannot pass it together."""
        topic = self.topic(topic_id)
        now = self.env.now()
        extra: dict[str, Any] = {
            name: value for name in EXTRA_FIELDS if (value := getattr(request, name, None)) is not None
        }
        extra.update(created_at=now.isoformat(), created_by=str(context.actor) if context.actor else None)
        if request.locked:
            extra.update(
                locked=True,
                locked_by=str(context.actor) if context.actor else None,
                locked_at=now.isoformat(),
                lock_token=context.lock_token,
            )
        row = RecordRow(
            timestamp=request.timestamp,
            data_offset=request.data_offset,
            data_length=request.data_length,
            chunk_compression=request.chunk_compression,
            chunk_offset=request.chunk_offset,
            chunk_length=request.chunk_length,
            source=request.source,
            extra={k: v for k, v in extra.items() if v is not None},
        )
        bucket = bucket_of(request.timestamp, self._width(topic))

        reserved = False

        def insert() -> RecordBlock:
            nonlocal reserved
            blocks = self.records.bucket_blocks(topic.id, bucket)
            if any(r.timestamp == row.timestamp for b in blocks for r in b.rows):
                raise _Duplicate(f"A record at timestamp {row.timestamp} already exists on topic {topic.id}.")
            if not reserved:  # once the record is known to be new: a refused one leaves the log as it was
                self._reserve(topic.log_id)
                reserved = True
            api_blocks = sorted(
                (b for b in blocks if b.segment.startswith(API_SEGMENT)), key=lambda b: b.segment
            )
            target = api_blocks[-1] if api_blocks else None
            if target is None or target.count >= API_BLOCK_RECORDS or target.size >= API_BLOCK_BYTES:
                number = len(api_blocks)
                target = RecordBlock(topic.id, bucket, f"{API_SEGMENT}-{number:04d}", [], now)
                expected = None
            else:
                expected = target.version
            target.rows.append(row)
            self.records.put_block(target, expected)
            return target

        try:
            block = retry_on_conflict(insert)
        except BaseException as error:
            if reserved:
                self._release(topic.log_id)
            if isinstance(error, _Duplicate):
                raise Conflict(error.detail) from None
            raise
        self._after_change(topic, count=1, size=row.message_size, timestamp=row.timestamp, reserved=True)
        return self.to_record(topic, block, row, auxiliary=True)

    def get(self, topic_id: UUID, timestamp: int, *, auxiliary: bool = False) -> Record:
        topic = self.topic(topic_id)
        block, index = self._locate(topic, timestamp)
        return self.to_record(topic, block, block.rows[index], auxiliary=auxiliary)

    def update(
        self, topic_id: UUID, timestamp: int, request: RecordUpdateRequest, context: Context
    ) -> Record:
        topic = self.topic(topic_id)
        now = self.env.now()

        def rewrite() -> Record:
            block, index = self._locate(topic, timestamp)
            row = block.rows[index]
            extra = dict(row.extra or {})
            locked = bool(extra.get("locked"))
            unlocking_only = request.model_fields_set == {"locked"} and request.locked is False
            if not unlocking_only or extra.get("lock_token") is not None:
                check_unlocked(
                    LockState(locked), extra, context, what=f"record {timestamp} of topic {topic_id}"
                )
            changes = patch_fields(request)
            lock_fields, lock_internal = lock_changes(locked, request.locked, context, now)
            extra.update(changes)
            extra.update({k: v.isoformat() if isinstance(v, datetime) else v for k, v in lock_fields.items()})
            extra.update(lock_internal)
            if extra.get("locked_by") is not None:
                extra["locked_by"] = str(extra["locked_by"])
            extra.update(updated_at=now.isoformat(), updated_by=str(context.actor) if context.actor else None)
            row.extra = {k: v for k, v in extra.items() if v is not None and v is not False}
            self.records.put_block(block, block.version)
            return self.to_record(topic, block, row, auxiliary=True)

        return retry_on_conflict(rewrite)

    def delete(self, topic_id: UUID, timestamp: int, context: Context) -> None:
        topic = self.topic(topic_id)

        def remove() -> RecordRow:
            block, index = self._locate(topic, timestamp)
            row = block.rows[index]
            extra = row.extra or {}
            check_unlocked(
                LockState(bool(extra.get("locked"))),
                extra,
                context,
                what=f"record {timestamp} of topic {topic_id}",
            )
            del block.rows[index]
            if block.rows:
                self.records.put_block(block, block.version)
            else:
                self.records.delete_block(block)
            return row

        row = retry_on_conflict(remove)
        self._after_change(topic, count=-1, size=-row.message_size, timestamp=row.timestamp)

    def delete_topic_records(self, topic: Topic) -> None:
        """Delete every record of a topic and take them out of its log's statistics."""
        self.records.delete_topic(topic.id)
        if topic.record_count:
            self._adjust_stats(
                LOG,
                topic.log_id,
                count=-topic.record_count,
                size=-topic.record_size,
                timestamp=0,
                recompute=lambda: self._log_bounds(topic.log_id, without=topic.id),
            )

    # -- queries ---------------------------------------------------------------------------------
    def list_records(self, topic_id: UUID, params: RecordListParams) -> tuple[int | None, list[Record]]:
        """A page of records and, with ``include_count``, how many the query selects."""
        page = self.windows.page(topic_id, params)
        auxiliary = params.include_auxiliary_data
        return page.count, [
            to_record(page.topic, block, row, auxiliary=auxiliary) for block, row in page.rows()
        ]


def _released(stats: RecordStats) -> None:
    """Take back one reservation of a log (``RecordService._reserve``); none left: no attribute."""
    left = int(stats._internal.get(_RESERVED) or 0) - 1
    stats._internal[_RESERVED] = left if left > 0 else None


class _Duplicate(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
