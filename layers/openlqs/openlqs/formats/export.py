"""Writing records out as one playable log file (a digestion's export), in pieces written in parallel.

An export is assembled from fragments: each digestion part turns its messages (already read, in time
order) into a :class:`Fragment`, the format's chunk records with their own indexes, whose offsets are
relative to the fragment. Whoever assembles the file writes :meth:`ExportFormat.head` (whose size is
known before anything else), the fragments one after the other, then :meth:`ExportFormat.tail` (the
summary or index that points into the fragments, now at known file offsets). Nothing here does I/O.

Formats are registered by name (``formats.exporters``): ``mcap`` (any topics; zstd chunks, a summary
with chunk indexes) and ``bag`` (ROS 1 topics; an indexed ROS 1 bag v2.0 with lz4 chunks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from openlqs.errors import BadRequest

#: Uncompressed bytes of messages per chunk (MCAP's and rosbag's writers use about as much).
CHUNK_BYTES = 1024 * 1024


class ExportError(BadRequest):
    """Records that the asked-for format cannot hold (a bag of CDR messages, a time before 1970)."""


@dataclass(frozen=True)
class ExportChannel:
    """One topic of an export, typed as the topic holds it. ``id`` is the connection (bag) or channel
    (MCAP) number, the same in every fragment; ``context`` is the topic's (a ROS 1 md5sum, an MCAP
    channel's encodings and metadata); ``latched`` marks a topic whose last earlier record was added."""

    id: int
    topic: str
    type_name: str | None
    type_encoding: str | None
    type_data: str | None
    context: Mapping[str, Any] = field(default_factory=dict)
    latched: bool = False


@dataclass
class MessageRun:
    """Messages in the order they are written: each one's channel id, time and size, their bytes back
    to back in ``data``, and optionally each one's sequence number on its channel."""

    channel_ids: npt.NDArray[np.int64]
    timestamps: npt.NDArray[np.int64]
    sizes: npt.NDArray[np.int64]
    data: bytes
    sequences: npt.NDArray[np.int64] | None = None

    def __post_init__(self) -> None:
        if not len(self.channel_ids) == len(self.timestamps) == len(self.sizes):
            raise ValueError("a message run's columns differ in length")
        if int(self.sizes.sum()) != len(self.data):
            raise ValueError(
                f"a message run holds {len(self.data)} bytes, its sizes add up to {self.sizes.sum()}"
            )

    def __len__(self) -> int:
        return len(self.timestamps)

    def slice(self, start: int, stop: int) -> MessageRun:
        offsets = np.concatenate(([0], np.cumsum(self.sizes)))
        return MessageRun(
            self.channel_ids[start:stop],
            self.timestamps[start:stop],
            self.sizes[start:stop],
            self.data[int(offsets[start]) : int(offsets[stop])],
            None if self.sequences is None else self.sequences[start:stop],
        )


@dataclass
class Fragment:
    """A format's records for some messages, to be placed anywhere after the head. ``chunks`` describe
    its chunks (offsets relative to the fragment) as JSON-able dicts, for the tail."""

    body: bytes
    chunks: list[dict[str, Any]]


@dataclass(frozen=True)
class PlacedChunk:
    """A chunk of a fragment, at its offset in the file."""

    offset: int
    chunk: Mapping[str, Any]


class ExportFormat(Protocol):
    """One playable file format, as the digestion pipeline writes it."""

    #: ``context.export.format``: ``mcap`` or ``bag``.
    name: str
    extension: str
    content_type: str

    def check(self, channels: Sequence[ExportChannel]) -> None:
        """``ExportError`` when a channel cannot be written in this format."""
        ...

    def head_size(self, channels: Sequence[ExportChannel]) -> int:
        """The length of :meth:`head`, known before any fragment is written."""
        ...

    def fragment(self, channels: Sequence[ExportChannel], run: MessageRun) -> Fragment:
        """The records holding ``run``'s messages (its chunks and their indexes)."""
        ...

    def head(self, channels: Sequence[ExportChannel], chunks: Sequence[PlacedChunk], tail_at: int) -> bytes:
        """The file's start: ``head_size`` bytes (a bag's header points at its index, at ``tail_at``)."""
        ...

    def tail(self, channels: Sequence[ExportChannel], chunks: Sequence[PlacedChunk], tail_at: int) -> bytes:
        """What follows the last fragment (at ``tail_at``): the index or summary of ``chunks``."""
        ...


def chunk_ranges(
    sizes: npt.NDArray[np.int64], overhead: int, target: int = CHUNK_BYTES
) -> list[tuple[int, int]]:
    """Consecutive ranges of messages whose records (``sizes`` plus ``overhead`` bytes each) make
    chunks of about ``target`` bytes; at least one message per chunk."""
    if not len(sizes):
        return []
    ends = np.cumsum(sizes + overhead)
    ranges, start = [], 0
    while start < len(sizes):
        base = int(ends[start - 1]) if start else 0
        stop = int(np.searchsorted(ends, base + target, side="right"))
        stop = max(stop, start + 1)
        ranges.append((start, stop))
        start = stop
    return ranges


def splice(
    prefixes: npt.NDArray[Any], sizes: npt.NDArray[np.int64], data: bytes | memoryview
) -> tuple[bytes, npt.NDArray[np.int64]]:
    """Records of a fixed-size prefix (one row of the structured array ``prefixes`` each) followed by
    ``sizes[i]`` bytes of ``data`` each, back to back; and where each record starts.

    One boolean mask places every prefix and every message at once: no call per record.
    """
    width = prefixes.dtype.itemsize
    record_starts = np.concatenate(([0], np.cumsum(sizes + width)[:-1])).astype(np.int64)
    body = np.frombuffer(data, dtype=np.uint8)
    out = np.empty(len(body) + len(prefixes) * width, dtype=np.uint8)
    is_data = np.ones(len(out), dtype=bool)
    prefix_at = (record_starts[:, None] + np.arange(width)).ravel()
    is_data[prefix_at] = False
    out[prefix_at] = prefixes.view(np.uint8)
    out[is_data] = body
    return out.tobytes(), record_starts
