"""Ingestions of more than one file, and of files that need converting first: ROS 2 recordings.

An ingestion's object is one of:

- a log file a format of :mod:`openlqs.formats` indexes with range reads (a ROS 1 bag, an MCAP file):
  the pipeline's single-file path, records without ``source``;
- a rosbag2 ``metadata.yaml`` (its key ends in ``metadata.yaml``, or its text starts like one): the
  recording it describes, every file of ``relative_file_paths`` in order, into one log;
- a lone rosbag2 sqlite3 file (``.db3``, told by sqlite's magic): a recording of that one file.

Each storage file becomes a :class:`PlannedFile`. A plain MCAP file is indexed where it is, its chunks
cut into parts like any log's. A file whose bytes cannot be pointed into as they are (a ``.db3``, whose
message bytes live in sqlite pages; a ``.zstd`` file; an MCAP whose every message is zstd-compressed) is
one *conversion part*: the part copies it to local storage, decompresses and converts it into an MCAP
(``formats.rosbag2``), uploads that as a derived object next to the original
(``{folder}/derived/{ingestion_id}/run_0.mcap``, :func:`~openlqs.domain.object_keys.derived_prefix`),
then indexes it. Records carry ``source`` = the file their bytes are in, relative to the folder of the
ingestion's object (contract §5.3): ``run_0.mcap``, or ``derived/{ingestion_id}/run_0.mcap``.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from openlqs.domain.object_keys import derived_prefix
from openlqs.errors import BadLogFile
from openlqs.formats.base import Channel
from openlqs.formats.rosbag2.metadata import ROOT_KEY, Rosbag2Metadata, StorageFile

#: The first bytes of every sqlite3 database file.
SQLITE_MAGIC = b"SQLite format 3\x00"
#: What an ingestion takes as a ROS 2 recording, in words (for the error naming what a file is not).
RECORDING_KINDS = ("rosbag2 sqlite3 file ('SQLite format 3')", "rosbag2 recording's metadata.yaml")
#: The name rosbag2 gives a recording's metadata file.
METADATA_NAME = "metadata.yaml"
#: A ``metadata.yaml`` larger than this is refused (rosbag2's are a few KiB; thousands of topics fit).
MAX_METADATA_BYTES = 16 * 1024 * 1024
#: Where a derived MCAP's content type is announced.
MCAP_CONTENT_TYPE = "application/x-mcap"


class PlannedFile(BaseModel):
    """One storage file of a recording, as the plan decided to ingest it.

    ``path`` is relative to the folder of the ingestion's object, ``key`` the original's object key
    (relative to the ingestion's space). ``derived_key`` is set when a part converts the file first
    (``conversion`` says what it does, in order); ``source`` is what records carry: ``path``, or the
    derived object's path relative to the same folder. ``channels`` maps a plain MCAP file's channel
    ids (as text) to topic ids; a converted file's channels are matched by topic name.
    """

    path: str
    key: str
    storage: str
    source: str
    conversion: list[str] = Field(default_factory=list)
    derived_key: str | None = None
    channels: dict[str, UUID] = Field(default_factory=dict)

    @property
    def converted(self) -> bool:
        return self.derived_key is not None


def is_metadata_yaml(object_key: str, head: bytes) -> bool:
    """Whether an ingestion's object is a rosbag2 ``metadata.yaml``: by name, or by its first bytes."""
    if posixpath.basename(object_key) == METADATA_NAME:
        return True
    return head.lstrip().startswith(ROOT_KEY.encode())


def is_sqlite(head: bytes) -> bool:
    return head.startswith(SQLITE_MAGIC)


def folder_of(object_key: str) -> str:
    """The folder of an object key, with its trailing ``/`` (``""`` at the top of the space)."""
    return object_key.rsplit("/", 1)[0] + "/" if "/" in object_key else ""


def planned_file(object_key: str, ingestion_id: UUID, storage_file: StorageFile) -> PlannedFile:
    """How one storage file of the recording of ``object_key`` is ingested."""
    conversion: list[str] = []
    if storage_file.zstd_file_compressed:
        conversion.append("zstd_file")
    if storage_file.storage == "sqlite3":
        conversion.append("db3_to_mcap")
    elif storage_file.message_compressed:
        conversion.append("zstd_messages")
    key = folder_of(object_key) + storage_file.path
    if not conversion:
        return PlannedFile(
            path=storage_file.path, key=key, storage=storage_file.storage, source=storage_file.path
        )
    derived = derived_prefix(object_key, ingestion_id) + _mcap_name(storage_file.decompressed_path)
    source = derived[len(folder_of(object_key)) :]
    return PlannedFile(
        path=storage_file.path,
        key=key,
        storage=storage_file.storage,
        source=source,
        conversion=conversion,
        derived_key=derived,
    )


def lone_db3_file(object_key: str, ingestion_id: UUID) -> PlannedFile:
    """A ``.db3`` ingested on its own: converted like a recording's."""
    name = posixpath.basename(object_key)
    derived = derived_prefix(object_key, ingestion_id) + _mcap_name(name)
    return PlannedFile(
        path=name,
        key=object_key,
        storage="sqlite3",
        source=derived[len(folder_of(object_key)) :],
        conversion=["db3_to_mcap"],
        derived_key=derived,
    )


def _mcap_name(path: str) -> str:
    stem = path.removesuffix(".db3") if path.endswith(".db3") else path.removesuffix(".mcap")
    return f"{stem}.mcap"


def metadata_channels(metadata: Rosbag2Metadata) -> list[Channel]:
    """The recording's topics as ``metadata.yaml`` lists them, each a :func:`recorded_channel`."""
    return [
        recorded_channel(
            position,
            information.topic_metadata.name,
            information.topic_metadata.type,
            information.topic_metadata.serialization_format,
            qos=information.topic_metadata.offered_qos_text,
            type_hash=information.topic_metadata.type_description_hash,
        )
        for position, information in enumerate(metadata.topics_with_message_count)
    ]


def recorded_channel(
    position: int,
    topic: str,
    type_name: str,
    serialization_format: str,
    *,
    qos: str | None,
    type_hash: str | None = None,
) -> Channel:
    """A topic of a recording as listed before its files are read (ids are positions, negated so that
    they meet no file's channel id): ``cdr`` for CDR topics (the format in ``context`` otherwise), the
    offered QoS profiles and type hash in ``context`` as an MCAP channel's metadata holds them, and no
    definition (that comes from the files)."""
    context: dict[str, Any] = {"message_encoding": serialization_format}
    metadata = {
        key: value for key, value in (("offered_qos_profiles", qos), ("topic_type_hash", type_hash)) if value
    }
    if metadata:
        context["metadata"] = metadata
    return Channel(
        id=-1 - position,
        topic=topic,
        type_name=type_name,
        type_encoding="cdr" if serialization_format == "cdr" else None,
        type_data=None,
        context=context,
    )


def missing_files_error(missing: list[str]) -> BadLogFile:
    shown = ", ".join(missing[:20]) + (f" (and {len(missing) - 20} more)" if len(missing) > 20 else "")
    return BadLogFile(
        f"metadata.yaml lists {len(missing)} file{'s' if len(missing) != 1 else ''} that "
        f"{'are' if len(missing) != 1 else 'is'} not uploaded next to it: {shown}. Upload "
        f"{'them' if len(missing) != 1 else 'it'} and queue the ingestion again.",
        payload={"missing_files": missing},
    )


class LocalFile:
    """``ByteSource`` over a local file (a converted MCAP in the part's scratch space)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size
        self._handle = path.open("rb")

    def read(self, start: int, end: int) -> bytes:
        end = min(end, self.size)
        if end <= start:
            return b""
        self._handle.seek(start)
        return self._handle.read(end - start)

    def close(self) -> None:
        self._handle.close()
