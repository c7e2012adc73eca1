"""Where the pipeline reads a log file from, and what the file's index adds to its ingestion's context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openlqs.domain.ports import BlobStore
from openlqs.formats.base import LogIndex

#: Where an ingestion keeps (server-side) the context keys its last plan wrote from the file's index,
#: so that the next attempt replaces them and leaves the user's own keys alone.
INDEX_CONTEXT_KEYS = "index_context_keys"


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
