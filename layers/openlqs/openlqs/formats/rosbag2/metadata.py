"""A rosbag2 recording's ``metadata.yaml``, versions 1 to 9, and the storage files it lists.

``ros2 bag record`` writes a folder: the storage files (``run_0.mcap``, ``run_1.mcap``, … or
``run_0.db3``, …, optionally ``.zstd``-compressed) and, last, ``metadata.yaml`` under the key
``rosbag2_bagfile_information``. Fields came with versions (rosbag2's ``rosbag2_storage/yaml.hpp``):

- 1, 2: ``version``, ``storage_identifier``, ``relative_file_paths``, ``duration``, ``starting_time``,
  ``message_count``, ``topics_with_message_count`` (topic ``name``, ``type``, ``serialization_format``);
- 3: ``compression_format``, ``compression_mode``;
- 4: topics' ``offered_qos_profiles`` (a YAML text); file paths relative to the recording's folder
  (before, relative to its parent: ``run/run_0.db3``);
- 5: ``files`` (per file: path, starting time, duration, message count);
- 6: ``custom_data``;
- 7: topics' ``type_description_hash``;
- 8: ``ros_distro``;
- 9: ``offered_qos_profiles`` as a YAML list with named enums instead of a text.

As rosbag2 does, a field is read only from the version that introduced it; one an older file lacks
takes its empty value. Everything that would make a reader of the recording misbehave is refused with
:class:`~openlqs.errors.BadLogFile`: not YAML, not rosbag2's, an unknown version, storage or
compression, and above all a listed file outside the recording's folder (record ``source`` paths and
object keys are built from them).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, NonNegativeInt, ValidationError

from openlqs.errors import BadLogFile

#: The key every rosbag2 ``metadata.yaml`` puts its fields under.
ROOT_KEY = "rosbag2_bagfile_information"
#: The metadata versions this module reads.
SUPPORTED_VERSIONS = range(1, 10)

StorageIdentifier = Literal["sqlite3", "mcap"]
#: ``compression_mode`` normalised: rosbag2 writes ``""``, ``NONE``, ``FILE``, ``MESSAGE`` in any case.
CompressionMode = Literal["none", "file", "message"]
CompressionFormat = Literal["", "zstd"]

STORAGE_IDENTIFIERS: tuple[StorageIdentifier, ...] = ("sqlite3", "mcap")
COMPRESSION_MODES: dict[str, CompressionMode] = {
    "": "none",
    "none": "none",
    "file": "file",
    "message": "message",
}
COMPRESSION_FORMATS: tuple[CompressionFormat, ...] = ("", "zstd")
#: The suffix rosbag2's zstd compressor gives a file-compressed storage file.
ZSTD_SUFFIX = ".zstd"

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


class TopicMetadata(BaseModel):
    """One topic as ``metadata.yaml`` describes it.

    ``offered_qos_profiles`` is kept as written: a YAML text (versions 4 to 8) or a list of profiles
    (version 9); :attr:`offered_qos_text` gives the text form either way, as storage files hold it.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    type: str
    serialization_format: str
    offered_qos_profiles: str | list[dict[str, Any]] = ""
    type_description_hash: str = ""

    @property
    def offered_qos_text(self) -> str:
        """The offered QoS profiles as YAML text (``""`` when there are none)."""
        return qos_text(self.offered_qos_profiles)


class TopicInformation(BaseModel):
    """A topic and how many messages the recording holds on it."""

    model_config = ConfigDict(frozen=True)

    topic_metadata: TopicMetadata
    message_count: NonNegativeInt


class FileInformation(BaseModel):
    """One storage file as ``files`` (version 5 on) describes it; times in nanoseconds."""

    model_config = ConfigDict(frozen=True)

    path: str
    starting_time: int
    duration: NonNegativeInt
    message_count: NonNegativeInt


class Rosbag2Metadata(BaseModel):
    """A parsed ``metadata.yaml``. Times are nanoseconds (``starting_time`` since the epoch).

    ``relative_file_paths`` are as listed (checked to stay inside the recording's folder); use
    :func:`storage_files` for their normalised paths, storage kinds and compression.
    ``compression_mode`` is normalised to ``none``, ``file`` or ``message``.
    """

    model_config = ConfigDict(frozen=True)

    version: int
    storage_identifier: StorageIdentifier
    relative_file_paths: list[str]
    files: list[FileInformation] = []
    duration: NonNegativeInt
    starting_time: int
    message_count: NonNegativeInt
    topics_with_message_count: list[TopicInformation]
    compression_format: CompressionFormat = ""
    compression_mode: CompressionMode = "none"
    custom_data: dict[str, str] = {}
    ros_distro: str = ""

    def topic(self, name: str) -> TopicInformation | None:
        """The first topic listed under ``name``, if any."""
        return next((t for t in self.topics_with_message_count if t.topic_metadata.name == name), None)


@dataclass(frozen=True)
class StorageFile:
    """One storage file of a recording, as an ingestion handles it.

    - ``listed_path``: the entry of ``relative_file_paths`` as written;
    - ``path``: normalised, relative to the folder of ``metadata.yaml`` (``/`` separators, no ``..``):
      the object to read is ``dirname(metadata key)/path``;
    - ``storage``: ``mcap`` or ``sqlite3`` (the recording's ``storage_identifier``);
    - ``zstd_file_compressed``: the file is one zstd stream to decompress first (``compression_mode``
      ``file`` and a ``.zstd`` suffix); ``decompressed_path`` is ``path`` without that suffix;
    - ``message_compressed``: every message is zstd-compressed on its own (``compression_mode``
      ``message``).
    """

    listed_path: str
    path: str
    storage: StorageIdentifier
    zstd_file_compressed: bool
    decompressed_path: str
    message_compressed: bool


def parse_metadata(text: str | bytes) -> Rosbag2Metadata:
    """Parse a rosbag2 ``metadata.yaml`` (versions 1 to 9); ``BadLogFile`` saying what is wrong."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BadLogFile(f"metadata.yaml is not UTF-8 text: {error}.") from error
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise BadLogFile(f"metadata.yaml is not YAML: {_one_line(str(error))}.") from error
    if not isinstance(document, dict) or not isinstance(document.get(ROOT_KEY), dict):
        raise BadLogFile(f"metadata.yaml is not a rosbag2 recording's: it has no {ROOT_KEY!r} mapping.")
    info: dict[str, Any] = document[ROOT_KEY]
    version = _version(info)
    fields = _fields_of_version(info, version)
    try:
        metadata = Rosbag2Metadata.model_validate(fields)
    except ValidationError as error:
        raise BadLogFile(
            f"metadata.yaml (version {version}) is invalid: {_validation_detail(error)}."
        ) from error
    if not metadata.relative_file_paths:
        raise BadLogFile("metadata.yaml lists no storage files (relative_file_paths is empty).")
    storage_files(metadata)  # refuses paths outside the folder, and duplicates
    for index, entry in enumerate(metadata.files):
        _normalised_path(entry.path, version, f"files[{index}].path")
    return metadata


def storage_files(metadata: Rosbag2Metadata) -> list[StorageFile]:
    """The recording's storage files in the order listed; ``BadLogFile`` for a path outside its folder."""
    result: list[StorageFile] = []
    seen: dict[str, str] = {}
    for index, listed in enumerate(metadata.relative_file_paths):
        path = _normalised_path(listed, metadata.version, f"relative_file_paths[{index}]")
        if path in seen:
            raise BadLogFile(
                f"metadata.yaml lists the file {path!r} twice ({seen[path]!r} and {listed!r} "
                f"in relative_file_paths)."
            )
        seen[path] = listed
        compressed = metadata.compression_mode == "file" and path.endswith(ZSTD_SUFFIX)
        result.append(
            StorageFile(
                listed_path=listed,
                path=path,
                storage=metadata.storage_identifier,
                zstd_file_compressed=compressed,
                decompressed_path=path.removesuffix(ZSTD_SUFFIX) if compressed else path,
                message_compressed=metadata.compression_mode == "message",
            )
        )
    return result


def qos_text(profiles: str | list[dict[str, Any]] | None) -> str:
    """Offered QoS profiles as YAML text: a text as it is, a list (version 9) dumped as rosbag2 would."""
    if profiles is None:
        return ""
    if isinstance(profiles, str):
        return profiles
    if not profiles:
        return ""
    return str(yaml.safe_dump(profiles, default_flow_style=False, sort_keys=False)).strip()


def _version(info: dict[str, Any]) -> int:
    version = info.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise BadLogFile(f"metadata.yaml has no integer 'version' (found {version!r}).")
    if version not in SUPPORTED_VERSIONS:
        raise BadLogFile(
            f"metadata.yaml has version {version}; versions {SUPPORTED_VERSIONS.start} to "
            f"{SUPPORTED_VERSIONS.stop - 1} are supported."
        )
    return version


def _fields_of_version(info: dict[str, Any], version: int) -> dict[str, Any]:
    """The fields of ``info`` that exist in ``version``, flattened and checked for the closed vocabularies."""
    storage = info.get("storage_identifier")
    if storage not in STORAGE_IDENTIFIERS:
        raise BadLogFile(
            f"metadata.yaml has an unknown storage_identifier {storage!r}; "
            f"known: {', '.join(STORAGE_IDENTIFIERS)}."
        )
    fields: dict[str, Any] = {
        "version": version,
        "storage_identifier": storage,
        "relative_file_paths": _required(info, "relative_file_paths"),
        "duration": _nanoseconds(info, "duration", "nanoseconds"),
        "starting_time": _nanoseconds(info, "starting_time", "nanoseconds_since_epoch"),
        "message_count": _required(info, "message_count"),
        "topics_with_message_count": [
            _topic_of_version(entry, version, index)
            for index, entry in enumerate(_list(info, "topics_with_message_count"))
        ],
    }
    if version >= 3:
        compression_format = info.get("compression_format") or ""
        if compression_format not in COMPRESSION_FORMATS:
            raise BadLogFile(
                f"metadata.yaml has an unknown compression_format {compression_format!r}; known: zstd."
            )
        raw_mode = info.get("compression_mode") or ""
        mode = COMPRESSION_MODES.get(raw_mode.lower()) if isinstance(raw_mode, str) else None
        if mode is None:
            raise BadLogFile(
                f"metadata.yaml has an unknown compression_mode {raw_mode!r}; known: none, file, message."
            )
        if mode != "none" and not compression_format:
            raise BadLogFile(f"metadata.yaml has compression_mode {raw_mode!r} but no compression_format.")
        fields["compression_format"] = compression_format if mode != "none" else ""
        fields["compression_mode"] = mode
    if version >= 5:
        fields["files"] = [
            {
                "path": _required(entry, "path", f"files[{index}]"),
                "starting_time": _nanoseconds(entry, "starting_time", "nanoseconds_since_epoch"),
                "duration": _nanoseconds(entry, "duration", "nanoseconds"),
                "message_count": _required(entry, "message_count", f"files[{index}]"),
            }
            for index, entry in enumerate(_list(info, "files", required=False))
        ]
    if version >= 6:
        custom_data = info.get("custom_data")
        # rosbag2 reads a mapping; anything else (null, or a stray scalar some tools leave) holds no pairs.
        fields["custom_data"] = (
            {str(key): "" if value is None else str(value) for key, value in custom_data.items()}
            if isinstance(custom_data, dict)
            else {}
        )
    if version >= 8:
        fields["ros_distro"] = info.get("ros_distro") or ""
    return fields


def _topic_of_version(entry: Any, version: int, index: int) -> dict[str, Any]:
    where = f"topics_with_message_count[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("topic_metadata"), dict):
        raise BadLogFile(f"metadata.yaml: {where} has no 'topic_metadata' mapping.")
    topic: dict[str, Any] = entry["topic_metadata"]
    fields: dict[str, Any] = {
        key: _required(topic, key, f"{where}.topic_metadata")
        for key in ("name", "type", "serialization_format")
    }
    if version >= 4:
        profiles = topic.get("offered_qos_profiles")
        fields["offered_qos_profiles"] = _qos_profiles(profiles, f"{where} ({fields['name']!r})")
    if version >= 7:
        fields["type_description_hash"] = topic.get("type_description_hash") or ""
    return {"topic_metadata": fields, "message_count": _required(entry, "message_count", where)}


def _qos_profiles(profiles: Any, where: str) -> str | list[dict[str, Any]]:
    """QoS profiles as written, once checked to be a YAML list of mappings (empty allowed)."""
    if profiles is None or profiles == "":
        return ""
    parsed = profiles
    if isinstance(profiles, str):
        try:
            parsed = yaml.safe_load(profiles)
        except yaml.YAMLError as error:
            raise BadLogFile(
                f"metadata.yaml: offered_qos_profiles of {where} is not YAML: {_one_line(str(error))}."
            ) from error
    if parsed is None:
        parsed = []
    if not isinstance(parsed, list) or not all(isinstance(item, dict) for item in parsed):
        raise BadLogFile(f"metadata.yaml: offered_qos_profiles of {where} is not a list of QoS profiles.")
    return profiles if isinstance(profiles, str) else parsed


def _normalised_path(listed: Any, version: int, where: str) -> str:
    """A listed file's path relative to the recording's folder; ``BadLogFile`` when it leaves the folder.

    Backslashes count as separators (a recording made on Windows). Before version 4 paths start with
    the recording's folder name (they were relative to its parent): that first part is dropped.
    """
    if not isinstance(listed, str) or not listed.strip() or "\x00" in listed:
        raise BadLogFile(f"metadata.yaml lists an invalid file path {listed!r} ({where}).")
    path = listed.replace("\\", "/")
    if path.startswith("/") or _WINDOWS_DRIVE.match(path):
        raise BadLogFile(
            f"metadata.yaml lists a file outside the recording's folder: {listed!r} ({where}) is absolute."
        )
    normalised = posixpath.normpath(path)
    if version < 4 and normalised != ".." and not normalised.startswith("../"):
        _, separator, rest = normalised.partition("/")
        if separator:
            normalised = rest
    if normalised in (".", "..") or normalised.startswith("../"):
        raise BadLogFile(f"metadata.yaml lists a file outside the recording's folder: {listed!r} ({where}).")
    return normalised


def _required(mapping: dict[str, Any], key: str, where: str = ROOT_KEY) -> Any:
    if key not in mapping or mapping[key] is None:
        raise BadLogFile(f"metadata.yaml: {where} has no {key!r}.")
    return mapping[key]


def _list(mapping: dict[str, Any], key: str, *, required: bool = True) -> list[Any]:
    value = mapping.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise BadLogFile(f"metadata.yaml: {key!r} is not a list (found {type(value).__name__}).")
    return value


def _nanoseconds(mapping: dict[str, Any], key: str, unit: str) -> Any:
    value = mapping.get(key)
    if not isinstance(value, dict) or unit not in value:
        raise BadLogFile(f"metadata.yaml: {key!r} has no {unit!r}.")
    return value[unit]


def _validation_detail(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "(root)"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{location}: {first['msg']}{more}"


def _one_line(text: str) -> str:
    return " ".join(text.split())
