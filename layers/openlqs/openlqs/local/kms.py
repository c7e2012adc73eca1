"""The template's KMS keys in moto, kept in the data directory so that they outlive a restart.

moto keeps a key, and the material it encrypts with, in memory only: a new process would get a new
key, and every secret encrypted with the old one (object-store secrets, saved with ResourcesTable)
would no longer decrypt. So when the local stack first creates a key it writes the key's id and
material to ``kms/<LogicalId>.json`` in the data directory, and at every later start it creates a key
again and gives it back that id and material in moto's in-process backend (``moto.kms.models``), the
same objects the server behind ``ThreadedMotoServer`` answers from (:mod:`openlqs.local.moto_fence`).

moto's ciphertext names the key id and is sealed with the key's material (AES-GCM), so id and material
are all a symmetric key needs to decrypt what it encrypted before. Asymmetric keys would also need their
private key and are refused.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openlqs.local.cloudformation import KMS_KEY_TYPE, Template, resources_of_type
from openlqs.local.moto_fence import kms_keys
from openlqs.local.snapshot import atomic_write

KEYS_DIR = "kms"
SYMMETRIC_KEY_SPEC = "SYMMETRIC_DEFAULT"


@dataclass(frozen=True)
class SavedKey:
    """What makes a moto symmetric key the same key again: its id and its material."""

    key_id: str
    material: bytes

    def to_json(self) -> str:
        return json.dumps(
            {"KeyId": self.key_id, "KeyMaterial": base64.b64encode(self.material).decode("ascii")}
        )

    @classmethod
    def from_json(cls, text: str) -> SavedKey:
        data = json.loads(text)
        return cls(str(data["KeyId"]), base64.b64decode(data["KeyMaterial"]))


def key_file(data_dir: Path, logical_id: str) -> Path:
    """Where a key of the template is kept (readable by its owner only: it holds the key material)."""
    return data_dir / KEYS_DIR / f"{logical_id}.json"


def create_keys(kms_client: Any, template: Template, data_dir: Path) -> dict[str, str]:
    """Create every ``AWS::KMS::Key`` of the template in moto, as it was saved if it was.

    Returns the key ids by logical id (``!Ref`` of a key is its id).
    """
    return {
        logical_id: create_key(kms_client, logical_id, resource.get("Properties") or {}, data_dir)
        for logical_id, resource in resources_of_type(template, KMS_KEY_TYPE).items()
    }


def create_key(kms_client: Any, logical_id: str, properties: Mapping[str, Any], data_dir: Path) -> str:
    """Create one symmetric key: restored from ``data_dir`` if saved there, else new and saved at once.

    A new key is written before its id is handed out, so nothing can be encrypted with a key that a
    crash would lose.
    """
    key_spec = properties.get("KeySpec", SYMMETRIC_KEY_SPEC)
    if key_spec != SYMMETRIC_KEY_SPEC:
        raise ValueError(f"{logical_id}: the local stack keeps symmetric KMS keys only, not {key_spec!r}")
    description = properties.get("Description")
    metadata = kms_client.create_key(
        Description=description if isinstance(description, str) else f"openlqs local {logical_id}",
        KeySpec=SYMMETRIC_KEY_SPEC,
        KeyUsage="ENCRYPT_DECRYPT",
    )["KeyMetadata"]
    path = key_file(data_dir, logical_id)
    if path.is_file():
        key_id = _adopt(metadata, SavedKey.from_json(path.read_text(encoding="utf-8")))
    else:
        key_id = metadata["KeyId"]
        with atomic_write(path) as stream:
            material = _backend_keys(metadata["Arn"])[key_id].key_material
            stream.write(SavedKey(key_id, material).to_json() + "\n")
    if properties.get("EnableKeyRotation") is True:
        kms_client.enable_key_rotation(KeyId=key_id)
    return str(key_id)


def _backend_keys(arn: str) -> dict[str, Any]:
    """moto's keys, by id, of the account and region of the key ``arn``."""
    _, _, _, region, account_id, _ = arn.split(":", 5)
    return kms_keys(account_id, region)


def _adopt(metadata: Mapping[str, Any], saved: SavedKey) -> str:
    """Give the key just created the saved id and material (moto has no API to import either)."""
    created_id, arn = metadata["KeyId"], metadata["Arn"]
    keys = _backend_keys(arn)
    key = keys.pop(created_id)
    key.id = saved.key_id
    key.arn = arn.removesuffix(created_id) + saved.key_id
    key.key_material = saved.material
    keys[saved.key_id] = key
    return saved.key_id
