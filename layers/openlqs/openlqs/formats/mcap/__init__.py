"""MCAP files: the :class:`~openlqs.formats.base.LogFormat` of files starting with ``\\x89MCAP0\\r\\n``.

Rooms, one concern each:

- :mod:`~openlqs.formats.mcap.records`: opcodes, record layouts, parsing from bytes;
- :mod:`~openlqs.formats.mcap.channels`: schemas and channels typed as the contract's topics;
- :mod:`~openlqs.formats.mcap.summary`: the index from footer and summary section (range reads);
- :mod:`~openlqs.formats.mcap.scan`: the index from a scan of the records (salvage);
- :mod:`~openlqs.formats.mcap.chunks`: the messages of chunks and top-level runs as record columns;
- :mod:`~openlqs.formats.mcap.attachments`: attachments and metadata records, listed in the context.

Reading needs neither I/O of its own nor the ``mcap`` package: records are parsed with ``struct`` and
numpy straight from the bytes callers hand in.
"""

from __future__ import annotations

from collections.abc import Iterator

from openlqs.formats.base import ByteSource, ChunkColumns, LogIndex
from openlqs.formats.mcap.chunks import index_columns
from openlqs.formats.mcap.records import MAGIC
from openlqs.formats.mcap.summary import read_index


class McapFormat:
    """MCAP files (major version 0): the index from the summary section, messages from chunk records."""

    name = "mcap"
    description = "MCAP file ('\\x89MCAP0\\r\\n')"

    def sniff(self, head: bytes) -> bool:
        return head.startswith(MAGIC)

    def read_index(self, source: ByteSource) -> LogIndex:
        return read_index(source)

    def index_columns(self, data: bytes, base: int) -> Iterator[ChunkColumns]:
        return index_columns(data, base)


__all__ = ["MAGIC", "McapFormat", "index_columns", "read_index"]
