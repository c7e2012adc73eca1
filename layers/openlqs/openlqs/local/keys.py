"""The local stack's administrator key, and the file that tells commands where the running stack is.

On first start the stack creates an ``admin`` user and an admin key of that user, and keeps the key's id
and secret in the data directory
(``admin-key.json``, readable by its owner only), so that every start prints the same ``LQS_API_KEY_*``
lines. ``stack.json`` names the running stack's AWS endpoint and tables for ``openlqs keys create``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID

from openlqs.auth import Credentials
from openlqs.domain.api_keys import ApiKeyService
from openlqs.domain.common import Context
from openlqs.domain.users import ADMIN_USERNAME, UserService
from openlqs.errors import Unauthorized
from openlqs.local.snapshot import atomic_write
from openlqs.models.api_keys import APIKeyCreateRequest, APIKeyUpdateRequest, Role

ADMIN_KEY_FILE = "admin-key.json"
STACK_FILE = "stack.json"
ADMIN_KEY_NAME = "openlqs local admin"


def ensure_admin_key(data_dir: Path, keys: ApiKeyService, users: UserService) -> Credentials:
    """The saved admin key if the datastore still accepts it, else a new one (saved); either belongs to
    the ``admin`` user (made when missing). A saved key from before users existed is given to it: the
    migration of an existing data directory."""
    admin = users.fetch_or_create(ADMIN_USERNAME, admin=True, context=Context())
    path = data_dir / ADMIN_KEY_FILE
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        credentials = Credentials(UUID(saved["api_key_id"]), str(saved["api_key_secret"]))
        try:
            if keys.authenticate(credentials).role == Role.admin:
                if keys.get(credentials.key_id).user_id is None:
                    keys.update(credentials.key_id, APIKeyUpdateRequest(user_id=admin.id), Context())
                return credentials
        except Unauthorized:
            pass  # deleted, disabled or from another datastore: make a new one
    request = APIKeyCreateRequest(name=ADMIN_KEY_NAME, role=Role.admin, user_id=admin.id)
    created = keys.create(request, Context())
    assert created.secret is not None
    _write_private(path, {"api_key_id": str(created.id), "api_key_secret": created.secret})
    return Credentials(created.id, created.secret)


def write_stack_file(data_dir: Path, details: dict[str, Any]) -> None:
    _write_private(data_dir / STACK_FILE, details)


def remove_stack_file(data_dir: Path) -> None:
    (data_dir / STACK_FILE).unlink(missing_ok=True)


def read_stack_file(data_dir: Path) -> dict[str, Any]:
    """What ``write_stack_file`` saved; ``FileNotFoundError`` when no stack runs on this data directory."""
    path = data_dir / STACK_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no local stack is running on {data_dir} (start it with `openlqs local`)")
    details: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return details


def _write_private(path: Path, content: dict[str, Any]) -> None:
    with atomic_write(path) as stream:
        json.dump(content, stream, indent=2)
        stream.write("\n")
    path.chmod(0o600)
