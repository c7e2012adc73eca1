"""Attachments and metadata records: listed in the ingestion's context, never indexed as records.

An attachment (a calibration file, a map) and a metadata record (``robot_id``, ``git_sha``…) are not
messages of a topic, so they get no records; the listing says where their bytes are so a user can fetch
them with a ranged object read: an attachment's *data* (``offset``/``length``), a metadata record's
whole record, with its key-value pairs.

The listing goes to the ingestion's ``context``, a database item of bounded size, so it is bounded:
at most :data:`MAX_LISTED` entries of each kind, a metadata record's pairs only up to
:data:`MAX_METADATA_BYTES`, and all entries together at most :data:`MAX_LISTING_BYTES` of JSON (past
it, metadata records are listed without their pairs, then not at all). When a kind has more records
than are listed (past a limit, or a summary with statistics but without their indexes),
``attachment_count``/``metadata_count`` say how many.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from openlqs.formats.mcap.records import Attachment, AttachmentIndex, Metadata

#: Entries of each kind listed in the context; a file with more lists the first ones and the count.
MAX_LISTED = 500
#: Key-value pairs of a metadata record are listed up to this size (as JSON); larger ones are left out
#: (``"metadata": null``, ``"metadata_bytes"`` says how large they are).
MAX_METADATA_BYTES = 4096
#: The JSON of every listed entry together (the ingestion's context is stored in one database item).
MAX_LISTING_BYTES = 32 * 1024


def _size(entry: dict[str, Any]) -> int:
    return len(json.dumps(entry, separators=(",", ":"))) + 1


@dataclass
class Listing:
    """The attachments and metadata records of a file, in file order, for ``LogIndex.context``."""

    attachments: list[dict[str, Any]] = field(default_factory=list)
    metadata: list[dict[str, Any]] = field(default_factory=list)
    attachment_count: int = 0
    metadata_count: int = 0
    #: JSON bytes of the entries listed so far.
    listed_bytes: int = 0

    def _fits(self, entry: dict[str, Any]) -> bool:
        size = _size(entry)
        if self.listed_bytes + size > MAX_LISTING_BYTES:
            return False
        self.listed_bytes += size
        return True

    def add_attachment(self, attachment: Attachment | AttachmentIndex) -> None:
        self.attachment_count += 1
        if len(self.attachments) >= MAX_LISTED:
            return
        length = attachment.data_length if isinstance(attachment, Attachment) else attachment.data_size
        entry = {
            "name": attachment.name,
            "media_type": attachment.media_type,
            "offset": attachment.data_offset,
            "length": length,
            "log_time": attachment.log_time,
            "create_time": attachment.create_time,
        }
        if self._fits(entry):
            self.attachments.append(entry)

    def add_metadata(self, metadata: Metadata, offset: int, length: int) -> None:
        self.metadata_count += 1
        if len(self.metadata) >= MAX_LISTED:
            return
        entry: dict[str, Any] = {"name": metadata.name, "offset": offset, "length": length}
        size = len(json.dumps(metadata.metadata))
        if size <= MAX_METADATA_BYTES:
            entry["metadata"] = dict(metadata.metadata)
            if self._fits(entry):
                self.metadata.append(entry)
                return
        entry["metadata"] = None
        entry["metadata_bytes"] = size
        if self._fits(entry):
            self.metadata.append(entry)

    def context(self) -> dict[str, Any]:
        """The listing's keys of ``LogIndex.context`` (none for a file with neither)."""
        context: dict[str, Any] = {}
        if self.attachment_count:
            context["attachments"] = sorted(self.attachments, key=lambda entry: int(entry["offset"]))
            if self.attachment_count > len(self.attachments):
                context["attachment_count"] = self.attachment_count
        if self.metadata_count:
            context["metadata"] = sorted(self.metadata, key=lambda entry: int(entry["offset"]))
            if self.metadata_count > len(self.metadata):
                context["metadata_count"] = self.metadata_count
        return context
