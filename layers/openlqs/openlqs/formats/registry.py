"""The log formats openlqs indexes, chosen by a file's first bytes (never by its name).

Every format implements :class:`~openlqs.formats.base.LogFormat`; :data:`FORMATS` lists them in the
order they are tried.
"""

from __future__ import annotations

from openlqs.errors import BadLogFile
from openlqs.formats.base import LogFormat
from openlqs.formats.mcap import McapFormat
from openlqs.formats.ros1 import Ros1Format

#: How many leading bytes :func:`format_for` needs to recognise any format.
SNIFF_BYTES = 16

FORMATS: tuple[LogFormat, ...] = (Ros1Format(), McapFormat())


def format_for(head: bytes, *, also: tuple[str, ...] = ()) -> LogFormat:
    """The format of a file starting with ``head``; ``BadLogFile`` saying what it is not (the formats,
    then ``also``: what else the caller would have taken)."""
    if not head:
        raise BadLogFile("The file is empty.")
    for log_format in FORMATS:
        if log_format.sniff(head):
            return log_format
    kinds = [f.description for f in FORMATS] + list(also)
    what = ", ".join(kinds[:-1]) + f" or {kinds[-1]}"
    raise BadLogFile(f"The file is not a {what}: it starts with {head[:SNIFF_BYTES]!r}.")


def format_named(name: str) -> LogFormat:
    """The format an ingestion's plan recorded."""
    for log_format in FORMATS:
        if log_format.name == name:
            return log_format
    raise BadLogFile(f"Unknown log format {name!r}.")
