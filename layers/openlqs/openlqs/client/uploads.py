"""Uploading a file as a log object: parallel parts to presigned URLs, retries, resuming.

Each part's URL is asked for just before the part is sent, so a long upload never holds an expired
URL. The file is read part by part: at most ``max_workers`` parts are in memory at once.
"""

from __future__ import annotations

import os
import posixpath
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from openlqs.client.errors import ApiUnreachable
from openlqs.client.models import Object, ObjectPart
from openlqs.client.progress import progress_bar
from openlqs.client.transport import error_from_response
from openlqs.errors import Conflict, NotFound

if TYPE_CHECKING:
    from openlqs.client.client import LogQS

#: S3's limits on multipart uploads.
MAX_PARTS = 10_000
MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 100 * 1024 * 1024


def upload_log_object(
    client: LogQS,
    log_id: UUID | str,
    file_path: str | os.PathLike[str],
    object_key: str | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    max_workers: int = 4,
    skip_if_exists: bool = False,
    continue_upload: bool = False,
    show_progress: bool | None = None,
    bar: Any = None,
) -> tuple[Object, list[ObjectPart]]:
    """Upload ``file_path`` as the log object ``object_key`` (default: the file's name).

    Returns the completed object and its parts. An object that is already complete raises
    ``Conflict``, or is returned untouched with ``skip_if_exists``. An interrupted upload (object still
    ``processing``) raises ``Conflict`` unless ``continue_upload``: then only the parts that are
    missing, or whose size is wrong, are sent again.
    """
    path = Path(file_path)
    size = path.stat().st_size
    key = object_key or path.name
    if part_size < MIN_PART_SIZE and size > part_size:
        raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
    part_count = max(1, -(-size // part_size))
    if part_count > MAX_PARTS:
        raise ValueError(f"{size} bytes need more than {MAX_PARTS} parts of {part_size}: raise part_size")

    existing = _existing_object(client, log_id, key)
    uploaded: dict[int, ObjectPart] = {}
    if existing is not None:
        if existing.upload_state == "complete":
            if skip_if_exists:
                if bar is not None:
                    bar.update(size)
                return existing, _list_parts(client, log_id, key, tolerate_missing=True)
            raise Conflict(f"Object {key} already exists in log {log_id}; pass skip_if_exists=True.")
        if not continue_upload:
            raise Conflict(f"An upload of {key} is in progress; pass continue_upload=True to resume it.")
        uploaded = {part.part_number: part for part in _list_parts(client, log_id, key)}
    else:
        client.create.log_object(key=key, log_id=log_id)

    plan = [
        (number, (number - 1) * part_size, min(part_size, size - (number - 1) * part_size))
        for number in range(1, part_count + 1)
    ]
    todo = [
        (number, start, length)
        for number, start, length in plan
        if number not in uploaded or uploaded[number].size != length
    ]
    enabled = client.config.progress if show_progress is None else show_progress
    shared = bar is not None
    if bar is None:
        bar = progress_bar(
            None if enabled else False, total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=key
        )
    with nullcontext(bar) if shared else bar:
        bar.update(size - sum(length for _, _, length in todo))

        def send(number: int, start: int, length: int) -> None:
            _upload_part(client, log_id, key, path, number, start, length)
            bar.update(length)

        with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
            for future in [pool.submit(send, *part) for part in todo]:
                future.result()

    parts = _list_parts(client, log_id, key)
    if [part.part_number for part in parts] != list(range(1, part_count + 1)):
        raise Conflict(f"Upload of {key} is missing parts after sending them all; run it again to resume.")
    completed = client.update.log_object(
        log_id=log_id, object_key=key, data={"upload_state": "complete"}
    ).data
    return completed, parts


def _existing_object(client: LogQS, log_id: UUID | str, key: str) -> Object | None:
    try:
        found = client.fetch.log_object(object_key=key, log_id=log_id)
    except NotFound:
        return None
    assert not isinstance(found, bytes)
    return found.data


def _upload_part(
    client: LogQS, log_id: UUID | str, key: str, path: Path, number: int, start: int, length: int
) -> None:
    """Send one part, asking for a fresh URL on each attempt."""
    with path.open("rb") as file:
        file.seek(start)
        body = file.read(length)
    attempts = client.config.retry_count + 1
    for attempt in range(attempts):
        # Any failure is worth another try with a fresh URL (an expired signature is a 403).
        url = client.create.log_object_part(
            object_key=key, size=length, log_id=log_id, part_number=number
        ).data
        try:
            response = client.transport.send("PUT", str(url.presigned_url), retry_count=0, content=body)
        except ApiUnreachable:
            if attempt == attempts - 1:
                raise
        else:
            if response.is_success:
                return
            if attempt == attempts - 1:
                raise error_from_response(response)
        client.transport.pause(attempt)


def _list_parts(
    client: LogQS, log_id: UUID | str, key: str, tolerate_missing: bool = False
) -> list[ObjectPart]:
    """Every uploaded part, following ``next_part_number_marker``."""
    parts: list[ObjectPart] = []
    marker: int | None = None
    while True:
        try:
            page = client.list.log_object_part(object_key=key, log_id=log_id, part_number_marker=marker)
        except NotFound:
            if tolerate_missing:
                return parts
            raise
        parts.extend(page.data)
        if not page.is_truncated or page.next_part_number_marker is None:
            return parts
        marker = page.next_part_number_marker


#: The file ``ros2 bag record`` writes last into a recording's folder.
METADATA_NAME = "metadata.yaml"


def recording_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The storage files of the rosbag2 recording in ``folder`` as its ``metadata.yaml`` lists them
    (``relative_file_paths``; with PyYAML installed), else every file of the folder but
    ``metadata.yaml``. ``ValueError`` for a folder without ``metadata.yaml``, a listed file that is
    missing or outside the folder."""
    root = Path(folder)
    metadata = root / METADATA_NAME
    if not metadata.is_file():
        raise ValueError(f"{root} is not a ROS 2 recording: it has no {METADATA_NAME}")
    try:
        import yaml
    except ImportError:
        return sorted(p for p in root.rglob("*") if p.is_file() and p != metadata)
    document = yaml.safe_load(metadata.read_text(encoding="utf-8"))
    info = document.get("rosbag2_bagfile_information") if isinstance(document, dict) else None
    if not isinstance(info, dict) or not isinstance(info.get("relative_file_paths"), list):
        raise ValueError(f"{metadata} is not a rosbag2 recording's metadata (no relative_file_paths)")
    files: list[Path] = []
    for listed in info["relative_file_paths"]:
        relative = posixpath.normpath(str(listed).replace("\\", "/"))
        if int(info.get("version") or 0) < 4 and "/" in relative:
            relative = relative.split("/", 1)[1]  # before version 4, paths start with the folder's name
        if relative.startswith(("/", "../")) or relative in (".", ".."):
            raise ValueError(f"{metadata} lists a file outside the recording's folder: {listed!r}")
        path = root / relative
        if not path.is_file():
            raise ValueError(f"{metadata} lists {relative}, which the folder does not hold")
        files.append(path)
    return files


def upload_log_recording(
    client: LogQS,
    log_id: UUID | str,
    folder: str | os.PathLike[str],
    key_prefix: str | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    max_workers: int = 4,
    skip_if_exists: bool = True,
    continue_upload: bool = True,
    show_progress: bool | None = None,
) -> tuple[str, list[Object]]:
    """Upload a ROS 2 recording (a rosbag2 folder) as log objects under ``key_prefix`` (default: the
    folder's name): every storage file its ``metadata.yaml`` lists, then ``metadata.yaml`` last (as
    ``ros2 bag record`` writes it, so a drop folder sees the recording complete). One progress bar for
    all; resumable like :func:`upload_log_object` (finished files are skipped, interrupted ones
    resumed). Returns the key of ``metadata.yaml`` (what to ingest) and the objects."""
    root = Path(folder)
    prefix = (key_prefix if key_prefix is not None else root.resolve().name).strip("/")
    files = [*recording_files(root), root / METADATA_NAME]
    enabled = client.config.progress if show_progress is None else show_progress
    total = sum(path.stat().st_size for path in files)
    objects: list[Object] = []
    with progress_bar(
        None if enabled else False, total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=prefix
    ) as bar:
        for path in files:
            key = (
                f"{prefix}/{path.relative_to(root).as_posix()}"
                if prefix
                else path.relative_to(root).as_posix()
            )
            stored, _ = upload_log_object(
                client,
                log_id=log_id,
                file_path=path,
                object_key=key,
                part_size=part_size,
                max_workers=max_workers,
                skip_if_exists=skip_if_exists,
                continue_upload=continue_upload,
                show_progress=show_progress,
                bar=bar,
            )
            objects.append(stored)
    metadata_key = f"{prefix}/{METADATA_NAME}" if prefix else METADATA_NAME
    return metadata_key, objects
