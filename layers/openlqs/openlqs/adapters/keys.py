"""Every DynamoDB key openlqs writes, in one place (layout documented next to the tables in template.yaml)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

#: Sort key of items that are alone in their partition.
SINGLE = "#"
BY_TYPE_INDEX = "ByType"
BY_PARENT_INDEX = "ByParent"


def entity_pk(kind: str, resource_id: UUID) -> str:
    return f"{kind}#{resource_id}"


def unique_pk(kind: str, scope: str, name: str) -> str:
    """Guard item that makes ``name`` unique among ``kind`` resources of ``scope``. A scope that is
    text (a label's category) has its ``%`` and ``#`` escaped, so that ("a#b", "c") and ("a", "b#c")
    are two guards; ids and the datastore's empty scope have neither."""
    return f"unique#{kind}#{scope.replace('%', '%25').replace('#', '%23')}#{name}"


def counter_pk(scope: str, kind: str) -> str:
    return f"count#{scope}#{kind}"


def by_type(kind: str) -> str:
    return kind


def by_parent(kind: str, parent_id: UUID | str) -> str:
    return f"{kind}#{parent_id}"


def created_sort_key(created_at: datetime, resource_id: UUID) -> str:
    return f"{created_at.isoformat()}#{resource_id}"


#: Width of the zero-padded bucket number; buckets sort as strings.
_BUCKET_DIGITS = 20


def record_block_sk(bucket: int, segment: str) -> str:
    return f"{bucket:0{_BUCKET_DIGITS}d}#{segment}"


def record_bucket_prefix(bucket: int) -> str:
    return f"{bucket:0{_BUCKET_DIGITS}d}#"


def parse_record_block_sk(sort_key: str) -> tuple[int, str]:
    bucket, _, segment = sort_key.partition("#")
    return int(bucket), segment


def label_log_pk(label_id: UUID, log_id: UUID) -> str:
    """Label index entry: log ``log_id`` carries label ``label_id`` (``n`` tags of it)."""
    return f"label_log#{label_id}#{log_id}"


def logs_of_label(label_id: UUID) -> str:
    """``gsi2pk`` of a label's index entries (ByParent, ``gsi2sk`` = the log id)."""
    return f"label_logs#{label_id}"


def digestion_index_pk(part_id: UUID) -> str:
    """The index of a digestion part, kept beside the part's item."""
    return f"digestion_index#{part_id}"


def upload_pk(scope: str, key: str) -> str:
    """A multipart upload in progress: ``upload#{log#id | store#id}#{full key}``."""
    return f"upload#{scope}#{key}"


def uploads_of(scope: str) -> str:
    return f"upload#{scope}"
