"""Object keys: what a client may name, and where a log's objects live in the bucket."""

from __future__ import annotations

import re
from uuid import UUID

from openlqs.errors import BadRequest

MAX_KEY_LENGTH = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def validate_object_key(key: str, *, what: str = "object key") -> str:
    """A relative key: not empty, no leading ``/``, no ``.``, ``..`` or empty segments, no control chars."""
    if not key:
        raise BadRequest(f"The {what} cannot be empty.")
    if len(key) > MAX_KEY_LENGTH:
        raise BadRequest(f"The {what} is longer than {MAX_KEY_LENGTH} characters.")
    if key.startswith("/"):
        raise BadRequest(f"The {what} {key!r} cannot start with '/'.")
    if _CONTROL.search(key):
        raise BadRequest(f"The {what} cannot contain control characters.")
    segments = key.split("/")
    if any(segment in (".", "..") for segment in segments):
        raise BadRequest(f"The {what} {key!r} cannot contain '.' or '..' segments.")
    if any(segment == "" for segment in segments[:-1]):
        raise BadRequest(f"The {what} {key!r} cannot contain empty segments ('//').")
    return key


def log_prefix(datastore_id: UUID, log_id: UUID) -> str:
    """Where a log's managed objects live: ``lqs/{datastore_id}/logs/{log_id}/``."""
    return f"lqs/{datastore_id}/logs/{log_id}/"


def relative_key(key: str, prefix: str, *, what: str = "object key") -> str:
    """Accept a key relative to ``prefix`` or the full storage key under it; refuse other full keys."""
    if prefix and key.startswith(prefix):
        key = key[len(prefix) :]
    elif key.startswith("lqs/") and "/logs/" in key:
        raise BadRequest(f"The {what} {key!r} belongs to another log.")
    return validate_object_key(key, what=what)


#: Where the pipeline keeps its own objects in ObjectsBucket, beside (never under) the logs' ``lqs/``
#: and the drop folder's ``drop/``: users cannot name a key here, and no API route lists it.
INGESTIONS_PREFIX = "ingestions/"


def part_manifest_key(ingestion_id: UUID, attempt: int) -> str:
    """The part manifest of one attempt of an ingestion: ``ingestions/{ingestion_id}/{attempt}/parts.json``
    (an attempt never overwrites another's, so a late reader of an old attempt reads its own)."""
    return f"{INGESTIONS_PREFIX}{ingestion_id}/{attempt}/parts.json"


#: The folder, next to an ingested object, where an ingestion keeps the objects it derives from the files
#: it ingests (a ``.db3`` converted to MCAP, a ``.zstd`` file decompressed): ``derived/{ingestion_id}/``.
DERIVED_FOLDER = "derived"


def derived_prefix(object_key: str, ingestion_id: UUID) -> str:
    """Where ingestion ``ingestion_id`` of ``object_key`` keeps its derived objects, relative to the same
    space: ``{dirname(object_key)}/derived/{ingestion_id}/`` (records name them in ``source`` relative
    to ``dirname(object_key)``, as the contract's §5.3 reads it)."""
    folder = object_key.rsplit("/", 1)[0] + "/" if "/" in object_key else ""
    return f"{folder}{DERIVED_FOLDER}/{ingestion_id}/"
