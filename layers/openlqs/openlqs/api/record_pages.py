"""A page of records written as JSON text straight from the blocks' columns (the API's hot path).

One ``%``-template per block, with the topic's and the block's fields already in it, and each varying
field written from the columns as an int or as JSON text: no dict, row or model per record (decision 32).
Rows with per-record fields go through the model.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

import numpy as np
import numpy.typing as npt
from pydantic_core import to_json, to_jsonable_python

from openlqs.domain.record_windows import Run, TopicRef
from openlqs.domain.records import RecordService, to_record
from openlqs.models.records import Record, RecordListParams
from openlqs.models.resources import Topic
from openlqs.records.blocks import RecordBlock
from openlqs.records.rows import RecordRow

#: Fields of an ingested record's JSON object that vary from row to row (the rest are the topic's, the
#: block's or defaults).
_WIRE_ROW_FIELDS = (
    "timestamp",
    "ingestion_id",
    "data_offset",
    "data_length",
    "chunk_compression",
    "chunk_offset",
    "chunk_length",
    "source",
)

#: A record's JSON object before its fields are set: every key, in the model's order, at its default.
_WIRE_DEFAULTS: dict[str, Any] = {
    name: None if field.is_required() else to_jsonable_python(field.default)
    for name, field in Record.model_fields.items()
}


def _json_time(moment: datetime) -> Any:
    """A datetime as pydantic writes it in JSON (the blocks of a page share a few)."""
    return _json_time_in(moment, moment.utcoffset())


@lru_cache(maxsize=64)
def _json_time_in(moment: datetime, offset: Any) -> Any:
    # Keyed by the offset too: equal instants in other zones are equal datetimes, not equal strings.
    return to_jsonable_python(moment)


@lru_cache(maxsize=256)
def _wire_template(log_id: str, topic_id: str, created_at: Any) -> str:
    """A record's JSON object with ``%s`` for each of ``_WIRE_ROW_FIELDS`` (in that order, which is the
    model's) and the topic's and block's fields written in."""
    fields = dict(_WIRE_DEFAULTS, log_id=log_id, topic_id=topic_id, created_at=created_at)
    members = []
    for name, value in fields.items():
        text = "%s" if name in _WIRE_ROW_FIELDS else to_json(value).decode().replace("%", "%%")
        members.append(f"{to_json(name).decode()}:{text}")
    return "{" + ",".join(members) + "}"


@lru_cache(maxsize=1024)
def _uuid_text(value: str) -> str:
    return str(UUID(value))


def to_wire(
    topic: Topic | TopicRef, block: RecordBlock, row: RecordRow, *, auxiliary: bool
) -> dict[str, Any]:
    """The record as its JSON object (what ``to_record(...).model_dump(mode="json")`` gives), made
    without a model for an ingested row (no per-record fields): a page of them costs ~1 ms, not ~15."""
    if row.extra:
        return to_record(topic, block, row, auxiliary=auxiliary).model_dump(mode="json")
    wire = dict(_WIRE_DEFAULTS)
    wire["timestamp"] = row.timestamp
    wire["log_id"] = str(topic.log_id)
    wire["topic_id"] = str(topic.id)
    wire["created_at"] = _json_time(block.created_at)
    wire["ingestion_id"] = None if row.ingestion_id is None else _uuid_text(row.ingestion_id)
    wire["data_offset"] = row.data_offset
    wire["data_length"] = row.data_length
    wire["chunk_compression"] = row.chunk_compression
    wire["chunk_offset"] = row.chunk_offset
    wire["chunk_length"] = row.chunk_length
    wire["source"] = row.source
    return wire


def wire_json(topic: Topic | TopicRef, runs: Iterable[Run]) -> str:
    """The JSON array of the records in ``runs``: what ``to_json`` of their ``to_wire`` objects
    gives, written from the blocks' columns through one template per block, without an object per
    record (decision 32). Rows with per-record fields go through ``to_wire``. Each block's rows
    are written at once, however many runs (interleaved writers) they come in."""
    runs = list(runs)
    by_block: dict[int, list[int]] = defaultdict(list)  # id(block) -> its runs' positions
    for at, (block, _) in enumerate(runs):
        by_block[id(block)].append(at)
    texts: list[list[str]] = [[] for _ in runs]
    for positions in by_block.values():
        block = runs[positions[0]][0]
        indexes = np.concatenate([runs[at][1] for at in positions])
        made = _wire_texts(topic, block, indexes)
        start = 0
        for at in positions:
            texts[at] = made[start : start + len(runs[at][1])]
            start += len(runs[at][1])
    return "[" + ",".join(text for run in texts for text in run) + "]"


def _wire_texts(topic: Topic | TopicRef, block: RecordBlock, indexes: npt.NDArray[np.intp]) -> list[str]:
    columns = block.columns
    template = _wire_template(str(topic.log_id), str(topic.id), _json_time(block.created_at))
    made = [template % fields for fields in zip(*columns.json_fields(indexes), strict=True)]
    if columns.extras:
        for at, index in enumerate(indexes.tolist()):
            if index in columns.extras:
                (row,) = columns.rows(index, index + 1)
                made[at] = to_json(to_wire(topic, block, row, auxiliary=False)).decode()
    return made


def list_wire(records: RecordService, topic_id: UUID, params: RecordListParams) -> tuple[int | None, str]:
    """A page of records without record data as the JSON array of its records, and the count."""
    page = records.windows.page(topic_id, params)
    if page.runs is not None:
        return page.count, wire_json(page.topic, page.runs)
    return page.count, to_json(
        [to_wire(page.topic, block, row, auxiliary=False) for block, row in page.pairs or []]
    ).decode()
